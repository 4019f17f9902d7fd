package alert

import (
	"maps"

	"github.com/takecare-network/takecare/crypto"
)

// What the roster says of each member, for the readers that must not wait
// for a change in progress: a receiving node checks every message's
// author with [Roster.Keys], [Roster.DuressKey], [Roster.Member] and
// [Roster.Authorize], and a roster op being applied (which may recompute
// the whole order) must not delay an alert. [Roster.Add] publishes an
// immutable view once it has changed the roster; those readers load it
// without a lock, and see the roster as it was before the change or as it
// is after it, never half of it.
//
// The view is two maps: a base built from every member, and the members
// changed since, so that an op that changes one member copies a few
// entries, not the whole roster; the base is built again when the changes
// grow past a fraction of it.

// standing is what the roster says of one member id.
type standing struct {
	info    MemberInfo // keys and record, of anyone ever introduced
	known   bool
	member  Member // as computed now, removed ones included
	applied bool   // member is set: an op that added it took effect
}

// rosterView is one published view. Neither map changes once published.
type rosterView struct {
	base   map[crypto.MemberID]standing
	recent map[crypto.MemberID]standing
}

func (v *rosterView) get(id crypto.MemberID) standing {
	if s, ok := v.recent[id]; ok {
		return s
	}
	return v.base[id]
}

// standingOf is what the roster says of id now. The caller holds r.mu.
func (r *Roster) standingOf(id crypto.MemberID) standing {
	var s standing
	s.info, s.known = r.keys[id]
	if m, ok := r.members[id]; ok {
		s.member, s.applied = *m, true
	}
	return s
}

// publishAll builds the view again from every member. The caller holds
// r.mu for writing.
func (r *Roster) publishAll() {
	base := make(map[crypto.MemberID]standing, len(r.keys))
	for id := range r.keys {
		base[id] = r.standingOf(id)
	}
	for id := range r.members {
		base[id] = r.standingOf(id)
	}
	r.view.Store(&rosterView{base: base})
}

// publish publishes the view with the standing of changed members as it
// is now. The caller holds r.mu for writing.
func (r *Roster) publish(changed ...crypto.MemberID) {
	old := r.view.Load()
	if old == nil || len(old.recent)+len(changed) > 16+len(old.base)/8 {
		r.publishAll()
		return
	}
	recent := make(map[crypto.MemberID]standing, len(old.recent)+len(changed))
	maps.Copy(recent, old.recent)
	for _, id := range changed {
		recent[id] = r.standingOf(id)
	}
	r.view.Store(&rosterView{base: old.base, recent: recent})
}

// named returns the members an op's change names: the only ones whose
// standing or keys applying it on top of the others can change.
func named(author crypto.MemberID, op *RosterOp) []crypto.MemberID {
	switch c := op.Change.(type) {
	case *Create:
		return []crypto.MemberID{author, c.Founder.ID()}
	case *AddMember:
		return []crypto.MemberID{c.Member.ID()}
	case *RemoveMember:
		return []crypto.MemberID{c.Member}
	case *SetRole:
		return []crypto.MemberID{c.Member}
	}
	return nil
}
