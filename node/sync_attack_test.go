package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

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
