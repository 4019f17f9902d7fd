package node

// Epochs a sync session hands over whole (docs/PROTOCOL.md, "Sync",
// "Epochs the other node lacks"): right after a message that starts an
// epoch the other node lacks and can take with it (a join's add, a rekey),
// the session sends every message of that epoch, in the same scope
// message. The other node takes the key from the message before it, and
// so opens them; the add that starts the next epoch among them starts its
// hand-over in turn. A node that missed k joins thus catches up in one
// session instead of k, one after the other.

import (
	"errors"
	"slices"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// pushItem is a message to send in the scope message of another epoch:
// id, sealed in epoch tag.
type pushItem struct {
	id  alert.ID
	tag crypto.KeyTag
}

// epochStart is an epoch the other node lacks, in group g.
type epochStart struct {
	g *group
	e *epoch
}

// noteLacking records, once the scopes are agreed, the epochs of their
// groups that the other node lacks (as far as the handshake tells), by
// the id of the message that starts each.
func (ss *syncSession) noteLacking(lacks func(crypto.KeyTag) bool) {
	ss.starts = make(map[alert.ID][]epochStart)
	ss.pushed = make(map[crypto.KeyTag]bool)
	seen := make(map[*group]bool)
	for _, tag := range ss.order {
		g := ss.scopes[tag].ref.g
		if seen[g] {
			continue
		}
		seen[g] = true
		for t, e := range g.state().epochs {
			if !e.rekey.IsZero() && lacks(t) {
				ss.starts[e.rekey] = append(ss.starts[e.rekey], epochStart{g: g, e: e})
			}
		}
	}
}

// pushStartedBy queues, right after message id (sent sealed in epoch in),
// the messages of every epoch id starts that the other node lacks and can
// take with it: one a join ratcheted to from in, or one whose secret a
// rekey sealed or wrapped for the other node's member. They count
// against maxSyncQueued like the rest of the session's queue.
func (ss *syncSession) pushStartedBy(sc *syncScope, id alert.ID, in crypto.KeyTag) {
	for _, st := range ss.starts[id] {
		tag := st.e.keys.Tag()
		if ss.pushed[tag] || !ss.canTake(st, in) {
			continue
		}
		ss.pushed[tag] = true
		items := ss.n.offered(epochRef{g: st.g, keys: st.e.keys}, ss.n.now())
		ids := make([]alert.ID, len(items))
		for i, it := range items {
			ids[i] = alert.ID(it.ID)
		}
		ss.n.sendOrder(ids)
		for _, x := range ids {
			if ss.queued >= maxSyncQueued {
				ss.stats.Partial = true
				return
			}
			ss.queued++
			sc.push = append(sc.push, pushItem{id: x, tag: tag})
		}
	}
}

// canTake reports whether the other node can take the key of st.e from
// the message that starts it, sent sealed in epoch in: it derives an
// epoch a join ratcheted to from in; it opens a rekey's secret if the
// rekey reached its member.
func (ss *syncSession) canTake(st epochStart, in crypto.KeyTag) bool {
	if st.e.from != (crypto.KeyTag{}) {
		return st.e.from == in
	}
	var member crypto.MemberID
	found := false
	for _, m := range st.g.roster.Members() {
		if m.Peer == ss.peer {
			member, found = m.ID(), true
			break
		}
	}
	if !found {
		return false
	}
	return st.e.aud.reaches(member, st.g.seatingFor(st.g.state(), st.e.aud))
}

// next returns the next message to send in the scope: the scope's own
// queue first, then the epochs handed over, each after what was queued
// before it (the ops an add depends on come before the epoch it starts).
func (sc *syncScope) next() (alert.ID, crypto.KeyTag, bool) {
	if len(sc.queue) > 0 {
		id := sc.queue[0]
		sc.queue = sc.queue[1:]
		return id, sc.ref.keys.Tag(), true
	}
	if len(sc.push) > 0 {
		p := sc.push[0]
		sc.push = sc.push[1:]
		return p.id, p.tag, true
	}
	return alert.ID{}, crypto.KeyTag{}, false
}

// maxWaitPasses bounds how many times retryWaiting goes over one message.
const maxWaitPasses = 8

// retryWaiting takes again the envelopes of one sync message that were
// ignored only for want of a key or a roster op (errWaiting), as long as
// the previous pass took something: a message of an epoch handed over
// may come before the roster op its start depends on, a joiner's alert
// before its add. It updates errs in place; at most maxWaitPasses passes.
func (n *Node) retryWaiting(envs [][]byte, ages []int64, errs []error) {
	took := slices.Contains(errs, nil)
	for pass := 0; took && pass < maxWaitPasses; pass++ {
		var idx []int
		for i, err := range errs {
			if errors.Is(err, errWaiting) {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			return
		}
		again := make([][]byte, len(idx))
		var againAges []int64
		for k, i := range idx {
			again[k] = envs[i]
			if len(ages) == len(envs) {
				againAges = append(againAges, ages[i])
			}
		}
		took = false
		for k, err := range n.ingestSynced(again, againAges, maxSyncRejects) {
			errs[idx[k]] = err
			took = took || err == nil
		}
	}
}
