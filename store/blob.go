package store

import (
	"bytes"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// PutBlob stores a sealed value under a kind and a key, replacing any
// previous value. The node keeps group state and address books this way.
func (s *Store) PutBlob(kind string, key, value []byte) error {
	k := s.blobKey(kind, key)
	v := make([]byte, 0, 4+len(key)+len(value))
	v = binary.BigEndian.AppendUint32(v, uint32(len(key)))
	v = append(v, key...)
	v = append(v, value...)
	err := s.w.Write(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketBlobs).Put(k, s.seal.Seal(k, v)); err != nil {
			return err
		}
		return s.bumpGen(tx)
	})
	if err != nil {
		return err
	}
	// The blob is saved; a keep file that could not follow is written
	// again by Retry.
	s.writeKeep()
	return nil
}

// blobKey is a keyed hash of the kind (so one kind's blobs sit together)
// followed by a keyed hash of the key.
func (s *Store) blobKey(kind string, key []byte) []byte {
	k := s.seal.Index("blob-kind", []byte(kind))[:8]
	return append(k, s.seal.Index("blob/"+kind, key)...)
}

// DeleteBlob deletes a value stored with [Store.PutBlob].
func (s *Store) DeleteBlob(kind string, key []byte) error {
	k := s.blobKey(kind, key)
	err := s.w.Write(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketBlobs).Delete(k); err != nil {
			return err
		}
		return s.bumpGen(tx)
	})
	if err != nil {
		return err
	}
	s.writeKeep()
	return nil
}

// Blobs returns every value of a kind, by key.
func (s *Store) Blobs(kind string) (map[string][]byte, error) {
	out := make(map[string][]byte)
	prefix := s.seal.Index("blob-kind", []byte(kind))[:8]
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketBlobs).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			pt, err := s.seal.Open(k, v)
			if err != nil || len(pt) < 4 {
				return ErrCorrupt
			}
			n := binary.BigEndian.Uint32(pt)
			if uint64(n) > uint64(len(pt)-4) {
				return ErrCorrupt
			}
			out[string(pt[4:4+n])] = pt[4+n:]
		}
		return nil
	})
	return out, err
}
