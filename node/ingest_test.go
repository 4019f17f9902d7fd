package node_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// TestSyncedMessagesStoredTogether: the envelopes of one sync message are
// stored together, yet each gets the outcome it would get alone, in order:
// a check-in's end by someone else than the traveller is dropped (not
// accepted, as it would be before the check-in is held) even when the
// check-in came just before it in the same message.
func TestSyncedMessagesStoredTogether(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{Static: true})
	gid := net.FormGroup("g")
	recv, traveller, other := net.Nodes[0], net.Nodes[1].Identity, net.Nodes[2].Identity
	keys := recv.KeysForTest(gid)
	now := time.Now()
	sealed := func(by *crypto.Identity, c alert.Content) ([]byte, alert.ID) {
		t.Helper()
		b, err := alert.Encode(now, c)
		if err != nil {
			t.Fatal(err)
		}
		env, err := keys.Seal(by.SignBody(gid, keys.Epoch(), b))
		if err != nil {
			t.Fatal(err)
		}
		return env, alert.ContentID(gid, by.ID(), b)
	}
	a1, id1 := sealed(traveller, &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevUrgent, Text: "one", Expires: now.Add(time.Hour)})
	a2, id2 := sealed(other, &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevUrgent, Text: "two", Expires: now.Add(time.Hour)})
	ci, ciID := sealed(traveller, &alert.CheckIn{From: "Juchitán", To: "Ixtepec", Due: now.Add(time.Hour), Grace: 10 * time.Minute, EscalateAfter: 30 * time.Minute})
	forged, forgedID := sealed(other, &alert.CheckInDone{CheckIn: ciID})
	done, doneID := sealed(traveller, &alert.CheckInDone{CheckIn: ciID})

	errs := recv.IngestSyncedForTest([][]byte{a1, a2, a1, ci, forged, done})
	want := []string{"accepted", "accepted", "ignored", "accepted", "ignored", "accepted"}
	for i, err := range errs {
		got := "accepted"
		switch {
		case node.Rejected(err):
			got = "rejected"
		case err != nil:
			got = "ignored"
		}
		if got != want[i] {
			t.Errorf("envelope %d: %s (%v), want %s", i, got, err, want[i])
		}
	}
	for _, id := range []alert.ID{id1, id2, ciID, doneID} {
		if !recv.Store.Has(id) {
			t.Errorf("message %s not stored", id.Short())
		}
	}
	if recv.Store.Has(forgedID) {
		t.Error("the forged end of the check-in was stored")
	}
}

// TestBurstArrivesWhole: a burst of alerts from one member overflows
// GossipSub's queues, which drop what does not fit without a word; the
// drops start a sync, so every alert is in the receiver's feed within
// seconds although the periodic sync is an hour away. And each is still
// on the receiver's disk after a restart: accepting an alert from gossip
// before storing it loses none.
func TestBurstArrivesWhole(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{
		Latency: 2 * time.Millisecond,
		Sync:    true,
		Config:  func(_ int, c *node.Config) { c.SyncInterval = time.Hour },
	})
	gid := net.Group("g")
	a, b := net.Nodes[0], net.Nodes[1]
	net.Settle()
	time.Sleep(time.Second) // past the sync that the connection started
	const burst = 250       // within the rate limit's burst of 300
	f := b.Follow(node.FeedQuery{Group: gid})
	defer f.Stop()
	accepted := b.Status().Received.Accepted
	ids := make([]alert.ID, burst)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < burst; i += 8 {
				id, err := a.SendAlert(context.Background(), gid, node.AlertRequest{Kind: "danger", Severity: "warning", Text: fmt.Sprintf("burst %d", i)})
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = id
			}
		})
	}
	wg.Wait()
	shown := make(map[string]bool)
	for len(shown) < burst {
		select {
		case e := <-f.C:
			shown[e.ID] = true
		case <-time.After(10 * time.Second):
			held := 0
			for _, id := range ids {
				if b.Store.Has(id) {
					held++
				}
			}
			st := b.Status().Received
			t.Fatalf("%d of %d alerts shown in the feed; %d stored; received: %+v (before %d)", len(shown), burst, held, st, accepted)
		}
	}
	if got := b.Status().Received.Accepted - accepted; got != burst {
		t.Errorf("accepted %d envelopes, want %d", got, burst)
	}
	b.Stop()
	b.Start()
	for _, id := range ids {
		if !b.Store.Has(id) {
			t.Fatalf("after a restart the receiver lacks %s", id.Short())
		}
	}
}
