package node

// The scopes of a sync session: the epochs both sides proved, the set of
// messages each holds in them, and the queue of what to send.

import (
	"cmp"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/reconcile"
)

// sharedEpochs returns the epochs of every group in which p is a member
// node, that this node holds the key of: the newest of each group first,
// then the next newest of each, and so on, so that a cap on their number
// drops old epochs rather than whole groups.
func (n *Node) sharedEpochs(p peer.ID) []epochRef {
	var perGroup [][]epochRef
	for _, g := range n.groupList() {
		member := false
		for _, m := range g.roster.Members() {
			if m.Peer == p {
				member = true
				break
			}
		}
		if !member {
			continue
		}
		var es []*epoch
		for _, e := range g.state().epochs {
			es = append(es, e)
		}
		slices.SortFunc(es, func(a, b *epoch) int { return cmp.Compare(b.number(), a.number()) })
		var refs []epochRef
		for _, e := range es {
			refs = append(refs, epochRef{g: g, keys: e.keys})
		}
		perGroup = append(perGroup, refs)
	}
	var out []epochRef
	for depth := 0; ; depth++ {
		added := false
		for _, refs := range perGroup {
			if depth < len(refs) {
				out = append(out, refs[depth])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

func (ss *syncSession) addScope(ref epochRef) {
	tag := ref.keys.Tag()
	now := ss.n.now()
	cut := now.Add(-ss.retention).UnixMilli()
	set := reconcile.NewSet(ss.n.offered(ref, now))
	set.Window(cut, now.Add(alert.MaxClockError).UnixMilli())
	ss.scopes[tag] = &syncScope{
		ref: ref, set: set,
		queued: make(map[alert.ID]bool), asked: make(map[alert.ID]bool),
	}
	ss.order = append(ss.order, tag)
	ss.stats.Scopes++
}

// offered returns the messages this node holds in epoch ref that sync
// offers: those within the retention window, not expired, and not written
// by a member since removed (nodes that learned of the removal would not
// take them; they stay where they are).
func (n *Node) offered(ref epochRef, now time.Time) []reconcile.Item {
	cut := now.Add(-n.cfg.Retention).UnixMilli()
	var items []reconcile.Item
	for _, it := range n.store.Items(ref.keys.Tag()) {
		if it.Created < cut {
			continue
		}
		h, ok := n.store.Header(it.ID)
		if ok && !h.Expires.IsZero() && !h.Expires.After(now) {
			continue
		}
		if ok {
			if m, known := ref.g.roster.Member(h.Author); known && m.Removed {
				continue
			}
		}
		items = append(items, reconcile.Item{Created: it.Created, ID: reconcile.ID(it.ID)})
	}
	return items
}

func (ss *syncSession) initial() *wire.SyncMessage {
	m := &wire.SyncMessage{}
	for _, tag := range ss.order {
		sc := ss.scopes[tag]
		m.Scopes = append(m.Scopes, &wire.ScopeMessage{Tag: tag[:], Ranges: rangesToWire(sc.set.Initiate())})
	}
	return m
}

// noteHeld records how many ids the session holds now.
func (ss *syncSession) noteHeld() {
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
// maxSyncQueued in all: the other side takes no more in one session.
func (ss *syncSession) enqueue(sc *syncScope, id alert.ID) {
	if sc.queued[id] {
		return
	}
	if ss.queued >= maxSyncQueued {
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
func (ss *syncSession) sortQueue(sc *syncScope) {
	if !sc.sorted {
		ss.n.sendOrder(sc.queue)
		sc.sorted = true
	}
}

// sendOrder sorts ids of messages held in the order sync sends them: the
// most urgent first, then the newest. A message is as new as when it was
// sent by this node's clock ([store.Header].Sent), but no newer than when
// this node stored it: a member cannot move its messages ahead by dating
// them in the future.
func (n *Node) sendOrder(ids []alert.ID) {
	type key struct {
		id       alert.ID
		priority uint8
		sent     int64
	}
	keys := make([]key, len(ids))
	for i, id := range ids {
		h, _ := n.store.Header(id)
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
