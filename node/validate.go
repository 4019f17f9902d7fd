package node

import (
	"context"
	"errors"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/alert"
)

// GossipSub's validator (validate): open and check an envelope, accept a
// plain alert before it is stored so that forwarding does not wait for
// the disk, and the batcher that then stores and handles it
// (storeGossip).

// batchable reports whether a message can be stored together with others
// that arrived before it: nothing about accepting or handling it depends
// on them.
func batchable(m *alert.Message) bool {
	switch c := m.Content.(type) {
	case *alert.Alert:
		return c.Kind != alert.KindOverdue
	case *alert.CheckIn:
		return true
	}
	return false
}

// validate is the GossipSub validator for every group topic.
func (n *Node) validate(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if from == n.host.ID() {
		// Our own publication: sealed, stored and handled before publishing.
		return pubsub.ValidationAccept
	}
	if !n.enter() {
		return pubsub.ValidationIgnore
	}
	defer n.leave()
	if !n.connected(from) {
		// A stream that outlived its connection: nothing to trust.
		return pubsub.ValidationIgnore
	}
	msg, err := n.validateGossip(m.Data)
	n.count(err)
	switch {
	case err == nil:
		n.log.Debug("received", "group", msg.Group.String()[:8], "msg_id", msg.ID.Short(), "peer", from)
		return pubsub.ValidationAccept
	case errors.Is(err, errReject):
		n.log.Info("rejected a message", "peer", from, "err", err)
		return pubsub.ValidationReject
	default:
		n.log.Debug("ignored a message", "peer", from, "err", err)
		return pubsub.ValidationIgnore
	}
}

// validateGossip decides on an envelope that came by gossip. GossipSub
// passes a message on only once its validator returns, so what can wait
// does: a plain alert or check-in that passes every check is accepted at
// once and stored just after (storeGossip), by its own goroutine, with
// others that arrived meanwhile in one transaction. Every other message
// (roster changes, rekeys, acknowledgements, the ends of check-ins,
// overdue alarms, copies of messages already held) is stored and handled
// before the validator returns, because what the next message may do
// depends on it. If the queue is full, the message is stored at once too.
func (n *Node) validateGossip(env []byte) (*alert.Message, error) {
	o, err := n.open(env, n.now(), 0)
	if err != nil {
		return nil, err
	}
	if !n.rate.Allow(rateKey{o.g.id, o.msg.Author}, n.now()) {
		return nil, ignore("author %s over its rate limit", o.msg.Author.Short())
	}
	if !batchable(o.msg) || n.store.Has(o.msg.ID) {
		return n.commit(o)
	}
	select {
	case n.toStore <- o:
		return o.msg, nil
	default:
		return n.commit(o)
	}
}

// storeGossip stores the messages validateGossip accepted, as many at a
// time as are waiting, until the node closes.
func (n *Node) storeGossip() {
	var batch []*opened
	for {
		select {
		case o := <-n.toStore:
			batch = append(batch[:0], o)
		case <-n.ctx.Done():
			return // Close stores what is left
		}
	more:
		for len(batch) < storeQueue {
			select {
			case o := <-n.toStore:
				batch = append(batch, o)
			default:
				break more
			}
		}
		n.storeBatch(batch)
		clear(batch)
	}
}

// storeQueue bounds how many accepted gossip messages wait to be stored.
const storeQueue = 64
