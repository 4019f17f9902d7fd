package store

import (
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// An alias is a second envelope of a message held, sealed under another
// epoch's key: its author sent it again in a new epoch for the members who
// only hold that epoch's key. Sync offers a message in every epoch it is
// held in. Alias header layout: 0xA1 | id(32) | tag(8).
type alias struct {
	id  alert.ID
	tag crypto.KeyTag
}

const aliasSize = 1 + 32 + 8

func (a alias) marshal() []byte {
	b := make([]byte, 0, aliasSize)
	b = append(b, 0xA1)
	b = append(b, a.id[:]...)
	return append(b, a.tag[:]...)
}

func unmarshalAlias(b []byte) (alias, error) {
	var a alias
	if len(b) != aliasSize || b[0] != 0xA1 {
		return a, ErrCorrupt
	}
	copy(a.id[:], b[1:33])
	copy(a.tag[:], b[33:])
	return a, nil
}

func (s *Store) aliasKey(id alert.ID, tag crypto.KeyTag) []byte {
	return s.seal.Index("alias", append(id[:len(id):len(id)], tag[:]...))
}

// holds reports whether message h is held with an envelope under tag. The
// caller holds s.mu.
func (s *Store) holds(h Header, tag crypto.KeyTag) bool {
	return h.Tag == tag || slices.Contains(s.aliases[h.ID], tag)
}

// indexAlias lists message h under tag too, and reports whether it was
// not yet.
func (s *Store) indexAlias(h Header, tag crypto.KeyTag) bool {
	if s.holds(h, tag) {
		return false
	}
	s.aliases[h.ID] = append(s.aliases[h.ID], tag)
	s.aliasCount++
	s.addItem(tag, h)
	return true
}

// PutAlias stores a second envelope of a message already held, sealed
// under another epoch's key (tag). It reports whether it was new.
func (s *Store) PutAlias(id alert.ID, tag crypto.KeyTag, env []byte) (bool, error) {
	if len(env) > crypto.MaxEnvelopeSize {
		return false, ErrTooBig
	}
	s.mu.RLock()
	h, ok := s.headers[id]
	dup := ok && s.holds(h, tag)
	full := len(s.headers)+s.aliasCount >= s.opts.MaxMessages
	s.mu.RUnlock()
	if !ok {
		return false, ErrNotFound
	}
	if dup {
		return false, nil
	}
	if full {
		// Aliases count against the bound like messages.
		return false, fmt.Errorf("%w: %d envelopes held", ErrFull, s.opts.MaxMessages)
	}
	if s.Health().Full {
		return false, fmt.Errorf("%w: the copy in another epoch waits for room", ErrDiskFull)
	}
	k := s.aliasKey(id, tag)
	err := s.w.Write(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketHeaders).Put(k, s.seal.Seal(k, alias{id, tag}.marshal())); err != nil {
			return err
		}
		return tx.Bucket(bucketEnvelope).Put(k, s.seal.Seal(k, env))
	})
	if err != nil {
		return false, err
	}
	// Of concurrent writers of the same alias, one reports it as new.
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok = s.headers[id]
	return ok && s.indexAlias(h, tag), nil
}

// HasIn reports whether a message is held with an envelope under tag.
func (s *Store) HasIn(id alert.ID, tag crypto.KeyTag) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h, ok := s.headers[id]
	return ok && s.holds(h, tag)
}

// EnvelopeIn returns a message's envelope sealed under tag: the original or
// an alias.
func (s *Store) EnvelopeIn(id alert.ID, tag crypto.KeyTag) ([]byte, error) {
	s.mu.RLock()
	h, ok := s.headers[id]
	held := ok && s.holds(h, tag)
	s.mu.RUnlock()
	switch {
	case !held:
		return nil, ErrNotFound
	case h.Tag == tag:
		return s.Envelope(id)
	}
	return s.envelope(s.aliasKey(id, tag))
}
