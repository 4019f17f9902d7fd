package alert

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/crypto"
)

// Roster errors callers branch on.
var (
	// ErrUnknownAuthor: the author is in no roster op we hold. The roster may
	// simply be behind; a receiver ignores rather than rejects.
	ErrUnknownAuthor = errors.New("alert: author is not in the roster (yet)")
	// ErrRemoved: the author was removed from the group.
	ErrRemoved = errors.New("alert: author was removed from the group")
	// ErrNotAdmin: a roster change or rekey by someone who provably is not
	// an admin: everything its author had seen is here, and none of it
	// made the author an admin.
	ErrNotAdmin = errors.New("alert: only admins change the roster")
	// ErrNotAdminYet: a roster change or rekey by someone who is not an
	// admin in this roster, which may be behind (the promotion, or what
	// led to it, has not arrived). A receiver ignores rather than rejects.
	ErrNotAdminYet = errors.New("alert: author is not an admin in this roster (yet)")
	// ErrSecondRoot: a second group creation for a group that already has one.
	ErrSecondRoot = errors.New("alert: group already created")
	// ErrRosterBusy: too many roster ops wait for their parents; this one
	// is not kept and should be fetched again later.
	ErrRosterBusy = errors.New("alert: too many roster ops wait for their parents")
	// ErrRosterLimit: the op would take the roster, or its author's share
	// of it, over a limit. Another node, which received ops in another
	// order, may hold it: a receiver ignores rather than rejects.
	ErrRosterLimit = errors.New("alert: roster limit reached")
)

// Limits of one group's roster (PROTOCOL.md, "Roster", accepting an op).
const (
	// MaxRosterOps bounds the roster graph of one group (applied plus
	// pending ops).
	MaxRosterOps = 10000
	// MaxAuthorOps bounds the ops of one author, so that no single admin
	// can fill the roster.
	MaxAuthorOps = MaxRosterOps / 4
	// rosterReserve is how many ops beyond MaxRosterOps, and beyond their
	// author's share, are kept for removals and demotions by a current
	// admin: a full roster can still be rid of whoever filled it.
	rosterReserve = 256
	// maxPendingOps bounds the ops waiting for their parents.
	maxPendingOps = 256
	// maxLateOps bounds the ops taken from an author who is not a current
	// admin: a removed or demoted admin, or a member whose promotion has
	// not arrived yet.
	maxLateOps = 16
)

// SignedOp is a roster op as it was signed: the epoch it was sent in and the
// signed inner message. It verifies on its own, without an envelope.
type SignedOp struct {
	Epoch uint64
	Inner crypto.Inner
	// ID is the op's message id ([ContentID]); set in what [Roster.Ops]
	// returns, ignored by [Roster.Add].
	ID ID
}

// Member is a member as the roster sees it.
type Member struct {
	MemberInfo
	Role      Role
	Removed   bool
	RemovedAt time.Time // creation time of the op that removed the member
	RemovedBy crypto.MemberID
	Removal   ID // the op that removed the member
	AddedBy   crypto.MemberID
	Added     time.Time
	AddOp     ID       // the create or add that brought the member in
	Seat      *Seat    // the member's position in a key tree, from that op
	Ratchet   *Ratchet // the epoch that op started, if it did
}

// InviteState is an invite as the roster sees it.
type InviteState struct {
	NewInvite
	By      crypto.MemberID
	Used    int
	Revoked bool
}

// RelayState is a relay's grant as the roster sees it: the latest grant
// for that relay in the roster's order, and whether it was revoked since.
type RelayState struct {
	GrantRelay
	By      crypto.MemberID
	Revoked bool
}

// Usable reports whether the relay may relay for the group at now.
func (s RelayState) Usable(now time.Time) bool { return !s.Revoked && now.Before(s.Expires) }

// Usable reports why the invite cannot be redeemed at now, or nil.
func (i InviteState) Usable(now time.Time) error {
	switch {
	case i.Revoked:
		return errors.New("this invite was revoked")
	case i.Used >= i.Uses:
		return fmt.Errorf("this invite was already used %d of %d times", i.Used, i.Uses)
	case !now.Before(i.Expires):
		return fmt.Errorf("this invite expired at %s", i.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

type rosterOp struct {
	signed SignedOp
	msg    *Message
	op     *RosterOp
	seq    int  // order of admission
	late   bool // counted against its author's maxLateOps
}

// Roster is the membership of one group, computed from its roster ops. Every
// node that holds the same set of ops computes the same roster: ops are
// applied in a topological order of their parent links, ties broken by
// creation time and then id, and an op whose author lacks the right at its
// turn is skipped. PROTOCOL.md, "Roster".
//
// A Roster is safe for concurrent use. Its changes ([Roster.Add]) take its
// lock, one at a time; the checks of a message's author ([Roster.Keys],
// [Roster.DuressKey], [Roster.Member], [Roster.Authorize] of anything but
// a roster op or a rekey) read an immutable view that each change
// publishes once done, without the lock, so a change in progress never
// delays them.
type Roster struct {
	mu       sync.RWMutex
	group    crypto.GroupID
	root     ID
	ops      map[ID]*rosterOp
	pending  map[ID]*rosterOp // verified, waiting for parents
	keys     map[crypto.MemberID]MemberInfo
	seq      int                      // ops admitted so far
	count    map[crypto.MemberID]int  // ops held per author
	late     map[crypto.MemberID]int  // ops held per author counted as late
	promoted map[crypto.MemberID]bool // named admin by a held op (create or set_role), applied or not

	// Computed by recompute.
	everAdmin map[crypto.MemberID]int // who has been an admin, in the order they first became one (their seniority)
	name      string
	members   map[crypto.MemberID]*Member
	listed    []Member // the current members, in the order Members returns them
	invites   map[crypto.InviteID]*InviteState
	relays    map[peer.ID]*RelayState
	order     []ID
	heads     []ID // the parents of the next op
	sinks     []ID // the ops no op names as a parent
	settled   bool // the last computation reached its fixed point

	// view is what Keys, DuressKey, Member and Authorize (of anything but
	// a roster op or a rekey) read, without r.mu (roster_view.go).
	view atomic.Pointer[rosterView]
}

// NewRoster returns an empty roster for group. Its first op must be the
// group's [Create].
func NewRoster(group crypto.GroupID) *Roster {
	r := &Roster{
		group:    group,
		ops:      make(map[ID]*rosterOp),
		pending:  make(map[ID]*rosterOp),
		keys:     make(map[crypto.MemberID]MemberInfo),
		count:    make(map[crypto.MemberID]int),
		late:     make(map[crypto.MemberID]int),
		promoted: make(map[crypto.MemberID]bool),
	}
	r.recompute()
	r.publishAll()
	return r
}

// LoadRoster builds a roster from saved or received ops, taking each through
// [Roster.Add] in the order given: in the order of [Roster.Ops] (the order
// in which they were admitted), every op gets the decision it got when it
// was first admitted. Ops in another order are taken too: an op by an
// author not introduced yet is tried again after the others. Ops whose
// parents are missing are kept pending, as Add does.
//
// An op that Add refuses is left out and reported in skipped, one error per
// op: one op never makes a roster unloadable. LoadRoster fails only if ops
// are given but none of them is the group's creation.
func LoadRoster(group crypto.GroupID, ops []SignedOp) (r *Roster, skipped []error, err error) {
	r = NewRoster(group)
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.publishAll()
	left := ops
	for len(left) > 0 {
		var later []SignedOp
		progress := false
		for _, op := range left {
			_, _, err := r.add(op)
			switch {
			case err == nil:
				progress = true
			case errors.Is(err, ErrUnknownAuthor):
				later = append(later, op)
			default:
				skipped = append(skipped, fmt.Errorf("roster op %s: %w", ContentID(group, op.Inner.Author, op.Inner.Body).Short(), err))
			}
		}
		if !progress {
			for _, op := range later {
				skipped = append(skipped, fmt.Errorf("roster op %s: %w", ContentID(group, op.Inner.Author, op.Inner.Body).Short(), ErrUnknownAuthor))
			}
			break
		}
		left = later
	}
	if len(ops) > 0 && r.root.IsZero() {
		return nil, skipped, fmt.Errorf("%w: none of %d roster ops creates the group", ErrInvalid, len(ops))
	}
	return r, skipped, nil
}

// Group returns the group id.
func (r *Roster) Group() crypto.GroupID { return r.group }

// Add verifies a roster op and adds it. It reports whether the op was new.
// An op whose parents are missing is kept aside and applied when they arrive.
// Besides errors for ops that are bad for everyone, it returns
// [ErrUnknownAuthor], [ErrRosterBusy] and [ErrRosterLimit] for ops that
// this roster cannot take now but another node may hold.
func (r *Roster) Add(s SignedOp) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	added, all, err := r.add(s)
	switch {
	case !added:
	case all:
		r.publishAll()
	default:
		m := r.ops[r.order[len(r.order)-1]]
		r.publish(named(m.msg.Author, m.op)...)
	}
	return added, err
}

// testAdding, if set, is called by Add while it changes the roster (for
// tests: it holds r.mu).
var testAdding func()

// add is Add without the lock and without publishing the view. all
// reports whether more than the op's own change may have changed (the
// whole order was computed again); otherwise the op is the last of
// r.order.
func (r *Roster) add(s SignedOp) (added, all bool, err error) {
	m, err := Decode(r.group, s.Epoch, s.Inner.Author, s.Inner.Body)
	if err != nil {
		return false, false, err
	}
	op, ok := m.Content.(*RosterOp)
	if !ok {
		return false, false, fmt.Errorf("%w: not a roster op", ErrInvalid)
	}
	if err := op.validate(); err != nil {
		return false, false, err
	}
	if _, dup := r.ops[m.ID]; dup {
		return false, false, nil
	}
	if _, dup := r.pending[m.ID]; dup {
		return false, false, nil
	}
	keys, ok := r.keys[m.Author]
	c, isCreate := op.Change.(*Create)
	if isCreate {
		if !r.root.IsZero() {
			return false, false, ErrSecondRoot
		}
		keys, ok = c.Founder, c.Founder.ID() == m.Author
		if !ok {
			return false, false, fmt.Errorf("%w: creation not signed by its founder", ErrInvalid)
		}
	}
	if !ok {
		return false, false, ErrUnknownAuthor
	}
	if err := s.Inner.Verify(keys.Keys, r.group, s.Epoch); err != nil {
		return false, false, err
	}
	e := &rosterOp{signed: SignedOp{Epoch: s.Epoch, Inner: crypto.Inner{Author: s.Inner.Author, Sig: s.Inner.Sig, Body: bytes.Clone(s.Inner.Body)}, ID: m.ID}, msg: m, op: op}
	if err := r.admit(e); err != nil {
		return false, false, err
	}
	if isCreate {
		r.root = m.ID
	}
	waiting := slices.Collect(maps.Values(r.pending))
	r.seq++
	e.seq = r.seq
	r.count[m.Author]++
	switch c := op.Change.(type) {
	case *Create:
		r.promoted[m.Author] = true
	case *SetRole:
		if c.Role == RoleAdmin {
			r.promoted[c.Member] = true
		}
	}
	if !isCreate && !r.isCurrentAdmin(m.Author) {
		e.late = true
		r.late[m.Author]++
	}
	r.pending[m.ID] = e
	if r.appendable(e) {
		// The common case, done without computing everything again: an
		// op that follows every op held goes last in the order, and
		// applying it changes no one's standing.
		delete(r.pending, m.ID)
		r.ops[m.ID] = e
		r.learnKeys(e)
		r.order = append(r.order, m.ID)
		r.apply(e)
		r.heads = append(slices.DeleteFunc(r.heads, func(h ID) bool { return slices.Contains(op.Parents, h) }), m.ID)
		slices.SortFunc(r.heads, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
		r.sinks = []ID{m.ID}
		if testAdding != nil {
			testAdding()
		}
		if all = r.promote(); all {
			r.recompute()
		} else {
			r.listMembers()
		}
	} else {
		if testAdding != nil {
			testAdding()
		}
		r.promote()
		r.recompute()
		all = true
	}
	// Ops that waited for their parents while their author was an admin
	// count as late if the author no longer is: when an admin's removal
	// arrives after the ops it made on top of it, they count against it
	// then.
	for _, w := range waiting {
		if !w.late && !r.isCurrentAdmin(w.msg.Author) {
			w.late = true
			r.late[w.msg.Author]++
		}
	}
	return true, all, nil
}

// admit applies the limits an op must be within to be held (PROTOCOL.md,
// "Roster", accepting an op, rules 3 and 6 to 8). Each depends only on the
// ops held so far, so the same ops admitted in the same order get the same
// decisions, live and when the roster is loaded again.
func (r *Roster) admit(e *rosterOp) error {
	author := e.msg.Author
	held := r.parentsHeld(e.op)
	reserved := held && r.revokesCurrent(e)
	total := len(r.ops) + len(r.pending)
	switch {
	case total >= MaxRosterOps+rosterReserve || (total >= MaxRosterOps && !reserved):
		return fmt.Errorf("%w: the roster is full (%d ops)", ErrRosterLimit, total)
	case r.count[author] >= MaxAuthorOps && !reserved:
		return fmt.Errorf("%w: %s already has %d ops in the roster", ErrRosterLimit, author.Short(), r.count[author])
	case !r.isCurrentAdmin(author) && r.late[author] >= maxLateOps:
		return fmt.Errorf("%w: %s is not an admin and already has %d ops since", ErrRosterLimit, author.Short(), r.late[author])
	case !held && len(r.pending) >= maxPendingOps:
		// The op is not kept; whoever stores it unapplied would never be
		// offered it again. It comes back by sync once its parents are here.
		return ErrRosterBusy
	}
	return nil
}

// revokesCurrent reports whether e, by a current admin, removes or demotes
// a current member other than its author.
func (r *Roster) revokesCurrent(e *rosterOp) bool {
	if !r.isCurrentAdmin(e.msg.Author) {
		return false
	}
	switch c := e.op.Change.(type) {
	case *RemoveMember:
		return c.Member != e.msg.Author && r.current(c.Member) != nil
	case *SetRole:
		m := r.current(c.Member)
		return c.Role != RoleAdmin && m != nil && m.Role == RoleAdmin
	}
	return false
}

// appendable reports whether e can be applied after the ops already applied
// with the result recompute would give: the last computation reached its
// fixed point, e names every op without children (so it is last in any
// order, and descends from every revoking op), its author is a current
// admin, and it neither revokes nor promotes anyone.
func (r *Roster) appendable(e *rosterOp) bool {
	switch e.op.Change.(type) {
	case *AddMember, *NewInvite, *RevokeInvite, *GrantRelay, *RevokeRelay:
	default:
		return false
	}
	if !r.settled || len(e.op.Parents) != len(r.sinks) || !r.isCurrentAdmin(e.msg.Author) {
		return false
	}
	for _, p := range e.op.Parents {
		if !slices.Contains(r.sinks, p) {
			return false
		}
	}
	return true
}

// parentsHeld reports whether every parent of op is among the applied ops.
func (r *Roster) parentsHeld(op *RosterOp) bool {
	for _, p := range op.Parents {
		if _, ok := r.ops[p]; !ok {
			return false
		}
	}
	return true
}

// promote moves pending ops whose parents are all present into ops, and
// reports whether it moved any.
func (r *Roster) promote() bool {
	some := false
	for moved := true; moved; {
		moved = false
		for id, e := range r.pending {
			if r.parentsHeld(e.op) {
				r.ops[id] = e
				delete(r.pending, id)
				r.learnKeys(e)
				moved, some = true, true
			}
		}
	}
	return some
}

func (r *Roster) learnKeys(e *rosterOp) {
	switch c := e.op.Change.(type) {
	case *Create:
		r.keys[c.Founder.ID()] = c.Founder
	case *AddMember:
		r.keys[c.Member.ID()] = c.Member
	}
}

// recompute applies every op in the deterministic order.
//
// Removal wins over what the removed did concurrently: once an admin's
// removal (or demotion) is applied, the ops that admin made without having
// seen it (neither ancestors nor descendants of the removal in the op graph)
// are skipped, whatever times they claim. This is computed to a fixed point:
// apply, collect the removals that took effect, apply again skipping the
// removed members' concurrent ops, until the set of removals is stable.
func (r *Roster) recompute() {
	r.order = r.order[:0]
	indeg := make(map[ID]int, len(r.ops))
	kids := make(map[ID][]ID)
	for id, e := range r.ops {
		indeg[id] += 0
		for _, p := range e.op.Parents {
			indeg[id]++
			kids[p] = append(kids[p], id)
		}
	}
	less := func(a, b ID) int {
		ea, eb := r.ops[a], r.ops[b]
		if c := ea.msg.Created.Compare(eb.msg.Created); c != 0 {
			return c
		}
		return bytes.Compare(a[:], b[:])
	}
	var ready []ID
	for id, d := range indeg {
		if d == 0 {
			ready = append(ready, id)
		}
	}
	for len(ready) > 0 {
		slices.SortFunc(ready, less)
		id := ready[0]
		ready = ready[1:]
		r.order = append(r.order, id)
		for _, k := range kids[id] {
			if indeg[k]--; indeg[k] == 0 {
				ready = append(ready, k)
			}
		}
	}
	// related[x] holds the ancestors and descendants of op x.
	related := make(map[ID]map[ID]bool)
	relatedTo := func(x ID) map[ID]bool {
		if m, ok := related[x]; ok {
			return m
		}
		m := map[ID]bool{x: true}
		var walk func(ID, func(ID) []ID)
		walk = func(id ID, next func(ID) []ID) {
			for _, n := range next(id) {
				if !m[n] {
					m[n] = true
					walk(n, next)
				}
			}
		}
		walk(x, func(id ID) []ID { return r.ops[id].op.Parents })
		walk(x, func(id ID) []ID { return kids[id] })
		related[x] = m
		return m
	}
	revoked := map[crypto.MemberID]ID{}
	r.settled = false
	for range len(r.ops) + 1 {
		next := r.applyAll(revoked, relatedTo)
		if maps.Equal(next, revoked) {
			r.settled = true
			break
		}
		revoked = next
	}
	r.findHeads(kids, revoked)
	r.listMembers()
	r.sinks = r.sinks[:0]
	for id := range r.ops {
		if len(kids[id]) == 0 {
			r.sinks = append(r.sinks, id)
		}
	}
}

// findHeads sets the heads: the ops that no other op follows, leaving out
// the ops of an author who is not a current admin, other than those that
// led to the op revoking them. Those can have no effect, and another node
// may not hold them (an author who is not an admin has a budget of
// maxLateOps, which nodes may use up on different ops): a new op that
// named one as a parent could wait for it there for ever.
func (r *Roster) findHeads(kids map[ID][]ID, revoked map[crypto.MemberID]ID) {
	ancestors := make(map[ID]map[ID]bool) // of each revoking op, itself included
	counts := func(id ID) bool {
		e := r.ops[id]
		author := e.msg.Author
		if id == r.root || r.isCurrentAdmin(author) {
			return true
		}
		by, ok := revoked[author]
		if !ok {
			return false
		}
		anc, ok := ancestors[by]
		if !ok {
			anc = map[ID]bool{}
			stack := []ID{by}
			for len(stack) > 0 {
				x := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if anc[x] {
					continue
				}
				anc[x] = true
				stack = append(stack, r.ops[x].op.Parents...)
			}
			ancestors[by] = anc
		}
		return anc[id]
	}
	r.heads = r.heads[:0]
	for id := range r.ops {
		if !counts(id) || slices.ContainsFunc(kids[id], counts) {
			continue
		}
		r.heads = append(r.heads, id)
	}
	slices.SortFunc(r.heads, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
}

// revocation is an op that removes or demotes a member.
type revocation struct {
	op             ID
	author, target crypto.MemberID
}

// applyAll resets the computed state and applies every op in order,
// skipping ops by a revoked member that are concurrent with the op that
// revoked them. It returns the revocations for the next pass: for each
// admin, the op that removed or demoted them, if it took effect or if it
// came from a more senior admin (one who became admin earlier in the
// order). Seniority settles conflicts between admins whatever times their
// ops claim: a junior admin who was removed cannot undo it by signing,
// with old parents and an old date, the removal of whoever removed them.
func (r *Roster) applyAll(revoked map[crypto.MemberID]ID, relatedTo func(ID) map[ID]bool) map[crypto.MemberID]ID {
	r.name = ""
	r.members = make(map[crypto.MemberID]*Member)
	r.invites = make(map[crypto.InviteID]*InviteState)
	r.relays = make(map[peer.ID]*RelayState)
	r.everAdmin = make(map[crypto.MemberID]int)
	next := make(map[crypto.MemberID]ID)
	var revs []revocation
	for _, id := range r.order {
		e := r.ops[id]
		author := e.msg.Author
		switch c := e.op.Change.(type) {
		case *RemoveMember:
			revs = append(revs, revocation{op: id, author: author, target: c.Member})
		case *SetRole:
			if c.Role != RoleAdmin {
				revs = append(revs, revocation{op: id, author: author, target: c.Member})
			}
		}
		if by, ok := revoked[author]; ok && !relatedTo(by)[id] {
			continue
		}
		target, ok := r.apply(e)
		if !ok {
			continue
		}
		if _, first := next[target]; !target.IsZero() && !first {
			next[target] = id
		}
	}
	for _, v := range revs {
		if _, done := next[v.target]; done {
			continue
		}
		ra, okA := r.everAdmin[v.author]
		rt, okT := r.everAdmin[v.target]
		if okA && okT && ra < rt {
			next[v.target] = v.op
		}
	}
	return next
}

// becameAdmin records that id is an admin, if it never was before.
func (r *Roster) becameAdmin(id crypto.MemberID) {
	if _, ok := r.everAdmin[id]; !ok {
		r.everAdmin[id] = len(r.everAdmin)
	}
}

func (r *Roster) current(id crypto.MemberID) *Member {
	if m, ok := r.members[id]; ok && !m.Removed {
		return m
	}
	return nil
}

func (r *Roster) isCurrentAdmin(id crypto.MemberID) bool {
	m := r.current(id)
	return m != nil && m.Role == RoleAdmin
}

func (r *Roster) admins() int {
	n := 0
	for _, m := range r.members {
		if !m.Removed && m.Role == RoleAdmin {
			n++
		}
	}
	return n
}

// apply applies one op to the computed state, or skips it if its author has
// no right to it at this point of the order. When the op removes or demotes
// an admin, it returns that admin and true.
func (r *Roster) apply(e *rosterOp) (revokes crypto.MemberID, applied bool) {
	author := e.msg.Author
	if c, ok := e.op.Change.(*Create); ok {
		if e.msg.ID != r.root {
			return revokes, false
		}
		r.name = c.GroupName
		r.members[author] = &Member{MemberInfo: c.Founder, Role: RoleAdmin, AddedBy: author, Added: e.msg.Created, AddOp: e.msg.ID, Seat: c.Seat}
		r.becameAdmin(author)
		return revokes, true
	}
	if a := r.current(author); a == nil || a.Role != RoleAdmin {
		return revokes, false
	}
	switch c := e.op.Change.(type) {
	case *AddMember:
		id := c.Member.ID()
		if m := r.current(id); m != nil {
			return revokes, false
		}
		r.members[id] = &Member{MemberInfo: c.Member, Role: RoleMember, AddedBy: author, Added: e.msg.Created, AddOp: e.msg.ID, Seat: c.Seat, Ratchet: c.Ratchet}
		if inv, ok := r.invites[c.Invite]; ok {
			inv.Used++
		}
	case *RemoveMember:
		// An admin cannot remove itself: a removal is followed by a new
		// epoch that only a current admin can send. It can step down
		// with set_role instead.
		m := r.current(c.Member)
		if m == nil || c.Member == author || (m.Role == RoleAdmin && r.admins() == 1) {
			return revokes, false
		}
		m.Removed = true
		m.RemovedAt, m.RemovedBy, m.Removal = e.msg.Created, author, e.msg.ID
		if m.Role == RoleAdmin {
			revokes = c.Member
		}
	case *SetRole:
		m := r.current(c.Member)
		if m == nil || (m.Role == RoleAdmin && c.Role != RoleAdmin && r.admins() == 1) {
			return revokes, false
		}
		if m.Role == RoleAdmin && c.Role != RoleAdmin {
			revokes = c.Member
		}
		m.Role = c.Role
		if c.Role == RoleAdmin {
			r.becameAdmin(c.Member)
		}
	case *NewInvite:
		if _, ok := r.invites[c.ID]; !ok {
			r.invites[c.ID] = &InviteState{NewInvite: *c, By: author}
		}
	case *RevokeInvite:
		if inv, ok := r.invites[c.ID]; ok {
			inv.Revoked = true
		}
	case *GrantRelay:
		r.relays[c.Relay] = &RelayState{GrantRelay: *c, By: author}
	case *RevokeRelay:
		if st, ok := r.relays[c.Relay]; ok {
			st.Revoked = true
		}
	}
	return revokes, true
}

// Authorize reports whether m's author may send m now. It returns
// [ErrUnknownAuthor], [ErrRemoved], [ErrNotAdminYet] or [ErrSecondRoot],
// which another node may not return for the same message, or
// [ErrNotAdmin], which every node returns, or nil.
//
// Of any message but a roster op or a rekey, it decides by the roster as
// it was when its last change ended, without waiting for a change in
// progress.
func (r *Roster) Authorize(m *Message) error {
	switch m.Content.(type) {
	case *RosterOp, *Rekey:
	default:
		s := r.view.Load().get(m.Author)
		switch {
		case !s.applied && s.known:
			return ErrRemoved // added by an op that was skipped; treat as not a member
		case !s.applied:
			return ErrUnknownAuthor
		case s.member.Removed:
			return ErrRemoved
		}
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	op, isOp := m.Content.(*RosterOp)
	if isOp {
		if _, ok := op.Change.(*Create); ok {
			if r.root.IsZero() || r.root == m.ID {
				return nil
			}
			return ErrSecondRoot
		}
		// Whether a roster op takes effect is decided by the deterministic
		// order, not by when it arrives: accept any op by someone who has
		// been an admin, so that every node holds the same ops.
		if _, known := r.keys[m.Author]; !known {
			return ErrUnknownAuthor
		}
		if _, ok := r.everAdmin[m.Author]; !ok {
			return r.notAdmin(m.Author, op.Parents)
		}
		return nil
	}
	mem, ok := r.members[m.Author]
	if !ok {
		if _, known := r.keys[m.Author]; known {
			// Added by an op that was skipped; treat as not a member.
			return ErrRemoved
		}
		return ErrUnknownAuthor
	}
	if mem.Removed {
		return ErrRemoved
	}
	if rk, isRekey := m.Content.(*Rekey); isRekey && mem.Role != RoleAdmin {
		if _, ok := r.everAdmin[m.Author]; ok {
			return ErrNotAdminYet // demoted here; the sender may not know yet
		}
		return r.notAdmin(m.Author, rk.Covers)
	}
	return nil
}

// notAdmin tells why author, who has never been an admin in this roster,
// may not send a message naming past as the roster heads it was made on
// (a roster op's parents, a rekey's covers). An admin's node names heads
// of which the op that made it an admin is an ancestor. If every op named
// is applied here, so is everything before them; if none of the ops held
// names the author admin, the author provably was not one: [ErrNotAdmin].
// Otherwise the promotion may simply not have arrived: [ErrNotAdminYet].
func (r *Roster) notAdmin(author crypto.MemberID, past []ID) error {
	if len(past) == 0 || r.promoted[author] {
		return ErrNotAdminYet
	}
	for _, id := range past {
		if _, ok := r.ops[id]; !ok {
			return ErrNotAdminYet
		}
	}
	return ErrNotAdmin
}

// Keys returns the keys of anyone the roster has ever introduced, for
// verifying signatures.
func (r *Roster) Keys(id crypto.MemberID) (crypto.MemberKeys, bool) {
	s := r.view.Load().get(id)
	return s.info.Keys, s.known
}

// DuressKey returns the duress key in the record of anyone the roster has
// ever introduced, for verifying a duress warning; the zero key if the
// record has none or the member is unknown.
func (r *Roster) DuressKey(id crypto.MemberID) crypto.DuressKey {
	return r.view.Load().get(id).info.Duress
}

// Member returns a member, including removed ones.
func (r *Roster) Member(id crypto.MemberID) (Member, bool) {
	s := r.view.Load().get(id)
	return s.member, s.applied
}

// Members returns the current members, admins first, then by name. The
// slice is shared and never changed: read it, do not write to it.
func (r *Roster) Members() []Member {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.listed
}

// listMembers lists the current members in a new slice once per change:
// Members is called for every message a node takes, and in a group of
// hundreds sorting and copying them each time cost more than anything
// else a node did while the group formed. The members are sorted by
// pointer and copied once: sorting the records themselves moved about 300
// bytes per comparison and swap (5 % of the CPU of 500 nodes catching up
// on 499 joins).
func (r *Roster) listMembers() {
	ptrs := make([]*Member, 0, len(r.members))
	for _, m := range r.members {
		if !m.Removed {
			ptrs = append(ptrs, m)
		}
	}
	slices.SortFunc(ptrs, func(a, b *Member) int {
		if c := cmp.Compare(b.Role, a.Role); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		ia, ib := a.ID(), b.ID()
		return bytes.Compare(ia[:], ib[:])
	})
	out := make([]Member, len(ptrs))
	for i, m := range ptrs {
		out[i] = *m
	}
	r.listed = out
}

// Name returns the group's name, from its creation.
func (r *Roster) Name() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.name
}

// Heads returns the ids of the ops no other op follows yet: the parents of
// the next op.
func (r *Roster) Heads() []ID {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.heads)
}

// Has reports whether the roster holds the op with this id.
func (r *Roster) Has(id ID) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.ops[id]
	if !ok {
		_, ok = r.pending[id]
	}
	return ok
}

// Ops returns every op held, applied or pending, in the order they were
// admitted, for saving or for a new member: [LoadRoster] then takes each
// with the decision it got here.
func (r *Roster) Ops() []SignedOp {
	r.mu.RLock()
	defer r.mu.RUnlock()
	all := slices.AppendSeq(slices.Collect(maps.Values(r.ops)), maps.Values(r.pending))
	slices.SortFunc(all, func(a, b *rosterOp) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]SignedOp, len(all))
	for i, e := range all {
		out[i] = e.signed
	}
	return out
}

// Seats returns who any op held (applied, skipped or pending) seats at
// each position of key tree, and one more than the highest such position.
// Every one of them was given the keys of that position.
func (r *Roster) Seats(tree crypto.TreeID) (seats map[uint32][]crypto.MemberID, upto uint32) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	seats = make(map[uint32][]crypto.MemberID)
	note := func(e *rosterOp) {
		var st *Seat
		var who crypto.MemberID
		switch c := e.op.Change.(type) {
		case *Create:
			st, who = c.Seat, c.Founder.ID()
		case *AddMember:
			st, who = c.Seat, c.Member.ID()
		}
		if st == nil || st.Tree != tree {
			return
		}
		if !slices.Contains(seats[st.Position], who) {
			seats[st.Position] = append(seats[st.Position], who)
		}
		upto = max(upto, st.Position+1)
	}
	for _, e := range r.ops {
		note(e)
	}
	for _, e := range r.pending {
		note(e)
	}
	return seats, upto
}

// TreeGrants returns the members that a promotion held (applied or not)
// gave the secret of key tree: with the tree's first admins, they are who
// may know it.
func (r *Roster) TreeGrants(tree crypto.TreeID) []crypto.MemberID {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []crypto.MemberID
	for _, m := range []map[ID]*rosterOp{r.ops, r.pending} {
		for _, e := range m {
			if sr, ok := e.op.Change.(*SetRole); ok && sr.Tree != nil && sr.Tree.Tree == tree && !slices.Contains(out, sr.Member) {
				out = append(out, sr.Member)
			}
		}
	}
	return out
}

// Ancestors returns the ids of the ops held that op id follows, directly
// or not, and id itself: what the author of id knew when it made it.
func (r *Roster) Ancestors(id ID) map[ID]bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[ID]bool)
	stack := []ID{id}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if out[x] {
			continue
		}
		out[x] = true
		e := r.ops[x]
		if e == nil {
			e = r.pending[x]
		}
		if e != nil {
			stack = append(stack, e.op.Parents...)
		}
	}
	return out
}

// Invite returns an invite's state.
func (r *Roster) Invite(id crypto.InviteID) (InviteState, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	inv, ok := r.invites[id]
	if !ok {
		return InviteState{}, false
	}
	return *inv, true
}

// OpenInvites returns the invites that can still be redeemed at now.
func (r *Roster) OpenInvites(now time.Time) []InviteState {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []InviteState
	for _, inv := range r.invites {
		if inv.Usable(now) == nil {
			out = append(out, *inv)
		}
	}
	return out
}

// RemovedMembers returns the members who were removed.
func (r *Roster) RemovedMembers() []Member {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Member
	for _, m := range r.members {
		if m.Removed {
			out = append(out, *m)
		}
	}
	return out
}

// Relays returns every relay granted in the roster, revoked and expired
// ones included, by name then peer id.
func (r *Roster) Relays() []RelayState {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]RelayState, 0, len(r.relays))
	for _, st := range r.relays {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b RelayState) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(string(a.Relay), string(b.Relay))
	})
	return out
}

// AllInvites returns every invite the roster knows, open or not.
func (r *Roster) AllInvites() []InviteState {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]InviteState, 0, len(r.invites))
	for _, inv := range r.invites {
		out = append(out, *inv)
	}
	return out
}
