package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/store"
)

// damageFixture is a real store file with messages, aliases and saved
// state, closed, and what it holds.
type damageFixture struct {
	file  []byte
	keep  []byte
	key   crypto.StorageKey
	msgs  int
	blobs map[string]string
}

func newDamageFixture(t *testing.T) damageFixture {
	t.Helper()
	s, path, key := newStore(t, store.Options{})
	g, tag, tag2 := crypto.NewGroupID(), crypto.KeyTag{1}, crypto.KeyTag{2}
	author := randomMember()
	const n = 40
	for i := range n {
		r := record(g, tag, author, t0.Add(-time.Duration(i)*time.Minute))
		put(t, s, r)
		if i%8 == 0 {
			if _, err := s.PutAlias(r.Header.ID, tag2, randomBytes(crypto.EnvelopeSizes[0])); err != nil {
				t.Fatal(err)
			}
		}
	}
	blobs := map[string]string{}
	for i := range 8 {
		k, v := fmt.Sprintf("group-%d", i), fmt.Sprintf("state of group %d", i)
		if err := s.PutBlob("group", []byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
		blobs[k] = v
	}
	s.Close()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keep, err := os.ReadFile(path + ".keep")
	if err != nil {
		t.Fatalf("no keep file next to the store: %v", err)
	}
	return damageFixture{file: file, keep: keep, key: key, msgs: n, blobs: blobs}
}

// place writes a damaged copy of the fixture's file (and its keep file)
// into a new folder and returns the store's path there.
func (f damageFixture) place(t *testing.T, file []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	if file != nil {
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path+".keep", f.keep, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDamagedStore damages a real store file in every way a failing card,
// a lying fsync or a copy cut short would: every page in turn flipped
// whole, one byte flipped in every page, the file cut at several lengths,
// emptied, removed. Opening it never panics: either it opens and every
// message in it reads back, or it fails with ErrDamaged; then Repair keeps
// what can be read, every group's saved state comes back (from the keep
// file if need be), and the repaired file opens.
func TestDamagedStore(t *testing.T) {
	f := newDamageFixture(t)
	page := os.Getpagesize()
	if len(f.file)%page != 0 {
		page = 4096
	}
	pages := len(f.file) / page
	if pages < 20 {
		t.Fatalf("fixture has %d pages; want a file with branch and overflow pages", pages)
	}
	type damage struct {
		name string
		file []byte
	}
	var cases []damage
	for p := range pages {
		whole := bytes.Clone(f.file)
		for i := p * page; i < (p+1)*page; i++ {
			whole[i] ^= 0xff
		}
		cases = append(cases, damage{fmt.Sprintf("page %d flipped", p), whole})
		one := bytes.Clone(f.file)
		one[p*page+10+p%32] ^= 0x40 // the header's count, or an element's position
		cases = append(cases, damage{fmt.Sprintf("page %d one byte", p), one})
		// Keys out of order, within the page and against its parent:
		// bbolt's own check finds these while it walks the file in a
		// goroutine it cannot stop.
		if k0, k1, ok := firstKeys(f.file[p*page : (p+1)*page]); ok {
			swapped := bytes.Clone(f.file)
			a, b := swapped[p*page+k0:], swapped[p*page+k1:]
			for i := range 16 {
				a[i], b[i] = b[i], a[i]
			}
			cases = append(cases, damage{fmt.Sprintf("page %d keys swapped", p), swapped})
			low := bytes.Clone(f.file)
			low[p*page+k0] ^= 0x80
			cases = append(cases, damage{fmt.Sprintf("page %d first key changed", p), low})
		}
	}
	for _, cut := range []int{0, 1, page, 2 * page, 3*page + 100, len(f.file) / 2, len(f.file) - page, len(f.file) - 1} {
		cases = append(cases, damage{fmt.Sprintf("cut at %d", cut), bytes.Clone(f.file[:cut])})
	}
	cases = append(cases, damage{"removed", nil})

	damaged, opened := 0, 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := f.place(t, c.file)
			s, err := store.Open(path, f.key, store.Options{NoSync: true})
			if err == nil {
				opened++
				// Whatever opened reads back.
				for _, h := range s.Headers(nil) {
					if _, err := s.Envelope(h.ID); err != nil {
						t.Errorf("message %s is indexed but its envelope does not read: %v", h.ID.Short(), err)
					}
				}
				checkBlobs(t, s, f.blobs)
				s.Close()
				return
			}
			var de *store.DamagedError
			if !errors.Is(err, store.ErrDamaged) || !errors.As(err, &de) {
				t.Fatalf("Open: %v; want ErrDamaged", err)
			}
			damaged++
			rep, err := store.Repair(path, f.key, store.Options{NoSync: true})
			if err != nil {
				t.Fatalf("Repair: %v", err)
			}
			if rep.Messages > f.msgs {
				t.Errorf("Repair kept %d messages; the store had %d", rep.Messages, f.msgs)
			}
			s, err = store.Open(path, f.key, store.Options{NoSync: true})
			if err != nil {
				t.Fatalf("Open after Repair: %v", err)
			}
			defer s.Close()
			if s.Count() != rep.Messages {
				t.Errorf("repaired store holds %d messages; Repair reported %d", s.Count(), rep.Messages)
			}
			checkBlobs(t, s, f.blobs)
			if c.file != nil {
				if _, err := os.Stat(path + ".damaged"); err != nil {
					t.Errorf("the damaged file was not set aside: %v", err)
				}
			}
		})
	}
	t.Logf("%d of %d damaged copies refused to open and were repaired; %d opened", damaged, len(cases), opened)
}

// firstKeys returns where the keys of the first two elements of a branch
// or leaf page start (bbolt's file format: a 16-byte page header, then
// 16-byte elements whose key lies pos bytes after the element), if both
// are 16 bytes long, as the store's message keys are.
func firstKeys(pg []byte) (int, int, bool) {
	flags, count := binary.NativeEndian.Uint16(pg[8:]), binary.NativeEndian.Uint16(pg[10:])
	if (flags != 1 && flags != 2) || count < 2 {
		return 0, 0, false
	}
	var at [2]int
	for i := range 2 {
		e := pg[16+16*i:]
		pos, ksize := binary.NativeEndian.Uint32(e[0:]), binary.NativeEndian.Uint32(e[4:])
		if flags == 2 {
			pos, ksize = binary.NativeEndian.Uint32(e[4:]), binary.NativeEndian.Uint32(e[8:])
		}
		at[i] = 16 + 16*i + int(pos)
		if ksize != 16 || at[i]+16 > len(pg) {
			return 0, 0, false
		}
	}
	return at[0], at[1], true
}

func checkBlobs(t *testing.T, s *store.Store, want map[string]string) {
	t.Helper()
	got, err := s.Blobs("group")
	if err != nil {
		t.Fatalf("Blobs: %v", err)
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("group state %s = %q; want %q", k, got[k], v)
		}
	}
}

// TestRepairKeepsReadable: a store with one damaged page loses at most the
// messages of that page; the rest, and every alias of a kept message, are
// kept.
func TestRepairKeepsReadable(t *testing.T) {
	f := newDamageFixture(t)
	page := 4096
	// Flip a page in the middle of the file: a leaf of messages.
	for p := len(f.file)/page/2 - 1; p < len(f.file)/page; p++ {
		// The claim is about a leaf among several: a damaged branch page,
		// or a leaf holding most headers, loses every message under it
		// (they come back by sync; THREAT_MODEL, damaged store).
		flags, n := binary.NativeEndian.Uint16(f.file[p*page+8:]), binary.NativeEndian.Uint16(f.file[p*page+10:])
		if flags != 0x02 || int(n) > f.msgs/2 {
			continue
		}
		file := bytes.Clone(f.file)
		for i := p * page; i < (p+1)*page; i++ {
			file[i] ^= 0xff
		}
		path := f.place(t, file)
		if _, err := store.Open(path, f.key, store.Options{NoSync: true}); !errors.Is(err, store.ErrDamaged) {
			continue
		}
		rep, err := store.Repair(path, f.key, store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Messages < f.msgs/2 {
			t.Fatalf("one damaged page cost %d of %d messages (%+v)", f.msgs-rep.Messages, f.msgs, rep)
		}
		return
	}
	t.Fatal("no page of the second half of the file made it damaged")
}

// TestWipeRemovesRepairFiles: wiping a store destroys its keep file and
// the damaged copy Repair set aside.
func TestWipeRemovesRepairFiles(t *testing.T) {
	f := newDamageFixture(t)
	path := f.place(t, f.file[:len(f.file)/2])
	if _, err := store.Repair(path, f.key, store.Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	if err := store.Wipe(path); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + ".keep", path + ".damaged"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Wipe", filepath.Base(p))
		}
	}
}

// TestKeepFileTakesEachChange: a change of blobs is added to the end of the
// keep file, and costs the keep file what it changes, not what the other
// blobs weigh. Values replaced and blobs deleted since come back from it as
// they were last: a store file that is lost is repaired with the blobs'
// latest values, and no deleted one.
func TestKeepFileTakesEachChange(t *testing.T) {
	s, path, key := newStore(t, store.Options{NoSync: true})
	big := bytes.Repeat([]byte{'r'}, 200<<10) // a large roster
	if err := s.PutBlob("group", []byte("large"), big); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path + ".keep")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	// A second name for the file as it is now: a file written again whole
	// (and renamed over it) is another file.
	if err := os.Link(path+".keep", path+".keep.then"); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := s.PutBlobs([]store.Blob{
			{Kind: "op", Key: []byte{byte(i)}, Value: []byte(fmt.Sprintf("op %d", i))},
			{Kind: "group", Key: []byte("small"), Value: []byte(fmt.Sprintf("state %d", i))},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if grown := size() - before; grown > 50*400 {
		t.Fatalf("50 small changes grew the keep file by %d bytes", grown)
	}
	// Added to, not written again whole (200 KiB each time).
	if then, err := os.Stat(path + ".keep.then"); err != nil || then.Size() != size() {
		t.Fatalf("the keep file was written again whole for a small change (%v)", err)
	}
	os.Remove(path + ".keep.then")
	if err := s.PutBlob("group", []byte("large"), []byte("smaller now")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBlob("op", []byte{7}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Repair(path, key, store.Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	s2, err := store.Open(path, key, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	groups, err := s2.Blobs("group")
	if err != nil {
		t.Fatal(err)
	}
	if string(groups["large"]) != "smaller now" || string(groups["small"]) != "state 49" {
		t.Fatalf("the group blobs came back as %q and %q", groups["large"][:min(len(groups["large"]), 20)], groups["small"])
	}
	ops, err := s2.Blobs("op")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ops[string([]byte{7})]; ok || len(ops) != 49 {
		t.Fatalf("%d op blobs came back, the deleted one among them: %v", len(ops), ok)
	}
}

// TestKeepFileCutMidAppend: a crash while a change is being added to the
// keep file leaves it cut anywhere inside that change. Every change
// acknowledged before it still comes back from the keep file alone, and
// the store opened after the crash (its own file intact) goes on adding
// changes that the keep file keeps: the cut tail does not swallow them.
func TestKeepFileCutMidAppend(t *testing.T) {
	s, path, key := newStore(t, store.Options{NoSync: true})
	for i := range 3 {
		if err := s.PutBlob("op", []byte{byte(i)}, []byte(fmt.Sprintf("op %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteBlob("op", []byte{1}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path + ".keep")
	if err != nil {
		t.Fatal(err)
	}
	acked := fi.Size()
	// The change the crash cuts.
	if err := s.PutBlobs([]store.Blob{
		{Kind: "op", Key: []byte{9}, Value: []byte("op 9")},
		{Kind: "op", Key: []byte{0}, Delete: true},
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	whole, err := os.ReadFile(path + ".keep")
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(whole)) <= acked {
		t.Fatalf("the last change was not added to the keep file (%d bytes, %d before)", len(whole), acked)
	}
	ops := func(s *store.Store) map[string]string {
		t.Helper()
		got, err := s.Blobs("op")
		if err != nil {
			t.Fatal(err)
		}
		out := make(map[string]string)
		for k, v := range got {
			out[fmt.Sprint([]byte(k))] = string(v)
		}
		return out
	}
	want := map[string]string{"[0]": "op 0", "[2]": "op 2"}
	for cut := acked; cut < int64(len(whole)); cut++ {
		// The store file lost as well: what the keep file alone brings
		// back is every change acknowledged before the cut one.
		if err := os.WriteFile(path+".keep", whole[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		os.Remove(path)
		if _, err := store.Repair(path, key, store.Options{NoSync: true}); err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		r, err := store.Open(path, key, store.Options{NoSync: true})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if got := ops(r); !reflect.DeepEqual(got, want) {
			r.Close()
			t.Fatalf("cut at %d: repaired from the keep file, the ops are %v, want %v", cut, got, want)
		}
		r.Close()
	}
	// The store file intact, the keep file cut in the middle of the last
	// change: the store opens with it, and the changes after the crash
	// survive the loss of the store file.
	cut := acked + (int64(len(whole))-acked)/2
	if err := os.WriteFile(path+".keep", whole[:cut], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := store.Open(path, key, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.PutBlob("op", []byte{10}, []byte("op 10")); err != nil {
		t.Fatal(err)
	}
	if err := s2.PutBlob("op", []byte{11}, []byte("op 11")); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	os.Remove(path)
	if _, err := store.Repair(path, key, store.Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	s3, err := store.Open(path, key, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	want = map[string]string{"[2]": "op 2", "[9]": "op 9", "[10]": "op 10", "[11]": "op 11"}
	if got := ops(s3); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the crash and the loss of the store file the ops are %v, want %v", got, want)
	}
}
