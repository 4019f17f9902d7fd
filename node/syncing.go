package node

// What sync (node/internal/syncer) asks of the node, answered here.

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/syncer"
	"github.com/takecare-network/takecare/node/reconcile"
)

// SyncProtocol is the libp2p protocol id of store-and-forward sync.
const SyncProtocol = syncer.Protocol

// Defaults of Config.SyncInterval and Config.IdleSyncInterval.
const (
	DefaultSyncInterval = syncer.DefaultInterval
	DefaultIdleSync     = syncer.DefaultIdle
)

// SyncStats describes one sync session.
type SyncStats = syncer.Stats

// ErrSyncBusy means a session with that peer is already running.
var ErrSyncBusy = NewError(KindConflict, "a sync with that node is already running")

// SyncWith runs a sync session with a connected member node and returns what it
// did. Both sides end up with the union of their messages in every epoch
// both hold the key of. It returns [ErrSyncBusy] if a session with p is
// running.
func (n *Node) SyncWith(ctx context.Context, p peer.ID) (SyncStats, error) {
	if !n.enter() {
		return SyncStats{}, errors.New("node closed")
	}
	defer n.leave()
	st, err := n.syncer.Sync(ctx, p)
	if errors.Is(err, syncer.ErrBusy) {
		err = ErrSyncBusy
	}
	return st, err
}

// handleSync serves a session another member node started.
func (n *Node) handleSync(s network.Stream) {
	if !n.enter() {
		s.Reset()
		return
	}
	defer n.leave()
	if p := s.Conn().RemotePeer(); !n.isMemberPeer(p) {
		n.log.Debug("refused a sync: not a member node", "peer", p)
		s.Reset()
		return
	}
	n.syncer.Serve(s)
}

// syncing is the node as sync sees it: the node itself, with the methods
// of sync's interfaces, which thus stay out of Node's API.
type syncing Node

var (
	_ syncer.Peers    = (*syncing)(nil)
	_ syncer.Scopes   = (*syncing)(nil)
	_ syncer.Pipeline = (*syncing)(nil)
	_ syncer.Handover = (*syncing)(nil)
	_ syncer.Notes    = (*syncing)(nil)
)

// newSyncer returns the scheduler of n's sync sessions.
func (n *Node) newSyncer() *syncer.Scheduler {
	s := (*syncing)(n)
	return syncer.New(n.ctx, syncer.Config{
		Self: n.host.ID(), Store: n.store, Now: n.cfg.Now, Retention: n.cfg.Retention,
		Interval: n.cfg.SyncInterval, IdleMax: n.cfg.IdleSyncInterval, KeysTaken: &n.keysTaken,
		Spawn: n.spawn, Log: n.log,
		Peers: s, Scopes: s, Pipeline: s, Handover: s, Notes: s,
	})
}

func (s *syncing) node() *Node { return (*Node)(s) }

// Syncable returns the member nodes connected now.
func (s *syncing) Syncable() []peer.ID { return s.node().connectedMembers() }

func (s *syncing) Connected(p peer.ID) bool { return s.node().connected(p) }

func (s *syncing) Open(ctx context.Context, p peer.ID) (network.Stream, error) {
	return s.host.NewStream(network.WithAllowLimitedConn(ctx, "sync"), p, SyncProtocol)
}

// Shared returns the epochs held of each group p is a member node of.
func (s *syncing) Shared(p peer.ID) [][]syncer.Epoch {
	var out [][]syncer.Epoch
	for _, g := range s.node().groupList() {
		if !g.isMemberPeer(p) {
			continue
		}
		var es []syncer.Epoch
		for _, e := range g.state().epochs {
			es = append(es, syncer.Epoch{Group: g.id, Keys: e.keys})
		}
		out = append(out, es)
	}
	return out
}

// Offered returns the messages held in epoch e within the retention
// window, not expired, and not written by a member since removed (nodes
// that learned of the removal would not take them; they stay where they
// are).
func (s *syncing) Offered(e syncer.Epoch, now time.Time) []reconcile.Item {
	g, err := s.node().group(e.Group)
	if err != nil {
		return nil
	}
	cut := now.Add(-s.cfg.Retention).UnixMilli()
	var items []reconcile.Item
	for _, it := range s.store.Items(e.Keys.Tag()) {
		if it.Created < cut {
			continue
		}
		h, ok := s.store.Header(it.ID)
		if ok && !h.Expires.IsZero() && !h.Expires.After(now) {
			continue
		}
		if ok {
			if m, known := g.roster.Member(h.Author); known && m.Removed {
				continue
			}
		}
		items = append(items, reconcile.Item{Created: it.Created, ID: reconcile.ID(it.ID)})
	}
	return items
}

// Take takes the envelopes of one sync message through the pipeline
// (ingestSynced), again what waited for another of them (retryWaiting),
// and counts the outcomes.
func (s *syncing) Take(envs [][]byte, ages []time.Duration, maxRejects int) []error {
	n := s.node()
	errs := n.ingestSynced(envs, ages, maxRejects)
	n.retryWaiting(envs, ages, errs, maxRejects)
	for _, err := range errs {
		n.count(err)
	}
	return errs
}

func (s *syncing) Rejected(err error) bool { return errors.Is(err, errReject) }

// maxWaitPasses bounds how many times retryWaiting goes over one message.
const maxWaitPasses = 8

// retryWaiting takes again the envelopes of one sync message that were
// ignored only for want of a key or a roster op (errWaiting), as long as
// the previous pass took something: a message of an epoch handed over
// may come before the roster op its start depends on, a joiner's alert
// before its add. It updates errs in place; at most maxWaitPasses passes,
// each stopping after more than rejects rejections.
func (n *Node) retryWaiting(envs [][]byte, ages []time.Duration, errs []error, rejects int) {
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
		var againAges []time.Duration
		for k, i := range idx {
			again[k] = envs[i]
			if len(ages) == len(envs) {
				againAges = append(againAges, ages[i])
			}
		}
		took = false
		for k, err := range n.ingestSynced(again, againAges, rejects) {
			errs[idx[k]] = err
			took = took || err == nil
		}
	}
}

// Starts returns the epochs of a group that a join's add or a rekey
// started.
func (s *syncing) Starts(gid crypto.GroupID) []syncer.Start {
	g, err := s.node().group(gid)
	if err != nil {
		return nil
	}
	var out []syncer.Start
	for _, e := range g.state().epochs {
		if !e.rekey.IsZero() {
			out = append(out, syncer.Start{By: e.rekey, Keys: e.keys, From: e.from})
		}
	}
	return out
}

func (s *syncing) Reaches(gid crypto.GroupID, tag crypto.KeyTag, p peer.ID) bool {
	g, err := s.node().group(gid)
	return err == nil && g.reachedPeer(tag, p)
}

func (s *syncing) Clock(p peer.ID, offset time.Duration, at time.Time) {
	s.clocks.note(p, offset, at)
}

func (s *syncing) Handed(gid crypto.GroupID, id alert.ID, p peer.ID) {
	if g, err := s.node().group(gid); err == nil {
		s.node().syncedOwn(g, id, p)
	}
}

func (s *syncing) Synced(p peer.ID) { s.node().synced(p) }
