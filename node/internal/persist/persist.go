// Package persist writes a state that changes while it is being written,
// so that the newest snapshot always wins on disk, without holding the
// state's lock during the write.
//
// The usual way, a lock held from the snapshot to the end of the write,
// keeps an older snapshot from being written over a newer one, but makes
// every reader of the state wait for the disk. A [Saver] instead takes
// the snapshot (under the state's own lock, briefly), releases it, and
// writes; writes never overlap, and callers that ask while one runs share
// the next one, which starts with a fresh snapshot.
//
// A Saver is safe for concurrent use.
package persist

import "sync"

// Saver writes snapshots of one state, encoded as bytes.
type Saver = SaverOf[[]byte]

// SaverOf writes snapshots of one state, of type T: what write needs to
// write it (bytes, or the changes since the last write).
type SaverOf[T any] struct {
	snapshot func() (T, error)
	write    func(T) error

	mu      sync.Mutex
	cond    sync.Cond
	asked   uint64 // saves asked for so far
	done    uint64 // the newest save that a finished write covers
	err     error  // the outcome of that write
	running bool
}

// New returns a Saver that writes what snapshot returns with write.
// snapshot takes the state's lock itself, and must not call Save.
func New(snapshot func() ([]byte, error), write func([]byte) error) *Saver {
	return NewOf(snapshot, write)
}

// NewOf returns a SaverOf that writes what snapshot returns with write.
// Calls of snapshot and write never overlap: a snapshot may compare the
// state with what the last write wrote, which only write changes.
// snapshot takes the state's lock itself, and must not call Save.
func NewOf[T any](snapshot func() (T, error), write func(T) error) *SaverOf[T] {
	s := &SaverOf[T]{snapshot: snapshot, write: write}
	s.cond.L = &s.mu
	return s
}

// Save returns once a snapshot taken after Save was called is written,
// with the outcome of the newest write that covers it: nil, or the error
// of snapshot or write. Change the state before calling Save.
func (s *SaverOf[T]) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked++
	want := s.asked
	for s.done < want {
		if s.running {
			s.cond.Wait()
			continue
		}
		s.running = true
		covers := s.asked // every save asked so far changed the state before this snapshot
		s.mu.Unlock()
		b, err := s.snapshot()
		if err == nil {
			err = s.write(b)
		}
		s.mu.Lock()
		s.running = false
		s.done, s.err = covers, err
		s.cond.Broadcast()
	}
	return s.err
}
