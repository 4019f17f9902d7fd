package node_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// rosterOps has author sign n invites in a group, each on the one before,
// the first on parent, sealed in the node's current epoch.
func rosterOps(t *testing.T, nd *nodetest.Node, gid crypto.GroupID, author *crypto.Identity, n int, parent alert.ID) (envs [][]byte, ids []alert.ID) {
	t.Helper()
	keys := nd.KeysForTest(gid)
	now := time.Now()
	for i := range n {
		op := &alert.RosterOp{Parents: []alert.ID{parent}, Change: &alert.NewInvite{
			ID: crypto.InviteID{0xa7, byte(i)}, Key: make([]byte, 32), Uses: 1, Expires: now.Add(time.Hour),
		}}
		b, err := alert.Encode(now.Add(time.Duration(i)*time.Millisecond), op)
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, seal(t, keys, author.SignBody(gid, keys.Epoch(), b)))
		parent = alert.ContentID(gid, author.ID(), b)
		ids = append(ids, parent)
	}
	return envs, ids
}

// ingest takes envelopes through a node's pipeline as sync would, and
// returns how many were accepted; a rejection fails the test.
func ingest(t *testing.T, nd *nodetest.Node, envs [][]byte) (accepted int) {
	t.Helper()
	for _, env := range envs {
		err := nd.IngestForTest(env)
		if node.Rejected(err) {
			t.Fatalf("node %d rejected a roster op: %v", nd.Index, err)
		}
		if err == nil {
			accepted++
		}
	}
	return accepted
}

// TestRosterAttacksDoNotBrickNodes plays two admins turned against their
// group on real nodes.
//
// A demoted admin signs roster ops without end: a node takes a few, ignores
// the rest (the peer that passed them on is not blamed), and the group's
// roster stays far from full.
//
// An admin who learns of its own removal before the others signs 17 roster
// ops on top of it and sends them before the removal. Nodes take all 18.
// Before, a restarted node then failed to load the group ("author was
// removed") and the daemon could not start, and a newcomer was refused
// ("bad roster"). Now both nodes start with the group, the removal holds,
// the admin can still remove the flooder, and a newcomer gets in.
func TestRosterAttacksDoNotBrickNodes(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 5, nodetest.Options{Latency: 2 * time.Millisecond})
	ana, beto, carla, dani, newcomer := net.Nodes[0], net.Nodes[1], net.Nodes[2], net.Nodes[3], net.Nodes[4]
	newcomer.Stop()
	gid := net.Group("istmo")
	ctx := context.Background()
	for _, m := range []string{"member-01", "member-03"} {
		if _, err := ana.SetRole(ctx, gid, m, alert.RoleAdmin); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ana.SetRole(ctx, gid, "member-03", alert.RoleMember); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "carla holds the promotions and the demotion", func() bool {
		return slices.Equal(carla.RosterHeadsForTest(gid), ana.RosterHeadsForTest(gid))
	})

	// Dani, demoted, floods.
	flood, _ := rosterOps(t, carla, gid, dani.Identity, 60, carla.RosterHeadsForTest(gid)[0])
	if got := ingest(t, carla, flood); got > 16 {
		t.Fatalf("carla took %d roster ops of a demoted admin, want at most 16", got)
	}

	// Beto's removal, and 17 ops of his on top of it, sent first.
	rmBody, err := alert.Encode(time.Now(), &alert.RosterOp{Parents: ana.RosterHeadsForTest(gid), Change: &alert.RemoveMember{Member: beto.Identity.ID()}})
	if err != nil {
		t.Fatal(err)
	}
	keys := ana.KeysForTest(gid)
	rm := seal(t, keys, ana.Identity.SignBody(gid, keys.Epoch(), rmBody))
	rmID := alert.ContentID(gid, ana.Identity.ID(), rmBody)
	late, ids := rosterOps(t, ana, gid, beto.Identity, 17, rmID)
	ingest(t, carla, append(late, rm))
	for _, id := range append(ids, rmID) {
		if !carla.Store.Has(id) {
			t.Fatal("carla did not take all 18 ops")
		}
	}
	// Ana gets them by sync, in whatever order it brings them. (They
	// reached Carla by hand, not by gossip or sync, so nothing passes them
	// on by itself.)
	net.WaitFor(10*time.Second, "ana holds the removal", func() bool {
		carla.SyncWith(ctx, ana.Host().ID())
		return ana.Store.Has(rmID)
	})
	want := map[string]string{"member-00": "admin", "member-02": "member", "member-03": "member"}
	for _, nd := range []*nodetest.Node{ana, carla} {
		if got := roles(t, nd, gid); !reflect.DeepEqual(got, want) {
			t.Fatalf("node %d: members %v, want %v", nd.Index, got, want)
		}
	}

	// Both restart, with the group.
	for _, nd := range []*nodetest.Node{ana, carla} {
		nd.Stop()
		nd.Start()
		if got := roles(t, nd, gid); !reflect.DeepEqual(got, want) {
			t.Fatalf("after a restart node %d: members %v, want %v", nd.Index, got, want)
		}
	}

	// The group goes on: a newcomer joins through Ana, and Ana removes
	// the flooder.
	newcomer.Start()
	inv, err := ana.CreateInvite(ctx, gid, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newcomer.Join(ctx, inv.Code); err != nil {
		t.Fatalf("joining after the attack: %v", err)
	}
	if _, err := ana.Remove(ctx, gid, "member-03"); err != nil {
		t.Fatalf("removing the flooder: %v", err)
	}
	want = map[string]string{"member-00": "admin", "member-02": "member", "member-04": "member"}
	for _, nd := range []*nodetest.Node{ana, carla, newcomer} {
		net.WaitFor(20*time.Second, "the roster converges", func() bool { return reflect.DeepEqual(roles(t, nd, gid), want) })
	}
	id := sendOne(t, ana, gid, "still one group")
	net.WaitFor(20*time.Second, "the newcomer and carla get an alert", func() bool {
		return carla.Store.Has(id) && newcomer.Store.Has(id)
	})
}
