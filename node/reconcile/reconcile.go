// Package reconcile finds the difference between two sets of message ids
// held by two nodes, by range-based set reconciliation (after Negentropy v1
// and Meyer's RBSR): each side sends, for ranges of the ordered set, either a
// fingerprint or, for small ranges, the ids themselves; ranges whose
// fingerprints differ are split and compared again. Two sets of a million
// items that differ by one reconcile in a handful of round trips of a few
// hundred bytes each, instead of listing 32 bytes per item.
//
// Items are ordered by creation time, then id. A [Range] covers the items
// from the previous range's upper bound (or the start) up to, not including,
// its own upper [Bound]. The protocol around it is in docs/PROTOCOL.md,
// "Sync".
//
// A [Set] is not safe for concurrent use.
package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Tuning: a range is split into Buckets parts; a range of at most
// 2×Buckets items is sent as a list of ids instead.
const (
	Buckets        = 16
	IDListMax      = 2 * Buckets
	FingerprintLen = 16
)

// Limits on what a peer may send in one message. An id list also holds at
// most IDListMax ids: a side lists the ids of a range only when it holds
// at most that many in it.
const (
	MaxRanges    = 4096
	MaxListedIDs = 65536
)

// ID is a message id.
type ID [32]byte

// Item is one element of a set.
type Item struct {
	Created int64 // Unix milliseconds
	ID      ID
}

func (a Item) compare(b Item) int {
	if a.Created != b.Created {
		if a.Created < b.Created {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}

// Bound is an upper bound: items below it have an earlier creation time,
// or the same time and an id that sorts before ID (a prefix).
type Bound struct {
	Created int64
	ID      []byte
}

// End is the bound above every item.
var End = Bound{Created: math.MaxInt64}

// below reports whether it sorts before b.
func (b Bound) above(it Item) bool {
	if it.Created != b.Created {
		return it.Created < b.Created
	}
	return bytes.Compare(it.ID[:], b.ID) < 0
}

func (b Bound) compare(o Bound) int {
	if b.Created != o.Created {
		if b.Created < o.Created {
			return -1
		}
		return 1
	}
	return bytes.Compare(b.ID, o.ID)
}

// between returns the shortest bound above prev and not above next.
func between(prev, next Item) Bound {
	if prev.Created != next.Created {
		return Bound{Created: next.Created}
	}
	n := 0
	for n < len(next.ID) && prev.ID[n] == next.ID[n] {
		n++
	}
	return Bound{Created: next.Created, ID: bytes.Clone(next.ID[:n+1])}
}

// Mode says what a range carries.
type Mode uint8

// Modes.
const (
	Skip        Mode = 0 // nothing to do in this range
	Fingerprint Mode = 1 // the sender's fingerprint of the range
	IDList      Mode = 2 // every id the sender holds in the range
)

// Range is one step of the reconciliation.
type Range struct {
	Upper       Bound
	Mode        Mode
	Fingerprint [FingerprintLen]byte
	IDs         []ID
}

// Set is one side's items.
type Set struct {
	items  []Item
	lo, hi int64 // the window of creation times this side takes
}

// NewSet returns a set of items (sorted and de-duplicated here).
func NewSet(items []Item) *Set {
	s := slices.Clone(items)
	slices.SortFunc(s, Item.compare)
	s = slices.CompactFunc(s, func(a, b Item) bool { return a == b })
	return &Set{items: s, lo: math.MinInt64, hi: math.MaxInt64}
}

// Window sets the creation times, in Unix milliseconds, of the items this
// side would take: ids the other side lists in a range that lies wholly
// before lo or after hi are not reported as needed by [Set.Respond].
func (s *Set) Window(lo, hi int64) { s.lo, s.hi = lo, hi }

// Len returns the number of items.
func (s *Set) Len() int { return len(s.items) }

// lower returns the index of the first item not below b.
func (s *Set) index(b Bound) int {
	i, _ := slices.BinarySearchFunc(s.items, b, func(it Item, b Bound) int {
		if b.above(it) {
			return -1
		}
		return 1
	})
	return i
}

// fingerprint of items[i:j]: SHA-256 of their ids summed as 256-bit
// little-endian integers modulo 2^256, followed by the count as a uvarint,
// truncated to 16 bytes.
func (s *Set) fingerprint(i, j int) [FingerprintLen]byte {
	var sum [4]uint64
	for _, it := range s.items[i:j] {
		var carry uint64
		for k := range 4 {
			v := binary.LittleEndian.Uint64(it.ID[k*8:])
			a := sum[k] + v
			c1 := uint64(0)
			if a < sum[k] {
				c1 = 1
			}
			b := a + carry
			c2 := uint64(0)
			if b < a {
				c2 = 1
			}
			sum[k], carry = b, c1+c2
		}
	}
	var buf [32 + binary.MaxVarintLen64]byte
	for k := range 4 {
		binary.LittleEndian.PutUint64(buf[k*8:], sum[k])
	}
	n := binary.PutUvarint(buf[32:], uint64(j-i))
	h := sha256.Sum256(buf[:32+n])
	var fp [FingerprintLen]byte
	copy(fp[:], h[:])
	return fp
}

// describe returns ranges describing items[i:j] below upper: one id list
// if small, else Buckets fingerprints.
func (s *Set) describe(i, j int, upper Bound) []Range {
	n := j - i
	if n <= IDListMax {
		r := Range{Upper: upper, Mode: IDList, IDs: make([]ID, 0, n)}
		for _, it := range s.items[i:j] {
			r.IDs = append(r.IDs, it.ID)
		}
		return []Range{r}
	}
	out := make([]Range, 0, Buckets)
	per, extra := n/Buckets, n%Buckets
	start := i
	for b := range Buckets {
		end := start + per
		if b < extra {
			end++
		}
		ub := upper
		if b < Buckets-1 {
			ub = between(s.items[end-1], s.items[end])
		}
		out = append(out, Range{Upper: ub, Mode: Fingerprint, Fingerprint: s.fingerprint(start, end)})
		start = end
	}
	return out
}

// Initiate returns the first message: one fingerprint of the whole set if
// it holds at least one and at most IDListMax items, otherwise the whole
// set described. Sets that agree (the usual case: gossip keeps them in
// step) then agree after one fingerprint each, not a list of their ids;
// sets that differ take one more round.
func (s *Set) Initiate() []Range {
	if n := len(s.items); n > 0 && n <= IDListMax {
		return []Range{{Upper: End, Mode: Fingerprint, Fingerprint: s.fingerprint(0, n)}}
	}
	return s.describe(0, len(s.items), End)
}

// ErrProtocol is returned for ranges that break the protocol.
var ErrProtocol = errors.New("reconcile: protocol violation")

// Respond processes the other side's ranges and returns the ranges to send
// back, the ids this side holds that the other lacks (have), and the ids
// the other holds that this side lacks (need), leaving out those listed in
// a range outside the [Set.Window]. When the returned ranges are all Skip,
// out is empty. An id list of more than IDListMax ids, or more than
// MaxListedIDs ids in all, is an [ErrProtocol].
func (s *Set) Respond(in []Range) (out []Range, have, need []ID, err error) {
	if len(in) > MaxRanges {
		return nil, nil, nil, fmt.Errorf("%w: %d ranges", ErrProtocol, len(in))
	}
	lower := Bound{Created: math.MinInt64}
	listed := 0
	skipping := false // the last range in out is a Skip that can grow
	emit := func(r ...Range) {
		for _, x := range r {
			if x.Mode == Skip && skipping {
				out[len(out)-1].Upper = x.Upper
				continue
			}
			out = append(out, x)
			skipping = x.Mode == Skip
		}
	}
	for _, r := range in {
		if r.Upper.compare(lower) <= 0 || len(r.Upper.ID) > len(ID{}) {
			return nil, nil, nil, fmt.Errorf("%w: ranges out of order", ErrProtocol)
		}
		i, j := s.index(lower), s.index(r.Upper)
		switch r.Mode {
		case Skip:
			emit(Range{Upper: r.Upper})
		case Fingerprint:
			if s.fingerprint(i, j) == r.Fingerprint {
				emit(Range{Upper: r.Upper})
			} else {
				emit(s.describe(i, j, r.Upper)...)
			}
		case IDList:
			listed += len(r.IDs)
			if listed > MaxListedIDs || len(r.IDs) > IDListMax {
				return nil, nil, nil, fmt.Errorf("%w: too many ids listed", ErrProtocol)
			}
			outside := r.Upper.Created < s.lo || lower.Created > s.hi
			have, need = s.compareList(r.IDs, i, j, outside, have, need)
			emit(Range{Upper: r.Upper})
		default:
			return nil, nil, nil, fmt.Errorf("%w: unknown mode %d", ErrProtocol, r.Mode)
		}
		lower = r.Upper
	}
	// Trailing skips say nothing.
	for len(out) > 0 && out[len(out)-1].Mode == Skip {
		out = out[:len(out)-1]
	}
	return out, have, need, nil
}

// compareList compares the other side's id list for a range with this
// side's items i to j of the range. It appends to have the ids only this
// side holds, and to need those only the other holds (none when the range
// is outside the window), each once.
func (s *Set) compareList(ids []ID, i, j int, outside bool, have, need []ID) ([]ID, []ID) {
	theirs := make(map[ID]bool, len(ids))
	for _, id := range ids {
		theirs[id] = true
	}
	for _, it := range s.items[i:j] {
		if theirs[it.ID] {
			delete(theirs, it.ID)
		} else {
			have = append(have, it.ID)
		}
	}
	for _, id := range ids {
		if theirs[id] && !outside {
			need = append(need, id)
			delete(theirs, id)
		}
	}
	return have, need
}
