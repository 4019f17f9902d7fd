package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestWriterGroupCommit: concurrent writes all land, whoever commits them,
// and a write that fails fails alone even when it shared a transaction.
func TestWriterGroupCommit(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "w.db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bucket := []byte("b")
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		t.Fatal(err)
	}
	var w writer
	errBad := errors.New("bad write")
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = w.write(db.Update, func(tx *bolt.Tx) error {
				if i%16 == 5 {
					return errBad
				}
				return tx.Bucket(bucket).Put(fmt.Appendf(nil, "k%02d", i), []byte{byte(i)})
			})
		})
	}
	wg.Wait()
	err = db.View(func(tx *bolt.Tx) error {
		for i := range n {
			v := tx.Bucket(bucket).Get(fmt.Appendf(nil, "k%02d", i))
			switch {
			case i%16 == 5:
				if !errors.Is(errs[i], errBad) || v != nil {
					t.Errorf("write %d: err %v, value %v; want the write's own error and nothing written", i, errs[i], v)
				}
			case errs[i] != nil || len(v) != 1 || v[0] != byte(i):
				t.Errorf("write %d: err %v, value %v", i, errs[i], v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if w.running || len(w.queue) != 0 {
		t.Error("the writer did not come to rest")
	}
}
