// Package groupcommit commits concurrent writes together (group commit), so
// that under load one transaction, and one fsync, covers many writes, while
// a lone write never waits.
//
// A [Writer] that finds no commit under way commits at once; writes that
// arrive while one runs queue up, and the first of them commits the whole
// queue in one transaction when the running one ends. This differs from
// bbolt's DB.Batch, which holds every write for a timer (10 ms by default)
// in the hope that others join it.
//
// If a shared transaction fails, each of its writes is run again alone, so
// that one bad write fails only itself; a write function must therefore
// only write, and may run twice.
//
// A Writer is safe for concurrent use.
package groupcommit

import (
	"errors"
	"sync"
)

// Update runs fn in one read-write transaction and commits it, or returns
// fn's error or the commit's (bbolt's DB.Update has this shape, with T =
// *bolt.Tx).
type Update[T any] func(fn func(tx T) error) error

// Writer commits the writes given to [Writer.Write] through an [Update],
// several at a time when they arrive together. The zero value is not
// usable; use [New].
type Writer[T any] struct {
	update Update[T]

	mu      sync.Mutex
	queue   []*write[T] // writes waiting for the next commit
	running bool        // a commit is under way, or about to be
}

type write[T any] struct {
	fn   func(T) error
	done chan error // the outcome, or errLead: commit the queue now
}

var errLead = errors.New("groupcommit: bug: leading a commit")

// New returns a Writer that commits through update.
func New[T any](update Update[T]) *Writer[T] {
	return &Writer[T]{update: update}
}

// Write runs fn in a read-write transaction, possibly shared with other
// writes, and returns once that transaction is committed: nil, fn's own
// error, or the commit's error. fn must only write (it may run twice, see
// the package doc).
func (w *Writer[T]) Write(fn func(T) error) error {
	me := &write[T]{fn: fn, done: make(chan error, 1)}
	w.mu.Lock()
	w.queue = append(w.queue, me)
	lead := !w.running
	w.running = true
	w.mu.Unlock()
	if !lead {
		if err := <-me.done; err != errLead {
			return err
		}
	}
	w.mu.Lock()
	batch := w.queue
	w.queue = nil
	w.mu.Unlock()
	w.commit(batch)
	w.mu.Lock()
	if len(w.queue) > 0 {
		// The first of those who queued meanwhile commits the next batch.
		w.queue[0].done <- errLead
	} else {
		w.running = false
	}
	w.mu.Unlock()
	return <-me.done
}

// commit runs a batch of writes in one transaction. If it fails, each
// write is run again alone, so that one bad write fails only itself.
func (w *Writer[T]) commit(batch []*write[T]) {
	err := w.update(func(tx T) error {
		for _, wr := range batch {
			if err := wr.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, wr := range batch {
			wr.done <- w.update(wr.fn)
		}
		return
	}
	for _, wr := range batch {
		wr.done <- err
	}
}

// idle reports whether nothing is queued or running (for tests).
func (w *Writer[T]) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.running && len(w.queue) == 0
}
