package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// Starting a new epoch (rekey, in the group's turn) and taking one a
// Rekey brings.

// rekey starts a new epoch: a fresh secret sealed to every current member,
// sent in the current epoch (and in any other epoch held with the same or a
// higher number, so that members on a concurrent epoch receive it too). It
// returns the Rekey as it was signed in the current epoch, and the new
// epoch's number.
func (n *Node) rekey(ctx context.Context, g *group) (op alert.SignedOp, next uint64, err error) {
	if terr := n.inTurn(g, func() { op, next, err = n.rekeyInTurn(ctx, g) }); terr != nil {
		return alert.SignedOp{}, 0, terr
	}
	return op, next, err
}

// rekeyIf waits until this node is not starting another new epoch, then
// starts one if need still reports that one is needed.
func (n *Node) rekeyIf(ctx context.Context, g *group, need func() bool) (err error) {
	if terr := n.inTurn(g, func() {
		if need() {
			_, _, err = n.rekeyInTurn(ctx, g)
		}
	}); terr != nil {
		return terr
	}
	return err
}

// nextEpoch returns the current epoch of view v of g, the other epochs
// held with the same or a higher number that went to no outsider (members
// on a concurrent epoch), and the number of a new epoch started from
// there: one more than the highest of them.
func (g *group) nextEpoch(v *groupView) (cur *epoch, also []*epoch, next uint64) {
	cur = v.current
	next = cur.number() + 1
	for _, e := range v.epochs {
		if e != cur && e.number() >= cur.number() && !g.sealedToOutsider(v, e) {
			also = append(also, e)
			next = max(next, e.number()+1)
		}
	}
	return cur, also, next
}

// sealSecret puts secret in rk for the current members: under the group's
// key tree when this node holds the tree's secret, else to each member
// one by one, in a new tree when the group is small enough (then
// returned). It returns who can open it.
func (n *Node) sealSecret(g *group, rk *alert.Rekey, secret crypto.EpochSecret) (*audience, *groupTree, error) {
	aud, ok, err := n.treeRekey(g, rk, secret)
	if err != nil || ok {
		return aud, nil, err
	}
	newTree, err := n.newTreeRekey(g, rk, secret)
	if err != nil {
		return nil, nil, err
	}
	aud = listAudience()
	for _, k := range rk.Keys {
		aud.members[k.Member] = true
	}
	return aud, newTree, nil
}

// sealIn seals body, signed, in each of the epochs also (members on a
// concurrent epoch), by key tag.
func (n *Node) sealIn(g *group, also []*epoch, body []byte) map[crypto.KeyTag][]byte {
	extra := make(map[crypto.KeyTag][]byte, len(also))
	for _, e := range also {
		if x, err := e.keys.Seal(n.id.SignBody(g.id, e.number(), body)); err == nil {
			extra[e.keys.Tag()] = x
		}
	}
	return extra
}

// rekeyInTurn is rekey; the caller runs in g's turn (inTurn), so that this
// node never starts two epochs from the same one (a join's and a repair's, say), which
// would leave members on a fork for nothing.
//
// The new secret goes under the group's key tree when this node holds the
// tree's secret (a few wraps, PROTOCOL.md "Key tree"), and else, or when
// the tree has become too costly (many members removed since it started),
// sealed to each member one by one, starting a new tree for a group of at
// most maxNewTree members.
func (n *Node) rekeyInTurn(ctx context.Context, g *group) (alert.SignedOp, uint64, error) {
	if !n.isAdmin(g) {
		return alert.SignedOp{}, 0, ErrNotAdmin
	}
	cur, also, next := g.nextEpoch(g.state())
	secret := crypto.NewEpochSecret()
	rk := &alert.Rekey{Epoch: next, Covers: g.roster.Heads()}
	aud, newTree, err := n.sealSecret(g, rk, secret)
	if err != nil {
		return alert.SignedOp{}, 0, err
	}
	now := n.now()
	body, msg, signed, err := n.signRekey(g, cur, rk, now)
	if err != nil {
		return alert.SignedOp{}, 0, err
	}
	env, err := n.storeOwn(g, cur.keys, signed.Inner)
	if err != nil {
		return alert.SignedOp{}, 0, err
	}
	extra := n.sealIn(g, also, body)
	e := &epoch{keys: crypto.NewEpochKeys(g.id, next, secret), rekey: msg.ID, aud: aud, since: now}
	if rk.Tree != nil {
		e.tree = rk.Tree.Tree
	}
	if newTree != nil {
		g.change(func(v *groupView) { v.trees[newTree.id] = newTree })
	}
	// The rekey goes out as soon as the new key is saved here, before
	// this node joins the new epoch's topic, which waits for pubsub.
	_, settle, err := n.takeEpoch(g, e)
	if err != nil {
		return signed, next, err
	}
	n.publishIn(ctx, g, cur.keys.Tag(), env)
	for tag, x := range extra {
		n.publishIn(ctx, g, tag, x)
	}
	if err := settle(); err != nil {
		return signed, next, err
	}
	wraps := 0
	if rk.Tree != nil {
		wraps = len(rk.Tree.Wraps)
	}
	n.log.Info("sent a new group key", "group", g.id.String()[:8], "epoch", next, "sealed", len(rk.Keys), "wraps", wraps, "bytes", len(env))
	n.syncer.KickAll()
	return signed, next, nil
}

// signRekey encodes rk, made at now, checks it as a receiving node would,
// and signs it in epoch cur. It returns the body, the message and the
// signed op.
func (n *Node) signRekey(g *group, cur *epoch, rk *alert.Rekey, now time.Time) ([]byte, *alert.Message, alert.SignedOp, error) {
	body, err := alert.Encode(now, rk)
	if err != nil {
		return nil, nil, alert.SignedOp{}, err
	}
	msg, err := alert.Decode(g.id, cur.number(), n.me, body)
	if err != nil {
		return nil, nil, alert.SignedOp{}, fmt.Errorf("node: bug: %w", err)
	}
	if err := msg.Validate(now); err != nil {
		return nil, nil, alert.SignedOp{}, err
	}
	return body, msg, alert.SignedOp{Epoch: cur.number(), Inner: n.id.SignBody(g.id, cur.number(), body)}, nil
}

// handleRekey takes our key out of a Rekey another admin sent.
func (n *Node) handleRekey(g *group, m *alert.Message, rk *alert.Rekey) {
	e, err := n.epochFromRekey(g, m, rk)
	switch {
	case errors.Is(err, errNotSealedToMe):
		if me, ok := g.roster.Member(n.me); ok && me.Removed {
			n.log.Warn("this member was removed from a group; it cannot read what the group sends from now on", "group", g.id.String()[:8])
		}
		return
	case err != nil:
		n.log.Warn("a new group key does not open", "group", g.id.String()[:8], "msg_id", m.ID.Short(), "err", err)
		return
	}
	n.takeNewTree(g, rk)
	if _, err := n.addEpoch(g, e); err != nil {
		n.log.Error("saving a new group key", "group", g.id.String()[:8], "err", err)
	}
	n.deriveRatchets(g)
	// Messages in the new epoch that came by gossip before its key were
	// ignored: fetch them. (Those that wait on a peer this key came from by
	// sync come in the session that follows, see syncer.)
	if n.awaitKey.Swap(false) {
		n.syncer.KickAll()
	}
}

// epochFromRekey takes this member's key out of a rekey, m: sealed to it
// one by one, or wrapped under a node of its path in the key tree. It
// returns the epoch the rekey starts: its key, its audience and its start.
func (n *Node) epochFromRekey(g *group, m *alert.Message, rk *alert.Rekey) (*epoch, error) {
	e := &epoch{rekey: m.ID, since: m.Local(m.Created), aud: listAudience()} // by this node's clock
	var mine []byte
	for _, k := range rk.Keys {
		e.aud.members[k.Member] = true
		if k.Member == n.me {
			mine = k.Sealed
		}
	}
	if t := rk.Tree; t != nil {
		e.tree = t.Tree
		if !t.New {
			e.aud.cover = &treeCover{tree: t.Tree, upto: t.Upto}
			for _, w := range t.Wraps {
				e.aud.cover.nodes = append(e.aud.cover.nodes, w.Node)
			}
		}
	}
	var secret crypto.EpochSecret
	switch {
	case mine != nil:
		var err error
		if secret, err = n.id.OpenEpochSecret(g.id, rk.Epoch, mine); err != nil {
			return nil, err
		}
	default:
		var ok bool
		if secret, ok = n.openTreeRekey(g, rk); !ok {
			return nil, errNotSealedToMe
		}
	}
	e.keys = crypto.NewEpochKeys(g.id, rk.Epoch, secret)
	return e, nil
}
