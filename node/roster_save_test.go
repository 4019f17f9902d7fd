package node_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
	"github.com/takecare-network/takecare/store"
)

// TestConcurrentRosterChangesSurviveRestart: roster changes that arrive at
// once (gossip validators and sync sessions run concurrently) are all on
// disk afterwards, so a restarted node still knows every one of them.
func TestConcurrentRosterChangesSurviveRestart(t *testing.T) {
	t.Parallel()
	const invites = 30
	net := nodetest.New(t, 2, nodetest.Options{Static: true})
	gid := net.FormGroup("g")
	founder, b := net.Nodes[0], net.Nodes[1]
	// B is away while the founder makes invites, each a roster change.
	for range invites {
		if _, err := founder.CreateInvite(context.Background(), gid, 1, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	want, err := founder.Invites(gid)
	if err != nil {
		t.Fatal(err)
	}
	// B receives them all at once (with what it cannot open: messages
	// sealed before it joined).
	var wg sync.WaitGroup
	for _, h := range founder.Store.Headers(func(h store.Header) bool { return !b.Store.Has(h.ID) }) {
		env, err := founder.Store.Envelope(h.ID)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := b.IngestForTest(env); node.Rejected(err) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, _ := b.Invites(gid); len(got) != len(want) {
		t.Fatalf("B knows %d invites, want %d", len(got), len(want))
	}
	b.Stop()
	b.Start()
	if got, _ := b.Invites(gid); len(got) != len(want) {
		t.Fatalf("after a restart B knows %d invites, want %d", len(got), len(want))
	}
}

// TestSavingAGroupCostsWhatChanged: a roster change adds to the store, and
// to its keep file, what changed (the op, the epoch it starts), not the
// whole roster again: in a group of a thousand that would be 2 MB written
// for every join. A group saved by the format before, with every epoch
// and op inside its own blob, still loads, and is saved the new way.
func TestSavingAGroupCostsWhatChanged(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 26, nodetest.Options{Latency: time.Millisecond, Stopped: func(i int) bool { return i > 1 }})
	ana := net.Nodes[0]
	gid := net.Group("istmo")
	ctx := context.Background()
	for _, nd := range net.Nodes[2:25] {
		nd.Start()
		letIn(t, ana, gid, nd)
		nd.Stop()
	}
	keep := func() int64 {
		fi, err := os.Stat(ana.StorePath() + ".keep")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := keep()
	last := net.Nodes[25]
	last.Start()
	inv, err := ana.CreateInvite(ctx, gid, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := last.Join(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}
	// The invite and the add, each with the epoch it changes and the
	// group's small state: a few kilobytes, against more than 50 KB of
	// roster written again for each.
	if grown := keep() - before; grown > 24<<10 {
		t.Fatalf("an invite and a join grew the keep file by %d bytes", grown)
	}
	members := len(roles(t, ana, gid))
	if err := ana.DowngradeGroupForTest(gid); err != nil {
		t.Fatal(err)
	}
	ana.Stop()
	ana.Start()
	if got := len(roles(t, ana, gid)); got != members {
		t.Fatalf("after loading the older format the group has %d members, want %d", got, members)
	}
	id := sendOne(t, ana, gid, "still here")
	if !ana.Store.Has(id) {
		t.Fatal("the group does not work after loading the older format")
	}
}

// TestEpochSavedAgainWhenItsParentIsErased: an epoch a join ratcheted to
// is saved as a link to the epoch it derives from. A save writes again
// only the epochs that changed; once the parent's key is erased, the
// child's saved state changes too (it must list its audience itself), and
// after a restart the node still knows whom the epoch it sends in reached.
// It would fail if a save skipped an epoch whose parent changed.
func TestEpochSavedAgainWhenItsParentIsErased(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	net := nodetest.New(t, 4, nodetest.Options{
		Stopped: func(i int) bool { return i > 1 },
		Config: func(i int, c *node.Config) {
			c.Now = clock
			c.Retention = 2 * time.Hour
		},
	})
	ana, beto := net.Nodes[0], net.Nodes[1]
	gid := net.Group("istmo")
	parent := beto.KeysForTest(gid)
	for _, nd := range net.Nodes[2:] {
		nd.Start()
		letIn(t, ana, gid, nd)
	}
	net.WaitFor(10*time.Second, "Beto on the epoch of the last join", func() bool {
		return epochOf(beto, gid) == epochOf(ana, gid) && epochOf(beto, gid) >= parent.Epoch()+2
	})
	reach := beto.CurrentReachForTest(gid)
	if reach != 4 {
		t.Fatalf("the epoch Beto sends in reaches %d members, want 4", reach)
	}
	skew.Store(int64(3 * time.Hour))
	beto.MaintainForTest()
	if beto.HasKeyForTest(parent.Tag()) {
		t.Fatal("the epoch before the joins was not erased")
	}
	beto.Stop()
	beto.Start()
	if got := beto.CurrentReachForTest(gid); got != reach {
		t.Fatalf("after a restart the epoch Beto sends in reaches %d members, want %d", got, reach)
	}
	id := sendOne(t, beto, gid, "after the restart")
	net.WaitFor(10*time.Second, "the last member has Beto's alert", func() bool { return net.Nodes[3].Store.Has(id) })
}

// letIn has admin invite nd's member into gid, and nd join.
func letIn(t *testing.T, admin *nodetest.Node, gid crypto.GroupID, nd *nodetest.Node) {
	t.Helper()
	ctx := context.Background()
	inv, err := admin.CreateInvite(ctx, gid, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nd.Join(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}
}
