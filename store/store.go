// Package store keeps a node's messages and state in one bbolt file, sealed
// at rest.
//
// Every key in the file is a keyed hash ([crypto.AtRest.Index]) and every
// value is sealed with the profile's storage key, so the file names no group,
// member, place or message, and two seized devices cannot be linked by
// comparing their files. Envelopes are stored as received (still sealed with
// their group's epoch key, already padded), so record sizes reveal only the
// padding bucket.
//
// The store keeps an in-memory index of message headers, built when it opens,
// so that feeds, sync and retention never scan the file. [Store.Prune]
// deletes what is past its expiry or the retention window; [Wipe] destroys
// the file.
//
// A Store is safe for concurrent use.
package store

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/store/internal/groupcommit"
)

// Errors callers branch on.
var (
	ErrFull     = errors.New("store: limit reached")
	ErrDiskFull = errors.New("store: the disk is full")
	ErrInUse    = errors.New("store: in use by another takecare process (is the daemon already running?)")
	ErrWrongKey = errors.New("store: file was sealed with another key")
	ErrNotFound = errors.New("store: not found")
	ErrCorrupt  = errors.New("store: damaged record")
	ErrTooBig   = errors.New("store: envelope too large")
	errClosed   = errors.New("store: closed")
)

// The file's buckets, and the meta record that proves the storage key.
var (
	bucketHeaders  = []byte("h") // message headers and alias headers, by keyed hash
	bucketEnvelope = []byte("e") // envelopes, under the same keys as their headers
	bucketBlobs    = []byte("b") // saved state ([Store.PutBlob])
	bucketMeta     = []byte("m") // metaCheck and the blob generation (keep.go)
	metaCheck      = []byte("check")
)

// Options bound the store. Zero values mean the defaults.
type Options struct {
	// MaxMessages bounds the number of messages held (default 200,000).
	MaxMessages int
	// MaxPerAuthor bounds the messages held from one author in one group
	// (default 20,000), so that one member cannot fill the store.
	MaxPerAuthor int
	// MaxUnsaved bounds how many received messages are kept in memory
	// while the disk is full (default DefaultMaxUnsaved); the node's own
	// messages are always kept.
	MaxUnsaved int
	// NoSync skips fsync (for tests and benchmarks only).
	NoSync bool
}

func (o Options) withDefaults() Options {
	if o.MaxMessages == 0 {
		o.MaxMessages = 200_000
	}
	if o.MaxPerAuthor == 0 {
		o.MaxPerAuthor = 20_000
	}
	if o.MaxUnsaved == 0 {
		o.MaxUnsaved = DefaultMaxUnsaved
	}
	return o
}

// Store is an open store file.
type Store struct {
	db   *bolt.DB
	path string
	seal *crypto.AtRest
	opts Options
	// w commits every write to the file but Open's, several at once
	// when they arrive together.
	w      *groupcommit.Writer[*bolt.Tx]
	keepMu sync.Mutex // serialises changes of blobs and writes of the keep file

	mu         sync.RWMutex
	headers    map[alert.ID]Header
	tags       map[crypto.KeyTag]*tagSet
	authors    map[authorKey]int
	aliases    map[alert.ID][]crypto.KeyTag
	aliasCount int
	inflight   map[alert.ID]bool
	closed     bool
	keepStale  bool  // the keep file lags behind the blobs
	keepSize   int64 // bytes of the keep file
	keepBase   int64 // bytes of the keep file when it was last written whole

	// While the disk is full (unsaved.go).
	full      bool
	fullSince time.Time
	unsaved   map[alert.ID]Record
	dropped   int
}

// Open opens or creates the store at path, sealed with key.
//
// Opening walks every page of the file (see boltFile) and reads and opens
// every record once, so that a damaged file is found here, as an error
// wrapping [ErrDamaged], rather than as a panic later; [Repair] keeps what
// can still be read. A file that is missing or empty while its keep file holds
// saved state is damaged too. Other errors: [ErrInUse], [ErrWrongKey],
// [ErrDiskFull], and what the operating system refused.
func Open(path string, key crypto.StorageKey, opts Options) (*Store, error) {
	if emptyButKept(path) {
		return nil, damaged(path, "the file is missing or empty, but its keep file holds this profile's groups")
	}
	s := &Store{
		path:     path,
		seal:     crypto.NewAtRest(key),
		opts:     opts.withDefaults(),
		headers:  make(map[alert.ID]Header),
		tags:     make(map[crypto.KeyTag]*tagSet),
		authors:  make(map[authorKey]int),
		inflight: make(map[alert.ID]bool),
		aliases:  make(map[alert.ID][]crypto.KeyTag),
		unsaved:  make(map[alert.ID]Record),
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		// Before bbolt opens it: see boltFile.
		if err := validate(path); err != nil {
			return nil, err
		}
	}
	db, err := openBolt(path, opts.NoSync)
	if err != nil {
		return nil, err
	}
	s.db = db
	s.w = groupcommit.New(s.update)
	if err := s.view(s.readAll); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.prepare(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the file. Messages still held in memory because the disk
// is full get one last try; if they cannot be written, Close says how many
// are lost (they come back from other members by sync).
func (s *Store) Close() error {
	var lost error
	if s.Health().Unsaved > 0 {
		s.Retry()
		if n := s.Health().Unsaved; n > 0 {
			lost = fmt.Errorf("%w: %d messages held in memory could not be saved", ErrDiskFull, n)
		}
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return errors.Join(lost, s.db.Close())
}

// view runs fn in a read transaction, under [guard].
func (s *Store) view(fn func(*bolt.Tx) error) error {
	return guard(s.path, func() error { return s.db.View(fn) })
}

// update runs fn in a read-write transaction, under [guard]; a full disk
// is reported as [ErrDiskFull].
func (s *Store) update(fn func(*bolt.Tx) error) error {
	return s.noteWrite(diskErr(guard(s.path, func() error { return s.db.Update(fn) })))
}

// diskErr turns a full disk (or a spent disk quota) into [ErrDiskFull],
// which callers report plainly.
func diskErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %v", ErrDiskFull, err)
	}
	return err
}
