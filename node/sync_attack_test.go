package node_test

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// TestSyncSessionStateIsBounded: a member opens a sync session and lists,
// message after message, ids the other node does not hold. What the other
// node keeps for the session (ids to ask for, asked for, queued to send)
// stays within the session's limits. Before, each message added 65,536 ids
// to ask for, for as long as the session lasted: 60 such messages grew the
// other node's heap by over 400 MB.
func TestSyncSessionStateIsBounded(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{Static: true})
	net.FormGroup("g")
	if err := net.Connect(0, 1); err != nil {
		t.Fatal(err)
	}
	attacker, victim := net.Nodes[0], net.Nodes[1]
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const msgs = 20
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	end, err := attacker.SyncFloodForTest(ctx, victim.Host().ID(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := victim.SyncHeldForTest()
	t.Logf("%d messages listing 65,536 unknown ids each: the victim's session held at most %d ids; heap in use %+d MiB",
		msgs, held, (int64(after.HeapInuse)-int64(before.HeapInuse))>>20)
	if bound := int64(2 * (node.MaxSyncAskedForTest + node.MaxSyncQueuedForTest)); held > bound {
		t.Fatalf("one sync session held %d ids, want at most %d", held, bound)
	}
}

// TestSyncOrderIgnoresFutureDates: within one priority, sync sends the
// newest first, but a message is no newer than when the sending node
// stored it. A panic dated a few minutes ahead (within the clock skew a
// receiver accepts) does not go before a real panic sent after it was
// stored, nor does a duress ending naming a check-in the node does not
// hold go before either.
func TestSyncOrderIgnoresFutureDates(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{Static: true})
	gid := net.FormGroup("g")
	a, mallory := net.Nodes[0], net.Nodes[1]
	now := time.Now()
	ahead, aheadID := signedFor(t, a, gid, mallory.Identity, now.Add(4*time.Minute), &alert.Alert{Kind: alert.KindPanic, Severity: alert.SevCritical, Text: "dated ahead", Expires: now.Add(time.Hour)})
	duress, duressID := signedFor(t, a, gid, mallory.Identity, now.Add(4*time.Minute), &alert.CheckInDone{CheckIn: alert.ID{7}, Duress: true})
	for _, env := range [][]byte{ahead, duress} {
		if err := a.IngestForTest(env); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(10 * time.Millisecond)
	real, err := a.SendAlert(context.Background(), gid, node.AlertRequest{Kind: "panic", Severity: "critical", Text: "real"})
	if err != nil {
		t.Fatal(err)
	}
	got := a.SendOrderForTest([]alert.ID{duressID, aheadID, real})
	if want := []alert.ID{real, aheadID, duressID}; !slices.Equal(got, want) {
		t.Errorf("sync would send %v, want the real panic, the one dated ahead, then the duress ending (%v)", got, want)
	}
}
