package store_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/store"
)

var t0 = time.UnixMilli(1_750_000_000_000)

func open(t testing.TB, path string, key crypto.StorageKey, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(path, key, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB, opts store.Options) (*store.Store, string, crypto.StorageKey) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	key := crypto.NewStorageKey()
	opts.NoSync = true
	return open(t, path, key, opts), path, key
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func randomID() alert.ID {
	var id alert.ID
	rand.Read(id[:])
	return id
}

func randomMember() crypto.MemberID {
	var m crypto.MemberID
	rand.Read(m[:])
	return m
}

// record makes a message record with a random id and a random 2048-byte
// envelope, as received from the network.
func record(group crypto.GroupID, tag crypto.KeyTag, author crypto.MemberID, created time.Time) store.Record {
	return store.Record{
		Header: store.Header{
			ID: randomID(), Group: group, Tag: tag, Author: author, Created: created,
			Expires: created.Add(24 * time.Hour), Priority: 2, Received: created.Add(time.Second), Sent: created.Add(time.Second),
		},
		Envelope: randomBytes(crypto.EnvelopeSizes[0]),
	}
}

func put(t testing.TB, s *store.Store, rs ...store.Record) {
	t.Helper()
	for _, r := range rs {
		added, err := s.Put(r)
		if err != nil || !added {
			t.Fatalf("Put(%s) = %v, %v; want true, nil", r.Header.ID.Short(), added, err)
		}
	}
}

func sameHeader(a, b store.Header) bool {
	return a.ID == b.ID && a.Group == b.Group && a.Tag == b.Tag && a.Author == b.Author &&
		a.Created.Equal(b.Created) && a.Expires.Equal(b.Expires) && a.Priority == b.Priority && a.Received.Equal(b.Received)
}

func TestPutGet(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, store.Options{})
	r := record(crypto.NewGroupID(), crypto.KeyTag{1}, randomMember(), t0)
	if s.Has(r.Header.ID) {
		t.Fatal("Has before Put")
	}
	put(t, s, r)
	if !s.Has(r.Header.ID) || s.Count() != 1 {
		t.Fatal("Has or Count after Put")
	}
	h, ok := s.Header(r.Header.ID)
	if !ok || !sameHeader(h, r.Header) {
		t.Fatalf("Header = %+v, want %+v", h, r.Header)
	}
	env, err := s.Envelope(r.Header.ID)
	if err != nil || !bytes.Equal(env, r.Envelope) {
		t.Fatalf("Envelope = %d bytes, %v", len(env), err)
	}
	added, err := s.Put(r)
	if err != nil || added {
		t.Fatalf("second Put = %v, %v; want false, nil", added, err)
	}
	other := r
	other.Envelope = randomBytes(len(r.Envelope))
	if added, err := s.Put(other); err != nil || added {
		t.Fatalf("Put of another envelope under a held id = %v, %v; want false, nil", added, err)
	}
	if env, _ := s.Envelope(r.Header.ID); !bytes.Equal(env, r.Envelope) {
		t.Fatal("a duplicate Put replaced the envelope")
	}
	if s.Count() != 1 {
		t.Fatalf("Count = %d after duplicates", s.Count())
	}

	missing := randomID()
	if _, err := s.Envelope(missing); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Envelope(missing) = %v, want ErrNotFound", err)
	}
	if _, ok := s.Header(missing); ok {
		t.Fatal("Header(missing) found")
	}

	noExpiry := record(crypto.NewGroupID(), crypto.KeyTag{2}, randomMember(), t0)
	noExpiry.Header.Expires = time.Time{}
	noExpiry.Envelope = randomBytes(crypto.MaxEnvelopeSize)
	put(t, s, noExpiry)
	if h, _ := s.Header(noExpiry.Header.ID); !h.Expires.IsZero() {
		t.Fatalf("zero expiry stored as %v", h.Expires)
	}
	if env, err := s.Envelope(noExpiry.Header.ID); err != nil || !bytes.Equal(env, noExpiry.Envelope) {
		t.Fatalf("largest envelope: %v", err)
	}

	tooBig := record(crypto.NewGroupID(), crypto.KeyTag{2}, randomMember(), t0)
	tooBig.Envelope = make([]byte, crypto.MaxEnvelopeSize+1)
	if added, err := s.Put(tooBig); added || !errors.Is(err, store.ErrTooBig) {
		t.Fatalf("Put of an oversized envelope = %v, %v; want ErrTooBig", added, err)
	}
	if s.Has(tooBig.Header.ID) {
		t.Fatal("oversized envelope stored")
	}
}

func TestPutBatchDuplicates(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, store.Options{})
	g, a := crypto.NewGroupID(), randomMember()
	r1, r2 := record(g, crypto.KeyTag{1}, a, t0), record(g, crypto.KeyTag{1}, a, t0.Add(time.Second))
	put(t, s, r1)
	added, err := s.PutBatch([]store.Record{r1, r2, r2, record(g, crypto.KeyTag{1}, a, t0)})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{false, true, false, true}; !slices.Equal(added, want) {
		t.Fatalf("PutBatch added = %v, want %v", added, want)
	}
	if s.Count() != 3 {
		t.Fatalf("Count = %d, want 3", s.Count())
	}
	if added, err := s.PutBatch(nil); err != nil || len(added) != 0 {
		t.Fatalf("PutBatch(nil) = %v, %v", added, err)
	}
}

// TestPutConcurrent: many goroutines (sync sessions, gossip) store the same
// message at once; exactly one reports it new, so it is handled once.
func TestPutConcurrent(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, store.Options{})
	g := crypto.NewGroupID()
	for round := range 5 {
		r := record(g, crypto.KeyTag{1}, randomMember(), t0.Add(time.Duration(round)*time.Second))
		others := []store.Record{record(g, crypto.KeyTag{1}, randomMember(), t0), record(g, crypto.KeyTag{1}, randomMember(), t0)}
		const n = 32
		var wg sync.WaitGroup
		results := make([][]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				batch := []store.Record{r}
				if i%3 == 0 {
					batch = append(batch, others...)
				}
				results[i], errs[i] = s.PutBatch(batch)
			})
		}
		wg.Wait()
		count := map[alert.ID]int{}
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("PutBatch: %v", errs[i])
			}
			count[r.Header.ID] += b2i(results[i][0])
			if i%3 == 0 {
				count[others[0].Header.ID] += b2i(results[i][1])
				count[others[1].Header.ID] += b2i(results[i][2])
			}
		}
		for id, c := range count {
			if c != 1 {
				t.Fatalf("round %d: %s reported added %d times, want exactly once", round, id.Short(), c)
			}
		}
		if !s.Has(r.Header.ID) {
			t.Fatal("the message is not held")
		}
	}
	if s.Count() != 15 {
		t.Fatalf("Count = %d, want 15", s.Count())
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestItemsSorted(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, store.Options{})
	g := crypto.NewGroupID()
	tagA, tagB := crypto.KeyTag{0xa}, crypto.KeyTag{0xb}
	var inA []store.Item
	var recs []store.Record
	// Out of order, with ties on creation time.
	for _, sec := range []int{50, 10, 30, 10, 40, 20, 10, 50, 0} {
		r := record(g, tagA, randomMember(), t0.Add(time.Duration(sec)*time.Second))
		recs = append(recs, r)
		inA = append(inA, store.Item{Created: r.Header.Created.UnixMilli(), ID: r.Header.ID})
	}
	inB := record(g, tagB, randomMember(), t0)
	for i, r := range recs {
		put(t, s, r)
		if i == 4 {
			put(t, s, inB)
			// Ask in the middle too: the set stays sorted as it grows.
			mid := s.Items(tagA)
			if !slices.IsSortedFunc(mid, store.Item.Compare) || len(mid) != 5 {
				t.Fatalf("Items after 5 puts: %d items, sorted=%v", len(mid), slices.IsSortedFunc(mid, store.Item.Compare))
			}
		}
	}
	want := slices.Clone(inA)
	slices.SortFunc(want, func(a, b store.Item) int {
		if a.Created != b.Created {
			return int(a.Created - b.Created)
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	got := s.Items(tagA)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Items(A) not sorted by (created, id):\n got %v\nwant %v", got, want)
	}
	if b := s.Items(tagB); len(b) != 1 || b[0].ID != inB.Header.ID {
		t.Fatalf("Items(B) = %v", b)
	}
	if s.Items(crypto.KeyTag{0xc}) != nil {
		t.Fatal("Items of an unknown tag is not empty")
	}
	// A copy: changing it changes nothing.
	got[0].Created = -1
	if s.Items(tagA)[0].Created == -1 {
		t.Fatal("Items returned the store's own slice")
	}

	hs := s.Headers(nil)
	if len(hs) != len(recs)+1 {
		t.Fatalf("Headers(nil) = %d headers", len(hs))
	}
	if !slices.IsSortedFunc(hs, func(a, b store.Header) int {
		return store.Item{Created: a.Created.UnixMilli(), ID: a.ID}.Compare(store.Item{Created: b.Created.UnixMilli(), ID: b.ID})
	}) {
		t.Fatal("Headers not sorted by (created, id)")
	}
	onlyB := s.Headers(func(h store.Header) bool { return h.Tag == tagB })
	if len(onlyB) != 1 || onlyB[0].ID != inB.Header.ID {
		t.Fatalf("Headers(filter) = %v", onlyB)
	}

	// Deleting keeps the rest sorted and drops empty tags.
	if err := s.Delete([]alert.ID{want[0].ID, want[3].ID, inB.Header.ID}); err != nil {
		t.Fatal(err)
	}
	rest := slices.Delete(slices.Clone(want), 3, 4)[1:]
	if got := s.Items(tagA); !reflect.DeepEqual(got, rest) {
		t.Fatalf("Items after Delete:\n got %v\nwant %v", got, rest)
	}
	if s.Items(tagB) != nil || s.Has(inB.Header.ID) {
		t.Fatal("deleted message still listed")
	}
	if _, err := s.Envelope(want[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Envelope of a deleted message: %v", err)
	}
	if err := s.Delete(nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete([]alert.ID{randomID()}); err != nil {
		t.Fatalf("Delete of an unknown id: %v", err)
	}
}

func TestItemCompare(t *testing.T) {
	t.Parallel()
	a := store.Item{Created: 1, ID: alert.ID{2}}
	for _, tt := range []struct {
		b    store.Item
		want int
	}{
		{store.Item{Created: 1, ID: alert.ID{2}}, 0},
		{store.Item{Created: 2, ID: alert.ID{1}}, -1},
		{store.Item{Created: 0, ID: alert.ID{3}}, 1},
		{store.Item{Created: 1, ID: alert.ID{3}}, -1},
		{store.Item{Created: 1, ID: alert.ID{1}}, 1},
	} {
		if got := a.Compare(tt.b); got != tt.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", a, tt.b, got, tt.want)
		}
	}
}

func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	key := crypto.NewStorageKey()
	s, err := store.Open(path, key, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := crypto.NewGroupID()
	var recs []store.Record
	for i := range 20 {
		r := record(g, crypto.KeyTag{byte(i % 3)}, randomMember(), t0.Add(time.Duration(20-i)*time.Minute))
		recs = append(recs, r)
	}
	put(t, s, recs...)
	if err := s.PutBlob("group", g[:], []byte("state")); err != nil {
		t.Fatal(err)
	}
	headers := s.Headers(nil)
	items := map[crypto.KeyTag][]store.Item{}
	for i := range 3 {
		items[crypto.KeyTag{byte(i)}] = s.Items(crypto.KeyTag{byte(i)})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(record(g, crypto.KeyTag{1}, randomMember(), t0)); err == nil {
		t.Fatal("Put on a closed store succeeded")
	}

	again := open(t, path, key, store.Options{})
	if again.Count() != len(recs) {
		t.Fatalf("Count after reopening = %d, want %d", again.Count(), len(recs))
	}
	got := again.Headers(nil)
	if len(got) != len(headers) {
		t.Fatalf("%d headers after reopening, want %d", len(got), len(headers))
	}
	for i := range got {
		if !sameHeader(got[i], headers[i]) {
			t.Fatalf("header %d after reopening = %+v, want %+v", i, got[i], headers[i])
		}
	}
	for tag, want := range items {
		if got := again.Items(tag); !reflect.DeepEqual(got, want) {
			t.Fatalf("Items(%v) after reopening differ", tag)
		}
	}
	for _, r := range recs {
		env, err := again.Envelope(r.Header.ID)
		if err != nil || !bytes.Equal(env, r.Envelope) {
			t.Fatalf("Envelope after reopening: %v", err)
		}
	}
	if added, err := again.Put(recs[0]); added || err != nil {
		t.Fatalf("Put of a held message after reopening = %v, %v", added, err)
	}
	blobs, err := again.Blobs("group")
	if err != nil || string(blobs[string(g[:])]) != "state" {
		t.Fatalf("blobs after reopening = %v, %v", blobs, err)
	}
}

func TestWrongKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	key := crypto.NewStorageKey()
	s, err := store.Open(path, key, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	r := record(crypto.NewGroupID(), crypto.KeyTag{1}, randomMember(), t0)
	put(t, s, r)
	s.Close()
	if s, err := store.Open(path, crypto.NewStorageKey(), store.Options{}); !errors.Is(err, store.ErrWrongKey) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open with another key: %v, want ErrWrongKey", err)
	}
	// The failed attempt changed nothing.
	again := open(t, path, key, store.Options{})
	if !again.Has(r.Header.ID) {
		t.Fatal("message lost after an open with the wrong key")
	}
}

func TestInUse(t *testing.T) {
	t.Parallel()
	s, path, key := newStore(t, store.Options{})
	start := time.Now()
	other, err := store.Open(path, key, store.Options{})
	if !errors.Is(err, store.ErrInUse) {
		if err == nil {
			other.Close()
		}
		t.Fatalf("second Open of an open file: %v, want ErrInUse", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("ErrInUse took %v", d)
	}
	s.Close()
	again, err := store.Open(path, key, store.Options{})
	if err != nil {
		t.Fatalf("Open after the other store closed: %v", err)
	}
	again.Close()
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := store.Open(filepath.Join(dir, "missing", "store.db"), crypto.NewStorageKey(), store.Options{}); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a bbolt file "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := store.Open(junk, crypto.NewStorageKey(), store.Options{}); err == nil {
		s.Close()
		t.Error("Open of a file that is not a store succeeded")
	}
}

func TestFileMode(t *testing.T) {
	t.Parallel()
	_, path, _ := newStore(t, store.Options{})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("store file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	s, path, key := newStore(t, store.Options{})
	g := crypto.NewGroupID()
	now := t0.Add(30 * 24 * time.Hour)
	const retention = 14 * 24 * time.Hour
	// Sent as late as it can be: the expiry is then when a replay would
	// be refused too.
	mk := func(created, expires time.Time) store.Record {
		r := record(g, crypto.KeyTag{1}, randomMember(), created)
		r.Header.Expires, r.Header.Sent = expires, created.Add(alert.MaxClockError)
		return r
	}
	// Received as made, from a clock that was right: a replay could be
	// counted as up to MaxClockError younger, so it stays that much longer.
	onTime := func(created, expires time.Time) store.Record {
		r := record(g, crypto.KeyTag{1}, randomMember(), created)
		r.Header.Expires, r.Header.Sent = expires, created
		return r
	}
	cut := now.Add(-retention)
	cases := []struct {
		name string
		r    store.Record
		keep bool
	}{
		{"fresh", mk(now.Add(-time.Hour), now.Add(time.Hour)), true},
		{"fresh, no expiry", mk(now.Add(-time.Hour), time.Time{}), true},
		{"expired", mk(now.Add(-2*time.Hour), now.Add(-time.Hour)), false},
		{"expires now", mk(now.Add(-2*time.Hour), now), false},
		{"expires in a millisecond", mk(now.Add(-2*time.Hour), now.Add(time.Millisecond)), true},
		{"past retention, not expired", mk(cut.Add(-time.Minute), now.Add(time.Hour)), false},
		{"past retention, no expiry", mk(cut.Add(-time.Millisecond), time.Time{}), false},
		{"at the retention cut", mk(cut, time.Time{}), true},
		{"just inside retention", mk(cut.Add(time.Minute), time.Time{}), true},
		{"expired, a replay could still look alive", onTime(now.Add(-2*time.Hour), now.Add(-time.Hour)), true},
		{"expired longer than a replay could stretch", onTime(now.Add(-50*time.Hour), now.Add(-alert.MaxClockError-time.Millisecond)), false},
	}
	for _, c := range cases {
		put(t, s, c.r)
	}
	n, err := s.Prune(now, retention)
	if err != nil {
		t.Fatal(err)
	}
	wantDeleted := 0
	for _, c := range cases {
		if !c.keep {
			wantDeleted++
		}
		if s.Has(c.r.Header.ID) != c.keep {
			t.Errorf("%s: held = %v, want %v", c.name, !c.keep, c.keep)
		}
		if _, err := s.Envelope(c.r.Header.ID); (err == nil) != c.keep {
			t.Errorf("%s: envelope held = %v, want %v", c.name, err == nil, c.keep)
		}
	}
	if n != wantDeleted {
		t.Fatalf("Prune deleted %d, want %d", n, wantDeleted)
	}
	if n, err := s.Prune(now, retention); n != 0 || err != nil {
		t.Fatalf("second Prune = %d, %v; want 0", n, err)
	}
	// Gone from the file too.
	s.Close()
	again := open(t, path, key, store.Options{})
	for _, c := range cases {
		if again.Has(c.r.Header.ID) != c.keep {
			t.Errorf("%s after reopening: held = %v, want %v", c.name, !c.keep, c.keep)
		}
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	t.Run("per author", func(t *testing.T) {
		t.Parallel()
		s, _, _ := newStore(t, store.Options{MaxPerAuthor: 3})
		g, flooder := crypto.NewGroupID(), randomMember()
		for i := range 3 {
			put(t, s, record(g, crypto.KeyTag{1}, flooder, t0.Add(time.Duration(i)*time.Second)))
		}
		extra := record(g, crypto.KeyTag{1}, flooder, t0.Add(time.Minute))
		if added, err := s.Put(extra); added || !errors.Is(err, store.ErrFull) {
			t.Fatalf("fourth message from one author = %v, %v; want ErrFull", added, err)
		}
		if s.Has(extra.Header.ID) || s.Count() != 3 {
			t.Fatal("a message over the limit was stored")
		}
		// Others are not affected: another author, or the same author in
		// another group.
		put(t, s, record(g, crypto.KeyTag{1}, randomMember(), t0), record(crypto.NewGroupID(), crypto.KeyTag{2}, flooder, t0))
		// A batch that would pass the limit stores nothing.
		other := randomMember()
		batch := []store.Record{record(g, crypto.KeyTag{1}, other, t0), record(g, crypto.KeyTag{1}, other, t0), record(g, crypto.KeyTag{1}, other, t0), record(g, crypto.KeyTag{1}, other, t0)}
		if _, err := s.PutBatch(batch); !errors.Is(err, store.ErrFull) {
			t.Fatalf("batch over the limit: %v, want ErrFull", err)
		}
		for _, r := range batch {
			if s.Has(r.Header.ID) {
				t.Fatal("part of a refused batch was stored")
			}
		}
		// Room again after a deletion.
		first := s.Headers(func(h store.Header) bool { return h.Author == flooder && h.Group == g })[0]
		if err := s.Delete([]alert.ID{first.ID}); err != nil {
			t.Fatal(err)
		}
		put(t, s, extra)
	})
	t.Run("total", func(t *testing.T) {
		t.Parallel()
		s, path, key := newStore(t, store.Options{MaxMessages: 5})
		g := crypto.NewGroupID()
		var held []store.Record
		for i := range 5 {
			r := record(g, crypto.KeyTag{1}, randomMember(), t0.Add(time.Duration(i)*time.Second))
			held = append(held, r)
			put(t, s, r)
		}
		extra := record(g, crypto.KeyTag{1}, randomMember(), t0)
		if added, err := s.Put(extra); added || !errors.Is(err, store.ErrFull) {
			t.Fatalf("sixth message = %v, %v; want ErrFull", added, err)
		}
		if s.Has(extra.Header.ID) || s.Count() != 5 {
			t.Fatal("a message over the limit was stored")
		}
		// A duplicate of a held message is still just a duplicate.
		if added, err := s.Put(held[0]); added || err != nil {
			t.Fatalf("duplicate at the limit = %v, %v; want false, nil", added, err)
		}
		// The limit holds across a reopen, whose index is rebuilt.
		s.Close()
		again := open(t, path, key, store.Options{MaxMessages: 5, NoSync: true})
		if added, err := again.Put(extra); added || !errors.Is(err, store.ErrFull) {
			t.Fatalf("after reopening: %v, %v; want ErrFull", added, err)
		}
		if err := again.Delete([]alert.ID{held[0].Header.ID}); err != nil {
			t.Fatal(err)
		}
		put(t, again, extra)
	})
}

func TestBlobs(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, store.Options{})
	if err := s.PutBlob("group", []byte("g1"), []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBlob("group", []byte("g2"), []byte("two")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBlob("group", []byte{0, 0xff, 0}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBlob("groups", []byte("g1"), []byte("other kind")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBlob("peer", []byte(""), []byte("empty key")); err != nil {
		t.Fatal(err)
	}
	get := func(kind string) map[string]string {
		t.Helper()
		m, err := s.Blobs(kind)
		if err != nil {
			t.Fatalf("Blobs(%q): %v", kind, err)
		}
		out := map[string]string{}
		for k, v := range m {
			out[k] = string(v)
		}
		return out
	}
	if got, want := get("group"), map[string]string{"g1": "one", "g2": "two", "\x00\xff\x00": ""}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Blobs(group) = %q, want %q", got, want)
	}
	if got, want := get("groups"), map[string]string{"g1": "other kind"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Blobs(groups) = %q, want %q", got, want)
	}
	if got, want := get("peer"), map[string]string{"": "empty key"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Blobs(peer) = %q, want %q", got, want)
	}
	if got := get("nothing"); len(got) != 0 {
		t.Fatalf("Blobs of an unused kind = %q", got)
	}
	// Replace, then delete.
	if err := s.PutBlob("group", []byte("g1"), []byte("uno")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBlob("group", []byte("g2")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBlob("group", []byte("never stored")); err != nil {
		t.Fatalf("DeleteBlob of a missing key: %v", err)
	}
	if got, want := get("group"), map[string]string{"g1": "uno", "\x00\xff\x00": ""}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Blobs(group) after replace and delete = %q, want %q", got, want)
	}
	if got := get("groups"); got["g1"] != "other kind" {
		t.Fatal("deleting in one kind touched another")
	}
	// Blobs do not count as messages.
	if s.Count() != 0 {
		t.Fatalf("Count = %d with only blobs", s.Count())
	}
	big := randomBytes(1 << 20)
	if err := s.PutBlob("big", []byte("k"), big); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Blobs("big"); !bytes.Equal(got["k"], big) {
		t.Fatal("a 1 MiB blob did not round-trip")
	}
}

// TestNothingInClear is invariant 5 for the store: the raw file holds no
// plaintext place, name or text, and none of the ids that would let a
// seized file be linked to a group, a member or a message.
func TestNothingInClear(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	key := crypto.NewStorageKey()
	s, err := store.Open(path, key, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{
		"Juchitan-Secret-Place",
		"group-name-xyz",
		"Defensora Lucia Martinez",
		"Ixtepec safehouse behind the church",
		"takecare-kind-zzz",
	}
	var needles [][]byte
	addNeedle := func(b []byte) {
		needles = append(needles, b)
		needles = append(needles, []byte(hex.EncodeToString(b)))
		needles = append(needles, []byte(strings.ToUpper(hex.EncodeToString(b))))
	}
	for _, sec := range secrets {
		addNeedle([]byte(sec))
		needles = append(needles, []byte(strings.ToLower(sec)), []byte(strings.ToUpper(sec)))
	}
	var recs []store.Record
	for i := range 3 {
		g := crypto.NewGroupID()
		tag := crypto.KeyTag{}
		rand.Read(tag[:])
		for j := range 10 {
			r := record(g, tag, randomMember(), t0.Add(time.Duration(j)*time.Minute))
			recs = append(recs, r)
			addNeedle(r.Header.ID[:])
			addNeedle(r.Header.Author[:])
			addNeedle(r.Envelope[100:116])
			addNeedle(r.Envelope[2000:2016])
		}
		addNeedle(g[:])
		addNeedle(tag[:])
		// Node state as the node keeps it: keyed by group id, values
		// naming places and people.
		val := fmt.Sprintf(`{"name":"group-name-xyz","place":"Juchitan-Secret-Place","member":"Defensora Lucia Martinez","n":%d}`, i)
		if err := s.PutBlob("takecare-kind-zzz", g[:], []byte(val)); err != nil {
			t.Fatal(err)
		}
		if err := s.PutBlob("names", []byte("group-name-xyz"), []byte("Ixtepec safehouse behind the church")); err != nil {
			t.Fatal(err)
		}
	}
	put(t, s, recs...)
	// Deleted records must not leave plaintext behind either.
	if err := s.PutBlob("scratch", []byte("Juchitan-Secret-Place"), []byte("Juchitan-Secret-Place")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBlob("scratch", []byte("Juchitan-Secret-Place")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete([]alert.ID{recs[0].Header.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 30*crypto.EnvelopeSizes[0] {
		t.Fatalf("file is only %d bytes: the test stored nothing", len(raw))
	}
	// The keep file next to it holds the same state.
	keep, err := os.ReadFile(path + ".keep")
	if err != nil || len(keep) < 3*100 {
		t.Fatalf("keep file: %d bytes, %v", len(keep), err)
	}
	for _, n := range needles {
		if bytes.Contains(raw, n) {
			t.Errorf("store file contains %q in clear", n)
		}
		if bytes.Contains(keep, n) {
			t.Errorf("keep file contains %q in clear", n)
		}
	}
	// The check itself works: the same data, unsealed, would be found.
	if !bytes.Contains(append(raw, []byte("Juchitan-Secret-Place")...), []byte("Juchitan-Secret-Place")) {
		t.Fatal("bug in test")
	}
}

func TestWipe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "store.db")
	s, err := store.Open(path, crypto.NewStorageKey(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, record(crypto.NewGroupID(), crypto.KeyTag{1}, randomMember(), t0))
	s.Close()
	// A second name for the same file shows what Wipe left in its blocks.
	link := filepath.Join(dir, "link")
	if err := os.Link(path, link); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(link)
	if err := store.Wipe(path); err != nil {
		t.Fatalf("Wipe: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still exists after Wipe: %v", err)
	}
	after, err := os.ReadFile(link)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) || len(after) == 0 {
		t.Fatalf("file was %d bytes, %d after Wipe", len(before), len(after))
	}
	if !bytes.Equal(after, make([]byte, len(after))) {
		t.Fatal("Wipe did not overwrite the file with zeros")
	}
	if err := store.Wipe(path); err != nil {
		t.Fatalf("Wipe of a missing file: %v", err)
	}
	if err := store.Wipe(filepath.Join(dir, "never-existed")); err != nil {
		t.Fatalf("Wipe of a missing file: %v", err)
	}
	// A new store can be made where the old one was.
	s2 := open(t, path, crypto.NewStorageKey(), store.Options{NoSync: true})
	if s2.Count() != 0 {
		t.Fatal("new store is not empty")
	}
}

// TestAliases: a second envelope of a held message, under another epoch's
// key, is kept, listed in that epoch's set, returned for that epoch, survives
// a reopen, and goes with the message when it is deleted.
func TestAliases(t *testing.T) {
	t.Parallel()
	s, path, key := newStore(t, store.Options{})
	g := crypto.NewGroupID()
	oldTag, newTag := crypto.KeyTag{1}, crypto.KeyTag{2}
	r := record(g, oldTag, randomMember(), t0)
	put(t, s, r)
	again := randomBytes(crypto.EnvelopeSizes[0])
	if added, err := s.PutAlias(r.Header.ID, newTag, again); err != nil || !added {
		t.Fatalf("PutAlias = %v, %v", added, err)
	}
	if added, _ := s.PutAlias(r.Header.ID, newTag, again); added {
		t.Error("the same alias added twice")
	}
	if added, _ := s.PutAlias(r.Header.ID, oldTag, again); added {
		t.Error("an alias under the original tag")
	}
	if _, err := s.PutAlias(randomID(), newTag, again); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("alias of a message not held: %v", err)
	}
	check := func(s *store.Store) {
		t.Helper()
		if !s.HasIn(r.Header.ID, oldTag) || !s.HasIn(r.Header.ID, newTag) || s.HasIn(r.Header.ID, crypto.KeyTag{3}) {
			t.Error("HasIn")
		}
		for _, tag := range []crypto.KeyTag{oldTag, newTag} {
			if items := s.Items(tag); len(items) != 1 || items[0].ID != r.Header.ID {
				t.Errorf("Items(%s) = %v", tag, items)
			}
		}
		if env, err := s.EnvelopeIn(r.Header.ID, newTag); err != nil || !bytes.Equal(env, again) {
			t.Errorf("EnvelopeIn(new) = %v", err)
		}
		if env, err := s.EnvelopeIn(r.Header.ID, oldTag); err != nil || !bytes.Equal(env, r.Envelope) {
			t.Errorf("EnvelopeIn(old) = %v", err)
		}
		if s.Count() != 1 {
			t.Errorf("Count = %d, want 1: an alias is not another message", s.Count())
		}
	}
	check(s)
	s.Close()
	s = open(t, path, key, store.Options{NoSync: true})
	check(s)
	if err := s.Delete([]alert.ID{r.Header.ID}); err != nil {
		t.Fatal(err)
	}
	if s.HasIn(r.Header.ID, newTag) || len(s.Items(newTag)) != 0 {
		t.Error("the alias outlived its message")
	}
	if _, err := s.EnvelopeIn(r.Header.ID, newTag); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("EnvelopeIn after delete: %v", err)
	}
}

// TestConcurrentAliasAddedOnce: of several writers of the same alias at
// once, exactly one is told it was new, so only one passes it on.
func TestConcurrentAliasAddedOnce(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, store.Options{})
	r := record(crypto.NewGroupID(), crypto.KeyTag{1}, randomMember(), t0)
	put(t, s, r)
	var (
		wg    sync.WaitGroup
		added atomic.Int32
	)
	for range 16 {
		wg.Go(func() {
			ok, err := s.PutAlias(r.Header.ID, crypto.KeyTag{2}, randomBytes(crypto.EnvelopeSizes[0]))
			if err != nil {
				t.Error(err)
			}
			if ok {
				added.Add(1)
			}
		})
	}
	wg.Wait()
	if n := added.Load(); n != 1 {
		t.Errorf("%d writers were told the alias was new, want 1", n)
	}
}
