package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
	"github.com/takecare-network/takecare/store"
	"github.com/takecare-network/takecare/store/storetest"
)

// inFeed reports whether nd's feed holds message id.
func inFeed(nd *nodetest.Node, id alert.ID) bool {
	es, err := nd.Feed(node.FeedQuery{})
	return err == nil && slices.ContainsFunc(es, func(e node.Entry) bool { return e.ID == id.String() })
}

// TestPanicOnAFullDisk: node 0's disk (a real tmpfs) fills up. Its panic
// still reaches the member it is connected to, its status says the disk is
// full, and alerts it receives meanwhile are shown while they fit in
// memory. Once there is room, its own panic is written, the alerts it had
// to drop come back by sync, and all of it is there after a restart.
func TestPanicOnAFullDisk(t *testing.T) {
	disk := storetest.SmallDisk(t, "4m")
	nt := nodetest.New(t, 2, nodetest.Options{
		Dir: func(i int) string {
			if i == 0 {
				return disk.Dir
			}
			return ""
		},
		Store: func(i int, o *store.Options) {
			if i == 0 {
				o.MaxUnsaved = 2
			}
		},
		Config: func(_ int, c *node.Config) { c.DiskRetry = 100 * time.Millisecond },
	})
	nt.ConnectAll()
	gid := nt.Group("juchitan")
	a, b := nt.Nodes[0], nt.Nodes[1]
	ctx := context.Background()

	disk.Fill()
	// What b sends fills a's last free pages (bbolt reuses pages inside
	// its file, so a write can still succeed now and then), then its
	// memory, until a drops what does not fit.
	var fromB []alert.ID
	for i := 0; a.Status().Storage.Dropped == 0; i++ {
		if i == 300 {
			t.Fatal("node 0 never dropped a message although its disk is full")
		}
		id, err := b.SendAlert(ctx, gid, node.AlertRequest{Kind: "danger", Severity: "urgent", Text: "Armed men at the crossroads"})
		if err != nil {
			t.Fatal(err)
		}
		fromB = append(fromB, id)
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range fromB {
		if a.Store.Has(id) && !inFeed(a, id) {
			t.Errorf("alert %s is held but not shown", id.Short())
		}
	}
	nt.WaitFor(10*time.Second, "node 0's status warns", func() bool {
		st := a.Status()
		return len(st.Warnings) > 0 && st.Warnings[0].Code == node.WarnStorageFull
	})

	// The panic goes out.
	pid, err := a.Panic(ctx, gid, "Stopped by a patrol")
	if err != nil {
		t.Fatalf("Panic on a full disk: %v", err)
	}
	nt.WaitFor(10*time.Second, "the panic reaches node 1", func() bool { return inFeed(b, pid) })

	disk.Free()
	nt.WaitFor(10*time.Second, "node 0 writes what it held and fetches what it dropped", func() bool {
		if st := a.Status().Storage; st.Full || st.Unsaved > 0 {
			return false
		}
		for _, id := range fromB {
			if !a.Store.Has(id) {
				return false
			}
		}
		return true
	})
	a.Stop()
	a.Start()
	for _, id := range append(fromB, pid) {
		if !inFeed(a, id) {
			t.Fatalf("message %s is gone after a restart", id.Short())
		}
	}
}
