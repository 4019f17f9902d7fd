package node_test

import (
	"context"
	"sync"
	"testing"
	"time"

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
