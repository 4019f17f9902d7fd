package node

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/takecare-network/takecare/crypto"
)

// keyring finds the epoch of an envelope by its key tag, for every group
// this node is in. The validator reads it on every message, so it takes no
// lock: it loads an immutable map, which a change (an epoch taken or
// erased, a group added) replaces with a changed copy. Changes are rare
// (one per epoch); lookups see the map before or after one, whole.
//
// Safe for concurrent use; the zero value is empty.
type keyring struct {
	mu   sync.Mutex // one change at a time
	tags atomic.Pointer[map[crypto.KeyTag]epochRef]
}

// lookup returns the epoch whose key has tag.
func (k *keyring) lookup(tag crypto.KeyTag) (epochRef, bool) {
	m := k.tags.Load()
	if m == nil {
		return epochRef{}, false
	}
	ref, ok := (*m)[tag]
	return ref, ok
}

// change publishes a copy of the map as f changed it.
func (k *keyring) change(f func(map[crypto.KeyTag]epochRef)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	next := make(map[crypto.KeyTag]epochRef)
	if m := k.tags.Load(); m != nil {
		maps.Copy(next, *m)
	}
	f(next)
	k.tags.Store(&next)
}
