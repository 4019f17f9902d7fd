package syncer

// The scopes of a sync session: the epochs both sides proved, the set of
// messages each holds in them, and the queue of what to send.

import (
	"cmp"
	"slices"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/reconcile"
	"github.com/takecare-network/takecare/store"
)

// scope is an epoch both sides proved they hold: the set of messages
// this node holds in it, what to send and what to ask for.
type scope struct {
	ref    Epoch
	set    *reconcile.Set
	queue  []alert.ID // envelopes to send
	queued map[alert.ID]bool
	sorted bool       // queue is in the order to send
	wants  []alert.ID // ids to ask for
	asked  map[alert.ID]bool
	push   []pushItem // messages of epochs the other node lacks, sent first
}

// shared returns the epochs of every group in which the other node is a
// member node, that this node holds the key of: the newest of each group
// first, then the next newest of each, and so on, so that a cap on their
// number drops old epochs rather than whole groups.
func (ss *session) shared() []Epoch {
	perGroup := ss.cfg.Scopes.Shared(ss.peer)
	for _, es := range perGroup {
		slices.SortFunc(es, func(a, b Epoch) int { return cmp.Compare(b.Keys.Epoch(), a.Keys.Epoch()) })
	}
	var out []Epoch
	for depth := 0; ; depth++ {
		added := false
		for _, es := range perGroup {
			if depth < len(es) {
				out = append(out, es[depth])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

func (ss *session) addScope(ref Epoch) {
	tag := ref.Keys.Tag()
	now := ss.now()
	cut := now.Add(-ss.cfg.Retention).UnixMilli()
	set := reconcile.NewSet(ss.cfg.Scopes.Offered(ref, now))
	set.Window(cut, now.Add(alert.MaxClockError).UnixMilli())
	ss.scopes[tag] = &scope{
		ref: ref, set: set,
		queued: make(map[alert.ID]bool), asked: make(map[alert.ID]bool),
	}
	ss.order = append(ss.order, tag)
	ss.stats.Scopes++
}

func (ss *session) initial() *wire.SyncMessage {
	m := &wire.SyncMessage{}
	for _, tag := range ss.order {
		sc := ss.scopes[tag]
		m.Scopes = append(m.Scopes, &wire.ScopeMessage{Tag: tag[:], Ranges: rangesToWire(sc.set.Initiate())})
	}
	return m
}

// noteHeld records how many ids the session holds now.
func (ss *session) noteHeld() {
	var held int64
	for _, sc := range ss.scopes {
		held += int64(len(sc.wants) + len(sc.asked) + len(sc.queue) + len(sc.queued) + len(sc.push))
	}
	for {
		old := ss.held.Load()
		if held <= old || ss.held.CompareAndSwap(old, held) {
			return
		}
	}
}

// enqueue queues a message to send, once per session, and no more than
// maxQueued in all: the other side takes no more in one session.
func (ss *session) enqueue(sc *scope, id alert.ID) {
	if sc.queued[id] {
		return
	}
	if ss.queued >= maxQueued {
		ss.stats.Partial = true
		return
	}
	sc.queued[id] = true
	ss.queued++
	sc.queue = append(sc.queue, id)
	sc.sorted = false
}

// sortQueue puts the queue in the order to send, if anything was queued
// since it last did.
func (ss *session) sortQueue(sc *scope) {
	if !sc.sorted {
		SendOrder(ss.cfg.Store, sc.queue)
		sc.sorted = true
	}
}

// SendOrder sorts ids of messages held in st in the order sync sends
// them: the most urgent first ([store.Header].Priority), then the newest.
// A message is as new as when it was sent by this node's clock
// ([store.Header].Sent), but no newer than when this node stored it: a
// member cannot move its messages ahead by dating them in the future.
func SendOrder(st *store.Store, ids []alert.ID) {
	type key struct {
		id       alert.ID
		priority uint8
		sent     int64
	}
	keys := make([]key, len(ids))
	for i, id := range ids {
		h, _ := st.Header(id)
		sent := h.Sent
		if h.Received.Before(sent) {
			sent = h.Received
		}
		keys[i] = key{id, h.Priority, sent.UnixMilli()}
	}
	slices.SortStableFunc(keys, func(a, b key) int {
		if a.priority != b.priority {
			return cmp.Compare(b.priority, a.priority)
		}
		return cmp.Compare(b.sent, a.sent)
	})
	for i, k := range keys {
		ids[i] = k.id
	}
}

// age is how long ago, by this node's clock, a message held in st was
// made, in milliseconds, as sync tells the other side (0 if not held).
func age(st *store.Store, id alert.ID, now time.Time) int64 {
	h, ok := st.Header(id)
	if !ok {
		return 0
	}
	return max(now.Sub(h.Sent).Milliseconds(), 0)
}
