package alert_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// twoAdmins founds a group with ana and beto as admins and carla as a
// member, and returns the ops and the last one.
func twoAdmins(f *fixture, ana, beto, carla *crypto.Identity) []signed {
	c := f.create(ana)
	addBeto := f.sign(ana, at(1), []alert.ID{c.id}, &alert.AddMember{Member: info(beto)})
	promote := f.sign(ana, at(2), []alert.ID{addBeto.id}, &alert.SetRole{Member: beto.ID(), Role: alert.RoleAdmin})
	addCarla := f.sign(ana, at(3), []alert.ID{promote.id}, &alert.AddMember{Member: info(carla)})
	return []signed{c, addBeto, promote, addCarla}
}

// invites has author sign n invites, each on the one before, the first on
// parent.
func invites(f *fixture, author *crypto.Identity, n int, from time.Time, parent alert.ID) []signed {
	var out []signed
	for i := range n {
		s := f.sign(author, from.Add(time.Duration(i)*time.Millisecond), []alert.ID{parent},
			&alert.NewInvite{ID: crypto.InviteID{byte(i), byte(i >> 8), 0xbe}, Key: make([]byte, 32), Uses: 1, Expires: at(100000)})
		out, parent = append(out, s), s.id
	}
	return out
}

// TestRosterOpsOnTheirAuthorsRemoval is the attack of an admin who learns
// of its removal before the others: it signs 17 ops that descend from the
// removal and sends them before the removal itself. Every node takes all 18
// (the 17 wait for their parent), and the 17 then count against the removed
// admin. The roster saved by Ops loads again with every op and the same
// membership; so does a roster saved by an older version, in the order of
// application, which loads without the op over the budget. The removed
// admin's later ops are refused, and the group goes on: the next op of the
// remaining admin applies on every node.
func TestRosterOpsOnTheirAuthorsRemoval(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto, carla, dani := newIdentity(t, "ana"), newIdentity(t, "beto"), newIdentity(t, "carla"), newIdentity(t, "dani")
	base := twoAdmins(f, ana, beto, carla)
	rm := f.sign(ana, at(10), []alert.ID{base[len(base)-1].id}, &alert.RemoveMember{Member: beto.ID()})
	late := invites(f, beto, 17, at(11), rm.id)

	r := alert.NewRoster(f.group)
	add(t, r, base...)
	add(t, r, late...) // waiting for the removal
	add(t, r, rm)
	if got := len(r.Ops()); got != len(base)+1+len(late) {
		t.Fatalf("holds %d ops, want all %d", got, len(base)+1+len(late))
	}
	if _, ok := roleOf(t, r, beto); ok {
		t.Fatal("beto is still a member")
	}
	more := invites(f, beto, 1, at(50), late[len(late)-1].id)[0]
	if _, err := r.Add(more.op); !errors.Is(err, alert.ErrRosterLimit) {
		t.Fatalf("one more op by the removed admin: %v, want ErrRosterLimit", err)
	}
	if h := r.Heads(); !slices.Equal(h, []alert.ID{rm.id}) {
		t.Fatalf("Heads = %v, want the removal only: the removed admin's ops have no effect", h)
	}

	// Saved and loaded again.
	sameRoster(t, r, load(t, f.group, r.Ops()))

	// Saved by an older version: the order of application.
	old := []alert.SignedOp{}
	for _, s := range append(append(slices.Clone(base), rm), late...) {
		old = append(old, s.op)
	}
	loaded, skipped, err := alert.LoadRoster(f.group, old)
	if err != nil {
		t.Fatalf("LoadRoster in the order of application: %v", err)
	}
	if len(skipped) != 1 || !errors.Is(skipped[0], alert.ErrRosterLimit) {
		t.Fatalf("left out %v, want the 17th late op", skipped)
	}
	sameRoster(t, r, loaded)

	// Ana adds dani on every copy; it applies.
	addDani := f.sign(ana, at(60), r.Heads(), &alert.AddMember{Member: info(dani)})
	for _, x := range []*alert.Roster{r, loaded} {
		add(t, x, addDani)
		if _, ok := roleOf(t, x, dani); !ok {
			t.Fatal("the remaining admin's op after the attack did not apply")
		}
	}
}

// TestRosterLateOpsConverge: nodes that took different numbers of a removed
// admin's late ops (one got them before the removal, the other after, and
// refused those over the budget) still apply the same later ops: no new op
// names a late op as a parent.
func TestRosterLateOpsConverge(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto, carla, dani := newIdentity(t, "ana"), newIdentity(t, "beto"), newIdentity(t, "carla"), newIdentity(t, "dani")
	base := twoAdmins(f, ana, beto, carla)
	rm := f.sign(ana, at(10), []alert.ID{base[len(base)-1].id}, &alert.RemoveMember{Member: beto.ID()})
	late := invites(f, beto, 30, at(11), rm.id)

	x, y := alert.NewRoster(f.group), alert.NewRoster(f.group)
	add(t, x, base...)
	add(t, x, late...)
	add(t, x, rm)
	add(t, y, base...)
	add(t, y, rm)
	refused := 0
	for _, s := range late {
		if _, err := y.Add(s.op); errors.Is(err, alert.ErrRosterLimit) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused == 0 {
		t.Fatal("a node that knew of the removal took every late op")
	}
	addDani := f.sign(ana, at(60), x.Heads(), &alert.AddMember{Member: info(dani)})
	for _, r := range []*alert.Roster{x, y} {
		add(t, r, addDani)
		if _, ok := roleOf(t, r, dani); !ok {
			t.Fatal("an op made on the node holding every late op waits for ever on the other")
		}
	}
}

// TestDemotedAdminFlood: an admin who is demoted, not removed, signs ops
// without end. After a few they are refused, the roster is far from full,
// and the admin can still add members and remove the flooder.
func TestDemotedAdminFlood(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto, carla, dani := newIdentity(t, "ana"), newIdentity(t, "beto"), newIdentity(t, "carla"), newIdentity(t, "dani")
	base := twoAdmins(f, ana, beto, carla)
	demote := f.sign(ana, at(10), []alert.ID{base[len(base)-1].id}, &alert.SetRole{Member: beto.ID(), Role: alert.RoleMember})
	r := alert.NewRoster(f.group)
	add(t, r, base...)
	add(t, r, demote)
	taken := 0
	var err error
	for i, s := range invites(f, beto, 200, at(11), demote.id) {
		if _, err = r.Add(s.op); err != nil {
			taken = i
			break
		}
	}
	if !errors.Is(err, alert.ErrRosterLimit) || taken > 16 {
		t.Fatalf("the demoted admin had %d ops taken, then %v; want at most 16, then ErrRosterLimit", taken, err)
	}
	addDani := f.sign(ana, at(20), r.Heads(), &alert.AddMember{Member: info(dani)})
	rmBeto := f.sign(ana, at(21), []alert.ID{addDani.id}, &alert.RemoveMember{Member: beto.ID()})
	add(t, r, addDani, rmBeto)
	if _, ok := roleOf(t, r, dani); !ok {
		t.Fatal("the admin cannot add a member after the flood")
	}
	if _, ok := roleOf(t, r, beto); ok {
		t.Fatal("the admin cannot remove the flooder")
	}
}

// TestAdminShareOfTheRoster: a current admin can hold at most MaxAuthorOps
// ops; the other admins can then still change the roster, and remove it.
func TestAdminShareOfTheRoster(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto, carla, dani := newIdentity(t, "ana"), newIdentity(t, "beto"), newIdentity(t, "carla"), newIdentity(t, "dani")
	base := twoAdmins(f, ana, beto, carla)
	r := alert.NewRoster(f.group)
	add(t, r, base...)
	flood := invites(f, beto, alert.MaxAuthorOps, at(10), base[len(base)-1].id)
	add(t, r, flood[:alert.MaxAuthorOps-1]...) // the promotion was not beto's
	if _, err := r.Add(flood[alert.MaxAuthorOps-1].op); err != nil {
		t.Fatalf("op %d of beto: %v", alert.MaxAuthorOps, err)
	}
	over := invites(f, beto, 1, at(9000), r.Heads()[0])[0]
	if _, err := r.Add(over.op); !errors.Is(err, alert.ErrRosterLimit) {
		t.Fatalf("op %d of one admin: %v, want ErrRosterLimit", alert.MaxAuthorOps+1, err)
	}
	addDani := f.sign(ana, at(9001), r.Heads(), &alert.AddMember{Member: info(dani)})
	rmBeto := f.sign(ana, at(9002), []alert.ID{addDani.id}, &alert.RemoveMember{Member: beto.ID()})
	add(t, r, addDani, rmBeto)
	if _, ok := roleOf(t, r, beto); ok {
		t.Fatal("the flooding admin was not removed")
	}
}

// TestAdminCannotRemoveItself: an admin's removal of itself has no effect;
// it can step down instead.
func TestAdminCannotRemoveItself(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto, carla := newIdentity(t, "ana"), newIdentity(t, "beto"), newIdentity(t, "carla")
	base := twoAdmins(f, ana, beto, carla)
	self := f.sign(beto, at(10), []alert.ID{base[len(base)-1].id}, &alert.RemoveMember{Member: beto.ID()})
	r := alert.NewRoster(f.group)
	add(t, r, base...)
	add(t, r, self)
	if role, ok := roleOf(t, r, beto); !ok || role != alert.RoleAdmin {
		t.Fatal("an admin removed itself")
	}
	down := f.sign(beto, at(11), []alert.ID{self.id}, &alert.SetRole{Member: beto.ID(), Role: alert.RoleMember})
	add(t, r, down)
	if role, ok := roleOf(t, r, beto); !ok || role != alert.RoleMember {
		t.Fatal("an admin cannot step down")
	}
}

// TestAuthorizeTellsProofFromDoubt: a roster op or rekey by someone who is
// not an admin here is provably not allowed (ErrNotAdmin, rejected) only if
// everything it was made on is here and none of it promoted its author;
// if the promotion may not have arrived, or the author was an admin and
// its demotion may not have reached the sender, it is ErrNotAdminYet
// (ignored).
func TestAuthorizeTellsProofFromDoubt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ana, beto, carla, dani := newIdentity(t, "ana"), newIdentity(t, "beto"), newIdentity(t, "carla"), newIdentity(t, "dani")
	base := twoAdmins(f, ana, beto, carla)
	head := base[len(base)-1].id
	r := alert.NewRoster(f.group)
	add(t, r, base...)
	rekey := func(author *crypto.Identity, covers []alert.ID) *alert.Message {
		return f.message(author, &alert.Rekey{Epoch: 2, Keys: []alert.SealedKey{{Member: ana.ID(), Sealed: make([]byte, crypto.SealedSecretSize)}}, Covers: covers})
	}
	byCarla := func(parent alert.ID) *alert.Message {
		return f.decoded(f.sign(carla, at(20), []alert.ID{parent}, &alert.AddMember{Member: info(dani)}))
	}
	check := func(what string, m *alert.Message, want error) {
		t.Helper()
		if err := r.Authorize(m); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	check("a member's op on the whole roster", byCarla(head), alert.ErrNotAdmin)
	check("a member's rekey covering the whole roster", rekey(carla, []alert.ID{head}), alert.ErrNotAdmin)
	check("a member's op on an op not here", byCarla(alert.ID{1}), alert.ErrNotAdminYet)
	check("a member's rekey covering an op not here", rekey(carla, []alert.ID{{1}}), alert.ErrNotAdminYet)

	// Carla's promotion arrives, waiting for an op that has not.
	promote := f.sign(ana, at(10), []alert.ID{head, {2}}, &alert.SetRole{Member: carla.ID(), Role: alert.RoleAdmin})
	add(t, r, promote)
	check("an op by a member whose promotion waits", byCarla(head), alert.ErrNotAdminYet)

	// Beto is demoted; his rekey may have been sent before he knew.
	demote := f.sign(ana, at(11), []alert.ID{head}, &alert.SetRole{Member: beto.ID(), Role: alert.RoleMember})
	add(t, r, demote)
	check("a demoted admin's rekey", rekey(beto, r.Heads()), alert.ErrNotAdminYet)
	check("a current admin's rekey", rekey(ana, r.Heads()), nil)
}
