package node_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// TestJoinCostsMembersOnlyTheAdd: a join by the ratchet (PROTOCOL.md,
// "Joins") brings the members already there one message, the add, from
// which each derives the joiner's epoch; no rekey, no roster op sent again.
// The joiner ends on the same epoch as everyone and they hear each other.
func TestJoinCostsMembersOnlyTheAdd(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 4, nodetest.Options{Latency: 2 * time.Millisecond})
	ana, beto, carla, dani := net.Nodes[0], net.Nodes[1], net.Nodes[2], net.Nodes[3]
	dani.Stop()
	gid := net.Group("istmo")
	ctx := context.Background()
	inv, err := ana.CreateInvite(ctx, gid, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Until nothing more arrives (the invite, syncs of the forming).
	var held map[*nodetest.Node]int
	net.WaitFor(10*time.Second, "the members are quiet", func() bool {
		now := map[*nodetest.Node]int{beto: beto.Store.Count(), carla: carla.Store.Count()}
		quiet := held != nil && now[beto] == held[beto] && now[carla] == held[carla]
		held = now
		time.Sleep(300 * time.Millisecond)
		return quiet
	})
	epoch := epochOf(beto, gid)
	dani.Start()
	if _, err := dani.Join(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}
	want := epochOf(dani, gid)
	if want != epoch+1 {
		t.Fatalf("the joiner is on epoch %d, want %d", want, epoch+1)
	}
	for nd := range held {
		net.WaitFor(10*time.Second, "the members take the joiner's epoch", func() bool { return epochOf(nd, gid) == want })
	}
	if beto.KeysForTest(gid).Tag() != dani.KeysForTest(gid).Tag() {
		t.Fatal("Beto derived another key than the joiner received")
	}
	time.Sleep(500 * time.Millisecond) // anything else the join would bring
	for nd, before := range held {
		if got := nd.Store.Count() - before; got != 1 {
			t.Errorf("node %d stored %d messages for the join, want 1 (the add)", nd.Index, got)
		}
		if rk := nd.RekeyForTest(gid); rk != nil {
			t.Errorf("node %d is on an epoch a rekey started", nd.Index)
		}
	}
	id := sendOne(t, dani, gid, "hola")
	back := sendOne(t, carla, gid, "bienvenida")
	net.WaitFor(10*time.Second, "they hear each other", func() bool { return beto.Store.Has(id) && dani.Store.Has(back) })
}

// TestJoinerHoldsNoEarlierKey: the joiner receives the secret of its own
// epoch only, derived one way from the one before (crypto.EpochSecret.Ratchet):
// it holds no key of an earlier epoch, and an envelope sealed in one does
// not open for it, even handed to it directly.
func TestJoinerHoldsNoEarlierKey(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{Latency: 2 * time.Millisecond})
	ana, beto, carla := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	carla.Stop()
	gid := net.Group("istmo")
	ctx := context.Background()
	before := sendOne(t, beto, gid, "before Carla")
	net.WaitFor(10*time.Second, "Ana has it", func() bool { return ana.Store.Has(before) })
	env, err := ana.Store.Envelope(before)
	if err != nil {
		t.Fatal(err)
	}
	earlier := ana.EpochTagsForTest(gid)
	inv, err := ana.CreateInvite(ctx, gid, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	carla.Start()
	if _, err := carla.Join(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}
	if got := carla.EpochTagsForTest(gid); len(got) != 1 || slices.Contains(earlier, got[0]) {
		t.Fatalf("the joiner holds %d epoch keys; earlier ones among them: %v", len(got), len(got) != 1 || slices.Contains(earlier, got[0]))
	}
	mine := carla.KeysForTest(gid).Secret()
	for _, tag := range earlier {
		if carla.HasKeyForTest(tag) {
			t.Fatal("the joiner holds the key of an epoch before its join")
		}
		if ana.EpochKeysForTest(tag).Secret().Equal(mine) {
			t.Fatal("the joiner's epoch secret is that of an epoch before its join")
		}
	}
	if err := carla.IngestForTest(env); err == nil || node.Rejected(err) {
		t.Fatalf("an envelope from before the join, handed to the joiner: %v, want ignored (no key)", err)
	}
	if carla.Store.Has(before) {
		t.Fatal("the joiner stored a message from before its join")
	}
}

// TestRemovalThroughKeyTree: a removal's rekey carries the new secret under
// the nodes of the key tree's cover of the remaining members' positions,
// with no key sealed one by one; every remaining member opens it, the
// removed member does not. An admin promoted since receives the tree's
// secret and removes the same way.
func TestRemovalThroughKeyTree(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 6, nodetest.Options{Latency: 2 * time.Millisecond})
	gid := net.Group("istmo")
	ana, beto, gone := net.Nodes[0], net.Nodes[1], net.Nodes[5]
	ctx := context.Background()
	r, err := ana.Remove(ctx, gid, gone.Identity.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range net.Nodes[1:5] {
		net.WaitFor(10*time.Second, "the new epoch", func() bool { return epochOf(nd, gid) == r.Epoch })
	}
	rk := beto.RekeyForTest(gid)
	if rk == nil || rk.Tree == nil || rk.Tree.New || len(rk.Keys) != 0 || len(rk.Tree.Wraps) == 0 || len(rk.Tree.Wraps) > 3 {
		t.Fatalf("the removal's rekey: %s", describe(rk))
	}
	if gone.HasKeyForTest(beto.KeysForTest(gid).Tag()) {
		t.Fatal("the removed member holds the new key")
	}

	if _, err := ana.SetRole(ctx, gid, beto.Identity.ID().String(), alert.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "Beto is an admin, with the tree's secret", func() bool { return beto.HoldsTreeSecretForTest(gid) })
	gone2 := net.Nodes[4]
	r2, err := beto.Remove(ctx, gid, gone2.Identity.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range net.Nodes[:4] {
		net.WaitFor(10*time.Second, "the second removal's epoch", func() bool { return epochOf(nd, gid) == r2.Epoch })
	}
	if rk := ana.RekeyForTest(gid); rk == nil || rk.Tree == nil || rk.Tree.New || len(rk.Keys) != 0 {
		t.Fatalf("the promoted admin's rekey: %s", describe(rk))
	}
	for _, g := range []*nodetest.Node{gone, gone2} {
		if g.HasKeyForTest(ana.KeysForTest(gid).Tag()) {
			t.Fatal("a removed member holds the new key")
		}
	}
}

// TestRemovedAdminCannotFollowTheTree: an admin holds the key tree's
// secret, from which every node key derives; once removed, the group
// starts a new tree, whose secret it does not get, and rekeys through it
// from then on.
func TestRemovedAdminCannotFollowTheTree(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 4, nodetest.Options{Latency: 2 * time.Millisecond})
	gid := net.Group("istmo")
	ana, beto, carla := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	ctx := context.Background()
	if _, err := ana.SetRole(ctx, gid, beto.Identity.ID().String(), alert.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "Beto is an admin", func() bool { return roles(t, beto, gid)["member-01"] == "admin" })
	r, err := ana.Remove(ctx, gid, beto.Identity.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "Carla on the new epoch", func() bool { return epochOf(carla, gid) == r.Epoch })
	rk := carla.RekeyForTest(gid)
	if rk == nil || rk.Tree == nil || !rk.Tree.New || slices.ContainsFunc(rk.Keys, func(k alert.SealedKey) bool { return k.Member == beto.Identity.ID() }) {
		t.Fatalf("removing an admin: %s, want a new tree that leaves the admin out", describe(rk))
	}
	r2, err := ana.Remove(ctx, gid, net.Nodes[3].Identity.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "Carla on the next epoch", func() bool { return epochOf(carla, gid) == r2.Epoch })
	if rk2 := carla.RekeyForTest(gid); rk2 == nil || rk2.Tree == nil || rk2.Tree.New || rk2.Tree.Tree != rk.Tree.Tree || len(rk2.Keys) != 0 {
		t.Fatalf("the next removal: %s, want wraps in the new tree", describe(rk2))
	}
	if beto.HasKeyForTest(carla.KeysForTest(gid).Tag()) {
		t.Fatal("the removed admin holds the new key")
	}
}

// describe sums up a rekey for a failure message.
func describe(rk *alert.Rekey) string {
	if rk == nil {
		return "none"
	}
	s := fmt.Sprintf("epoch %d, %d keys sealed one by one", rk.Epoch, len(rk.Keys))
	if t := rk.Tree; t != nil {
		s += fmt.Sprintf(", tree %s (new %v, up to %d, %d wraps)", t.Tree, t.New, t.Upto, len(t.Wraps))
	}
	return s
}
