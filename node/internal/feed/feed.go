// Package feed keeps what the node's feed is built from besides the
// stored messages: the acknowledgements each message has received
// ([Acks]), and the followers that receive new entries as they come
// ([Hub]). Entries themselves are built by package node, which knows the
// groups, names and deliveries that go into them.
//
// Acks and Hub are safe for concurrent use; a [Sub] is used by one
// reader.
package feed

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// Ack is one member's latest acknowledgement of a message.
type Ack struct {
	Author crypto.MemberID
	Status alert.AckStatus
	At     time.Time // when it was made, by this node's clock (alert.Message.Sent)
}

// Acks holds the latest acknowledgement of each member for each message.
// The zero value is ready to use.
type Acks struct {
	mu   sync.Mutex
	acks map[alert.ID]map[crypto.MemberID]Ack
}

// Add records an acknowledgement of message ref, unless the author made a
// later one.
func (a *Acks) Add(ref alert.ID, ack Ack) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acks == nil {
		a.acks = make(map[alert.ID]map[crypto.MemberID]Ack)
	}
	byMember := a.acks[ref]
	if byMember == nil {
		byMember = make(map[crypto.MemberID]Ack)
		a.acks[ref] = byMember
	}
	if prev, ok := byMember[ack.Author]; !ok || prev.At.Before(ack.At) {
		byMember[ack.Author] = ack
	}
}

// List returns the acknowledgements of message ref, oldest first (then by
// author).
func (a *Acks) List(ref alert.ID) []Ack {
	a.mu.Lock()
	out := make([]Ack, 0, len(a.acks[ref]))
	for _, r := range a.acks[ref] {
		out = append(out, r)
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y Ack) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		return cmp.Compare(x.Author.String(), y.Author.String())
	})
	return out
}

// Answered reports whether anyone but the subject of an alarm acknowledged
// it as seen or responding, with an acknowledgement made no earlier than
// the alarm (since, both by this node's clock): an answer made before the
// alarm existed answers nothing, however it names it. "Unable" does not
// stop an escalation: it says that this person cannot help.
func (a *Acks) Answered(ref alert.ID, subject crypto.MemberID, since time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, r := range a.acks[ref] {
		if id != subject && r.Status != alert.AckUnable && !r.At.Before(since) {
			return true
		}
	}
	return false
}

// Buffer is how many entries a slow follower may fall behind before it is
// cut off (its channel closes).
const Buffer = 1024

// Hub delivers entries of type E to followers. The zero value is ready to
// use.
type Hub[E any] struct {
	mu     sync.Mutex
	subs   map[*Sub[E]]struct{}
	closed bool
}

// Sub is one follower of a [Hub].
type Sub[E any] struct {
	C     <-chan E // closed when the follower stops, falls behind or the hub closes
	c     chan E
	match func(E) bool
	h     *Hub[E]
	once  sync.Once
}

// Follow returns a follower of the entries that match. If the hub is
// closed, its channel is closed already.
func (h *Hub[E]) Follow(match func(E) bool) *Sub[E] {
	c := make(chan E, Buffer)
	s := &Sub[E]{C: c, c: c, match: match, h: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(c)
		return s
	}
	if h.subs == nil {
		h.subs = make(map[*Sub[E]]struct{})
	}
	h.subs[s] = struct{}{}
	return s
}

// Stop ends the follower and closes its channel.
func (s *Sub[E]) Stop() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.stopLocked()
}

func (s *Sub[E]) stopLocked() {
	s.once.Do(func() {
		delete(s.h.subs, s)
		close(s.c)
	})
}

// Send gives e to every follower it matches; a follower whose channel is
// full is stopped. It never blocks.
func (h *Hub[E]) Send(e E) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !s.match(e) {
			continue
		}
		select {
		case s.c <- e:
		default:
			s.stopLocked()
		}
	}
}

// Close stops every follower; later followers start stopped.
func (h *Hub[E]) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		s.stopLocked()
	}
}
