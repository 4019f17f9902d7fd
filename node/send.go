package node

import (
	"context"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/store"
)

// The send path of the node's own messages: sealed, stored first, shown,
// then handed to GossipSub (ARCHITECTURE.md, "One alert").

func (n *Node) header(g *group, keys *crypto.EpochKeys, m *alert.Message) store.Header {
	return store.Header{
		ID: m.ID, Group: g.id, Tag: keys.Tag(), Author: m.Author,
		Created: m.Created, Expires: m.Local(m.Expires()), Priority: n.priority(g, m), Received: n.now(), Sent: m.Sent,
	}
}

// storeOwn seals and stores a message this node signed. It returns the
// envelope, ready to publish. While the disk is full the message is held
// in memory, and written once there is room (see store.Health): it is
// published, shown and offered to sync all the same.
func (n *Node) storeOwn(g *group, keys *crypto.EpochKeys, inner crypto.Inner) ([]byte, error) {
	msg, err := alert.Decode(g.id, keys.Epoch(), inner.Author, inner.Body)
	if err != nil {
		return nil, fmt.Errorf("node: bug: own message does not decode: %w", err)
	}
	msg.Anchor(msg.Created) // made by this clock
	env, err := keys.Seal(inner)
	if err != nil {
		return nil, err
	}
	if _, err := n.store.Put(store.Record{Header: n.header(g, keys, msg), Envelope: env, Own: true}); err != nil {
		return nil, fmt.Errorf("could not save the message: %w", err)
	}
	return env, nil
}

// send signs, seals, stores, handles and publishes a message from this
// node's member. The message is on disk before it is published (or, while
// the disk is full, held in memory until there is room): if no member is
// online, sync delivers it later.
func (n *Node) send(ctx context.Context, g *group, c alert.Content) (*alert.Message, error) {
	return n.sendAs(ctx, g, c, n.me, nil)
}

// sendAs is send for a message by author: this node's member, or, with
// via, a member this node is the bridge of (via.go). A roster op is sent
// in the group's turn (turns.go): it is added to the roster, sealed and
// acted on with no other change of the group under it. Anything else is
// sent at once, whatever the group's turn is doing.
func (n *Node) sendAs(ctx context.Context, g *group, c alert.Content, author crypto.MemberID, via *alert.Via) (*alert.Message, error) {
	if op, ok := c.(*alert.RosterOp); ok {
		return n.sendOp(ctx, g, op, author, via)
	}
	return n.sendNow(ctx, g, c, author, via)
}

// sendOp is sendAs of a roster op: it waits for g's turn.
func (n *Node) sendOp(ctx context.Context, g *group, op *alert.RosterOp, author crypto.MemberID, via *alert.Via) (msg *alert.Message, err error) {
	if terr := n.inTurn(g, func() { msg, err = n.sendNow(ctx, g, op, author, via) }); terr != nil {
		return nil, terr
	}
	return msg, err
}

// sendOpInTurn sends a roster op of this node's member from a job in g's
// turn (a redemption's add).
func (n *Node) sendOpInTurn(ctx context.Context, g *group, op *alert.RosterOp) (*alert.Message, error) {
	return n.sendNow(ctx, g, op, n.me, nil)
}

// sendNow is sendAs; for a roster op it runs in g's turn.
func (n *Node) sendNow(ctx context.Context, g *group, c alert.Content, author crypto.MemberID, via *alert.Via) (*alert.Message, error) {
	if me, ok := g.roster.Member(n.me); ok && me.Removed {
		return nil, ErrRemovedFromGroup
	}
	keys := g.currentKeys()
	now := n.now()
	body, err := alert.EncodeVia(now, c, via)
	if err != nil {
		return nil, err
	}
	msg, err := alert.Decode(g.id, keys.Epoch(), author, body)
	if err != nil {
		return nil, fmt.Errorf("node: bug: %w", err)
	}
	msg.Anchor(msg.Created) // made by this clock
	if err := msg.Validate(now); err != nil {
		return nil, err
	}
	if n.store.Has(msg.ID) {
		return msg, nil // e.g. an overdue alarm someone else raised first
	}
	inner := n.id.SignBodyFor(author, g.id, keys.Epoch(), body)
	if _, ok := c.(*alert.RosterOp); ok {
		if _, err := g.roster.Add(alert.SignedOp{Epoch: keys.Epoch(), Inner: inner}); err != nil {
			return nil, fmt.Errorf("node: roster op: %w", err)
		}
		if err := n.saveGroup(g); err != nil {
			return nil, err
		}
	}
	env, err := n.storeOwn(g, keys, inner)
	if err != nil {
		return nil, err
	}
	n.track(g, msg.ID, env, n.recipients(g))
	// Published before it is handled: what handle does for a roster op
	// (a join's new epoch, its topic) waits for pubsub, and the members
	// need not wait for it. The handover is noted before handle shows
	// the entry, so that followers see it once, with its delivery.
	n.handedOver(g, msg.ID, n.publish(ctx, g, env), byGossip)
	n.handle(g, msg)
	// A new epoch may have started while this was sealed: a roster op is
	// sent in the new one too, to whoever it reaches and cannot know of
	// the op otherwise (see switched).
	if v := g.state(); v.current.keys.Tag() != keys.Tag() {
		cur := v.current.keys
		from, to := v.epochs[keys.Tag()], v.current
		if from != nil && to != nil && n.unknownTo(g, from, to)(msg.ID) {
			n.reseal(ctx, g, msg.ID, keys, cur)
		}
	}
	return msg, nil
}

// publish gossips an envelope on the current epoch's topic and returns
// the member nodes it was handed to. A failure is logged, not returned:
// the message is stored, and sync delivers it.
func (n *Node) publish(ctx context.Context, g *group, env []byte) []peer.ID {
	tag, err := crypto.EnvelopeTag(env)
	if err != nil {
		return nil
	}
	return n.publishIn(ctx, g, tag, env)
}

// publishIn gossips an envelope on the topic of the epoch with the given
// key tag, if this node is subscribed to it, and returns the member nodes
// it was handed to: with flood publishing (PubSubOptions), every member
// node known to be on the topic.
func (n *Node) publishIn(ctx context.Context, g *group, tag crypto.KeyTag, env []byte) []peer.ID {
	ts := g.state().topics[tag]
	if ts == nil {
		return nil
	}
	// Pubsub may not have noticed yet that a peer is gone.
	peers := slices.DeleteFunc(ts.topic.ListPeers(), func(p peer.ID) bool { return !n.connected(p) })
	if err := ts.topic.Publish(ctx, env); err != nil {
		n.log.Warn("publishing", "group", g.id.String()[:8], "err", err)
		return nil
	}
	return peers
}
