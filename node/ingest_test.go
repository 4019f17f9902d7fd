package node_test

import (
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// TestSyncedMessagesStoredTogether: the envelopes of one sync message are
// stored together, yet each gets the outcome it would get alone, in order:
// a check-in's end by someone else than the traveller is rejected even
// when the check-in came just before it in the same message.
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
	want := []string{"accepted", "accepted", "ignored", "accepted", "rejected", "accepted"}
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
