package persist

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// TestNewestWins: saves asked for at the same moment all return once a
// snapshot of their change is written; writes never overlap, never go
// back to an older state, and are shared (fewer writes than saves when
// they queue).
func TestNewestWins(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		state   uint64 // the state: a counter
		disk    atomic.Uint64
		writing atomic.Bool
		writes  atomic.Int32
	)
	s := New(func() ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		return binary.BigEndian.AppendUint64(nil, state), nil
	}, func(b []byte) error {
		if writing.Swap(true) {
			t.Error("two writes at once")
		}
		defer writing.Store(false)
		v := binary.BigEndian.Uint64(b)
		if v < disk.Load() {
			t.Errorf("wrote %d over %d", v, disk.Load())
		}
		disk.Store(v)
		writes.Add(1)
		return nil
	})
	const n = 200
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			mu.Lock()
			state++
			mine := state
			mu.Unlock()
			if err := s.Save(); err != nil {
				t.Error(err)
			}
			if got := disk.Load(); got < mine {
				t.Errorf("Save returned with %d on disk, before the change to %d", got, mine)
			}
		})
	}
	wg.Wait()
	if disk.Load() != n {
		t.Fatalf("disk holds %d, want %d", disk.Load(), n)
	}
	t.Logf("%d saves took %d writes", n, writes.Load())
}

// TestError: a failed write is reported to the saves it covers, and the
// next save writes again.
func TestError(t *testing.T) {
	t.Parallel()
	fail := errors.New("disk full")
	var bad atomic.Bool
	bad.Store(true)
	s := New(func() ([]byte, error) { return nil, nil }, func([]byte) error {
		if bad.Load() {
			return fail
		}
		return nil
	})
	if err := s.Save(); !errors.Is(err, fail) {
		t.Fatalf("Save = %v, want %v", err, fail)
	}
	bad.Store(false)
	if err := s.Save(); err != nil {
		t.Fatalf("Save after the disk has room = %v", err)
	}
}
