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
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// Errors callers branch on.
var (
	ErrFull        = errors.New("store: limit reached")
	ErrDiskFull    = errors.New("store: the disk is full")
	ErrInUse       = errors.New("store: in use by another takecare process (is the daemon already running?)")
	ErrWrongKey    = errors.New("store: file was sealed with another key")
	ErrNotFound    = errors.New("store: not found")
	ErrCorrupt     = errors.New("store: damaged record")
	ErrTooBig      = errors.New("store: envelope too large")
	errClosed      = errors.New("store: closed")
	bucketHeaders  = []byte("h")
	bucketEnvelope = []byte("e")
	bucketBlobs    = []byte("b")
	bucketMeta     = []byte("m")
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

// Header is what the store knows about a message without opening it.
type Header struct {
	ID      alert.ID
	Group   crypto.GroupID
	Tag     crypto.KeyTag // which epoch key opens the envelope
	Author  crypto.MemberID
	Created time.Time // the author's claim ([alert.Message.Created])
	// Expires is when the message expires by this node's clock
	// ([alert.Message.Local] of its expiry); zero: only retention removes
	// it.
	Expires  time.Time
	Priority uint8 // higher is sent first by sync
	Received time.Time
	// Sent is when the message was made by this node's clock
	// ([alert.Message.Sent]). Headers written before it existed read it
	// as Created.
	Sent time.Time
}

// Header sizes: version 1 had no Sent.
const (
	headerSizeV1 = 32 + 16 + 8 + 32 + 8 + 8 + 1 + 8
	headerSize   = headerSizeV1 + 8
)

// deleteAt is when Prune deletes the message: its expiry, held back by as
// much as a copy arriving later could be counted as younger than this one
// (up to alert.MaxClockError after Created), so that a replay after the
// deletion is still seen as expired. Zero: only retention removes it.
func (h Header) deleteAt() time.Time {
	if h.Expires.IsZero() {
		return time.Time{}
	}
	return h.Expires.Add(h.Created.Add(alert.MaxClockError).Sub(h.Sent))
}

func (h Header) marshal() []byte {
	b := make([]byte, 0, headerSize)
	b = append(b, h.ID[:]...)
	b = append(b, h.Group[:]...)
	b = append(b, h.Tag[:]...)
	b = append(b, h.Author[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Created.UnixMilli()))
	var exp int64
	if !h.Expires.IsZero() {
		exp = h.Expires.UnixMilli()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(exp))
	b = append(b, h.Priority)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Received.UnixMilli()))
	return binary.BigEndian.AppendUint64(b, uint64(h.Sent.UnixMilli()))
}

func unmarshalHeader(b []byte) (Header, error) {
	var h Header
	if len(b) != headerSize && len(b) != headerSizeV1 {
		return h, ErrCorrupt
	}
	copy(h.ID[:], b[0:32])
	copy(h.Group[:], b[32:48])
	copy(h.Tag[:], b[48:56])
	copy(h.Author[:], b[56:88])
	h.Created = time.UnixMilli(int64(binary.BigEndian.Uint64(b[88:96])))
	if exp := int64(binary.BigEndian.Uint64(b[96:104])); exp != 0 {
		h.Expires = time.UnixMilli(exp)
	}
	h.Priority = b[104]
	h.Received = time.UnixMilli(int64(binary.BigEndian.Uint64(b[105:113])))
	h.Sent = h.Created
	if len(b) == headerSize {
		h.Sent = time.UnixMilli(int64(binary.BigEndian.Uint64(b[113:121])))
	}
	return h, nil
}

// Item is a message's place in its epoch's set: what sync reconciles.
type Item struct {
	Created int64 // Unix milliseconds
	ID      alert.ID
}

// Compare orders items by creation time, then id.
func (a Item) Compare(b Item) int {
	if a.Created != b.Created {
		if a.Created < b.Created {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}

type tagSet struct {
	items  []Item
	sorted bool
}

type authorKey struct {
	group  crypto.GroupID
	author crypto.MemberID
}

// Store is an open store file.
type Store struct {
	db     *bolt.DB
	path   string
	seal   *crypto.AtRest
	opts   Options
	w      writer
	keepMu sync.Mutex // serialises writeKeep

	mu         sync.RWMutex
	headers    map[alert.ID]Header
	tags       map[crypto.KeyTag]*tagSet
	authors    map[authorKey]int
	aliases    map[alert.ID][]crypto.KeyTag
	aliasCount int
	inflight   map[alert.ID]bool
	closed     bool
	keepStale  bool // the keep file lags behind the blobs

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
	// Only the four buckets, and nothing nested in them: anything else is
	// damage, and must not be walked.
	err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		if !slices.ContainsFunc([][]byte{bucketHeaders, bucketEnvelope, bucketBlobs, bucketMeta}, func(b []byte) bool { return bytes.Equal(b, name) }) {
			return damaged(s.path, "unknown bucket %x", name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if meta := tx.Bucket(bucketMeta); meta != nil {
		err := meta.ForEach(func(k, v []byte) error {
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
	}
	bad := func(what string, k []byte) error {
		return damaged(s.path, "%s %x does not read back", what, k)
	}
	var aliases []alias
	keys := make(map[string]bool) // keys of the header bucket
	if hb := tx.Bucket(bucketHeaders); hb != nil {
		err := hb.ForEach(func(k, v []byte) error {
			if v == nil {
				return damaged(s.path, "a bucket nested in the headers")
			}
			pt, err := s.seal.Open(k, v)
			if err != nil {
				return bad("header", k)
			}
			keys[string(k)] = true
			if len(pt) == aliasSize {
				a, err := unmarshalAlias(pt)
				if err != nil {
					return bad("alias", k)
				}
				aliases = append(aliases, a)
				return nil
			}
			h, err := unmarshalHeader(pt)
			if err != nil {
				return bad("header", k)
			}
			s.index(h)
			return nil
		})
		if err != nil {
			return err
		}
	}
	if eb := tx.Bucket(bucketEnvelope); eb != nil {
		n := 0
		err := eb.ForEach(func(k, v []byte) error {
			if v == nil {
				return damaged(s.path, "a bucket nested in the envelopes")
			}
			if _, err := s.seal.Open(k, v); err != nil {
				return bad("envelope", k)
			}
			if !keys[string(k)] {
				return damaged(s.path, "envelope %x has no header", k)
			}
			n++
			return nil
		})
		if err != nil {
			return err
		}
		if n != len(keys) {
			return damaged(s.path, "%d headers have no envelope", len(keys)-n)
		}
	}
	if bb := tx.Bucket(bucketBlobs); bb != nil {
		err := bb.ForEach(func(k, v []byte) error {
			if v == nil {
				return damaged(s.path, "a bucket nested in the saved state")
			}
			if _, err := s.seal.Open(k, v); err != nil {
				return bad("saved state", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, a := range aliases {
		if h, ok := s.headers[a.id]; ok {
			s.indexAlias(h, a.tag)
		}
	}
	return nil
}

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
	err := s.w.write(s.update, func(tx *bolt.Tx) error {
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

func (s *Store) msgKey(id alert.ID) []byte { return s.seal.Index("msg", id[:]) }

func (s *Store) index(h Header) {
	s.headers[h.ID] = h
	s.addItem(h.Tag, h)
	s.authors[authorKey{h.Group, h.Author}]++
}

// addItem lists message h under tag.
func (s *Store) addItem(tag crypto.KeyTag, h Header) {
	ts := s.tags[tag]
	if ts == nil {
		ts = &tagSet{sorted: true}
		s.tags[tag] = ts
	}
	it := Item{Created: h.Created.UnixMilli(), ID: h.ID}
	if n := len(ts.items); n > 0 && ts.items[n-1].Compare(it) > 0 {
		ts.sorted = false
	}
	ts.items = append(ts.items, it)
}

func (s *Store) unindex(h Header) {
	delete(s.headers, h.ID)
	for _, tag := range append([]crypto.KeyTag{h.Tag}, s.aliases[h.ID]...) {
		if ts := s.tags[tag]; ts != nil {
			ts.items = slices.DeleteFunc(ts.items, func(it Item) bool { return it.ID == h.ID })
			if len(ts.items) == 0 {
				delete(s.tags, tag)
			}
		}
	}
	s.aliasCount -= len(s.aliases[h.ID])
	delete(s.aliases, h.ID)
	ak := authorKey{h.Group, h.Author}
	if s.authors[ak]--; s.authors[ak] <= 0 {
		delete(s.authors, ak)
	}
}

// Record is a message to store.
type Record struct {
	Header   Header
	Envelope []byte
	// Own marks the node's own messages: while the disk is full they are
	// kept in memory whatever their number.
	Own bool
}

// Put stores a message unless one with the same id is already held. It
// reports whether the message was new. The record is on disk when Put
// returns, or, while the disk is full, held in memory until [Store.Retry]
// can write it (see [Store.Health], [Store.Unsaved]); an error wrapping
// [ErrDiskFull] means it could not be kept at all.
func (s *Store) Put(r Record) (bool, error) {
	added, err := s.PutBatch([]Record{r})
	if err != nil {
		return false, err
	}
	return added[0], nil
}

// PutBatch stores several messages in one transaction. Concurrent callers
// are coalesced into one disk write. Of several records with the same id, in
// one call or in concurrent calls, exactly one is reported as added.
func (s *Store) PutBatch(rs []Record) ([]bool, error) {
	added := make([]bool, len(rs))
	for _, r := range rs {
		if len(r.Envelope) > crypto.MaxEnvelopeSize {
			return added, ErrTooBig
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return added, errClosed
	}
	var todo []int
	for i, r := range rs {
		id := r.Header.ID
		if _, dup := s.headers[id]; dup || s.inflight[id] {
			continue
		}
		s.inflight[id] = true
		todo = append(todo, i)
	}
	count := len(s.headers) + len(s.inflight)
	perAuthor := make(map[authorKey]int)
	for _, i := range todo {
		h := rs[i].Header
		ak := authorKey{h.Group, h.Author}
		perAuthor[ak] = s.authors[ak]
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		for _, i := range todo {
			delete(s.inflight, rs[i].Header.ID)
		}
		s.mu.Unlock()
	}()
	if count > s.opts.MaxMessages {
		return added, fmt.Errorf("%w: %d messages held", ErrFull, s.opts.MaxMessages)
	}
	for _, i := range todo {
		h := rs[i].Header
		ak := authorKey{h.Group, h.Author}
		if perAuthor[ak]++; perAuthor[ak] > s.opts.MaxPerAuthor {
			return added, fmt.Errorf("%w: %d messages from one author", ErrFull, s.opts.MaxPerAuthor)
		}
	}
	if len(todo) == 0 {
		return added, nil
	}
	if s.Health().Full {
		// Retry finds out when there is room again.
		return s.keepUnsaved(rs, todo, added)
	}
	err := s.w.write(s.update, func(tx *bolt.Tx) error {
		hb, eb := tx.Bucket(bucketHeaders), tx.Bucket(bucketEnvelope)
		for _, i := range todo {
			r := rs[i]
			k := s.msgKey(r.Header.ID)
			if err := hb.Put(k, s.seal.Seal(k, r.Header.marshal())); err != nil {
				return err
			}
			if err := eb.Put(k, s.seal.Seal(k, r.Envelope)); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrDiskFull) {
		return s.keepUnsaved(rs, todo, added)
	}
	if err != nil {
		return added, err
	}
	s.mu.Lock()
	for _, i := range todo {
		s.index(rs[i].Header)
		added[i] = true
	}
	s.mu.Unlock()
	return added, nil
}

// Tags returns every key tag under which a message's envelope is held, the
// original first.
func (s *Store) Tags(id alert.ID) []crypto.KeyTag {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h, ok := s.headers[id]
	if !ok {
		return nil
	}
	return append([]crypto.KeyTag{h.Tag}, s.aliases[id]...)
}

// writer commits concurrent writes together (group commit). A writer that
// finds no commit under way commits at once; writers that arrive while one
// runs queue up, and the first of them commits the whole queue in one
// transaction when it ends. A lone writer never waits (bbolt's DB.Batch
// waits for a 10 ms timer), and under load one transaction, and one fsync,
// covers many writes.
type writer struct {
	mu      sync.Mutex
	queue   []*write
	running bool
}

type write struct {
	fn   func(*bolt.Tx) error
	done chan error // the outcome, or errLead: commit the queue now
}

var errLead = errors.New("store: bug: leading a commit")

// write runs fn in a read-write transaction, possibly shared with other
// writers, and returns once it is committed. fn must only write: it may run
// twice if another write in its transaction fails.
func (w *writer) write(update func(func(*bolt.Tx) error) error, fn func(*bolt.Tx) error) error {
	me := &write{fn: fn, done: make(chan error, 1)}
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
	commit(update, batch)
	w.mu.Lock()
	if len(w.queue) > 0 {
		w.queue[0].done <- errLead
	} else {
		w.running = false
	}
	w.mu.Unlock()
	return <-me.done
}

// commit runs a batch of writes in one transaction. If it fails, each
// write is retried alone, so that one bad write fails only itself.
func commit(update func(func(*bolt.Tx) error) error, batch []*write) {
	err := update(func(tx *bolt.Tx) error {
		for _, wr := range batch {
			if err := wr.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, wr := range batch {
			wr.done <- update(wr.fn)
		}
		return
	}
	for _, wr := range batch {
		wr.done <- err
	}
}

// Has reports whether a message is held.
func (s *Store) Has(id alert.ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.headers[id]
	return ok
}

// Header returns a message's header.
func (s *Store) Header(id alert.ID) (Header, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h, ok := s.headers[id]
	return h, ok
}

// Envelope returns a message's envelope.
func (s *Store) Envelope(id alert.ID) ([]byte, error) {
	if env, ok := s.unsavedEnvelope(id); ok {
		return env, nil
	}
	return s.envelope(s.msgKey(id))
}

// envelope reads and opens the envelope stored under key k.
func (s *Store) envelope(k []byte) ([]byte, error) {
	var out []byte
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketEnvelope).Get(k)
		if v == nil {
			return ErrNotFound
		}
		pt, err := s.seal.Open(k, v)
		if err != nil {
			return ErrCorrupt
		}
		out = pt
		return nil
	})
	return out, err
}

// Headers returns the headers of the messages that keep returns true for,
// oldest first.
func (s *Store) Headers(keep func(Header) bool) []Header {
	s.mu.RLock()
	var out []Header
	for _, h := range s.headers {
		if keep == nil || keep(h) {
			out = append(out, h)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Header) int {
		return Item{a.Created.UnixMilli(), a.ID}.Compare(Item{b.Created.UnixMilli(), b.ID})
	})
	return out
}

// Items returns the set of messages sealed under one epoch key, sorted by
// creation time and id. The slice is a copy.
func (s *Store) Items(tag crypto.KeyTag) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.tags[tag]
	if ts == nil {
		return nil
	}
	if !ts.sorted {
		slices.SortFunc(ts.items, Item.Compare)
		ts.sorted = true
	}
	return slices.Clone(ts.items)
}

// Count returns the number of messages held.
func (s *Store) Count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.headers)
}

// Delete removes messages.
func (s *Store) Delete(ids []alert.ID) error {
	if len(ids) == 0 {
		return nil
	}
	s.mu.Lock()
	// Messages held in memory only go at once.
	ids = slices.DeleteFunc(slices.Clone(ids), func(id alert.ID) bool {
		if _, ok := s.unsaved[id]; !ok {
			return false
		}
		delete(s.unsaved, id)
		if h, ok := s.headers[id]; ok {
			s.unindex(h)
		}
		return true
	})
	s.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	s.mu.RLock()
	keys := make([][]byte, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, s.msgKey(id))
		for _, tag := range s.aliases[id] {
			keys = append(keys, s.aliasKey(id, tag))
		}
	}
	s.mu.RUnlock()
	err := s.update(func(tx *bolt.Tx) error {
		hb, eb := tx.Bucket(bucketHeaders), tx.Bucket(bucketEnvelope)
		for _, k := range keys {
			if err := hb.Delete(k); err != nil {
				return err
			}
			if err := eb.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	for _, id := range ids {
		if h, ok := s.headers[id]; ok {
			s.unindex(h)
		}
	}
	s.mu.Unlock()
	return nil
}

// Prune deletes every message created (by its author's claim) longer than
// retention ago, or past its expiry by more than a replayed copy could be
// counted younger than this one (docs/PROTOCOL.md, "Time"), and returns how
// many it deleted.
func (s *Store) Prune(now time.Time, retention time.Duration) (int, error) {
	cut := now.Add(-retention)
	old := s.Headers(func(h Header) bool {
		del := h.deleteAt()
		return h.Created.Before(cut) || (!del.IsZero() && !del.After(now))
	})
	ids := make([]alert.ID, len(old))
	for i, h := range old {
		ids[i] = h.ID
	}
	return len(ids), s.Delete(ids)
}

// PutBlob stores a sealed value under a kind and a key, replacing any
// previous value. The node keeps group state and address books this way.
func (s *Store) PutBlob(kind string, key, value []byte) error {
	k := s.blobKey(kind, key)
	v := make([]byte, 0, 4+len(key)+len(value))
	v = binary.BigEndian.AppendUint32(v, uint32(len(key)))
	v = append(v, key...)
	v = append(v, value...)
	err := s.update(func(tx *bolt.Tx) error {
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
	err := s.update(func(tx *bolt.Tx) error {
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

// Wipe destroys the store file at path and the files that go with it (its
// keep file, a damaged copy that [Repair] set aside, a repair left
// unfinished): it overwrites each with zeros, syncs, and removes it. On
// flash storage overwriting is not guaranteed to reach the old blocks; the
// data stays unreadable because the storage key is destroyed with the
// keystore.
func Wipe(path string) error {
	for _, p := range []string{path, keepPath(path), keepPath(path) + ".tmp", damagedPath(path), repairPath(path)} {
		if err := wipeFile(p); err != nil {
			return err
		}
	}
	return nil
}

func wipeFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: wiping: %w", err)
	}
	if fi, err := f.Stat(); err == nil {
		zero := make([]byte, 1<<16)
		for off := int64(0); off < fi.Size(); off += int64(len(zero)) {
			// Overwrite the file's blocks only: growing it could fail on a
			// full disk before the old data is covered.
			n := min(int64(len(zero)), fi.Size()-off)
			if _, err := f.WriteAt(zero[:n], off); err != nil {
				break
			}
		}
		f.Sync()
	}
	f.Close()
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("store: wiping: %w", err)
	}
	return nil
}
