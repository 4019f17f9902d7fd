package node

import (
	"context"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/store"
)

// After a switch to a new current epoch: this node's own roster ops sent
// again in it, to the members who may not know them (PROTOCOL.md,
// "Forks"). It runs in the group's turn.

// switched runs after the current epoch changed from old to cur: this
// node's own roster ops, in whatever epoch it holds them, are sent again
// in cur if a member cur reaches may not know them
// (unknownTo): a member who joined at cur, or who is on another branch of
// a fork, may have no other way to learn of them (PROTOCOL.md, "Forks").
// The message ids do not change, so nobody sees them twice.
//
// Nothing else is sent again: a message sealed in old was written before
// this node knew of cur, so it may have been written before a member who
// joined at cur joined, whatever the clocks say, and that member must not
// read it (DESIGN.md, invariant 10). Members of old hold its key and
// receive such messages there, by gossip or by sync.
func (n *Node) switched(g *group, old, cur *epoch) {
	if old == nil || old == cur {
		return
	}
	hs := n.store.Headers(func(h store.Header) bool {
		return h.Group == g.id && h.Author == n.me && h.Priority == priorityOrdered
	})
	if len(hs) == 0 {
		return
	}
	unknown := n.unknownTo(g, old, cur)
	for _, h := range hs {
		if !g.roster.Has(h.ID) || n.store.HasIn(h.ID, cur.keys.Tag()) || !unknown(h.ID) {
			continue
		}
		if from := n.heldIn(h.ID); from != nil {
			n.reseal(n.ctx, g, h.ID, from, cur.keys)
		}
	}
}

// heldIn returns the keys of an epoch this node holds message id in.
func (n *Node) heldIn(id alert.ID) *crypto.EpochKeys {
	for _, tag := range n.store.Tags(id) {
		if ref, ok := n.keys.lookup(tag); ok {
			return ref.keys
		}
	}
	return nil
}

// unknownTo returns a test of whether one of this node's roster ops may be
// unknown to a member that cur reaches. A member m knows op x if x is an
// ancestor of m's add (the admin who let m in sent it every op it held),
// or if x was made knowing of m (m's add is an ancestor of x) and sealed
// in an epoch that reached m; ops concurrent with m's add, or sealed only
// where m is not, are unknown to it. When cur is the epoch a join
// ratcheted to from old, only the joiner is new to this node's ops: every
// other member cur reaches was reached by old, where they were sealed.
func (n *Node) unknownTo(g *group, old, cur *epoch) func(alert.ID) bool {
	var check []alert.Member
	if cur.from == old.keys.Tag() && !cur.joiner.IsZero() {
		if m, ok := g.roster.Member(cur.joiner); ok && !m.Removed {
			check = append(check, m)
		}
	} else {
		s := g.seatingFor(g.state(), cur.aud)
		for _, m := range g.roster.Members() {
			if m.ID() != n.me && (cur.aud == nil || cur.aud.reaches(m.ID(), s)) {
				check = append(check, m)
			}
		}
	}
	knew := make(map[alert.ID]map[alert.ID]bool) // ancestors, cached
	anc := func(id alert.ID) map[alert.ID]bool {
		if a, ok := knew[id]; ok {
			return a
		}
		a := g.roster.Ancestors(id)
		knew[id] = a
		return a
	}
	v := g.state()
	seat := g.seatingsOf(v)
	return func(x alert.ID) bool {
		for _, m := range check {
			if m.AddOp.IsZero() || anc(m.AddOp)[x] {
				continue
			}
			if !anc(x)[m.AddOp] {
				return true // concurrent with m's add
			}
			if !n.sealedWhere(v, seat, x, m.ID()) {
				return true
			}
		}
		return false
	}
}

// sealedWhere reports whether message x is held in an epoch of view v
// that reached member m, or, if this node no longer keeps who any of x's
// epochs reached, assumes it did; seat is v's seatingFor
// (group.seatingsOf).
func (n *Node) sealedWhere(v *groupView, seat func(*audience) *seating, x alert.ID, m crypto.MemberID) bool {
	known := false
	for _, tag := range n.store.Tags(x) {
		e := v.epochs[tag]
		if e == nil || e.aud == nil {
			continue
		}
		known = true
		if e.aud.reaches(m, seat(e.aud)) {
			return true
		}
	}
	return !known
}

// reseal sends one of this node's own roster ops again, sealed in epoch
// to; it does nothing for any other message.
func (n *Node) reseal(ctx context.Context, g *group, id alert.ID, from, to *crypto.EpochKeys) {
	env, err := n.store.EnvelopeIn(id, from.Tag())
	if err != nil {
		return
	}
	in, err := from.Open(env)
	if err != nil || in.Author != n.me {
		return
	}
	m, err := alert.Decode(g.id, from.Epoch(), in.Author, in.Body)
	if err != nil || m.Via != nil {
		return // a bridge signed it: this member cannot sign it again
	}
	if _, ok := m.Content.(*alert.RosterOp); !ok {
		return // a rekey belongs to the epoch it leaves; the rest, see switched
	}
	again, err := to.Seal(n.id.SignBody(g.id, to.Epoch(), in.Body))
	if err != nil {
		return
	}
	if added, err := n.store.PutAlias(id, to.Tag(), again); err != nil || !added {
		return
	}
	n.publishIn(ctx, g, to.Tag(), again)
}
