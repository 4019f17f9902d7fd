package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// boltFile reads a bbolt file without trusting it: with ReadAt, not a
// memory map, checking every length and page id before using it. bbolt
// itself trusts its file, and a damaged page makes it panic or fault, in
// goroutines of its own that cannot recover (opening a file for writing
// walks every page in one; see etcd-io/bbolt#1066 and the freepages and
// Check code of bbolt v1.5). So a file is first walked here ([validate]):
// bbolt opens it only once every page that bbolt's own walks will touch is
// known to be in bounds. [Repair] reads damaged files with it too.
//
// The layout is bbolt's file format version 2 (bbolt internal/common:
// page.go, meta.go, bucket.go), in the machine's byte order: a 16-byte page
// header (id u64, flags u16, count u16, overflow u32), then 16-byte
// elements (branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32,
// ksize u32, vsize u32) whose key (and value) start pos bytes after the
// element itself. Pages 0 and 1 hold the meta.
type boltFile struct {
	f        *os.File
	size     int64
	pageSize int64
	hwm      uint64 // the meta's high water mark: pages at or above it are not in use
	root     uint64 // root page of the root bucket
	freelist uint64
}

const (
	pageHeaderSize = 16
	elementSize    = 16
	branchFlag     = 0x01
	leafFlag       = 0x02
	metaFlag       = 0x04
	freelistFlag   = 0x10
	bucketLeaf     = 0x01
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	noFreelist     = ^uint64(0)
	inBucketSize   = 16
	maxPageSize    = 1 << 24
	maxOverflow    = 1 << 20 // pages one node may span: 4 GiB at 4 KiB pages
)

var ne = binary.NativeEndian

// errPage marks damage found while reading pages.
var errPage = errors.New("damaged page")

func pageErr(id uint64, format string, a ...any) error {
	return fmt.Errorf("%w %d: %s", errPage, id, fmt.Sprintf(format, a...))
}

// meta is the part of a meta page boltFile uses.
type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64
	txid     uint64
}

// parseMeta reads a meta page's data (after the page header) and checks
// its magic, version and checksum, as bbolt's Meta.Validate does.
func parseMeta(b []byte) (meta, bool) {
	if len(b) < 64 {
		return meta{}, false
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if ne.Uint32(b[0:]) != boltMagic || ne.Uint32(b[4:]) != boltVersion || ne.Uint64(b[56:]) != h.Sum64() {
		return meta{}, false
	}
	return meta{
		pageSize: ne.Uint32(b[8:]), root: ne.Uint64(b[16:]), freelist: ne.Uint64(b[32:]),
		hwm: ne.Uint64(b[40:]), txid: ne.Uint64(b[48:]),
	}, true
}

// openBoltFile opens the file at path and chooses its meta page as bbolt
// does: the page size from the first meta page that validates, then the
// valid meta with the higher transaction id.
func openBoltFile(path string) (*boltFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	b := &boltFile{f: f, size: fi.Size()}
	if err := b.readMeta(); err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

func (b *boltFile) Close() error { return b.f.Close() }

func (b *boltFile) readMeta() error {
	metaAt := func(off int64) (meta, bool) {
		buf := make([]byte, pageHeaderSize+64)
		if _, err := b.f.ReadAt(buf, off); err != nil {
			return meta{}, false
		}
		return parseMeta(buf[pageHeaderSize:])
	}
	var ps uint32
	if m, ok := metaAt(0); ok {
		ps = m.pageSize
	} else {
		for i := range 15 {
			if m, ok := metaAt(1024 << i); ok {
				ps = m.pageSize
				break
			}
		}
	}
	if ps < 1024 || ps > maxPageSize {
		return errors.New("no meta page is valid")
	}
	b.pageSize = int64(ps)
	m0, ok0 := metaAt(0)
	m1, ok1 := metaAt(b.pageSize)
	var m meta
	switch {
	case ok0 && ok1:
		m = m0
		if m1.txid > m0.txid {
			m = m1
		}
	case ok0:
		m = m0
	case ok1:
		m = m1
	default:
		return errors.New("no meta page is valid")
	}
	if m.pageSize != ps {
		return errors.New("the meta pages disagree on the page size")
	}
	if m.hwm < 3 || m.root < 2 || m.root >= m.hwm || (m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.hwm)) {
		return errors.New("the meta page points outside the file")
	}
	b.hwm, b.root, b.freelist = m.hwm, m.root, m.freelist
	return nil
}

// page reads page id with its overflow pages, and checks its header.
func (b *boltFile) page(id uint64) ([]byte, uint16, error) {
	if id < 2 || id >= b.hwm {
		return nil, 0, pageErr(id, "outside the pages in use")
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := b.f.ReadAt(hdr, int64(id)*b.pageSize); err != nil {
		return nil, 0, pageErr(id, "cannot be read (%v)", err)
	}
	flags, overflow := ne.Uint16(hdr[8:]), uint64(ne.Uint32(hdr[12:]))
	switch {
	case ne.Uint64(hdr) != id:
		return nil, 0, pageErr(id, "says it is page %d", ne.Uint64(hdr))
	case flags != branchFlag && flags != leafFlag && flags != freelistFlag:
		return nil, 0, pageErr(id, "has type %#x", flags)
	case overflow > maxOverflow || id+overflow >= b.hwm:
		return nil, 0, pageErr(id, "overflows past the pages in use")
	}
	buf := make([]byte, (1+overflow)*uint64(b.pageSize))
	if n, err := b.f.ReadAt(buf, int64(id)*b.pageSize); err != nil && !(err == io.EOF && n == len(buf)) {
		return nil, 0, pageErr(id, "cannot be read (%v)", err)
	}
	return buf, flags, nil
}

// element is one element of a node: a key, and a value or a child page.
type element struct {
	key, value []byte
	child      uint64 // branch elements
	bucket     bool   // leaf elements that are buckets
}

// elements parses the elements of a node (a page, or an inline bucket's
// page) held in buf, checking that each lies inside buf.
func elements(id uint64, buf []byte, flags uint16) ([]element, error) {
	count := int(ne.Uint16(buf[10:]))
	if pageHeaderSize+count*elementSize > len(buf) {
		return nil, pageErr(id, "holds more elements than fit")
	}
	out := make([]element, count)
	for i := range out {
		at := pageHeaderSize + i*elementSize
		e := buf[at : at+elementSize]
		var pos, ksize, vsize uint64
		if flags == branchFlag {
			pos, ksize = uint64(ne.Uint32(e[0:])), uint64(ne.Uint32(e[4:]))
			out[i].child = ne.Uint64(e[8:])
		} else {
			out[i].bucket = ne.Uint32(e[0:])&bucketLeaf != 0
			pos, ksize, vsize = uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
		}
		start := uint64(at) + pos
		if start+ksize+vsize > uint64(len(buf)) {
			return nil, pageErr(id, "element %d lies outside the page", i)
		}
		out[i].key = buf[start : start+ksize]
		out[i].value = buf[start+ksize : start+ksize+vsize]
	}
	return out, nil
}

// keyInOrder is bbolt's rule for the key of element i of a node
// (tx_check.go, verifyKeyOrder): not below the bound after (nil: none) if
// i is 0, strictly above it otherwise, and below the bound before (nil:
// none).
func keyInOrder(i int, key, after, before []byte) bool {
	if after != nil && (bytes.Compare(after, key) > 0 || (i > 0 && bytes.Equal(after, key))) {
		return false
	}
	return before == nil || bytes.Compare(key, before) < 0
}

// walker walks the trees of a boltFile. Each page may be reached once: a
// page reached twice is damage (bbolt's check says so too), and a cycle
// cannot loop.
//
// Validating, it also checks the order of keys exactly as bbolt's own walk
// does when a file is opened for writing (tx_check.go,
// recursivelyCheckPageKeyOrder): bbolt reports a key out of order as a
// panic while its walking goroutine is still reading the file, which then
// crashes on a closed transaction.
type walker struct {
	b    *boltFile
	seen map[uint64]bool
	// damage receives each damaged page or bucket; walking goes on with
	// the rest, and keys are taken whatever their order (each record
	// opens or not on its own). Nil: validating; the walk stops at the
	// first damage.
	damage func(error)
	// record receives each record (not a bucket) of the bucket named by
	// the top-level bucket it is in.
	record func(bucket, k, v []byte)
}

// walk walks every page reachable from the root bucket.
func (w *walker) walk() error {
	w.seen = make(map[uint64]bool)
	if w.b.freelist != noFreelist {
		if err := w.freelistPage(w.b.freelist); err != nil {
			return err
		}
	}
	_, err := w.node(w.b.root, nil, nil, nil)
	return err
}

func (w *walker) fail(err error) error {
	if w.damage == nil {
		return err
	}
	w.damage(err)
	return nil
}

func (w *walker) freelistPage(id uint64) error {
	buf, flags, err := w.b.page(id)
	if err == nil && flags != freelistFlag {
		err = pageErr(id, "is not the free list")
	}
	if err != nil {
		return w.fail(err)
	}
	n, at := uint64(ne.Uint16(buf[10:])), uint64(pageHeaderSize)
	if n == 0xFFFF && len(buf) >= pageHeaderSize+8 {
		n, at = ne.Uint64(buf[pageHeaderSize:]), at+8
	}
	if n > uint64(len(buf))/8 || at+n*8 > uint64(len(buf)) {
		return w.fail(pageErr(id, "lists more free pages than fit"))
	}
	return nil
}

// node walks the tree rooted at page id, inside top-level bucket top (nil:
// the root bucket itself), whose keys must lie between after and before
// (see keyInOrder). It returns the greatest key of the tree, as bbolt's
// check does.
func (w *walker) node(id uint64, top, after, before []byte) ([]byte, error) {
	buf, flags, err := w.b.page(id)
	if err == nil && flags != branchFlag && flags != leafFlag {
		err = pageErr(id, "is not part of a tree")
	}
	if err == nil {
		for p := id; p < id+uint64(len(buf))/uint64(w.b.pageSize); p++ {
			if w.seen[p] {
				err = pageErr(p, "is reached twice")
				break
			}
			w.seen[p] = true
		}
	}
	if err != nil {
		return nil, w.fail(err)
	}
	return w.elements(id, buf, flags, top, after, before)
}

// elements walks the elements of one node.
func (w *walker) elements(id uint64, buf []byte, flags uint16, top, after, before []byte) ([]byte, error) {
	es, err := elements(id, buf, flags)
	if err != nil {
		return nil, w.fail(err)
	}
	var last []byte
	for i, e := range es {
		if w.damage == nil && !keyInOrder(i, e.key, after, before) {
			return nil, pageErr(id, "keys out of order")
		}
		switch {
		case flags == branchFlag:
			next := before
			if i+1 < len(es) {
				next = es[i+1].key
			}
			after, err = w.node(e.child, top, e.key, next)
			last = after
			if err != nil {
				return nil, err
			}
			continue
		case e.bucket && top != nil:
			err = w.fail(pageErr(id, "holds a nested bucket"))
		case e.bucket:
			err = w.bucket(id, e)
		case top == nil:
			err = w.fail(pageErr(id, "holds a record outside any bucket"))
		case w.record != nil:
			w.record(top, e.key, e.value)
		}
		if err != nil {
			return nil, err
		}
		after, last = e.key, e.key
	}
	return last, nil
}

// bucket walks a top-level bucket: its tree, or its inline page.
func (w *walker) bucket(id uint64, e element) error {
	if len(e.value) < inBucketSize {
		return w.fail(pageErr(id, "bucket %x is cut short", e.key))
	}
	root := ne.Uint64(e.value)
	if root != 0 {
		_, err := w.node(root, e.key, nil, nil)
		return err
	}
	inline := e.value[inBucketSize:]
	if len(inline) < pageHeaderSize || ne.Uint16(inline[8:]) != leafFlag {
		return w.fail(pageErr(id, "inline bucket %x is damaged", e.key))
	}
	_, err := w.elements(id, inline, leafFlag, e.key, nil, nil)
	return err
}

// validate walks the store file at path and returns a [*DamagedError] at
// the first damage that could make bbolt panic or fault: a meta page, a
// page out of bounds or of the wrong kind, an element outside its page,
// keys out of order, a page reached twice, a bucket where none belongs.
func validate(path string) error {
	b, err := openBoltFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("store: opening %s: %w", path, err)
		}
		return damaged(path, "%v", err)
	}
	defer b.Close()
	if err := (&walker{b: b}).walk(); err != nil {
		return damaged(path, "%v", err)
	}
	return nil
}
