package syncer

// Epochs a sync session hands over whole (docs/PROTOCOL.md, "Sync",
// "Epochs the other node lacks"): right after a message that starts an
// epoch the other node lacks and can take with it (a join's add, a rekey),
// the session sends every message of that epoch, in the same scope
// message. The other node takes the key from the message before it, and
// so opens them; the add that starts the next epoch among them starts its
// hand-over in turn. A node that missed k joins thus catches up in one
// session instead of k, one after the other.

import (
	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// pushItem is a message to send in the scope message of another epoch:
// id, sealed in epoch tag.
type pushItem struct {
	id  alert.ID
	tag crypto.KeyTag
}

// start is an epoch the other node lacks, of group g.
type start struct {
	g crypto.GroupID
	Start
}

// noteLacking records, once the scopes are agreed, the epochs of their
// groups that the other node lacks (as far as the handshake tells), by
// the id of the message that starts each.
func (ss *session) noteLacking(lacks func(crypto.KeyTag) bool) {
	ss.starts = make(map[alert.ID][]start)
	ss.pushed = make(map[crypto.KeyTag]bool)
	seen := make(map[crypto.GroupID]bool)
	for _, tag := range ss.order {
		g := ss.scopes[tag].ref.Group
		if seen[g] {
			continue
		}
		seen[g] = true
		for _, st := range ss.cfg.Handover.Starts(g) {
			if !st.By.IsZero() && lacks(st.Keys.Tag()) {
				ss.starts[st.By] = append(ss.starts[st.By], start{g: g, Start: st})
			}
		}
	}
}

// pushStartedBy queues, right after message id (sent sealed in epoch in),
// the messages of every epoch id starts that the other node lacks and can
// take with it: one a join ratcheted to from in, or one whose secret a
// rekey sealed or wrapped for the other node's member. They count
// against maxQueued like the rest of the session's queue.
func (ss *session) pushStartedBy(sc *scope, id alert.ID, in crypto.KeyTag) {
	for _, st := range ss.starts[id] {
		tag := st.Keys.Tag()
		if ss.pushed[tag] || !ss.canTake(st, in) {
			continue
		}
		ss.pushed[tag] = true
		items := ss.cfg.Scopes.Offered(Epoch{Group: st.g, Keys: st.Keys}, ss.now())
		ids := make([]alert.ID, len(items))
		for i, it := range items {
			ids[i] = alert.ID(it.ID)
		}
		SendOrder(ss.cfg.Store, ids)
		for _, x := range ids {
			if ss.queued >= maxQueued {
				ss.stats.Partial = true
				return
			}
			ss.queued++
			sc.push = append(sc.push, pushItem{id: x, tag: tag})
		}
	}
}

// canTake reports whether the other node can take the key of st from
// the message that starts it, sent sealed in epoch in: it derives an
// epoch a join ratcheted to from in; it opens a rekey's secret if the
// rekey reached its member.
func (ss *session) canTake(st start, in crypto.KeyTag) bool {
	if st.From != (crypto.KeyTag{}) {
		return st.From == in
	}
	return ss.cfg.Handover.Reaches(st.g, st.Keys.Tag(), ss.peer)
}

// next returns the next message to send in the scope: the scope's own
// queue first, then the epochs handed over, each after what was queued
// before it (the ops an add depends on come before the epoch it starts).
func (sc *scope) next() (alert.ID, crypto.KeyTag, bool) {
	if len(sc.queue) > 0 {
		id := sc.queue[0]
		sc.queue = sc.queue[1:]
		return id, sc.ref.Keys.Tag(), true
	}
	if len(sc.push) > 0 {
		p := sc.push[0]
		sc.push = sc.push[1:]
		return p.id, p.tag, true
	}
	return alert.ID{}, crypto.KeyTag{}, false
}
