package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/reconcile"
	"github.com/takecare-network/takecare/store"
)

// SyncProtocol is the libp2p protocol id of store-and-forward sync.
const SyncProtocol protocol.ID = "/takecare/sync/1.0.0"

// Limits of one sync session.
const (
	syncVersion         = 1
	maxSyncMessage      = 8 << 20 // bytes of one protocol message
	syncEnvelopeBudget  = 2 << 20 // bytes of envelopes per message
	maxSyncScopes       = 256
	maxSyncWants        = 16384            // ids asked for in one message
	maxSyncEnvelopes    = 50000            // envelopes received in one session
	maxSyncAsked        = maxSyncEnvelopes // ids asked for in one session; the rest in the next
	maxSyncQueued       = maxSyncEnvelopes // envelopes queued to send in one session; the rest in the next
	maxSyncRejects      = 64               // rejected envelopes before giving up on a peer
	syncSessionTimeout  = 10 * time.Minute
	maxInboundSyncs     = 16
	DefaultSyncInterval = time.Minute
	DefaultIdleSync     = time.Hour
	syncKickDebounce    = 200 * time.Millisecond
	syncProofLabel      = "takecare/v1/sync-proof\x00"
	syncRoleInitiator   = 'I'
	syncRoleResponder   = 'R'
	syncNonceSize       = 32
)

// errTooManyRejects ends a session whose peer sent more than
// maxSyncRejects envelopes that the pipeline rejected.
var errTooManyRejects = errors.New("sync: too many rejected envelopes")

// SyncStats describes one sync session.
type SyncStats struct {
	Scopes        int           `json:"scopes"`         // epochs reconciled
	Messages      int           `json:"messages"`       // protocol messages, both directions, after the handshake
	BytesSent     int64         `json:"bytes_sent"`     // on the stream, all included
	BytesReceived int64         `json:"bytes_received"` //
	Sent          int           `json:"sent"`           // envelopes sent
	Received      int           `json:"received"`       // envelopes received
	Accepted      int           `json:"accepted"`       // received envelopes that were new and valid
	EnvelopeBytes int64         `json:"envelope_bytes"` // bytes of the envelopes received
	Duration      time.Duration `json:"duration"`
	// Partial: the session reached its limit of messages to ask for or to
	// send; another session follows at once for the rest.
	Partial bool `json:"partial,omitempty"`
}

// ErrSyncBusy means a session with that peer is already running.
var ErrSyncBusy = NewError(KindConflict, "a sync with that node is already running")

// syncer schedules sessions: at most one per pair of nodes. When both
// nodes start one at the same moment, the one started by the node with the
// lower peer id goes on and the other is refused. A session asked for while
// one with that node runs starts when it ends: the running one may have
// begun before whatever prompted the request.
//
// A syncer is safe for concurrent use; its sessions run on goroutines
// the node owns (spawn), which end when ctx does.
type syncer struct {
	peers    syncPeers
	self     peer.ID
	ctx      context.Context
	spawn    func(func())
	log      *slog.Logger
	interval time.Duration // Config.SyncInterval
	idleMax  time.Duration // Config.IdleSyncInterval
	// keysTaken counts the epoch keys the node took (Node.keysTaken): a
	// session during which it took one is followed by another.
	keysTaken *atomic.Int64

	mu       sync.Mutex
	out      map[peer.ID]bool // sessions we started
	in       map[peer.ID]bool // sessions the peer started
	again    map[peer.ID]bool // asked for while a session ran
	inbound  int
	kickOnce map[peer.ID]bool
	retry    map[peer.ID]time.Duration
	idle     map[peer.ID]*idleSync // periodic sessions, per peer
	fresh    atomic.Int64          // when this node last took a new message, Unix ns (periodic)
	// sessions counts the sessions that ended well, either side, for tests.
	sessions atomic.Int64
	// held is the most ids one session has held at once (to ask for, asked
	// for, queued to send), for tests.
	held atomic.Int64
}

// syncPeers is what the scheduler needs of the node: the member nodes it
// syncs with, and a session with one.
type syncPeers interface {
	// syncable returns the member nodes of this node's groups that are
	// connected now, this node excluded.
	syncable() []peer.ID
	connected(p peer.ID) bool
	SyncWith(ctx context.Context, p peer.ID) (SyncStats, error)
}

// newSyncer returns the scheduler of the sessions of n, this node.
func (n *Node) newSyncer() *syncer {
	return &syncer{
		peers: n, self: n.host.ID(), ctx: n.ctx, spawn: n.spawn, log: n.log,
		interval: n.cfg.SyncInterval, idleMax: n.cfg.IdleSyncInterval, keysTaken: &n.keysTaken,
		out: make(map[peer.ID]bool), in: make(map[peer.ID]bool), again: make(map[peer.ID]bool),
		kickOnce: make(map[peer.ID]bool), retry: make(map[peer.ID]time.Duration), idle: make(map[peer.ID]*idleSync),
	}
}

// syncable returns the member nodes connected now (syncPeers).
func (n *Node) syncable() []peer.ID {
	var out []peer.ID
	for p := range n.access.Load().Members {
		if p != n.host.ID() && n.connected(p) {
			out = append(out, p)
		}
	}
	return out
}

// idleSync is when the last session with a peer ended, when the next
// periodic one is due, and the interval that led there.
type idleSync struct {
	every      time.Duration
	last, next time.Time
}

// periodic runs every Config.SyncInterval and syncs with each connected
// member node whose periodic session is due. The interval with a node
// starts at SyncInterval and doubles after every session that moved
// nothing either way, up to Config.IdleSyncInterval; a session that moved
// something sets it back. Gossip carries what happens while nodes are
// connected, and new connections, new epoch keys and new roster members
// start sessions of their own, so between two nodes that agree the
// periodic session is only a safety net, and it costs bytes every time.
// But once this node holds a message it did not hold at the last session
// with a node (its own or another's), the next session with that node is
// due one SyncInterval after the last, however far it had backed off: a
// message GossipSub failed to hand over (a mesh still forming, a link
// that dropped it) reaches a connected member within about a
// SyncInterval, as it did before sessions backed off.
//
// A session is due when it would be within half a SyncInterval, so that
// one falling just after a tick is not put off by a whole interval.
func (s *syncer) periodic() {
	soon := time.Now().Add(s.interval / 2)
	fresh := time.Unix(0, s.fresh.Load())
	for _, p := range s.peers.syncable() {
		s.mu.Lock()
		st := s.idle[p]
		due := st == nil || !soon.Before(st.next) ||
			(fresh.After(st.last) && !soon.Before(st.last.Add(s.interval)))
		s.mu.Unlock()
		if due {
			s.kick(p)
		}
	}
}

// took notes that this node holds a message it did not hold before
// (periodic).
func (s *syncer) took() { s.fresh.Store(time.Now().UnixNano()) }

// noteSession sets when the next periodic session with p is due, after a
// session that moved something or nothing.
func (s *syncer) noteSession(p peer.ID, moved bool) {
	s.sessions.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.idle[p]
	if st == nil {
		st = &idleSync{every: s.interval}
		s.idle[p] = st
	}
	if moved {
		st.every = s.interval
	} else {
		st.every = min(2*st.every, s.idleMax)
	}
	st.last = time.Now()
	st.next = st.last.Add(st.every)
}

func (s *syncer) begin(p peer.ID, inbound bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inbound {
		if s.in[p] || s.inbound >= maxInboundSyncs || (s.out[p] && s.self < p) {
			return false
		}
		s.in[p] = true
		s.inbound++
		return true
	}
	if s.out[p] || s.in[p] {
		s.again[p] = true
		return false
	}
	s.out[p] = true
	return true
}

func (s *syncer) end(p peer.ID, inbound bool) {
	s.mu.Lock()
	if inbound {
		delete(s.in, p)
		s.inbound--
	} else {
		delete(s.out, p)
	}
	again := s.again[p] && !s.in[p] && !s.out[p]
	if again {
		delete(s.again, p)
	}
	s.mu.Unlock()
	if again && s.ctx.Err() == nil {
		s.kick(p)
	}
}

// kick starts a session with p soon, unless one is running or already
// scheduled. A session that fails is retried with a growing delay while
// the peer stays connected.
func (s *syncer) kick(p peer.ID) { s.kickAfter(p, syncKickDebounce) }

func (s *syncer) kickAfter(p peer.ID, delay time.Duration) {
	s.mu.Lock()
	if s.kickOnce[p] {
		s.mu.Unlock()
		return
	}
	s.kickOnce[p] = true
	s.mu.Unlock()
	s.spawn(func() {
		select {
		case <-time.After(delay):
		case <-s.ctx.Done():
			return
		}
		s.mu.Lock()
		delete(s.kickOnce, p)
		s.mu.Unlock()
		if !s.peers.connected(p) {
			return
		}
		keys := s.keysTaken.Load()
		st, err := s.peers.SyncWith(s.ctx, p)
		switch {
		case errors.Is(err, ErrSyncBusy):
			s.log.Debug("sync deferred: a session with that node is running", "peer", p)
		case err != nil:
			retry := s.backoff(p)
			s.log.Debug("sync failed", "peer", p, "err", err, "retry_in", retry)
			if s.ctx.Err() == nil {
				s.kickAfter(p, retry)
			}
		default:
			s.resetBackoff(p)
			s.noteSession(p, st.Received > 0 || st.Sent > 0)
			if st.Accepted > 0 {
				s.forward(p)
			}
			if st.Partial || s.keysTaken.Load() != keys {
				s.kick(p)
			}
			if st.Accepted > 0 || st.Sent > 0 {
				s.log.Info("synced", "peer", p, "received", st.Accepted, "sent", st.Sent, "duration", st.Duration.Round(time.Millisecond))
			}
		}
	})
}

func (s *syncer) backoff(p peer.ID) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.retry[p] * 2
	if d < time.Second {
		d = time.Second
	}
	if d > s.interval {
		d = s.interval
	}
	s.retry[p] = d
	return d
}

func (s *syncer) resetBackoff(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.retry, p)
}

// forward starts sessions with the other connected member nodes after a
// session with from brought new messages: they may lack them too, and
// gossip does not carry what arrived by sync. What a node missed thus
// crosses a network in which not every member is connected to every other
// in seconds, not in one sync interval per hop. A session that brings
// nothing new starts nothing, so the wave dies out.
func (s *syncer) forward(from peer.ID) {
	for _, p := range s.peers.syncable() {
		if p != from {
			s.kick(p)
		}
	}
}

// kickAll syncs with every connected member node.
func (s *syncer) kickAll() {
	for _, p := range s.peers.syncable() {
		s.kick(p)
	}
}

// syncSession is one side of one session. It is used by the goroutine
// that runs the session.
type syncSession struct {
	n         syncNode
	store     *store.Store
	clocks    *clocks
	log       *slog.Logger
	self      peer.ID
	retention time.Duration // Config.Retention
	held      *atomic.Int64 // syncer.held
	peer      peer.ID
	initiator bool
	cs        *countingStream
	scopes    map[crypto.KeyTag]*syncScope
	order     []crypto.KeyTag
	stats     SyncStats
	rejects   int
	// What the session holds besides its sets, across scopes, within
	// maxSyncAsked and maxSyncQueued.
	asked, queued int
	// Epochs the other node lacks, by the message that starts each, and
	// those whose messages were queued to it (sync_push.go).
	starts map[alert.ID][]epochStart
	pushed map[crypto.KeyTag]bool
}

// syncNode is what a session needs of the node besides its store: its
// clock; the epochs it shares with the other node and the messages it
// offers in one (sync_scope.go); taking what arrives through the pipeline,
// again for what waited for a key or a roster op (sync_push.go), and
// counting the outcomes; and, of what it sends, the order, the age and
// the delivery notes. It is wider than the parts' interfaces should be: a
// session still reads the groups' epochs (epochRef, and the epochs the
// other node lacks in sync_push.go), which the group keeps to itself once
// it is a part of its own.
type syncNode interface {
	now() time.Time
	sharedEpochs(p peer.ID) []epochRef
	offered(ref epochRef, now time.Time) []reconcile.Item
	ingestSynced(envs [][]byte, ages []int64, rejects int) []error
	retryWaiting(envs [][]byte, ages []int64, errs []error)
	count(err error)
	sendOrder(ids []alert.ID)
	age(id alert.ID, now time.Time) int64
	syncedOwn(g *group, id alert.ID, p peer.ID)
}

// newSyncSession returns this node's side of a session with p on stream s.
func (n *Node) newSyncSession(p peer.ID, initiator bool, s network.Stream) *syncSession {
	return &syncSession{
		n: n, store: n.store, clocks: &n.clocks, log: n.log, self: n.host.ID(), retention: n.cfg.Retention, held: &n.syncer.held,
		peer: p, initiator: initiator, cs: newCountingStream(s),
	}
}

type syncScope struct {
	ref    epochRef
	set    *reconcile.Set
	queue  []alert.ID // envelopes to send
	queued map[alert.ID]bool
	sorted bool       // queue is in the order to send
	wants  []alert.ID // ids to ask for
	asked  map[alert.ID]bool
	push   []pushItem // messages of epochs the other node lacks, sent first
}

// SyncWith runs a sync session with a connected member node and returns
// what it did. Both sides end up with the union of their messages in every
// epoch both hold the key of.
func (n *Node) SyncWith(ctx context.Context, p peer.ID) (SyncStats, error) {
	if !n.enter() {
		return SyncStats{}, errors.New("node closed")
	}
	defer n.leave()
	if !n.syncer.begin(p, false) {
		return SyncStats{}, ErrSyncBusy
	}
	defer n.syncer.end(p, false)
	ctx, cancel := context.WithTimeout(ctx, syncSessionTimeout)
	defer cancel()
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "sync"), p, SyncProtocol)
	if err != nil {
		return SyncStats{}, fmt.Errorf("opening sync stream: %w", err)
	}
	dl, _ := ctx.Deadline()
	s.SetDeadline(dl)
	sess := n.newSyncSession(p, true, s)
	start := time.Now()
	err = sess.run()
	sess.stats.Duration = time.Since(start)
	sess.stats.BytesSent, sess.stats.BytesReceived = sess.cs.sent, sess.cs.received
	if err != nil {
		s.Reset()
		return sess.stats, err
	}
	s.Close()
	n.synced(p)
	return sess.stats, nil
}

// handleSync serves a session another member node started.
func (n *Node) handleSync(s network.Stream) {
	if !n.enter() {
		s.Reset()
		return
	}
	defer n.leave()
	p := s.Conn().RemotePeer()
	if !n.isMemberPeer(p) || !n.syncer.begin(p, true) {
		n.log.Debug("refused a sync", "peer", p, "member", n.isMemberPeer(p))
		s.Reset()
		return
	}
	defer n.syncer.end(p, true)
	s.SetDeadline(time.Now().Add(syncSessionTimeout))
	keys := n.keysTaken.Load()
	sess := n.newSyncSession(p, false, s)
	if err := sess.run(); err != nil {
		n.log.Debug("sync session ended badly", "peer", p, "err", err)
		s.Reset()
		return
	}
	s.Close()
	n.synced(p)
	n.syncer.noteSession(p, sess.stats.Received > 0 || sess.stats.Sent > 0)
	if sess.stats.Accepted > 0 {
		n.log.Info("synced", "peer", p, "received", sess.stats.Accepted, "sent", sess.stats.Sent)
		n.syncer.forward(p)
	}
	if sess.stats.Partial || n.keysTaken.Load() != keys {
		n.syncer.kick(p)
	}
}
