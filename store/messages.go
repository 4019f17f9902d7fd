package store

import (
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// Record is a message to store.
type Record struct {
	Header   Header
	Envelope []byte
	// Own marks the node's own messages: while the disk is full they are
	// kept in memory whatever their number.
	Own bool
}

// Put stores a message unless one with the same id is already held. It
// reports whether the message was new. The record is on disk when Put
// returns, or, while the disk is full, held in memory until [Store.Retry]
// can write it (see [Store.Health], [Store.Unsaved]); an error wrapping
// [ErrDiskFull] means it could not be kept at all.
func (s *Store) Put(r Record) (bool, error) {
	added, err := s.PutBatch([]Record{r})
	if err != nil {
		return false, err
	}
	return added[0], nil
}

// PutBatch stores several messages in one transaction. Concurrent callers
// are coalesced into one disk write. Of several records with the same id, in
// one call or in concurrent calls, exactly one is reported as added.
func (s *Store) PutBatch(rs []Record) ([]bool, error) {
	added := make([]bool, len(rs))
	for _, r := range rs {
		if len(r.Envelope) > crypto.MaxEnvelopeSize {
			return added, ErrTooBig
		}
	}
	todo, err := s.reserve(rs)
	defer s.release(rs, todo)
	if err != nil || len(todo) == 0 {
		return added, err
	}
	if s.Health().Full {
		// Retry finds out when there is room again.
		return s.keepUnsaved(rs, todo, added)
	}
	recs := make([]Record, len(todo))
	for j, i := range todo {
		recs[j] = rs[i]
	}
	err = s.w.Write(func(tx *bolt.Tx) error { return s.putRecords(tx, recs) })
	if errors.Is(err, ErrDiskFull) {
		return s.keepUnsaved(rs, todo, added)
	}
	if err != nil {
		return added, err
	}
	s.mu.Lock()
	for _, i := range todo {
		s.index(rs[i].Header)
		added[i] = true
	}
	s.mu.Unlock()
	return added, nil
}

// reserve marks the records of rs that are neither held nor being written
// as in flight, and returns their indexes in rs; the caller passes them to
// release once they are written or not. The error is errClosed, or wraps
// [ErrFull] if storing them would pass a bound of [Options].
func (s *Store) reserve(rs []Record) ([]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	var todo []int
	for i, r := range rs {
		id := r.Header.ID
		if _, dup := s.headers[id]; dup || s.inflight[id] {
			continue
		}
		s.inflight[id] = true
		todo = append(todo, i)
	}
	if len(s.headers)+len(s.inflight) > s.opts.MaxMessages {
		return todo, fmt.Errorf("%w: %d messages held", ErrFull, s.opts.MaxMessages)
	}
	perAuthor := make(map[authorKey]int)
	for _, i := range todo {
		h := rs[i].Header
		ak := authorKey{h.Group, h.Author}
		n, ok := perAuthor[ak]
		if !ok {
			n = s.authors[ak]
		}
		if perAuthor[ak] = n + 1; n+1 > s.opts.MaxPerAuthor {
			return todo, fmt.Errorf("%w: %d messages from one author", ErrFull, s.opts.MaxPerAuthor)
		}
	}
	return todo, nil
}

// release ends what reserve began for rs[todo].
func (s *Store) release(rs []Record, todo []int) {
	if len(todo) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, i := range todo {
		delete(s.inflight, rs[i].Header.ID)
	}
}

// putRecords writes the headers and envelopes of recs in tx.
func (s *Store) putRecords(tx *bolt.Tx, recs []Record) error {
	hb, eb := tx.Bucket(bucketHeaders), tx.Bucket(bucketEnvelope)
	for _, r := range recs {
		k := s.msgKey(r.Header.ID)
		if err := hb.Put(k, s.seal.Seal(k, r.Header.marshal())); err != nil {
			return err
		}
		if err := eb.Put(k, s.seal.Seal(k, r.Envelope)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) msgKey(id alert.ID) []byte { return s.seal.Index("msg", id[:]) }

// Envelope returns a message's envelope.
func (s *Store) Envelope(id alert.ID) ([]byte, error) {
	if env, ok := s.unsavedEnvelope(id); ok {
		return env, nil
	}
	return s.envelope(s.msgKey(id))
}

// envelope reads and opens the envelope stored under key k.
func (s *Store) envelope(k []byte) ([]byte, error) {
	var out []byte
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketEnvelope).Get(k)
		if v == nil {
			return ErrNotFound
		}
		pt, err := s.seal.Open(k, v)
		if err != nil {
			return ErrCorrupt
		}
		out = pt
		return nil
	})
	return out, err
}

// Delete removes messages.
func (s *Store) Delete(ids []alert.ID) error {
	if len(ids) == 0 {
		return nil
	}
	s.mu.Lock()
	// Messages held in memory only go at once.
	ids = slices.DeleteFunc(slices.Clone(ids), func(id alert.ID) bool {
		if _, ok := s.unsaved[id]; !ok {
			return false
		}
		delete(s.unsaved, id)
		if h, ok := s.headers[id]; ok {
			s.unindex(h)
		}
		return true
	})
	s.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	s.mu.RLock()
	keys := make([][]byte, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, s.msgKey(id))
		for _, tag := range s.aliases[id] {
			keys = append(keys, s.aliasKey(id, tag))
		}
	}
	s.mu.RUnlock()
	err := s.w.Write(func(tx *bolt.Tx) error {
		hb, eb := tx.Bucket(bucketHeaders), tx.Bucket(bucketEnvelope)
		for _, k := range keys {
			if err := hb.Delete(k); err != nil {
				return err
			}
			if err := eb.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	for _, id := range ids {
		if h, ok := s.headers[id]; ok {
			s.unindex(h)
		}
	}
	s.mu.Unlock()
	return nil
}

// Prune deletes every message created (by its author's claim) longer than
// retention ago, or past its expiry by more than a replayed copy could be
// counted younger than this one (docs/PROTOCOL.md, "Time"), and returns how
// many it deleted.
func (s *Store) Prune(now time.Time, retention time.Duration) (int, error) {
	cut := now.Add(-retention)
	old := s.Headers(func(h Header) bool {
		del := h.deleteAt()
		return h.Created.Before(cut) || (!del.IsZero() && !del.After(now))
	})
	ids := make([]alert.ID, len(old))
	for i, h := range old {
		ids[i] = h.ID
	}
	return len(ids), s.Delete(ids)
}
