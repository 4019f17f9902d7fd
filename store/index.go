package store

import (
	"slices"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// The in-memory index: every message's header, the set of messages held
// under each key tag (what sync reconciles), and counts per author. It is
// built by Open and kept in step by every write; s.mu guards it.

// tagSet is the messages held under one key tag, sorted when sorted is
// true.
type tagSet struct {
	items  []Item
	sorted bool
}

// authorKey counts messages per author in one group
// ([Options.MaxPerAuthor]).
type authorKey struct {
	group  crypto.GroupID
	author crypto.MemberID
}

// index adds message h. The caller holds s.mu.
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

// unindex removes message h and its aliases. The caller holds s.mu.
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
