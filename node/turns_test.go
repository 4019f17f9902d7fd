package node_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// TestGroupTurns: rekeys asked of one admin's node at the same moment
// start epochs one after the other (never two from one epoch, which would
// fork the group for nothing), and topic updates asked at the same moment
// leave the node subscribed to the topics of its epochs, each joined once.
// Neither holds a lock while it seals, sends, writes or joins a topic:
// both run in the group's turn (turns.go).
func TestGroupTurns(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{})
	gid := net.Group("g")
	ana := net.Nodes[0]
	ctx := context.Background()
	const rekeys = 6
	nums := make([]uint64, rekeys)
	var wg sync.WaitGroup
	for i := range rekeys {
		wg.Go(func() {
			num, err := ana.RekeyNowForTest(ctx, gid)
			if err != nil {
				t.Error(err)
			}
			nums[i] = num
		})
		wg.Go(func() {
			if err := ana.UpdateTopicsForTest(gid); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	slices.Sort(nums)
	for i := 1; i < rekeys; i++ {
		if nums[i] != nums[i-1]+1 {
			t.Fatalf("epochs started: %v; want %d consecutive numbers, one from the other", nums, rekeys)
		}
	}
	if err := ana.UpdateTopicsForTest(gid); err != nil {
		t.Fatal(err)
	}
	group, joined := ana.TopicsForTest(gid)
	if len(group) == 0 {
		t.Fatal("the node holds no topic of the group")
	}
	for _, name := range group {
		if !slices.Contains(joined, name) {
			t.Errorf("topic %s held for the group but not joined in pubsub", name)
		}
	}
	for _, name := range joined {
		if !slices.Contains(group, name) {
			t.Errorf("pubsub joined %s, which the group does not hold", name)
		}
	}
}

// TestGroupChangesWaitForTheTurn: every change of a group runs in the
// group's turn. While another job holds the turn, a rekey received from
// an admin does not move the member to the new epoch, this node's own
// roster op (an invite) is neither applied nor sent, and topic upkeep and
// key erasure wait; once the job ends, each is done, and both members
// are on the same epoch and read each other's alerts.
func TestGroupChangesWaitForTheTurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// held holds nd's turn of gid, runs change meanwhile, checks that it
	// does not end (nor, by still, show its effect) while the turn is
	// held, and returns once change ended after the turn was released.
	held := func(t *testing.T, nd *nodetest.Node, gid crypto.GroupID, change func(), still func() bool) {
		t.Helper()
		release := nd.HoldTurnForTest(gid)
		done := make(chan struct{})
		go func() {
			defer close(done)
			change()
		}()
		for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			select {
			case <-done:
				release()
				t.Fatal("the change ended while another job held the group's turn")
			default:
			}
			if !still() {
				release()
				t.Fatal("the group changed while another job held its turn")
			}
		}
		release()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the change did not end once the turn was released")
		}
	}
	always := func() bool { return true }

	t.Run("received rekey", func(t *testing.T) {
		t.Parallel()
		net := nodetest.New(t, 2, nodetest.Options{})
		gid := net.Group("g")
		ana, ben := net.Nodes[0], net.Nodes[1]
		before, err := ben.CurrentEpoch(gid)
		if err != nil {
			t.Fatal(err)
		}
		var next uint64
		rekeyed := make(chan struct{})
		held(t, ben, gid, func() {
			// The admin's node is not held: its rekey goes out at once,
			// and waits at ben's.
			if next, err = ana.RekeyNowForTest(ctx, gid); err != nil {
				t.Error(err)
			}
			close(rekeyed)
			net.WaitFor(20*time.Second, "ben takes the new epoch", func() bool {
				e, _ := ben.CurrentEpoch(gid)
				return e == next
			})
		}, func() bool {
			e, _ := ben.CurrentEpoch(gid)
			return e == before
		})
		<-rekeyed
		readEachOther(t, net, gid, ana, ben)
	})

	t.Run("own roster op", func(t *testing.T) {
		t.Parallel()
		net := nodetest.New(t, 2, nodetest.Options{})
		gid := net.Group("g")
		ana, ben := net.Nodes[0], net.Nodes[1]
		heads := ana.RosterHeadsForTest(gid)
		held(t, ana, gid, func() {
			if _, err := ana.CreateInvite(ctx, gid, 1, time.Hour); err != nil {
				t.Error(err)
			}
		}, func() bool { return slices.Equal(ana.RosterHeadsForTest(gid), heads) })
		want := ana.RosterHeadsForTest(gid)
		if slices.Equal(want, heads) {
			t.Fatal("the invite did not change the roster")
		}
		net.WaitFor(20*time.Second, "ben takes the invite", func() bool { return slices.Equal(ben.RosterHeadsForTest(gid), want) })
		readEachOther(t, net, gid, ana, ben)
	})

	t.Run("topics and erasure", func(t *testing.T) {
		t.Parallel()
		net := nodetest.New(t, 2, nodetest.Options{})
		gid := net.Group("g")
		ana := net.Nodes[0]
		held(t, ana, gid, func() {
			if err := ana.UpdateTopicsForTest(gid); err != nil {
				t.Error(err)
			}
		}, always)
		held(t, ana, gid, ana.MaintainForTest, always)
	})
}

// readEachOther checks that a and b, members of gid, are on the same
// epoch and that an alert of each reaches the other.
func readEachOther(t *testing.T, net *nodetest.Net, gid crypto.GroupID, a, b *nodetest.Node) {
	t.Helper()
	net.WaitFor(20*time.Second, "both members on one epoch", func() bool {
		ea, _ := a.CurrentEpoch(gid)
		eb, _ := b.CurrentEpoch(gid)
		return ea == eb
	})
	for _, p := range [][2]*nodetest.Node{{a, b}, {b, a}} {
		id, err := p[0].SendAlert(context.Background(), gid, node.AlertRequest{Kind: "danger", Severity: "urgent", Text: "Armed men at the crossroads"})
		if err != nil {
			t.Fatal(err)
		}
		net.WaitFor(20*time.Second, "the alert arrives", func() bool { return inFeed(p[1], id) })
	}
}

// TestRekeysAndAdminActionsRace: two admins' nodes change one group at the
// same time: one starts new epochs while the other makes invites (roster
// ops, each taken by the first in its turn, between or after its rekeys).
// Both end on the same epoch with the same roster (no op lost), and read
// each other's alerts.
func TestRekeysAndAdminActionsRace(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{})
	gid := net.Group("g")
	ana, ben := net.Nodes[0], net.Nodes[1]
	ctx := context.Background()
	if _, err := ana.SetRole(ctx, gid, "member-01", alert.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(20*time.Second, "ben is an admin at his node", func() bool { return roles(t, ben, gid)["member-01"] == "admin" })
	before, err := ana.Invites(gid)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	var wg sync.WaitGroup
	wg.Go(func() {
		for range n {
			if _, err := ana.RekeyNowForTest(ctx, gid); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for range n {
			if _, err := ben.CreateInvite(ctx, gid, 1, time.Hour); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	net.WaitFor(30*time.Second, "both hold the same roster", func() bool {
		return slices.Equal(ana.RosterHeadsForTest(gid), ben.RosterHeadsForTest(gid))
	})
	for _, nd := range []*nodetest.Node{ana, ben} {
		if invs, err := nd.Invites(gid); err != nil || len(invs) != len(before)+n {
			t.Errorf("%s holds %d invites (%v); want %d", nd.Identity.Name(), len(invs), err, len(before)+n)
		}
	}
	readEachOther(t, net, gid, ana, ben)
}
