package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"

	"github.com/takecare-network/takecare/crypto"
)

// The keep file holds a copy of every blob (the node's group state with its
// epoch secrets and roster, its address book, its verified members) next to
// the store file, outside bbolt: if the store file is damaged or lost,
// [Repair] restores them from it, and the node can sync again with its
// groups without a new invite. Every change of blobs is added at its end
// (a deleted blob as a tombstone: its key with a sealed empty value), with
// the generation it brings the blobs to, so that a change costs what it
// changes and not what the other blobs weigh; once the file has grown to
// twice its size at its last rewrite (and 1 MiB more), it is rewritten
// whole, with the blobs as they are.
//
// Both files count the changes of blobs (the generation, in the store's
// meta bucket): a store file that opens behind its keep file (bbolt fell
// back to its older meta page because the newer one was damaged, losing
// the last commit) takes the newer blobs from the keep file.
//
// Layout (docs/PROTOCOL.md, "At rest"): the magic line, then frames: u32
// length of a key, the key, u32 length of a value, the value. A frame
// with key "gen" holds the generation (value Seal("gen", u64)); every
// other frame is one blob record of the store file as it is there (the
// value sealed with the key as associated data), or a tombstone. The file
// written whole is its blob records followed by one generation frame; each
// change added later is its records followed by a generation frame. A
// later frame of a key replaces an earlier one, and a later generation
// frame the generation. Records count only once the generation frame that
// ends their change is read, so that a change cut short by a crash is not
// half taken. A damaged frame fails to open and is skipped; a cut frame
// ends the file.
//
// That is version 2. Version 1 (magic "takecare-keep v1\n", the generation
// frame first and then every blob, only ever written whole) still reads:
// each of its records counts as it is read.
const keepMagic = "takecare-keep v2\n"

// keepMagicV1 begins a keep file of version 1.
const keepMagicV1 = "takecare-keep v1\n"

// maxKeepRecord bounds one frame's key or value when reading a keep file.
const maxKeepRecord = 16 << 20

// keepPath is where the keep file of the store at path lives.
func keepPath(path string) string { return path + ".keep" }

// keepRecord is one blob record: its key in the store file and its sealed
// value; a sealed empty value is a tombstone.
type keepRecord struct{ k, v []byte }

// keepSlack is how much the keep file may outgrow twice its size at its
// last rewrite before it is rewritten whole.
const keepSlack = 1 << 20

// blobState is every blob record with the generation they are at.
type blobState struct {
	gen  uint64
	recs []keepRecord
}

var metaGen = []byte("gen")

func sealGen(seal *crypto.AtRest, gen uint64) []byte {
	return seal.Seal(metaGen, binary.BigEndian.AppendUint64(nil, gen))
}

func openGen(seal *crypto.AtRest, v []byte) (uint64, bool) {
	pt, err := seal.Open(metaGen, v)
	if err != nil || len(pt) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(pt), true
}

// readKeep returns what the keep file of the store at path holds that
// still opens with seal. A missing file holds nothing.
func readKeep(seal *crypto.AtRest, path string) (blobState, error) {
	var st blobState
	f, err := os.Open(keepPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	magic := make([]byte, len(keepMagic))
	if _, err := io.ReadFull(r, magic); err != nil {
		return st, nil
	}
	// In a v1 file (one written whole, before changes were added at the
	// end) every record counts as soon as it is read; in a v2 file the
	// records of a change count only once the generation frame that ends
	// the change is read, so that a change cut by a crash is not half
	// taken.
	v1 := string(magic) == keepMagicV1
	if !v1 && string(magic) != keepMagic {
		return st, nil
	}
	var pending []keepRecord
	for {
		k, err := readFrame(r)
		if err != nil {
			return st, nil
		}
		v, err := readFrame(r)
		if err != nil {
			return st, nil
		}
		if bytes.Equal(k, metaGen) {
			if gen, ok := openGen(seal, v); ok {
				st.gen = gen
			}
			st.recs = append(st.recs, pending...)
			pending = pending[:0]
		} else if _, err := seal.Open(k, v); err == nil {
			pending = append(pending, keepRecord{k, v})
			if v1 {
				st.recs = append(st.recs, pending...)
				pending = pending[:0]
			}
		}
	}
}

// live returns the blobs the keep file holds at its end: for each key its
// last record, unless that is a tombstone.
func (st blobState) live(seal *crypto.AtRest) map[string][]byte {
	out := make(map[string][]byte)
	for _, r := range st.recs {
		if pt, err := seal.Open(r.k, r.v); err == nil && len(pt) == 0 {
			delete(out, string(r.k))
		} else {
			out[string(r.k)] = r.v
		}
	}
	return out
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxKeepRecord {
		return nil, errors.New("frame too large")
	}
	b := make([]byte, size)
	_, err := io.ReadFull(r, b)
	return b, err
}

// blobs returns every record of the blob bucket and the generation.
func (s *Store) blobs() (blobState, error) {
	var st blobState
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(metaGen); v != nil {
			st.gen, _ = openGen(s.seal, v)
		}
		return tx.Bucket(bucketBlobs).ForEach(func(k, v []byte) error {
			st.recs = append(st.recs, keepRecord{bytes.Clone(k), bytes.Clone(v)})
			return nil
		})
	})
	return st, err
}

// bumpGen counts one more change of the blobs, in tx.
func (s *Store) bumpGen(tx *bolt.Tx) error {
	_, err := s.nextGen(tx)
	return err
}

// nextGen counts one more change of the blobs, in tx, and returns the
// generation it brings them to.
func (s *Store) nextGen(tx *bolt.Tx) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	var gen uint64
	if v := meta.Get(metaGen); v != nil {
		gen, _ = openGen(s.seal, v)
	}
	return gen + 1, meta.Put(metaGen, sealGen(s.seal, gen+1))
}

// syncKeep brings the keep file and the blobs of a store being opened
// into step: if the keep file is ahead (the store lost its last commits),
// its blobs are put back into the store; then the keep file is written
// from the store.
func (s *Store) syncKeep() error {
	st, err := s.blobs()
	if err != nil {
		return err
	}
	kept, err := readKeep(s.seal, s.path)
	if err != nil {
		return err
	}
	if kept.gen > st.gen {
		err := s.update(func(tx *bolt.Tx) error {
			bb := tx.Bucket(bucketBlobs)
			for _, r := range kept.recs {
				pt, _ := s.seal.Open(r.k, r.v)
				var err error
				if len(pt) == 0 {
					err = bb.Delete(r.k) // a tombstone
				} else {
					err = bb.Put(r.k, r.v)
				}
				if err != nil {
					return err
				}
			}
			return tx.Bucket(bucketMeta).Put(metaGen, sealGen(s.seal, kept.gen))
		})
		if err != nil {
			return err
		}
	}
	if len(st.recs) == 0 && len(kept.recs) == 0 {
		return nil
	}
	// A failure leaves the keep file as it was; Retry writes it.
	s.writeKeep()
	return nil
}

// writeKeep writes the keep file from the blobs as they are now. Writes
// are serialised, each taking its snapshot once the one before it is
// written, so the file never goes back to an older state. If it fails (a
// full disk), the next [Store.Retry] writes it again.
func (s *Store) writeKeep() error {
	s.keepMu.Lock()
	defer s.keepMu.Unlock()
	return s.writeKeepLocked()
}

// RewriteKeep writes the keep file again whole, with the blobs as they
// are: earlier values of blobs that it still holds at its end are gone
// from it. Call it after a change meant to forget something (epoch
// secrets erased after the retention window).
func (s *Store) RewriteKeep() error { return s.writeKeep() }

func (s *Store) writeKeepLocked() error {
	st, err := s.blobs()
	var size int64
	if err == nil {
		size, err = writeKeepFile(s.path, s.seal, st, !s.opts.NoSync)
	}
	s.mu.Lock()
	s.keepStale = err != nil
	if err == nil {
		s.keepSize, s.keepBase = size, size
	}
	s.mu.Unlock()
	return diskErr(err)
}

// appendKeepLocked adds a change of the blobs, which brought them to
// generation gen, at the end of the keep file; or rewrites the file whole
// if it lags behind, is not there yet, or has grown too large. The caller
// holds s.keepMu.
func (s *Store) appendKeepLocked(recs []keepRecord, gen uint64) error {
	s.mu.RLock()
	stale, size, base := s.keepStale, s.keepSize, s.keepBase
	s.mu.RUnlock()
	if stale || size == 0 || size > 2*base+keepSlack {
		return s.writeKeepLocked()
	}
	var b bytes.Buffer
	writeFrames(&b, append(recs, keepRecord{metaGen, sealGen(s.seal, gen)}))
	f, err := os.OpenFile(keepPath(s.path), os.O_WRONLY|os.O_APPEND, 0o600)
	if err == nil {
		_, err = f.Write(b.Bytes())
		if err == nil && !s.opts.NoSync {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	s.mu.Lock()
	s.keepStale = err != nil
	if err == nil {
		s.keepSize += int64(b.Len())
	}
	s.mu.Unlock()
	if err != nil {
		return diskErr(fmt.Errorf("store: adding to the keep file: %w", err))
	}
	return nil
}

// writeFrames writes records as keep file frames.
func writeFrames(b *bytes.Buffer, recs []keepRecord) {
	for _, r := range recs {
		for _, x := range [][]byte{r.k, r.v} {
			b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(x))))
			b.Write(x)
		}
	}
}

// writeKeepFile replaces the keep file of the store at path with st: a new
// file, synced unless fsync is false, renamed over the old one. It returns
// the file's size.
func writeKeepFile(path string, seal *crypto.AtRest, st blobState, fsync bool) (int64, error) {
	var b bytes.Buffer
	b.WriteString(keepMagic)
	writeFrames(&b, append(st.recs, keepRecord{metaGen, sealGen(seal, st.gen)}))
	tmp := keepPath(path) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("store: writing the keep file: %w", err)
	}
	_, err = f.Write(b.Bytes())
	if err == nil && fsync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, keepPath(path))
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("store: writing the keep file: %w", err)
	}
	return int64(b.Len()), nil
}
