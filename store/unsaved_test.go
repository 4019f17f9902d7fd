package store_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/store"
	"github.com/takecare-network/takecare/store/storetest"
)

// TestDiskFull fills a real (tmpfs) disk under a store: new messages are
// still taken and readable, held in memory (the node's own always, the
// others up to MaxUnsaved), Health says so, and once there is room again
// Retry writes them, so that they are there after a restart.
func TestDiskFull(t *testing.T) {
	disk := storetest.SmallDisk(t, "2m")
	path := filepath.Join(disk.Dir, "store.db")
	key := crypto.NewStorageKey()
	opts := store.Options{MaxUnsaved: 3, NoSync: true}
	s, err := store.Open(path, key, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	g, tag, author := crypto.NewGroupID(), crypto.KeyTag{7}, randomMember()
	put(t, s, record(g, tag, author, t0))
	if err := s.PutBlob("group", []byte("g"), []byte("state")); err != nil {
		t.Fatal(err)
	}

	disk.Fill()
	// bbolt may still find a free page or two in its file: write until
	// the disk says no.
	var own []store.Record
	for i := 0; !s.Health().Full; i++ {
		if i == 200 {
			t.Fatal("the store never noticed the disk was full")
		}
		r := record(g, tag, author, t0)
		r.Own = true
		if added, err := s.Put(r); err != nil || !added {
			t.Fatalf("Put of an own message on a full disk = %v, %v; want it kept", added, err)
		}
		own = append(own, r)
	}
	last := own[len(own)-1]
	if !s.Unsaved(last.Header.ID) || !s.Has(last.Header.ID) {
		t.Fatal("the message that met the full disk is not held in memory")
	}
	if env, err := s.Envelope(last.Header.ID); err != nil || string(env) != string(last.Envelope) {
		t.Fatalf("Envelope of an unsaved message: %v", err)
	}
	// Own messages are kept whatever their number; received ones up to
	// MaxUnsaved.
	for range 20 {
		r := record(g, tag, author, t0)
		r.Own = true
		put(t, s, r)
		own = append(own, r)
	}
	h := s.Health()
	if !h.Full || h.Since.IsZero() || h.Unsaved < 5 {
		t.Fatalf("Health = %+v; want full, with the own messages unsaved", h)
	}
	var dropped int
	for range 3 {
		added, err := s.Put(record(g, tag, author, t0))
		if err != nil && !errors.Is(err, store.ErrDiskFull) {
			t.Fatal(err)
		}
		if !added {
			dropped++
		}
	}
	if dropped != 3 || s.Health().Dropped != 3 {
		t.Fatalf("%d received messages dropped (Health %+v); want 3: MaxUnsaved is below the own messages held", dropped, s.Health())
	}
	if ok, err := s.Retry(); ok || !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("Retry on a full disk = %v, %v", ok, err)
	}

	disk.Free()
	if ok, err := s.Retry(); !ok || err != nil {
		t.Fatalf("Retry with room = %v, %v; want recovered", ok, err)
	}
	if h := s.Health(); h.Full || h.Unsaved != 0 || h.Dropped != 0 {
		t.Fatalf("Health after Retry = %+v", h)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(path, key, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range own {
		if !s.Has(r.Header.ID) {
			t.Fatalf("own message %s written after the disk filled is gone after a restart", r.Header.ID.Short())
		}
	}
	if s.Count() != 1+len(own) {
		t.Fatalf("%d messages after restart; want %d", s.Count(), 1+len(own))
	}
}
