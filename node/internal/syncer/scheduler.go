package syncer

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
)

// Scheduler schedules sessions: at most one per pair of nodes. When both
// nodes start one at the same moment, the one started by the node with the
// lower peer id goes on and the other is refused. A session asked for while
// one with that node runs starts when it ends: the running one may have
// begun before whatever prompted the request.
//
// A Scheduler is safe for concurrent use; its sessions run on goroutines
// started by Config.Spawn, which end when its context does.
type Scheduler struct {
	cfg Config
	ctx context.Context
	log *slog.Logger

	mu       sync.Mutex
	out      map[peer.ID]bool // sessions we started
	in       map[peer.ID]bool // sessions the peer started
	again    map[peer.ID]bool // asked for while a session ran
	inbound  int
	kickOnce map[peer.ID]bool
	retry    map[peer.ID]time.Duration
	idle     map[peer.ID]*idleSync // periodic sessions, per peer
	fresh    atomic.Int64          // when this node last took a new message, Unix ns (Periodic)
	// sessions counts the sessions that ended well, either side.
	sessions atomic.Int64
	// held is the most ids one session has held at once (to ask for, asked
	// for, queued to send).
	held atomic.Int64
}

// New returns a scheduler whose sessions end when ctx does. A zero
// Interval or IdleMax takes its default; a nil Log discards.
func New(ctx context.Context, cfg Config) *Scheduler {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.IdleMax <= 0 {
		cfg.IdleMax = DefaultIdle
	}
	if cfg.KeysTaken == nil {
		cfg.KeysTaken = new(atomic.Int64)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{
		cfg: cfg, ctx: ctx, log: log,
		out: make(map[peer.ID]bool), in: make(map[peer.ID]bool), again: make(map[peer.ID]bool),
		kickOnce: make(map[peer.ID]bool), retry: make(map[peer.ID]time.Duration), idle: make(map[peer.ID]*idleSync),
	}
}

// Sessions counts the sessions that ended well, started by either side.
func (s *Scheduler) Sessions() int64 { return s.sessions.Load() }

// Held returns the most ids one session has held at once: to ask for,
// asked for, queued to send.
func (s *Scheduler) Held() int64 { return s.held.Load() }

// Due returns how long until the periodic session with p is due by its
// backed-off interval alone (0 if none is scheduled yet).
func (s *Scheduler) Due(p peer.ID) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.idle[p]; st != nil {
		return time.Until(st.next)
	}
	return 0
}

// Sync runs a session with p, a connected member node, and returns what it
// did: both sides end up with the union of their messages in every epoch
// both hold the key of. It returns [ErrBusy] if a session with p is
// running; that one is followed by another when it ends.
func (s *Scheduler) Sync(ctx context.Context, p peer.ID) (Stats, error) {
	if !s.begin(p, false) {
		return Stats{}, ErrBusy
	}
	defer s.end(p, false)
	ctx, cancel := context.WithTimeout(ctx, sessionTimeout)
	defer cancel()
	st, err := s.cfg.Peers.Open(ctx, p)
	if err != nil {
		return Stats{}, fmt.Errorf("opening sync stream: %w", err)
	}
	dl, _ := ctx.Deadline()
	st.SetDeadline(dl)
	ss := s.session(p, true, st)
	start := time.Now()
	err = ss.run()
	ss.stats.Duration = time.Since(start)
	ss.stats.BytesSent, ss.stats.BytesReceived = ss.cs.sent, ss.cs.received
	if err != nil {
		st.Reset()
		return ss.stats, err
	}
	st.Close()
	s.cfg.Notes.Synced(p)
	return ss.stats, nil
}

// Serve serves a session that p, the other end of st, started. The caller
// has checked that p is a member node; Serve refuses a second session with
// p and more than maxInbound at once.
func (s *Scheduler) Serve(st network.Stream) {
	p := st.Conn().RemotePeer()
	if !s.begin(p, true) {
		s.log.Debug("refused a sync: one is running", "peer", p)
		st.Reset()
		return
	}
	defer s.end(p, true)
	st.SetDeadline(time.Now().Add(sessionTimeout))
	keys := s.cfg.KeysTaken.Load()
	ss := s.session(p, false, st)
	if err := ss.run(); err != nil {
		s.log.Debug("sync session ended badly", "peer", p, "err", err)
		st.Reset()
		return
	}
	st.Close()
	s.cfg.Notes.Synced(p)
	s.noteSession(p, ss.stats.Received > 0 || ss.stats.Sent > 0)
	if ss.stats.Accepted > 0 {
		s.log.Info("synced", "peer", p, "received", ss.stats.Accepted, "sent", ss.stats.Sent)
		s.forward(p)
	}
	if ss.stats.Partial || s.cfg.KeysTaken.Load() != keys {
		s.Kick(p)
	}
}

// idleSync is when the last session with a peer ended, when the next
// periodic one is due, and the interval that led there.
type idleSync struct {
	every      time.Duration
	last, next time.Time
}

// Periodic, called every Config.Interval, syncs with each connected
// member node whose periodic session is due. The interval with a node
// starts at Config.Interval and doubles after every session that moved
// nothing either way, up to Config.IdleMax; a session that moved
// something sets it back. Gossip carries what happens while nodes are
// connected, and new connections, new epoch keys and new roster members
// start sessions of their own, so between two nodes that agree the
// periodic session is only a safety net, and it costs bytes every time.
// But once this node holds a message it did not hold at the last session
// with a node (its own or another's), the next session with that node is
// due one Interval after the last, however far it had backed off: a
// message GossipSub failed to hand over (a mesh still forming, a link
// that dropped it) reaches a connected member within about an Interval,
// as it did before sessions backed off.
//
// A session is due when it would be within half an Interval, so that
// one falling just after a tick is not put off by a whole interval.
func (s *Scheduler) Periodic() {
	soon := time.Now().Add(s.cfg.Interval / 2)
	fresh := time.Unix(0, s.fresh.Load())
	for _, p := range s.cfg.Peers.Syncable() {
		s.mu.Lock()
		st := s.idle[p]
		due := st == nil || !soon.Before(st.next) ||
			(fresh.After(st.last) && !soon.Before(st.last.Add(s.cfg.Interval)))
		s.mu.Unlock()
		if due {
			s.Kick(p)
		}
	}
}

// Took notes that this node holds a message it did not hold before
// (Periodic).
func (s *Scheduler) Took() { s.fresh.Store(time.Now().UnixNano()) }

// noteSession sets when the next periodic session with p is due, after a
// session that moved something or nothing.
func (s *Scheduler) noteSession(p peer.ID, moved bool) {
	s.sessions.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.idle[p]
	if st == nil {
		st = &idleSync{every: s.cfg.Interval}
		s.idle[p] = st
	}
	if moved {
		st.every = s.cfg.Interval
	} else {
		st.every = min(2*st.every, s.cfg.IdleMax)
	}
	st.last = time.Now()
	st.next = st.last.Add(st.every)
}

func (s *Scheduler) begin(p peer.ID, inbound bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inbound {
		if s.in[p] || s.inbound >= maxInbound || (s.out[p] && s.cfg.Self < p) {
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

func (s *Scheduler) end(p peer.ID, inbound bool) {
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
		s.Kick(p)
	}
}

// Kick starts a session with p soon, unless one is running or already
// scheduled. A session that fails is retried with a growing delay while
// the peer stays connected.
func (s *Scheduler) Kick(p peer.ID) { s.KickAfter(p, kickDebounce) }

// KickAfter is Kick after delay.
func (s *Scheduler) KickAfter(p peer.ID, delay time.Duration) {
	s.mu.Lock()
	if s.kickOnce[p] {
		s.mu.Unlock()
		return
	}
	s.kickOnce[p] = true
	s.mu.Unlock()
	s.cfg.Spawn(func() {
		select {
		case <-time.After(delay):
		case <-s.ctx.Done():
			return
		}
		s.mu.Lock()
		delete(s.kickOnce, p)
		s.mu.Unlock()
		if !s.cfg.Peers.Connected(p) {
			return
		}
		keys := s.cfg.KeysTaken.Load()
		st, err := s.Sync(s.ctx, p)
		switch {
		case errors.Is(err, ErrBusy):
			s.log.Debug("sync deferred: a session with that node is running", "peer", p)
		case err != nil:
			retry := s.backoff(p)
			s.log.Debug("sync failed", "peer", p, "err", err, "retry_in", retry)
			if s.ctx.Err() == nil {
				s.KickAfter(p, retry)
			}
		default:
			s.resetBackoff(p)
			s.noteSession(p, st.Received > 0 || st.Sent > 0)
			if st.Accepted > 0 {
				s.forward(p)
			}
			if st.Partial || s.cfg.KeysTaken.Load() != keys {
				s.Kick(p)
			}
			if st.Accepted > 0 || st.Sent > 0 {
				s.log.Info("synced", "peer", p, "received", st.Accepted, "sent", st.Sent, "duration", st.Duration.Round(time.Millisecond))
			}
		}
	})
}

func (s *Scheduler) backoff(p peer.ID) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.retry[p] * 2
	if d < time.Second {
		d = time.Second
	}
	if d > s.cfg.Interval {
		d = s.cfg.Interval
	}
	s.retry[p] = d
	return d
}

func (s *Scheduler) resetBackoff(p peer.ID) {
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
func (s *Scheduler) forward(from peer.ID) {
	for _, p := range s.cfg.Peers.Syncable() {
		if p != from {
			s.Kick(p)
		}
	}
}

// KickAll syncs with every connected member node.
func (s *Scheduler) KickAll() {
	for _, p := range s.cfg.Peers.Syncable() {
		s.Kick(p)
	}
}
