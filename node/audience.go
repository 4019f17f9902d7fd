package node

import (
	"maps"
	"slices"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// Who an epoch reaches (PROTOCOL.md, "Key tree"): an epoch's audience,
// the seating of a key tree's positions, and the cover of a tree's live
// seats. The trees themselves and the rekeys that use them are in tree.go.

// audience is who an epoch's secret reached: the members it was sealed to
// one by one, the members seated below a node of a tree cover, and, for an
// epoch a join ratcheted to, everyone its parent's audience reached (base)
// and the joiner. Audiences are never changed once made: a join's shares
// its parent's instead of copying it, so that a thousand joins cost a
// thousand small links, not a million entries. Reading one may cache its
// members (flat); readers share audiences without a lock, so the cache is
// published by an atomic pointer and never changed once stored.
type audience struct {
	base    *audience
	top     *audience // the root of base's chain (root); nil where base is nil
	members map[crypto.MemberID]bool
	cover   *treeCover // only where base is nil
	flat    atomic.Pointer[map[crypto.MemberID]bool]
}

// treeCover is the part of an audience a tree rekey reached.
type treeCover struct {
	tree  crypto.TreeID
	upto  uint32
	nodes []crypto.TreeNode
}

func listAudience(ms ...crypto.MemberID) *audience {
	a := &audience{members: make(map[crypto.MemberID]bool, len(ms))}
	for _, m := range ms {
		a.members[m] = true
	}
	return a
}

// with returns the audience of an epoch a join ratchets to from an epoch
// with audience a: a's, and m.
func (a *audience) with(m crypto.MemberID) *audience {
	return &audience{base: a, top: a.root(), members: map[crypto.MemberID]bool{m: true}}
}

// root returns the audience at the bottom of a's chain, which holds the
// cover if there is one. It is kept, not walked to: after a thousand joins
// the chain is a thousand links, and a new epoch asks for the root of
// every audience once per member.
func (a *audience) root() *audience {
	if a.top != nil {
		return a.top
	}
	return a
}

// all returns every member a reaches one by one (not those a cover
// reaches); the caller must not change it. A chain is read once and
// cached: callers such as group.missing ask once per member. The caches
// of epochs that can no longer become current are dropped
// (groupView.forgetAudiences).
func (a *audience) all() map[crypto.MemberID]bool {
	if a.base == nil {
		return a.members
	}
	if f := a.flat.Load(); f != nil {
		return *f
	}
	out := make(map[crypto.MemberID]bool)
	for x := a; x != nil; x = x.base {
		if f := x.flat.Load(); f != nil {
			maps.Copy(out, *f)
			break
		}
		maps.Copy(out, x.members)
	}
	a.flat.Store(&out)
	return out
}

// seating is where the members of one tree sit, as this node knows.
type seating struct {
	at   map[uint32][]crypto.MemberID // occupants of each position
	of   map[crypto.MemberID]uint32   // each member's position
	upto uint32                       // one more than the highest position given
}

// seating returns where the members of tree t sit: the founders of the
// tree if this node holds them, and every seat of an add (applied,
// skipped or pending) or of the group's creation.
func (g *group) seatingOf(t *groupTree) seating {
	at, upto := g.roster.Seats(t.id)
	for i, m := range t.founders {
		p := uint32(i)
		if !slices.Contains(at[p], m) {
			at[p] = append(at[p], m)
		}
		upto = max(upto, p+1)
	}
	s := seating{at: at, of: make(map[crypto.MemberID]uint32), upto: upto}
	for p, ms := range at {
		for _, m := range ms {
			s.of[m] = p
		}
	}
	return s
}

// reaches reports whether the epoch's secret reached member m, given where
// members sit in the tree of its cover.
func (a *audience) reaches(m crypto.MemberID, s *seating) bool {
	if a == nil {
		return false
	}
	if a.all()[m] {
		return true
	}
	c := a.root().cover
	if c == nil || s == nil {
		return false
	}
	p, ok := s.of[m]
	if !ok || p >= c.upto {
		return false
	}
	for _, n := range c.nodes {
		if n.Covers(p) {
			return true
		}
	}
	return false
}

// reachedPeer reports whether the secret of g's epoch tag reached the
// current member whose node is p.
func (g *group) reachedPeer(tag crypto.KeyTag, p peer.ID) bool {
	ms := g.roster.Members()
	i := slices.IndexFunc(ms, func(m alert.Member) bool { return m.Peer == p })
	if i < 0 {
		return false
	}
	v := g.state()
	e := v.epochs[tag]
	return e != nil && e.aud.reaches(ms[i].ID(), g.seatingFor(v, e.aud))
}

// outsider reports whether id is someone the roster knows of who is not a
// current member: removed, or whose only add was skipped. Such a member
// must not hold the key of the epoch the group sends in.
func (g *group) outsider(id crypto.MemberID) bool {
	if m, ok := g.roster.Member(id); ok {
		return m.Removed
	}
	_, known := g.roster.Keys(id)
	return known
}

// seatingsOf returns seatingFor for view v of g that computes each tree's
// seating once, for a caller that asks about many audiences.
func (g *group) seatingsOf(v *groupView) func(*audience) *seating {
	memo := make(map[crypto.TreeID]*seating)
	return func(a *audience) *seating {
		if a == nil || a.root().cover == nil {
			return nil
		}
		id := a.root().cover.tree
		if s, ok := memo[id]; ok {
			return s
		}
		s := g.seatingFor(v, a)
		memo[id] = s
		return s
	}
}

// seatingFor returns the seating of the tree of a's cover, if view v of g
// holds that tree.
func (g *group) seatingFor(v *groupView, a *audience) *seating {
	if a == nil || a.root().cover == nil {
		return nil
	}
	t := v.trees[a.root().cover.tree]
	if t == nil {
		return nil
	}
	s := g.seatingOf(t)
	return &s
}

// activeTree returns the tree of the current epoch, or nil.
func (v *groupView) activeTree() *groupTree {
	if v.current == nil {
		return nil
	}
	return v.trees[v.current.tree]
}

// liveSeats returns the cover of the positions of tree t whose occupants
// are all current members, and the current members who have no such
// position in it (they need the secret sealed one by one).
func (g *group) liveSeats(t *groupTree) (upto uint32, cover []crypto.TreeNode, unseated []alert.Member) {
	s := g.seatingOf(t)
	var dead []uint32
	for p, ms := range s.at {
		for _, m := range ms {
			if cur, ok := g.roster.Member(m); !ok || cur.Removed {
				dead = append(dead, p)
				break
			}
		}
	}
	cover = crypto.Cover(s.upto, dead)
	for _, m := range g.roster.Members() {
		p, ok := s.of[m.ID()]
		if !ok || slices.Contains(dead, p) {
			unseated = append(unseated, m)
		}
	}
	return s.upto, cover, unseated
}
