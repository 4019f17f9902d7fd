package alert_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// fixture is a group with real identities whose members sign real roster
// ops, as nodes do.
type fixture struct {
	t     testing.TB
	group crypto.GroupID
	epoch uint64
}

func newFixture(t testing.TB) *fixture {
	return &fixture{t: t, group: crypto.NewGroupID(), epoch: 1}
}

type signed struct {
	op alert.SignedOp
	id alert.ID
}

// sign has author sign a roster op created at created.
func (f *fixture) sign(author *crypto.Identity, created time.Time, parents []alert.ID, ch alert.RosterChange) signed {
	f.t.Helper()
	body := encode(f.t, created, &alert.RosterOp{Parents: parents, Change: ch})
	return signed{
		op: alert.SignedOp{Epoch: f.epoch, Inner: author.SignBody(f.group, f.epoch, body)},
		id: alert.ContentID(f.group, author.ID(), body),
	}
}

func (f *fixture) create(founder *crypto.Identity) signed {
	return f.sign(founder, t0, nil, &alert.Create{GroupName: "Red Istmo", Founder: info(founder)})
}

// message decodes a non-roster message by author, for Authorize.
func (f *fixture) message(author *crypto.Identity, c alert.Content) *alert.Message {
	f.t.Helper()
	m, err := alert.Decode(f.group, f.epoch, author.ID(), encode(f.t, t0.Add(time.Hour), c))
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

func (f *fixture) decoded(s signed) *alert.Message {
	f.t.Helper()
	m, err := alert.Decode(f.group, s.op.Epoch, s.op.Inner.Author, s.op.Inner.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

func add(t testing.TB, r *alert.Roster, ops ...signed) {
	t.Helper()
	for _, s := range ops {
		added, err := r.Add(s.op)
		if err != nil || !added {
			t.Fatalf("Add(%s) = %v, %v; want true, nil", s.id.Short(), added, err)
		}
	}
}

func memberIDs(ms []alert.Member) []crypto.MemberID {
	var out []crypto.MemberID
	for _, m := range ms {
		out = append(out, m.ID())
	}
	return out
}

func roleOf(t testing.TB, r *alert.Roster, id *crypto.Identity) (alert.Role, bool) {
	t.Helper()
	m, ok := r.Member(id.ID())
	if !ok || m.Removed {
		return 0, false
	}
	return m.Role, true
}

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func TestRosterCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana := newIdentity(t, "ana")
	r := alert.NewRoster(f.group)
	if r.Group() != f.group || r.Name() != "" || len(r.Members()) != 0 || len(r.Heads()) != 0 {
		t.Fatal("a new roster is not empty")
	}
	c := f.create(ana)
	add(t, r, c)
	if r.Name() != "Red Istmo" {
		t.Errorf("Name = %q", r.Name())
	}
	ms := r.Members()
	if len(ms) != 1 || ms[0].ID() != ana.ID() || ms[0].Role != alert.RoleAdmin || ms[0].AddedBy != ana.ID() || !ms[0].Added.Equal(t0) {
		t.Fatalf("Members = %+v, want the founder as admin", ms)
	}
	if ms[0].Peer != ana.PeerID() || ms[0].Name != "ana" {
		t.Fatal("founder's node or name lost")
	}
	if h := r.Heads(); len(h) != 1 || h[0] != c.id {
		t.Fatalf("Heads = %v, want the creation %s", h, c.id)
	}
	if !r.Has(c.id) {
		t.Error("Has(creation) = false")
	}
	if k, ok := r.Keys(ana.ID()); !ok || !k.Equal(ana.Public()) {
		t.Error("Keys(founder) missing")
	}
	if added, err := r.Add(c.op); added || err != nil {
		t.Errorf("adding the creation again = %v, %v; want false, nil", added, err)
	}
	if err := r.Authorize(f.decoded(c)); err != nil {
		t.Errorf("Authorize(the creation) = %v", err)
	}
}

func TestRosterLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto, carla, dario := newIdentity(t, "ana"), newIdentity(t, "beto"), newIdentity(t, "carla"), newIdentity(t, "dario")
	r := alert.NewRoster(f.group)
	inv := crypto.NewInvite(f.group, ana.PeerID(), nil)

	c := f.create(ana)
	newInv := f.sign(ana, at(1), []alert.ID{c.id}, &alert.NewInvite{ID: inv.ID, Key: inv.PublicKey(), Uses: 2, Expires: at(3600)})
	addBeto := f.sign(ana, at(2), []alert.ID{newInv.id}, &alert.AddMember{Member: info(beto), Invite: inv.ID})
	add(t, r, c, newInv, addBeto)

	// The join proof: beto signed its member record with the invite key,
	// which the roster holds for every admin's node.
	st, ok := r.Invite(inv.ID)
	if !ok {
		t.Fatal("invite not in the roster")
	}
	rec, err := alert.EncodeMember(info(beto))
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, crypto.JoinNonceSize)
	proof, err := inv.ProveJoin(beto, nonce, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := crypto.VerifyJoin(st.Key, f.group, inv.ID, nonce, rec, beto.Public(), beto.PeerID(), proof); err != nil {
		t.Fatalf("join proof against the roster's invite key: %v", err)
	}
	if st.Used != 1 || st.By != ana.ID() || st.Usable(at(10)) != nil {
		t.Fatalf("invite after one use: %+v, Usable = %v", st, st.Usable(at(10)))
	}
	if role, ok := roleOf(t, r, beto); !ok || role != alert.RoleMember {
		t.Fatalf("beto: %v, %v; want member", role, ok)
	}
	if m, _ := r.Member(beto.ID()); m.AddedBy != ana.ID() || !m.Added.Equal(at(2)) {
		t.Fatalf("beto added by %s at %v", m.AddedBy.Short(), m.Added)
	}

	// A member's ordinary messages are authorized; its roster ops are not.
	if err := r.Authorize(f.message(beto, &alert.Ack{Ref: alert.ID{1}, Status: alert.AckSeen})); err != nil {
		t.Fatalf("Authorize(beto's ack) = %v", err)
	}
	byBeto := f.sign(beto, at(3), []alert.ID{addBeto.id}, &alert.AddMember{Member: info(dario), Invite: inv.ID})
	if err := r.Authorize(f.decoded(byBeto)); !errors.Is(err, alert.ErrNotAdmin) {
		t.Fatalf("Authorize(a member's roster op) = %v, want ErrNotAdmin", err)
	}
	// Held (it verifies) but skipped: dario does not become a member and
	// the invite is not used.
	add(t, r, byBeto)
	if _, ok := r.Member(dario.ID()); ok {
		t.Fatal("a non-admin's AddMember was applied")
	}
	if st, _ := r.Invite(inv.ID); st.Used != 1 {
		t.Fatalf("a skipped AddMember used the invite: %d uses", st.Used)
	}
	if _, known := r.Keys(dario.ID()); !known {
		t.Fatal("keys from a held op are unknown")
	}
	if err := r.Authorize(f.message(dario, &alert.Ack{Ref: alert.ID{1}, Status: alert.AckSeen})); !errors.Is(err, alert.ErrRemoved) {
		t.Fatalf("Authorize(someone a non-admin added) = %v, want ErrRemoved", err)
	}

	// Promote beto; now beto's ops count.
	promote := f.sign(ana, at(4), []alert.ID{byBeto.id}, &alert.SetRole{Member: beto.ID(), Role: alert.RoleAdmin})
	add(t, r, promote)
	if role, _ := roleOf(t, r, beto); role != alert.RoleAdmin {
		t.Fatalf("beto is %v after promotion", role)
	}
	addCarla := f.sign(beto, at(5), []alert.ID{promote.id}, &alert.AddMember{Member: info(carla), Invite: inv.ID})
	add(t, r, addCarla)
	if role, ok := roleOf(t, r, carla); !ok || role != alert.RoleMember {
		t.Fatal("an admin's AddMember was not applied")
	}
	st, _ = r.Invite(inv.ID)
	if st.Used != 2 || st.Usable(at(10)) == nil {
		t.Fatalf("invite used %d of 2 times, Usable = %v; want used up", st.Used, st.Usable(at(10)))
	}
	if len(r.OpenInvites(at(10))) != 0 {
		t.Fatal("a used-up invite is open")
	}

	// Remove carla.
	rm := f.sign(ana, at(6), []alert.ID{addCarla.id}, &alert.RemoveMember{Member: carla.ID()})
	add(t, r, rm)
	if _, ok := roleOf(t, r, carla); ok {
		t.Fatal("carla is still a member")
	}
	if m, ok := r.Member(carla.ID()); !ok || !m.Removed {
		t.Fatal("Member(carla) does not say removed")
	}
	if removed := memberIDs(r.RemovedMembers()); len(removed) != 1 || removed[0] != carla.ID() {
		t.Fatalf("RemovedMembers = %v", removed)
	}
	if err := r.Authorize(f.message(carla, &alert.Ack{Ref: alert.ID{1}, Status: alert.AckSeen})); !errors.Is(err, alert.ErrRemoved) {
		t.Fatalf("Authorize(removed member) = %v, want ErrRemoved", err)
	}
	if _, known := r.Keys(carla.ID()); !known {
		t.Fatal("a removed member's keys are forgotten (old messages can no longer be verified)")
	}

	// Members: admins first, then by name.
	want := []crypto.MemberID{ana.ID(), beto.ID()}
	if got := memberIDs(r.Members()); !slices.Equal(got, want) {
		t.Fatalf("Members = %v, want ana, beto", got)
	}
	if h := r.Heads(); len(h) != 1 || h[0] != rm.id {
		t.Fatalf("Heads = %v, want the last op", h)
	}

	// Strangers.
	stranger := newIdentity(t, "mallory")
	if err := r.Authorize(f.message(stranger, &alert.Ack{Ref: alert.ID{1}, Status: alert.AckSeen})); !errors.Is(err, alert.ErrUnknownAuthor) {
		t.Fatalf("Authorize(stranger) = %v, want ErrUnknownAuthor", err)
	}
	byStranger := f.sign(stranger, at(7), []alert.ID{rm.id}, &alert.RemoveMember{Member: ana.ID()})
	if added, err := r.Add(byStranger.op); added || !errors.Is(err, alert.ErrUnknownAuthor) {
		t.Fatalf("Add(stranger's op) = %v, %v; want ErrUnknownAuthor", added, err)
	}
	if r.Has(byStranger.id) {
		t.Fatal("a stranger's op is held")
	}
}

func TestRosterInvites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana := newIdentity(t, "ana")
	r := alert.NewRoster(f.group)
	c := f.create(ana)
	mk := func(n byte, sec int, uses int, expires time.Time, parent alert.ID) signed {
		return f.sign(ana, at(sec), []alert.ID{parent}, &alert.NewInvite{ID: crypto.InviteID{n}, Key: bytes.Repeat([]byte{n}, 32), Uses: uses, Expires: expires})
	}
	open := mk(1, 1, 5, at(3600), c.id)
	short := mk(2, 2, 5, at(60), open.id)
	revoked := mk(3, 3, 5, at(3600), short.id)
	revoke := f.sign(ana, at(4), []alert.ID{revoked.id}, &alert.RevokeInvite{ID: crypto.InviteID{3}})
	add(t, r, c, open, short, revoked, revoke)

	tests := []struct {
		id     byte
		now    time.Time
		usable bool
	}{
		{1, at(10), true},
		{1, at(3599), true},
		{1, at(3600), false}, // expires at that instant
		{2, at(59), true},
		{2, at(61), false},
		{3, at(10), false},
	}
	for _, tt := range tests {
		st, ok := r.Invite(crypto.InviteID{tt.id})
		if !ok {
			t.Fatalf("invite %d missing", tt.id)
		}
		if err := st.Usable(tt.now); (err == nil) != tt.usable {
			t.Errorf("invite %d at %v: Usable = %v, want usable=%v", tt.id, tt.now.Sub(t0), err, tt.usable)
		}
	}
	var openIDs []crypto.InviteID
	for _, st := range r.OpenInvites(at(30)) {
		openIDs = append(openIDs, st.ID)
	}
	slices.SortFunc(openIDs, func(a, b crypto.InviteID) int { return bytes.Compare(a[:], b[:]) })
	if !slices.Equal(openIDs, []crypto.InviteID{{1}, {2}}) {
		t.Fatalf("OpenInvites = %v, want 1 and 2", openIDs)
	}
	if _, ok := r.Invite(crypto.InviteID{9}); ok {
		t.Fatal("an unknown invite exists")
	}
	// A second NewInvite with a used id does not reset it.
	again := f.sign(ana, at(5), []alert.ID{revoke.id}, &alert.NewInvite{ID: crypto.InviteID{3}, Key: bytes.Repeat([]byte{9}, 32), Uses: 9, Expires: at(9000)})
	add(t, r, again)
	if st, _ := r.Invite(crypto.InviteID{3}); !st.Revoked || st.Uses != 5 {
		t.Fatalf("re-announcing an invite id changed it: %+v", st)
	}
}

func TestRosterLastAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto := newIdentity(t, "ana"), newIdentity(t, "beto")
	r := alert.NewRoster(f.group)
	c := f.create(ana)
	selfRemove := f.sign(ana, at(1), []alert.ID{c.id}, &alert.RemoveMember{Member: ana.ID()})
	selfDemote := f.sign(ana, at(2), []alert.ID{selfRemove.id}, &alert.SetRole{Member: ana.ID(), Role: alert.RoleMember})
	add(t, r, c, selfRemove, selfDemote)
	if role, ok := roleOf(t, r, ana); !ok || role != alert.RoleAdmin {
		t.Fatal("the last admin removed or demoted itself")
	}
	addBeto := f.sign(ana, at(3), []alert.ID{selfDemote.id}, &alert.AddMember{Member: info(beto)})
	promote := f.sign(ana, at(4), []alert.ID{addBeto.id}, &alert.SetRole{Member: beto.ID(), Role: alert.RoleAdmin})
	demote := f.sign(ana, at(5), []alert.ID{promote.id}, &alert.SetRole{Member: ana.ID(), Role: alert.RoleMember})
	add(t, r, addBeto, promote, demote)
	if role, _ := roleOf(t, r, ana); role != alert.RoleMember {
		t.Fatal("an admin could not step down while another admin remains")
	}
	if role, _ := roleOf(t, r, beto); role != alert.RoleAdmin {
		t.Fatal("beto is not admin")
	}
}

func TestRosterRejects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto := newIdentity(t, "ana"), newIdentity(t, "beto")
	r := alert.NewRoster(f.group)
	c := f.create(ana)
	addBeto := f.sign(ana, at(1), []alert.ID{c.id}, &alert.AddMember{Member: info(beto)})
	add(t, r, c, addBeto)

	good := f.sign(ana, at(2), []alert.ID{addBeto.id}, &alert.RemoveMember{Member: beto.ID()})
	badSig := good.op
	badSig.Inner.Sig[5] ^= 1
	otherEpoch := good.op
	otherEpoch.Epoch = 2
	swapped := good.op // ana's signature over another body
	swapped.Inner.Body = encode(t, at(2), &alert.RosterOp{Parents: []alert.ID{addBeto.id}, Change: &alert.SetRole{Member: beto.ID(), Role: alert.RoleAdmin}})
	claimed := good.op // beto claims ana's op
	claimed.Inner.Author = beto.ID()
	otherGroup := &fixture{t: t, group: crypto.NewGroupID(), epoch: 1}
	wrongGroup := otherGroup.sign(ana, at(2), []alert.ID{addBeto.id}, &alert.RemoveMember{Member: beto.ID()})
	secondRoot := f.sign(ana, at(3), nil, &alert.Create{GroupName: "otra", Founder: info(ana)})
	strangerRoot := f.sign(beto, at(3), nil, &alert.Create{GroupName: "otra", Founder: info(beto)})
	notFounder := f.sign(beto, at(3), nil, &alert.Create{GroupName: "otra", Founder: info(ana)})
	notRoster := alert.SignedOp{Epoch: 1, Inner: ana.SignBody(f.group, 1, encode(t, at(3), &alert.Ack{Ref: alert.ID{1}, Status: alert.AckSeen}))}
	invalid := f.sign(ana, at(3), []alert.ID{addBeto.id}, &alert.SetRole{Member: beto.ID(), Role: 7})
	malformed := alert.SignedOp{Epoch: 1, Inner: ana.SignBody(f.group, 1, []byte{0xff, 0xff})}

	tests := []struct {
		name string
		op   alert.SignedOp
		want error
	}{
		{"flipped signature bit", badSig, crypto.ErrBadSignature},
		{"signed for another epoch", otherEpoch, crypto.ErrBadSignature},
		{"body swapped under the signature", swapped, crypto.ErrBadSignature},
		{"author swapped", claimed, crypto.ErrBadSignature},
		{"signed for another group", wrongGroup.op, crypto.ErrBadSignature},
		{"second creation", secondRoot.op, alert.ErrSecondRoot},
		{"second creation by a member", strangerRoot.op, alert.ErrSecondRoot},
		{"not a roster op", notRoster, alert.ErrInvalid},
		{"invalid op", invalid.op, alert.ErrInvalid},
		{"malformed body", malformed, alert.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			added, err := r.Add(tt.op)
			if added || !errors.Is(err, tt.want) {
				t.Fatalf("Add = %v, %v; want %v", added, err, tt.want)
			}
		})
	}
	if err := r.Authorize(f.decoded(secondRoot)); !errors.Is(err, alert.ErrSecondRoot) {
		t.Errorf("Authorize(second creation) = %v, want ErrSecondRoot", err)
	}
	// Nothing above changed the roster.
	if got := memberIDs(r.Members()); len(got) != 2 {
		t.Fatalf("Members = %v after rejected ops", got)
	}
	if h := r.Heads(); len(h) != 1 || h[0] != addBeto.id {
		t.Fatalf("Heads = %v after rejected ops", h)
	}

	// A creation signed by someone else than its founder, on a new roster.
	fresh := alert.NewRoster(f.group)
	if added, err := fresh.Add(notFounder.op); added || !errors.Is(err, alert.ErrInvalid) {
		t.Fatalf("Add(creation not signed by its founder) = %v, %v; want ErrInvalid", added, err)
	}
	// An op before any creation: its author is unknown.
	if added, err := fresh.Add(addBeto.op); added || !errors.Is(err, alert.ErrUnknownAuthor) {
		t.Fatalf("Add(op before creation) = %v, %v; want ErrUnknownAuthor", added, err)
	}
}

func TestRosterPending(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto, carla := newIdentity(t, "ana"), newIdentity(t, "beto"), newIdentity(t, "carla")
	c := f.create(ana)
	addBeto := f.sign(ana, at(1), []alert.ID{c.id}, &alert.AddMember{Member: info(beto)})
	promote := f.sign(ana, at(2), []alert.ID{addBeto.id}, &alert.SetRole{Member: beto.ID(), Role: alert.RoleAdmin})
	addCarla := f.sign(ana, at(3), []alert.ID{promote.id}, &alert.AddMember{Member: info(carla)})

	r := alert.NewRoster(f.group)
	add(t, r, c)
	// The grandchild and child arrive before their parent.
	add(t, r, addCarla, promote)
	if !r.Has(promote.id) || !r.Has(addCarla.id) {
		t.Fatal("pending ops are not held")
	}
	if got := memberIDs(r.Members()); len(got) != 1 {
		t.Fatalf("ops without their parents were applied: %v", got)
	}
	if h := r.Heads(); len(h) != 1 || h[0] != c.id {
		t.Fatalf("Heads = %v; pending ops must not be heads", h)
	}
	if added, err := r.Add(promote.op); added || err != nil {
		t.Fatalf("adding a pending op again = %v, %v; want false, nil", added, err)
	}
	add(t, r, addBeto)
	if role, _ := roleOf(t, r, beto); role != alert.RoleAdmin {
		t.Fatal("pending promotion not applied when its parent arrived")
	}
	if _, ok := roleOf(t, r, carla); !ok {
		t.Fatal("pending addition not applied when its grandparent arrived")
	}
	if h := r.Heads(); len(h) != 1 || h[0] != addCarla.id {
		t.Fatalf("Heads = %v, want the last op", h)
	}
}

// TestRosterSavedWithPendingOps: a node saves Ops() and rebuilds the roster
// with LoadRoster when it restarts. An op whose parent has not arrived yet
// must not make the saved roster unloadable.
func TestRosterSavedWithPendingOps(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto, carla := newIdentity(t, "ana"), newIdentity(t, "beto"), newIdentity(t, "carla")
	c := f.create(ana)
	addBeto := f.sign(ana, at(1), []alert.ID{c.id}, &alert.AddMember{Member: info(beto)})
	addCarla := f.sign(ana, at(2), []alert.ID{addBeto.id}, &alert.AddMember{Member: info(carla)})
	r := alert.NewRoster(f.group)
	add(t, r, c, addCarla) // addBeto missed while offline
	saved := r.Ops()
	if len(saved) != 2 {
		t.Fatalf("Ops() has %d ops, want the creation and the pending op", len(saved))
	}
	loaded := load(t, f.group, saved)
	if !loaded.Has(addCarla.id) || len(loaded.Members()) != 1 {
		t.Fatal("the pending op was not kept pending")
	}
	add(t, loaded, addBeto)
	if got := memberIDs(loaded.Members()); len(got) != 3 {
		t.Fatalf("after the missing parent arrived: %d members, want 3", len(got))
	}
}

// TestRosterPendingLimit: ops waiting for parents that never come are
// bounded: beyond the limit they are refused (not kept, so that sync
// fetches them again later), and an op whose parents are present still
// applies.
func TestRosterPendingLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana := newIdentity(t, "ana")
	c := f.create(ana)
	r := alert.NewRoster(f.group)
	add(t, r, c)
	var err error
	n := 0
	for ; n < 1000 && err == nil; n++ {
		missing := alert.ID{0xde, 0xad, byte(n), byte(n >> 8)}
		_, err = r.Add(f.sign(ana, at(n+1), []alert.ID{missing}, &alert.RevokeInvite{ID: crypto.InviteID{byte(n)}}).op)
	}
	if !errors.Is(err, alert.ErrRosterBusy) || n > 300 {
		t.Fatalf("after %d ops waiting for parents: %v; want ErrRosterBusy before 300", n, err)
	}
	inv := f.sign(ana, at(2000), []alert.ID{c.id}, &alert.NewInvite{ID: crypto.InviteID{9, 9}, Key: make([]byte, 32), Uses: 1, Expires: at(3000)})
	add(t, r, inv)
	if _, ok := r.Invite(crypto.InviteID{9, 9}); !ok {
		t.Fatal("an op with its parent present did not apply while the waiting room was full")
	}
}

func TestRosterLoad(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto, carla := newIdentity(t, "ana"), newIdentity(t, "beto"), newIdentity(t, "carla")
	c := f.create(ana)
	inv := f.sign(ana, at(1), []alert.ID{c.id}, &alert.NewInvite{ID: crypto.InviteID{1}, Key: make([]byte, 32), Uses: 3, Expires: at(1000)})
	addBeto := f.sign(ana, at(2), []alert.ID{inv.id}, &alert.AddMember{Member: info(beto), Invite: crypto.InviteID{1}})
	promote := f.sign(ana, at(3), []alert.ID{addBeto.id}, &alert.SetRole{Member: beto.ID(), Role: alert.RoleAdmin})
	addCarla := f.sign(beto, at(4), []alert.ID{promote.id}, &alert.AddMember{Member: info(carla), Invite: crypto.InviteID{1}})
	rmCarla := f.sign(ana, at(5), []alert.ID{addCarla.id}, &alert.RemoveMember{Member: carla.ID()})
	all := []signed{c, inv, addBeto, promote, addCarla, rmCarla}

	r := alert.NewRoster(f.group)
	add(t, r, all...)
	ops := r.Ops()
	if len(ops) != len(all) {
		t.Fatalf("Ops() = %d ops, want %d", len(ops), len(all))
	}
	for i, o := range ops {
		if o.Epoch != all[i].op.Epoch || o.Inner.Author != all[i].op.Inner.Author || !bytes.Equal(o.Inner.Body, all[i].op.Inner.Body) || o.Inner.Sig != all[i].op.Inner.Sig {
			t.Fatalf("Ops()[%d] is not the %d-th op in application order", i, i)
		}
	}
	// Ops travel as marshalled inner messages.
	var wire []alert.SignedOp
	for _, o := range slices.Backward(ops) {
		in, err := crypto.ParseInner(o.Inner.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		wire = append(wire, alert.SignedOp{Epoch: o.Epoch, Inner: in})
	}
	loaded := load(t, f.group, wire)
	sameRoster(t, r, loaded)
	if st, _ := loaded.Invite(crypto.InviteID{1}); st.Used != 2 {
		t.Fatalf("invite uses after reload: %d, want 2", st.Used)
	}

	t.Run("no creation", func(t *testing.T) {
		if _, _, err := alert.LoadRoster(f.group, []alert.SignedOp{addBeto.op, promote.op}); err == nil {
			t.Fatal("LoadRoster without the creation succeeded")
		}
	})
	t.Run("forged op", func(t *testing.T) {
		bad := promote.op
		bad.Inner.Sig[0] ^= 1
		// One bad op is left out; the rest loads.
		r, skipped, err := alert.LoadRoster(f.group, []alert.SignedOp{c.op, inv.op, addBeto.op, bad})
		if err != nil || len(skipped) != 1 || !errors.Is(skipped[0], crypto.ErrBadSignature) {
			t.Fatalf("LoadRoster with a forged op: %v, skipped %v; want the forged op skipped with ErrBadSignature", err, skipped)
		}
		if _, ok := roleOf(t, r, beto); !ok || len(r.Ops()) != 3 {
			t.Fatal("the ops before the forged one were not kept")
		}
	})
	t.Run("another group", func(t *testing.T) {
		if _, _, err := alert.LoadRoster(crypto.NewGroupID(), wire); err == nil {
			t.Fatal("LoadRoster for another group succeeded")
		}
	})
	t.Run("empty", func(t *testing.T) {
		r, _, err := alert.LoadRoster(f.group, nil)
		if err != nil || len(r.Members()) != 0 {
			t.Fatalf("LoadRoster(nil) = %v, %v", r, err)
		}
	})
}

// load is LoadRoster for ops that must all be taken.
func load(t testing.TB, group crypto.GroupID, ops []alert.SignedOp) *alert.Roster {
	t.Helper()
	r, skipped, err := alert.LoadRoster(group, ops)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("LoadRoster: %v; left out %v", err, skipped)
	}
	return r
}

func sameRoster(t *testing.T, want, got *alert.Roster) {
	t.Helper()
	if !reflect.DeepEqual(got.Members(), want.Members()) {
		t.Fatalf("Members differ:\n got %v\nwant %v", memberIDs(got.Members()), memberIDs(want.Members()))
	}
	if !slices.Equal(got.Heads(), want.Heads()) {
		t.Fatalf("Heads differ: %v vs %v", got.Heads(), want.Heads())
	}
	if got.Name() != want.Name() {
		t.Fatalf("Name %q vs %q", got.Name(), want.Name())
	}
	gr, wr := memberIDs(got.RemovedMembers()), memberIDs(want.RemovedMembers())
	sortIDs := func(ids []crypto.MemberID) {
		slices.SortFunc(ids, func(a, b crypto.MemberID) int { return bytes.Compare(a[:], b[:]) })
	}
	sortIDs(gr)
	sortIDs(wr)
	if !slices.Equal(gr, wr) {
		t.Fatalf("RemovedMembers differ")
	}
}

// addAll feeds ops to r one at a time in the given order, as gossip and sync
// would, retrying those whose author is not known yet.
func addAll(t testing.TB, r *alert.Roster, ops []alert.SignedOp) {
	t.Helper()
	for round := 0; len(ops) > 0; round++ {
		if round > len(ops)+1 {
			t.Fatalf("%d ops never accepted", len(ops))
		}
		var later []alert.SignedOp
		for _, o := range ops {
			_, err := r.Add(o)
			switch {
			case errors.Is(err, alert.ErrUnknownAuthor):
				later = append(later, o)
			case err != nil:
				t.Fatalf("Add: %v", err)
			}
		}
		ops = later
	}
}

// orders returns every permutation of n ops up to 5 ops, and otherwise the
// identity, its reverse and 150 seeded random permutations, which keeps
// the race detector's run short.
func orders(n int) [][]int {
	if n <= 5 {
		return permutations(n)
	}
	id := make([]int, n)
	for i := range id {
		id[i] = i
	}
	out := [][]int{id, slices.Clone(id)}
	slices.Reverse(out[1])
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	for range 150 {
		out = append(out, rng.Perm(n))
	}
	return out
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// TestRosterConvergence feeds the same ops in every order to fresh rosters,
// through LoadRoster and through Add one by one, and checks that all of them
// compute the same membership, and the membership the rules call for.
func TestRosterConvergence(t *testing.T) {
	t.Parallel()
	ana, beto, xavi := newIdentity(t, "ana"), newIdentity(t, "beto"), newIdentity(t, "xavi")

	type scenario struct {
		name  string
		group crypto.GroupID
		ops   []signed
		// want: the members and roles after all ops.
		want map[*crypto.Identity]alert.Role
	}
	// build makes ana found the group, add beto and promote him, and, with
	// withX, add xavi; concurrent returns the ops both admins then make
	// from that same head.
	build := func(f *fixture, withX bool, concurrent func(head alert.ID) []signed) []signed {
		c := f.create(ana)
		addBeto := f.sign(ana, at(1), []alert.ID{c.id}, &alert.AddMember{Member: info(beto)})
		promote := f.sign(ana, at(2), []alert.ID{addBeto.id}, &alert.SetRole{Member: beto.ID(), Role: alert.RoleAdmin})
		ops := []signed{c, addBeto, promote}
		if withX {
			addX := f.sign(ana, at(3), []alert.ID{promote.id}, &alert.AddMember{Member: info(xavi)})
			ops = append(ops, addX)
		}
		return append(ops, concurrent(ops[len(ops)-1].id)...)
	}
	var scenarios []scenario
	{
		f := newFixture(t)
		ops := build(f, false, func(h alert.ID) []signed {
			return []signed{
				f.sign(ana, at(10), []alert.ID{h}, &alert.RemoveMember{Member: beto.ID()}),
				f.sign(beto, at(11), []alert.ID{h}, &alert.RemoveMember{Member: ana.ID()}),
			}
		})
		// Ana's removal of beto comes first; beto's op is then by a
		// removed member and skipped.
		scenarios = append(scenarios, scenario{"each admin removes the other", f.group, ops, map[*crypto.Identity]alert.Role{ana: alert.RoleAdmin}})
	}
	{
		f := newFixture(t)
		ops := build(f, false, func(h alert.ID) []signed {
			return []signed{
				f.sign(beto, at(10), []alert.ID{h}, &alert.RemoveMember{Member: ana.ID()}),
				f.sign(ana, at(11), []alert.ID{h}, &alert.RemoveMember{Member: beto.ID()}),
			}
		})
		// Beto's op comes first, but Ana has been an admin longer: between
		// admins removing each other, seniority wins, not claimed time.
		scenarios = append(scenarios, scenario{"each removes the other, beto first", f.group, ops, map[*crypto.Identity]alert.Role{ana: alert.RoleAdmin}})
	}
	{
		// Same creation time, whichever id sorts first: the senior admin
		// wins.
		f := newFixture(t)
		ops := build(f, false, func(h alert.ID) []signed {
			return []signed{
				f.sign(ana, at(10), []alert.ID{h}, &alert.RemoveMember{Member: beto.ID()}),
				f.sign(beto, at(10), []alert.ID{h}, &alert.RemoveMember{Member: ana.ID()}),
			}
		})
		scenarios = append(scenarios, scenario{"each removes the other, same time", f.group, ops, map[*crypto.Identity]alert.Role{ana: alert.RoleAdmin}})
	}
	{
		f := newFixture(t)
		ops := build(f, true, func(h alert.ID) []signed {
			return []signed{
				f.sign(ana, at(10), []alert.ID{h}, &alert.RemoveMember{Member: xavi.ID()}),
				f.sign(beto, at(11), []alert.ID{h}, &alert.SetRole{Member: xavi.ID(), Role: alert.RoleAdmin}),
			}
		})
		// Xavi is removed first; the promotion finds no member.
		scenarios = append(scenarios, scenario{"remove X while the other promotes X", f.group, ops, map[*crypto.Identity]alert.Role{ana: alert.RoleAdmin, beto: alert.RoleAdmin}})
	}
	{
		f := newFixture(t)
		ops := build(f, true, func(h alert.ID) []signed {
			return []signed{
				f.sign(beto, at(10), []alert.ID{h}, &alert.SetRole{Member: xavi.ID(), Role: alert.RoleAdmin}),
				f.sign(ana, at(11), []alert.ID{h}, &alert.SetRole{Member: beto.ID(), Role: alert.RoleMember}),
			}
		})
		// Beto promotes xavi without having seen his own demotion, even
		// claiming an earlier time: the demotion wins and the promotion
		// does not hold.
		scenarios = append(scenarios, scenario{"promote X while being demoted", f.group, ops, map[*crypto.Identity]alert.Role{ana: alert.RoleAdmin, beto: alert.RoleMember, xavi: alert.RoleMember}})
	}

	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			group := sc.group
			ref := alert.NewRoster(group)
			for _, s := range sc.ops {
				add(t, ref, s)
			}
			got := map[crypto.MemberID]alert.Role{}
			for _, m := range ref.Members() {
				got[m.ID()] = m.Role
			}
			want := map[crypto.MemberID]alert.Role{}
			for id, role := range sc.want {
				want[id.ID()] = role
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("membership = %v, want %v", got, want)
			}
			for _, perm := range orders(len(sc.ops)) {
				ops := make([]alert.SignedOp, len(perm))
				for i, j := range perm {
					ops[i] = sc.ops[j].op
				}
				loaded := load(t, group, ops)
				sameRoster(t, ref, loaded)
				inc := alert.NewRoster(group)
				addAll(t, inc, ops)
				sameRoster(t, ref, inc)
			}
		})
	}
}

// TestRosterConvergenceRandom shuffles a longer history with two admins
// working concurrently.
func TestRosterConvergenceRandom(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto := newIdentity(t, "ana"), newIdentity(t, "beto")
	others := make([]*crypto.Identity, 6)
	for i := range others {
		others[i] = newIdentity(t, fmt.Sprintf("m%d", i))
	}
	c := f.create(ana)
	addBeto := f.sign(ana, at(1), []alert.ID{c.id}, &alert.AddMember{Member: info(beto)})
	promote := f.sign(ana, at(2), []alert.ID{addBeto.id}, &alert.SetRole{Member: beto.ID(), Role: alert.RoleAdmin})
	all := []signed{c, addBeto, promote}
	headA, headB := promote.id, promote.id
	for i, m := range others {
		// Ana and beto each add a member on their own branch, then each
		// removes or promotes a member the other added.
		if i%2 == 0 {
			s := f.sign(ana, at(10+i), []alert.ID{headA}, &alert.AddMember{Member: info(m)})
			all, headA = append(all, s), s.id
		} else {
			s := f.sign(beto, at(10+i), []alert.ID{headB}, &alert.AddMember{Member: info(m)})
			all, headB = append(all, s), s.id
		}
	}
	merge := f.sign(ana, at(30), []alert.ID{headA, headB}, &alert.RemoveMember{Member: others[1].ID()})
	concurrent := f.sign(beto, at(30), []alert.ID{headB}, &alert.SetRole{Member: others[0].ID(), Role: alert.RoleAdmin})
	demote := f.sign(beto, at(31), []alert.ID{concurrent.id}, &alert.RemoveMember{Member: ana.ID()})
	all = append(all, merge, concurrent, demote)

	ref := alert.NewRoster(f.group)
	add(t, ref, all...)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 60 {
		ops := make([]alert.SignedOp, len(all))
		for i, s := range all {
			ops[i] = s.op
		}
		rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
		sameRoster(t, ref, load(t, f.group, ops))
		inc := alert.NewRoster(f.group)
		addAll(t, inc, ops)
		sameRoster(t, ref, inc)
	}
}

func TestRosterConcurrentUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana := newIdentity(t, "ana")
	c := f.create(ana)
	var ops []signed
	prev := c.id
	for i := range 20 {
		s := f.sign(ana, at(i+1), []alert.ID{prev}, &alert.AddMember{Member: info(newIdentity(t, fmt.Sprint("m", i)))})
		ops, prev = append(ops, s), s.id
	}
	r := alert.NewRoster(f.group)
	add(t, r, c)
	msg := f.message(ana, &alert.Ack{Ref: alert.ID{1}, Status: alert.AckSeen})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := i; j < len(ops); j += 4 {
				if _, err := r.Add(ops[j].op); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() {
			for range 50 {
				_ = r.Members()
				_ = r.Heads()
				_ = r.Ops()
				if err := r.Authorize(msg); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := len(r.Members()); n != 21 {
		t.Fatalf("%d members after concurrent adds, want 21", n)
	}
}

// TestRemovedAdminCannotUndoItsRemoval: an admin removed by a more senior
// admin signs, after the fact, ops that claim to come before the removal
// (old parents, an earlier time): the removal of the senior admin and the
// addition of an accomplice. Neither takes effect, in any order of arrival.
func TestRemovedAdminCannotUndoItsRemoval(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto, carla, accomplice := newIdentity(t, "ana"), newIdentity(t, "beto"), newIdentity(t, "carla"), newIdentity(t, "accomplice")
	c := f.create(ana)
	addBeto := f.sign(ana, at(1), []alert.ID{c.id}, &alert.AddMember{Member: info(beto)})
	promote := f.sign(ana, at(2), []alert.ID{addBeto.id}, &alert.SetRole{Member: beto.ID(), Role: alert.RoleAdmin})
	rmBeto := f.sign(ana, at(20), []alert.ID{promote.id}, &alert.RemoveMember{Member: beto.ID()})
	addCarla := f.sign(ana, at(21), []alert.ID{rmBeto.id}, &alert.AddMember{Member: info(carla)})
	// Beto, removed, backdates two ops onto the state before his removal.
	rmAna := f.sign(beto, at(15), []alert.ID{promote.id}, &alert.RemoveMember{Member: ana.ID()})
	addAcc := f.sign(beto, at(16), []alert.ID{rmAna.id}, &alert.AddMember{Member: info(accomplice)})
	all := []signed{c, addBeto, promote, rmBeto, addCarla, rmAna, addAcc}
	for _, perm := range [][]int{{0, 1, 2, 3, 4, 5, 6}, {0, 1, 2, 5, 6, 3, 4}, {0, 1, 2, 6, 5, 4, 3}} {
		r := alert.NewRoster(f.group)
		for _, i := range perm {
			if _, err := r.Add(all[i].op); err != nil {
				t.Fatalf("order %v, op %d: %v", perm, i, err)
			}
		}
		got := map[string]alert.Role{}
		for _, m := range r.Members() {
			got[m.Name] = m.Role
		}
		want := map[string]alert.Role{"ana": alert.RoleAdmin, "carla": alert.RoleMember}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("order %v: members %v, want %v", perm, got, want)
		}
	}
}

// TestRosterRelays: an admin grants a relay that is in no group; a later
// grant for it replaces the first (a new secret); a revocation withdraws
// it; a member who is no admin cannot grant one. Grants survive encoding.
func TestRosterRelays(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto := newIdentity(t, "ana"), newIdentity(t, "beto")
	relay, other := beto.NodeKey().GetPublic(), newIdentity(t, "x").NodeKey().GetPublic()
	relayID, _ := peer.IDFromPublicKey(relay)
	otherID, _ := peer.IDFromPublicKey(other)
	addr := ma.StringCast("/ip4/203.0.113.7/tcp/4001")
	grant := func(p peer.ID, secret byte, expires time.Time) *alert.GrantRelay {
		return &alert.GrantRelay{Relay: p, Name: "Servicios Comunitarios", Addrs: []ma.Multiaddr{addr}, Secret: [32]byte{secret}, Expires: expires}
	}
	r := alert.NewRoster(f.group)
	c := f.create(ana)
	addBeto := f.sign(ana, at(1), []alert.ID{c.id}, &alert.AddMember{Member: info(beto), Invite: crypto.InviteID{1}})
	g1 := f.sign(ana, at(2), []alert.ID{addBeto.id}, grant(relayID, 1, at(3600)))
	// Beto is no admin: his grant has no effect.
	byMember := f.sign(beto, at(3), []alert.ID{g1.id}, grant(otherID, 9, at(3600)))
	add(t, r, c, addBeto, g1, byMember)
	rs := r.Relays()
	if len(rs) != 1 || rs[0].Relay != relayID || rs[0].Secret != [32]byte{1} || !rs[0].Usable(at(10)) || rs[0].Usable(at(3600)) {
		t.Fatalf("relays after one grant: %+v", rs)
	}
	if len(rs[0].Addrs) != 1 || !rs[0].Addrs[0].Equal(addr) || rs[0].Name != "Servicios Comunitarios" || rs[0].By != ana.ID() {
		t.Fatalf("the grant lost a field: %+v", rs[0])
	}
	g2 := f.sign(ana, at(4), []alert.ID{byMember.id}, grant(relayID, 2, at(7200)))
	add(t, r, g2)
	if rs := r.Relays(); len(rs) != 1 || rs[0].Secret != [32]byte{2} {
		t.Fatalf("a second grant did not replace the first: %+v", rs)
	}
	rev := f.sign(ana, at(5), []alert.ID{g2.id}, &alert.RevokeRelay{Relay: relayID})
	add(t, r, rev)
	if rs := r.Relays(); len(rs) != 1 || !rs[0].Revoked || rs[0].Usable(at(10)) {
		t.Fatalf("after the revocation: %+v", rs)
	}
	// The same roster, loaded from its ops, holds the same.
	again := load(t, f.group, r.Ops())
	if !reflect.DeepEqual(fmt.Sprint(again.Relays()), fmt.Sprint(r.Relays())) {
		t.Fatalf("loaded roster: %+v, want %+v", again.Relays(), r.Relays())
	}
	// Malformed grants do not decode, or do not validate.
	for name, g := range map[string]*alert.GrantRelay{
		"no address":    {Relay: relayID, Name: "x", Expires: at(10)},
		"five addrs":    {Relay: relayID, Name: "x", Addrs: []ma.Multiaddr{addr, addr, addr, addr, addr}, Expires: at(10)},
		"no end":        {Relay: relayID, Name: "x", Addrs: []ma.Multiaddr{addr}},
		"no name":       {Relay: relayID, Addrs: []ma.Multiaddr{addr}, Expires: at(10)},
		"not a peer id": {Relay: peer.ID("nobody"), Name: "x", Addrs: []ma.Multiaddr{addr}, Expires: at(10)},
	} {
		body := encode(t, at(6), &alert.RosterOp{Parents: []alert.ID{rev.id}, Change: g})
		m, err := alert.Decode(f.group, f.epoch, ana.ID(), body)
		if err == nil {
			err = m.Validate(at(6))
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
