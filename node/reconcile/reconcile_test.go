package reconcile

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func item(r *rand.Rand, created int64) Item {
	var it Item
	it.Created = created
	binary.LittleEndian.PutUint64(it.ID[:], r.Uint64())
	it.ID = sha256.Sum256(it.ID[:8])
	return it
}

// run reconciles a and b as two nodes would, alternating messages, and
// returns what each side found it has and needs, and the number of
// messages exchanged.
func run(t testing.TB, a, b *Set) (aHave, aNeed, bHave, bNeed []ID, messages int) {
	t.Helper()
	msg := a.Initiate()
	messages = 1
	sides := []*Set{b, a}
	haves := [2][]ID{}
	needs := [2][]ID{}
	for turn := 0; len(msg) > 0; turn++ {
		if turn > 64 {
			t.Fatal("no convergence after 64 messages")
		}
		out, have, need, err := sides[turn%2].Respond(msg)
		if err != nil {
			t.Fatal(err)
		}
		haves[turn%2] = append(haves[turn%2], have...)
		needs[turn%2] = append(needs[turn%2], need...)
		msg = out
		messages++
	}
	return haves[1], needs[1], haves[0], needs[0], messages
}

func diff(a, b []Item) []ID {
	in := map[ID]bool{}
	for _, it := range b {
		in[it.ID] = true
	}
	var out []ID
	for _, it := range a {
		if !in[it.ID] {
			out = append(out, it.ID)
		}
	}
	return out
}

func sameIDs(t *testing.T, what string, got, want []ID) {
	t.Helper()
	cmp := func(x, y ID) int { return slices.Compare(x[:], y[:]) }
	g, w := slices.Clone(got), slices.Clone(want)
	slices.SortFunc(g, cmp)
	slices.SortFunc(w, cmp)
	g = slices.CompactFunc(g, func(x, y ID) bool { return x == y })
	if !slices.Equal(g, w) {
		t.Errorf("%s: got %d ids, want %d", what, len(g), len(w))
	}
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		common       int
		onlyA, onlyB int
		sameTime     bool // many items with the same creation time
		maxMessages  int
	}{
		{"both empty", 0, 0, 0, false, 2},
		{"identical small", 20, 0, 0, false, 2},
		{"identical large", 10000, 0, 0, false, 2},
		{"a empty", 0, 0, 5000, false, 3},
		{"b empty", 0, 5000, 0, false, 3},
		{"one missing in 10000", 10000, 0, 1, false, 6},
		{"one extra in 10000", 10000, 1, 0, false, 6},
		{"both sides differ", 3000, 40, 60, false, 8},
		{"same timestamps", 500, 7, 9, true, 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(1, uint64(c.common+c.onlyA*7+c.onlyB*13)))
			ts := func(i int) int64 {
				if c.sameTime {
					return 1000 + int64(i%3)
				}
				return 1_700_000_000_000 + int64(i)*1000
			}
			var common, onlyA, onlyB []Item
			for i := range c.common {
				common = append(common, item(r, ts(i)))
			}
			for i := range c.onlyA {
				onlyA = append(onlyA, item(r, ts(r.IntN(c.common+c.onlyA+1)+i)))
			}
			for i := range c.onlyB {
				onlyB = append(onlyB, item(r, ts(r.IntN(c.common+c.onlyB+1)+i)))
			}
			a := NewSet(append(slices.Clone(common), onlyA...))
			b := NewSet(append(slices.Clone(common), onlyB...))
			aHave, aNeed, bHave, bNeed, msgs := run(t, a, b)
			all := func(s ...[]ID) []ID { return slices.Concat(s...) }
			// Whoever found a difference, the union of findings is the
			// symmetric difference.
			sameIDs(t, "A's items B lacks", all(aHave, bNeed), diff(onlyA, nil))
			sameIDs(t, "B's items A lacks", all(bHave, aNeed), diff(onlyB, nil))
			if msgs > c.maxMessages {
				t.Errorf("%d messages, want at most %d", msgs, c.maxMessages)
			}
		})
	}
}

func TestRespondRejectsBadRanges(t *testing.T) {
	t.Parallel()
	s := NewSet(nil)
	cases := map[string][]Range{
		"out of order":                          {{Upper: Bound{Created: 10}}, {Upper: Bound{Created: 5}}},
		"repeated":                              {{Upper: Bound{Created: 10}}, {Upper: Bound{Created: 10}}},
		"unknown mode":                          {{Upper: End, Mode: 9}},
		"long id bound":                         {{Upper: Bound{Created: 1, ID: make([]byte, 33)}}},
		"id list longer than a side ever sends": {{Upper: End, Mode: IDList, IDs: make([]ID, IDListMax+1)}},
		"too many": func() []Range {
			rs := make([]Range, MaxRanges+1)
			for i := range rs {
				rs[i].Upper = Bound{Created: int64(i)}
			}
			return rs
		}(),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, _, err := s.Respond(in); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestRespondWindow: ids listed in a range that lies wholly outside the
// window of creation times this side takes are not reported as needed;
// those in a range that reaches into it are.
func TestRespondWindow(t *testing.T) {
	t.Parallel()
	s := NewSet(nil)
	s.Window(100, 200)
	id := func(b byte) ID { return ID{b} }
	in := []Range{
		{Upper: Bound{Created: 50}, Mode: IDList, IDs: []ID{id(1)}},  // before the window
		{Upper: Bound{Created: 150}, Mode: IDList, IDs: []ID{id(2)}}, // reaches into it
		{Upper: Bound{Created: 300}, Mode: IDList, IDs: []ID{id(3)}}, // overlaps its end
		{Upper: End, Mode: IDList, IDs: []ID{id(4)}},                 // wholly after it
	}
	_, _, need, err := s.Respond(in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(need, []ID{id(2), id(3)}) {
		t.Fatalf("need = %v, want the ids of the two ranges that meet the window", need)
	}
}

func BenchmarkReconcileIdentical10k(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 3))
	var items []Item
	for i := range 10000 {
		items = append(items, item(r, int64(i)))
	}
	x, y := NewSet(items), NewSet(items)
	for b.Loop() {
		run(b, x, y)
	}
}

func ExampleSet_Respond() {
	var a, b []Item
	for i := range 100 {
		var id ID
		id[0], id[1] = byte(i), 1
		a = append(a, Item{Created: int64(i), ID: id})
		if i != 42 {
			b = append(b, Item{Created: int64(i), ID: id})
		}
	}
	A, B := NewSet(a), NewSet(b)
	msg := A.Initiate()
	for turn := 0; len(msg) > 0; turn++ {
		side, name := B, "B"
		if turn%2 == 1 {
			side, name = A, "A"
		}
		out, have, need, _ := side.Respond(msg)
		for _, id := range have {
			fmt.Println(name, "has what the other lacks:", id[0])
		}
		for _, id := range need {
			fmt.Println(name, "lacks:", id[0])
		}
		msg = out
	}
	// Output: A has what the other lacks: 42
}

// TestEqualSmallSetsAgreeOnOneFingerprint: two nodes hold the same few
// messages in an epoch, as they do in every epoch of a group that gossip
// keeps in step (a group that grew by joins holds an epoch per join, each
// with a message or two). The first message is one fingerprint, not the
// list of ids (16 bytes instead of 32 a message, for every epoch of every
// session), and the answer is that they agree. Sets that differ still
// reconcile.
func TestEqualSmallSetsAgreeOnOneFingerprint(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var items []Item
	for i := range 5 {
		items = append(items, item(r, int64(1000+i)))
	}
	a, b := NewSet(items), NewSet(slices.Clone(items))
	first := a.Initiate()
	listed := 0
	for _, x := range first {
		listed += len(x.IDs)
	}
	if listed != 0 {
		t.Errorf("the first message lists %d ids of a set of 5 the other holds too; want one fingerprint", listed)
	}
	if out, have, need, err := b.Respond(first); err != nil || len(out)+len(have)+len(need) != 0 {
		t.Errorf("equal sets: answer %v, have %d, need %d, %v; want nothing", out, len(have), len(need), err)
	}
	c := NewSet(append(slices.Clone(items[:3]), item(r, 2000)))
	// Either side may be the one that finds a difference: together they
	// find each once.
	aHave, aNeed, cHave, cNeed, _ := run(t, a, c)
	sameIDs(t, "a has or c needs", append(aHave, cNeed...), diff(items, c.items))
	sameIDs(t, "a needs or c has", append(aNeed, cHave...), diff(c.items, items))
}
