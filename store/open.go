package store

import (
	"bytes"
	"errors"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// openBolt opens the bbolt file at path for writing, under [guard], and
// classifies what goes wrong. Opening walks every page and checks the
// tree (bbolt's freepages), and reports what it finds as a panic, which
// guard turns into a [*DamagedError].
func openBolt(path string, noSync bool) (*bolt.DB, error) {
	var db *bolt.DB
	err := guard(path, func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: noSync, NoFreelistSync: true})
		return err
	})
	var de *DamagedError
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, ErrInUse
	case errors.As(err, &de):
		return nil, err
	case err != nil:
		return nil, openErr(path, err)
	}
	return db, nil
}

// prepare creates what a new file lacks and brings the keep file and the
// store into step.
func (s *Store) prepare() error {
	ready := false
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		ready = tx.Bucket(bucketHeaders) != nil && tx.Bucket(bucketEnvelope) != nil && tx.Bucket(bucketBlobs) != nil &&
			meta != nil && meta.Get(metaCheck) != nil
		return nil
	})
	if err != nil || ready {
		if err == nil {
			err = s.syncKeep()
		}
		return err
	}
	err = s.update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketHeaders, bucketEnvelope, bucketBlobs, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if meta.Get(metaCheck) != nil {
			return nil
		}
		return meta.Put(metaCheck, s.seal.Seal(metaCheck, []byte("takecare store v1")))
	})
	if err != nil {
		return err
	}
	return s.syncKeep()
}

// readAll reads every record of a file being opened: it checks that only
// the store's buckets are there, checks the storage key, opens every
// sealed value, checks that every message has its header and its
// envelope, and indexes the headers.
func (s *Store) readAll(tx *bolt.Tx) error {
	if err := s.checkBuckets(tx); err != nil {
		return err
	}
	keys, aliases, err := s.readHeaders(tx)
	if err != nil {
		return err
	}
	if err := s.checkEnvelopes(tx, keys); err != nil {
		return err
	}
	if err := s.checkBlobs(tx); err != nil {
		return err
	}
	for _, a := range aliases {
		if h, ok := s.headers[a.id]; ok {
			s.indexAlias(h, a.tag)
		}
	}
	return nil
}

// checkBuckets checks that the file holds only the store's four buckets,
// with no bucket nested in the meta bucket (anything else is damage, and
// must not be walked), and that the meta record opens with the storage
// key.
func (s *Store) checkBuckets(tx *bolt.Tx) error {
	err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		if !slices.ContainsFunc([][]byte{bucketHeaders, bucketEnvelope, bucketBlobs, bucketMeta}, func(b []byte) bool { return bytes.Equal(b, name) }) {
			return damaged(s.path, "unknown bucket %x", name)
		}
		return nil
	})
	meta := tx.Bucket(bucketMeta)
	if err != nil || meta == nil {
		return err
	}
	err = meta.ForEach(func(k, v []byte) error {
		if v == nil {
			return damaged(s.path, "a bucket nested in the meta bucket")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c := meta.Get(metaCheck); c != nil {
		if _, err := s.seal.Open(metaCheck, c); err != nil {
			return ErrWrongKey
		}
	}
	return nil
}

// unreadable is the damage of a record that does not open or decode.
func (s *Store) unreadable(what string, k []byte) error {
	return damaged(s.path, "%s %x does not read back", what, k)
}

// readHeaders opens every header and indexes the messages' headers. It
// returns the keys of the header bucket and the aliases found, which are
// indexed once every header is.
func (s *Store) readHeaders(tx *bolt.Tx) (map[string]bool, []alias, error) {
	var aliases []alias
	keys := make(map[string]bool)
	hb := tx.Bucket(bucketHeaders)
	if hb == nil {
		return keys, nil, nil
	}
	err := hb.ForEach(func(k, v []byte) error {
		if v == nil {
			return damaged(s.path, "a bucket nested in the headers")
		}
		pt, err := s.seal.Open(k, v)
		if err != nil {
			return s.unreadable("header", k)
		}
		keys[string(k)] = true
		if len(pt) == aliasSize {
			a, err := unmarshalAlias(pt)
			if err != nil {
				return s.unreadable("alias", k)
			}
			aliases = append(aliases, a)
			return nil
		}
		h, err := unmarshalHeader(pt)
		if err != nil {
			return s.unreadable("header", k)
		}
		s.index(h)
		return nil
	})
	return keys, aliases, err
}

// checkEnvelopes checks that every envelope opens and that envelopes and
// headers (keys) pair up one to one.
func (s *Store) checkEnvelopes(tx *bolt.Tx, keys map[string]bool) error {
	eb := tx.Bucket(bucketEnvelope)
	if eb == nil {
		return nil
	}
	n := 0
	err := eb.ForEach(func(k, v []byte) error {
		if v == nil {
			return damaged(s.path, "a bucket nested in the envelopes")
		}
		if _, err := s.seal.Open(k, v); err != nil {
			return s.unreadable("envelope", k)
		}
		if !keys[string(k)] {
			return damaged(s.path, "envelope %x has no header", k)
		}
		n++
		return nil
	})
	if err == nil && n != len(keys) {
		err = damaged(s.path, "%d headers have no envelope", len(keys)-n)
	}
	return err
}

// checkBlobs checks that every saved state record opens.
func (s *Store) checkBlobs(tx *bolt.Tx) error {
	bb := tx.Bucket(bucketBlobs)
	if bb == nil {
		return nil
	}
	return bb.ForEach(func(k, v []byte) error {
		if v == nil {
			return damaged(s.path, "a bucket nested in the saved state")
		}
		if _, err := s.seal.Open(k, v); err != nil {
			return s.unreadable("saved state", k)
		}
		return nil
	})
}
