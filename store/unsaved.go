package store

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/takecare-network/takecare/alert"
)

// A full disk does not stop the store. While writes fail with ENOSPC, new
// messages are kept in memory, indexed like the others (so they are shown,
// passed on and offered to sync), up to Options.MaxUnsaved of them, and
// the node's own always; [Store.Retry], called every few seconds, writes
// them once there is room again. Messages that did not fit are dropped, and
// come back from other members by sync.

// DefaultMaxUnsaved is how many received messages the store keeps in memory
// while the disk is full.
const DefaultMaxUnsaved = 1000

// freeMargin is how much free space the file system must have before a
// store that was full, with nothing waiting in memory, counts as writable
// again.
const freeMargin = 1 << 20

// Health says whether the store can write its messages to disk.
type Health struct {
	// Full is true while the disk is full: new messages wait in memory.
	Full  bool      `json:"full"`
	Since time.Time `json:"since,omitzero"` // when the disk filled
	// Unsaved counts messages held in memory only; they are written when
	// space returns, and lost if the node stops before.
	Unsaved int `json:"unsaved"`
	// Dropped counts messages received since the disk filled that could
	// not be kept even in memory; other members hold them, and sync brings
	// them back once there is space.
	Dropped int `json:"dropped"`
}

// Health reports whether the store can write.
func (s *Store) Health() Health {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Health{Full: s.full, Since: s.fullSince, Unsaved: len(s.unsaved), Dropped: s.dropped}
}

// Unsaved reports whether a message is held in memory only.
func (s *Store) Unsaved(id alert.ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.unsaved[id]
	return ok
}

// keepUnsaved holds the records rs[todo] in memory, the disk being full:
// every one marked Own, and the others while fewer than MaxUnsaved are
// held. It reports which it kept, and an error wrapping ErrDiskFull if it
// dropped any.
func (s *Store) keepUnsaved(rs []Record, todo []int, added []bool) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.markFull()
	dropped := 0
	for _, i := range todo {
		r := rs[i]
		if !r.Own && len(s.unsaved) >= s.opts.MaxUnsaved {
			dropped++
			continue
		}
		r.Envelope = bytes.Clone(r.Envelope)
		s.unsaved[r.Header.ID] = r
		s.index(r.Header)
		added[i] = true
	}
	if dropped > 0 {
		s.dropped += dropped
		return added, fmt.Errorf("%w: %d messages could not be kept", ErrDiskFull, dropped)
	}
	return added, nil
}

// markFull records that a write failed for want of space. The caller holds
// s.mu.
func (s *Store) markFull() {
	if !s.full {
		s.full, s.fullSince = true, time.Now()
	}
}

// noteWrite looks at the outcome of a write: a full disk marks the store
// full. It returns err.
func (s *Store) noteWrite(err error) error {
	if errors.Is(err, ErrDiskFull) {
		s.mu.Lock()
		s.markFull()
		s.mu.Unlock()
	}
	return err
}

// unsavedEnvelope returns the envelope of a message held in memory only.
func (s *Store) unsavedEnvelope(id alert.ID) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.unsaved[id]
	return r.Envelope, ok
}

// Retry tries to write again after the disk was full: the messages held
// in memory, or, if there are none, a check that the file system has room
// again. It reports whether the store became writable again (then the
// messages it dropped meanwhile should be fetched again by sync). It also
// writes the keep file if an earlier write of it failed.
func (s *Store) Retry() (bool, error) {
	s.mu.RLock()
	full, stale := s.full, s.keepStale
	recs := make([]Record, 0, len(s.unsaved))
	for _, r := range s.unsaved {
		recs = append(recs, r)
	}
	s.mu.RUnlock()
	if !full {
		if stale {
			return false, s.writeKeep()
		}
		return false, nil
	}
	var err error
	switch free, known := freeSpace(filepath.Dir(s.path)); {
	case len(recs) > 0:
		err = s.w.Write(func(tx *bolt.Tx) error { return s.putRecords(tx, recs) })
	case known && free < freeMargin:
		err = fmt.Errorf("%w: %d bytes free", ErrDiskFull, free)
	case !known:
		// No way to ask the file system: a small real write.
		err = s.w.Write(s.bumpGen)
	}
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	for _, r := range recs {
		delete(s.unsaved, r.Header.ID)
	}
	s.full, s.fullSince, s.dropped = false, time.Time{}, 0
	stale = s.keepStale
	s.mu.Unlock()
	if stale {
		s.writeKeep()
	}
	return true, nil
}
