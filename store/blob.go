package store

import (
	"bytes"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// PutBlob stores a sealed value under a kind and a key, replacing any
// previous value. The node keeps group state and address books this way.
func (s *Store) PutBlob(kind string, key, value []byte) error {
	return s.PutBlobs([]Blob{{Kind: kind, Key: key, Value: value}})
}

// Blob is one value for [Store.PutBlobs], or, with Delete, the deletion
// of one.
type Blob struct {
	Kind       string
	Key, Value []byte
	Delete     bool
}

// PutBlobs stores (or deletes) several blobs in one
// transaction, and adds them to the keep file. What it costs does not
// depend on how many other blobs there are.
func (s *Store) PutBlobs(bs []Blob) error {
	if len(bs) == 0 {
		return nil
	}
	// One change of the blobs at a time, written to the store and then to
	// the keep file, so that the keep file takes them in their order.
	s.keepMu.Lock()
	defer s.keepMu.Unlock()
	var (
		recs []keepRecord
		gen  uint64
	)
	err := s.w.Write(func(tx *bolt.Tx) error {
		recs = recs[:0]
		bucket := tx.Bucket(bucketBlobs)
		for _, x := range bs {
			k := s.blobKey(x.Kind, x.Key)
			if x.Delete {
				if err := bucket.Delete(k); err != nil {
					return err
				}
				recs = append(recs, keepRecord{k, s.seal.Seal(k, nil)}) // a tombstone
				continue
			}
			v := make([]byte, 0, 4+len(x.Key)+len(x.Value))
			v = binary.BigEndian.AppendUint32(v, uint32(len(x.Key)))
			v = append(v, x.Key...)
			v = append(v, x.Value...)
			sealed := s.seal.Seal(k, v)
			if err := bucket.Put(k, sealed); err != nil {
				return err
			}
			recs = append(recs, keepRecord{k, sealed})
		}
		var err error
		gen, err = s.nextGen(tx)
		return err
	})
	if err != nil {
		return err
	}
	// The blobs are saved; a keep file that could not follow is written
	// again by Retry.
	s.appendKeepLocked(recs, gen)
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
	return s.PutBlobs([]Blob{{Kind: kind, Key: key, Delete: true}})
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
