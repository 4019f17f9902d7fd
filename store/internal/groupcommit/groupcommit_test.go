package groupcommit

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucket = []byte("b")

// open returns a bbolt file with one bucket, and an Update that counts its
// transactions.
func open(t *testing.T) (*bolt.DB, Update[*bolt.Tx], *atomic.Int32) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "w.db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		t.Fatal(err)
	}
	var txs atomic.Int32
	return db, func(fn func(*bolt.Tx) error) error { txs.Add(1); return db.Update(fn) }, &txs
}

func put(i int) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key(i), []byte{byte(i)}) }
}

func key(i int) []byte { return fmt.Appendf(nil, "k%02d", i) }

// value returns what the file holds under key i.
func value(t *testing.T, db *bolt.DB, i int) []byte {
	t.Helper()
	var v []byte
	if err := db.View(func(tx *bolt.Tx) error { v = append(v, tx.Bucket(bucket).Get(key(i))...); return nil }); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestWriteAlone: a write with nobody else about is committed at once, in
// a transaction of its own, and is in the file when Write returns.
func TestWriteAlone(t *testing.T) {
	t.Parallel()
	db, update, txs := open(t)
	w := New(update)
	for i := range 3 {
		if err := w.Write(put(i)); err != nil {
			t.Fatal(err)
		}
		if v := value(t, db, i); len(v) != 1 || v[0] != byte(i) {
			t.Fatalf("write %d: the file holds %v", i, v)
		}
	}
	if n := txs.Load(); n != 3 {
		t.Errorf("3 writes one after another took %d transactions, want 3", n)
	}
	if !w.idle() {
		t.Error("the writer did not come to rest")
	}
}

// TestWritesQueuedShareOneCommit: writes that arrive while a commit runs
// are committed together, in one transaction, by the first of them.
func TestWritesQueuedShareOneCommit(t *testing.T) {
	t.Parallel()
	db, update, txs := open(t)
	w := New(update)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the file closes, even if the test fails
	first := make(chan error, 1)
	go func() {
		first <- w.Write(func(tx *bolt.Tx) error { <-release; return put(0)(tx) })
	}()
	waitFor(t, func() bool { return txs.Load() == 1 })
	const n = 8
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() { errs[i] = w.Write(put(i)) })
	}
	waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.queue) == n })
	unblock()
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= n; i++ {
		if errs[i] != nil {
			t.Errorf("write %d: %v", i, errs[i])
		}
		if v := value(t, db, i); len(v) != 1 || v[0] != byte(i) {
			t.Errorf("write %d: the file holds %v", i, v)
		}
	}
	if got := txs.Load(); got != 2 {
		t.Errorf("1 write then %d queued ones took %d transactions, want 2", n, got)
	}
	if !w.idle() {
		t.Error("the writer did not come to rest")
	}
}

// TestBadWriteFailsAlone: concurrent writes all land, whoever commits them,
// and a write that fails fails alone even when it shared a transaction.
func TestBadWriteFailsAlone(t *testing.T) {
	t.Parallel()
	db, update, _ := open(t)
	w := New(update)
	errBad := errors.New("bad write")
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = w.Write(func(tx *bolt.Tx) error {
				if i%16 == 5 {
					return errBad
				}
				return put(i)(tx)
			})
		})
	}
	wg.Wait()
	for i := range n {
		v := value(t, db, i)
		switch {
		case i%16 == 5:
			if !errors.Is(errs[i], errBad) || v != nil {
				t.Errorf("write %d: err %v, value %v; want the write's own error and nothing written", i, errs[i], v)
			}
		case errs[i] != nil || len(v) != 1 || v[0] != byte(i):
			t.Errorf("write %d: err %v, value %v", i, errs[i], v)
		}
	}
	if !w.idle() {
		t.Error("the writer did not come to rest")
	}
}

// TestCommitErrorReachesEveryWrite: when the commit itself fails, every
// write of the batch gets an error, none is lost silently.
func TestCommitErrorReachesEveryWrite(t *testing.T) {
	t.Parallel()
	errDisk := errors.New("disk full")
	var calls atomic.Int32
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	w := New(Update[int](func(fn func(int) error) error {
		if calls.Add(1) == 1 {
			<-release
		}
		if err := fn(0); err != nil {
			return err
		}
		return errDisk
	}))
	const n = 5
	errs := make([]error, n)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = w.Write(func(int) error { return nil }) })
	waitFor(t, func() bool { return calls.Load() == 1 })
	for i := 1; i < n; i++ {
		wg.Go(func() { errs[i] = w.Write(func(int) error { return nil }) })
	}
	waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.queue) == n-1 })
	unblock()
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, errDisk) {
			t.Errorf("write %d: %v, want the commit's error", i, err)
		}
	}
	if !w.idle() {
		t.Error("the writer did not come to rest")
	}
}

// waitFor polls cond until it holds, for up to a generous deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
