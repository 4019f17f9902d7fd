package syncer

import (
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/reconcile"
)

// Seeds are in testdata/fuzz; run with
// `go test -run '^$' -fuzz FuzzSyncMessage ./node/internal/syncer` (or
// `make fuzz`).

// FuzzSyncMessage: whatever a peer sends as a sync message, converting its
// ranges and answering them never panics, and the ages it gives its
// envelopes come out one per envelope or not at all, within bounds.
func FuzzSyncMessage(f *testing.F) {
	var items []reconcile.Item
	for i := range 100 {
		var id reconcile.ID
		id[0], id[1] = byte(i), byte(i>>8)
		items = append(items, reconcile.Item{Created: int64(1000 + i), ID: id})
	}
	set := reconcile.NewSet(items)
	set.Window(1010, 1090)
	tag := crypto.KeyTag{1, 2, 3}
	for _, m := range []*wire.SyncMessage{
		{Scopes: []*wire.ScopeMessage{{Tag: tag[:], Ranges: rangesToWire(set.Initiate())}}},
		{Scopes: []*wire.ScopeMessage{{Tag: tag[:], Want: [][]byte{make([]byte, 32)}, Envelopes: [][]byte{make([]byte, 2048)}}}},
		{Scopes: []*wire.ScopeMessage{{Tag: tag[:], Ranges: []*wire.Range{{UpperCreated: 5, Mode: 2, Ids: [][]byte{{1}}}}}}},
		{Scopes: []*wire.ScopeMessage{{Tag: tag[:], Envelopes: [][]byte{{1}, {2}}, Ages: []int64{-1, math.MaxInt64}}}},
		{Scopes: []*wire.ScopeMessage{{Tag: tag[:], Envelopes: [][]byte{{1}}, Ages: []int64{5, 6}}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m wire.SyncMessage
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		for _, sm := range m.Scopes {
			rs, err := rangesFromWire(sm.Ranges)
			if err != nil {
				continue
			}
			set.Respond(rs)
			for _, w := range sm.Want {
				alert.IDFromBytes(w)
			}
			ages := envelopeAges(sm.Ages, len(sm.Envelopes))
			if ages != nil && len(ages) != len(sm.Envelopes) {
				t.Fatalf("%d ages for %d envelopes", len(ages), len(sm.Envelopes))
			}
			for _, a := range ages {
				if a < 0 || a > 101*365*24*time.Hour {
					t.Fatalf("age %v from %v", a, sm.Ages)
				}
			}
			tagOf(sm.Tag)
		}
	})
}

// TestHelloOffset: the initiator halves the round trip; the responder
// takes the hello as sent when it arrived.
func TestHelloOffset(t *testing.T) {
	t0 := time.UnixMilli(1_750_000_000_000)
	// Their clock is 2 h ahead; the round trip takes 200 ms.
	if got := helloOffset(t0.Add(2*time.Hour+100*time.Millisecond), t0, t0.Add(200*time.Millisecond)); got != 2*time.Hour {
		t.Errorf("initiator's estimate %v", got)
	}
	if got := helloOffset(t0.Add(2*time.Hour), time.Time{}, t0.Add(100*time.Millisecond)); got != 2*time.Hour-100*time.Millisecond {
		t.Errorf("responder's estimate %v", got)
	}
}

// TestEnvelopeAges: ages count only when there is one per envelope, and
// are kept within zero and a century.
func TestEnvelopeAges(t *testing.T) {
	century := time.Duration(100*365*24) * time.Hour
	for _, c := range []struct {
		name string
		ms   []int64
		n    int
		want []time.Duration
	}{
		{"none", nil, 2, nil},
		{"too few", []int64{5}, 2, nil},
		{"too many", []int64{5, 6, 7}, 2, nil},
		{"one each", []int64{5, 6}, 2, []time.Duration{5 * time.Millisecond, 6 * time.Millisecond}},
		{"negative", []int64{-1}, 1, []time.Duration{0}},
		{"far", []int64{math.MaxInt64}, 1, []time.Duration{century}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := envelopeAges(c.ms, c.n)
			if len(got) != len(c.want) || (got == nil) != (c.want == nil) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}
