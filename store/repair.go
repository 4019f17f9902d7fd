package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/takecare-network/takecare/crypto"
)

// RepairReport says what [Repair] kept of a damaged store.
type RepairReport struct {
	// Messages is how many messages were kept, each with its header and
	// envelope.
	Messages int `json:"messages"`
	// State is how many records of saved state (group state, address
	// book, verified members) were kept; FromKeep of them came from the
	// keep file because the store file had lost them.
	State    int `json:"state"`
	FromKeep int `json:"from_keep"`
	// Dropped counts records that were read but did not open, or whose
	// other half (a header without its envelope) was lost.
	Dropped int `json:"dropped"`
	// Damage counts the places in the file that could not be read at all
	// (a damaged page, the part of a file cut short); what they held is
	// lost from this device.
	Damage int `json:"damage"`
	// SetAside is where the damaged file was moved, or empty if there was
	// no file.
	SetAside string `json:"set_aside,omitempty"`
}

// damagedPath is where [Repair] sets a damaged store file aside, and
// repairPath where it builds the new one.
func damagedPath(path string) string { return path + ".damaged" }
func repairPath(path string) string  { return path + ".new" }

// Repair replaces the store file at path, damaged, with a new one holding
// every record that can still be read and opened with key: it reads the
// damaged file page by page, stepping over pages that cannot be read,
// keeps each message whose header and envelope both open, and the saved
// state (group state, address book), taking from the keep file what the
// store file lost. The damaged file is kept at path + ".damaged" (replacing
// an older one); [Wipe] destroys it with the store. Messages lost can come
// back from other members by sync; saved state lost from both files cannot.
//
// If it is interrupted, the store file is left as it was and Repair can run
// again. It fails with [ErrInUse] if the store is open.
func Repair(path string, key crypto.StorageKey, opts Options) (RepairReport, error) {
	seal := crypto.NewAtRest(key)
	var rep RepairReport
	found, damage, err := salvage(path)
	if err != nil {
		return rep, err
	}
	rep.Damage = damage
	headers, envelopes := make(map[string][]byte), make(map[string][]byte)
	var aliases []keepRecord
	for _, r := range found[string(bucketHeaders)] {
		pt, err := seal.Open(r.k, r.v)
		switch {
		case err != nil:
			rep.Dropped++
		case len(pt) == aliasSize:
			aliases = append(aliases, r)
		default:
			if _, err := unmarshalHeader(pt); err != nil {
				rep.Dropped++
				continue
			}
			headers[string(r.k)] = r.v
		}
	}
	for _, r := range found[string(bucketEnvelope)] {
		if _, err := seal.Open(r.k, r.v); err != nil {
			rep.Dropped++
			continue
		}
		envelopes[string(r.k)] = r.v
	}
	var msgs []keepRecord // header and envelope under the same key, in turn
	used := make(map[string]bool)
	for k, h := range headers {
		e, ok := envelopes[k]
		if !ok {
			rep.Dropped++
			continue
		}
		msgs = append(msgs, keepRecord{[]byte(k), h}, keepRecord{[]byte(k), e})
		used[k] = true
		rep.Messages++
	}
	for _, r := range aliases {
		pt, _ := seal.Open(r.k, r.v)
		a, err := unmarshalAlias(pt)
		e, ok := envelopes[string(r.k)]
		if err != nil || !ok || !used[string(seal.Index("msg", a.id[:]))] {
			rep.Dropped++
			continue
		}
		msgs = append(msgs, r, keepRecord{r.k, e})
		used[string(r.k)] = true
	}
	for k := range envelopes {
		if !used[k] {
			rep.Dropped++ // its header was lost
		}
	}

	state := make(map[string][]byte)
	for _, r := range found[string(bucketBlobs)] {
		if _, err := seal.Open(r.k, r.v); err != nil {
			rep.Dropped++
			continue
		}
		state[string(r.k)] = r.v
	}
	kept, err := readKeep(seal, path)
	if err != nil {
		return rep, fmt.Errorf("store: reading the keep file: %w", err)
	}
	for k, v := range kept.live(seal) {
		if _, ok := state[k]; !ok {
			state[k] = v
			rep.FromKeep++
		}
	}
	rep.State = len(state)
	var blobs []keepRecord
	for k, v := range state {
		blobs = append(blobs, keepRecord{[]byte(k), v})
	}

	st := blobState{gen: kept.gen, recs: blobs}
	if err := writeRepaired(repairPath(path), seal, msgs, st, opts); err != nil {
		os.Remove(repairPath(path))
		return rep, err
	}
	if _, err := writeKeepFile(path, seal, st, !opts.NoSync); err != nil {
		os.Remove(repairPath(path))
		return rep, diskErr(err)
	}
	if _, err := os.Stat(path); err == nil {
		if err := wipeFile(damagedPath(path)); err != nil {
			return rep, err
		}
		if err := os.Rename(path, damagedPath(path)); err != nil {
			return rep, fmt.Errorf("store: setting the damaged file aside: %w", err)
		}
		rep.SetAside = damagedPath(path)
	}
	if err := os.Rename(repairPath(path), path); err != nil {
		return rep, fmt.Errorf("store: putting the repaired file in place: %w", err)
	}
	return rep, nil
}

// writeRepaired writes a new store file at path holding the given message
// and blob records, already sealed.
func writeRepaired(path string, seal *crypto.AtRest, msgs []keepRecord, blobs blobState, opts Options) error {
	os.Remove(path)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: opts.NoSync, NoFreelistSync: true})
	if err != nil {
		return diskErr(fmt.Errorf("store: writing the repaired file: %w", err))
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketHeaders, bucketEnvelope, bucketBlobs, bucketMeta} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put(metaGen, sealGen(seal, blobs.gen)); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaCheck, seal.Seal(metaCheck, []byte("takecare store v1")))
	})
	// Headers and envelopes come in pairs; a few hundred pairs a
	// transaction keep each one small.
	const chunk = 512
	for i := 0; err == nil && i < len(msgs); i += chunk {
		part := msgs[i:min(i+chunk, len(msgs))]
		err = db.Update(func(tx *bolt.Tx) error {
			hb, eb := tx.Bucket(bucketHeaders), tx.Bucket(bucketEnvelope)
			for j := 0; j+1 < len(part); j += 2 {
				if err := hb.Put(part[j].k, part[j].v); err != nil {
					return err
				}
				if err := eb.Put(part[j+1].k, part[j+1].v); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error {
			bb := tx.Bucket(bucketBlobs)
			for _, r := range blobs.recs {
				if err := bb.Put(r.k, r.v); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return diskErr(fmt.Errorf("store: writing the repaired file: %w", err))
	}
	return nil
}

// salvage reads every record of the store file at path that can still be
// reached from its root, stepping over damaged pages (see boltFile), and
// returns the records by bucket name, with the number of damaged pages or
// buckets met. A missing file, or one whose meta pages are both damaged,
// yields nothing.
func salvage(path string) (map[string][]keepRecord, int, error) {
	out := make(map[string][]keepRecord)
	b, err := openBoltFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return out, 0, nil
	case errors.Is(err, fs.ErrPermission):
		return nil, 0, fmt.Errorf("store: reading %s: %w", path, err)
	case err != nil:
		return out, 1, nil
	}
	defer b.Close()
	damage := 0
	w := &walker{
		b:      b,
		damage: func(error) { damage++ },
		record: func(bucket, k, v []byte) {
			out[string(bucket)] = append(out[string(bucket)], keepRecord{bytes.Clone(k), bytes.Clone(v)})
		},
	}
	w.walk()
	return out, damage, nil
}
