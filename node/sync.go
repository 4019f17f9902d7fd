package node

import (
	"bufio"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/reconcile"
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
type syncer struct {
	n        *Node
	mu       sync.Mutex
	out      map[peer.ID]bool // sessions we started
	in       map[peer.ID]bool // sessions the peer started
	again    map[peer.ID]bool // asked for while a session ran
	inbound  int
	kickOnce map[peer.ID]bool
	retry    map[peer.ID]time.Duration
	// held is the most ids one session has held at once (to ask for, asked
	// for, queued to send), for tests.
	held atomic.Int64
}

func newSyncer(n *Node) *syncer {
	return &syncer{
		n: n, out: make(map[peer.ID]bool), in: make(map[peer.ID]bool), again: make(map[peer.ID]bool),
		kickOnce: make(map[peer.ID]bool), retry: make(map[peer.ID]time.Duration),
	}
}

func (s *syncer) begin(p peer.ID, inbound bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inbound {
		if s.in[p] || s.inbound >= maxInboundSyncs || (s.out[p] && s.n.host.ID() < p) {
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
	if again && s.n.ctx.Err() == nil {
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
	s.n.spawn(func() {
		select {
		case <-time.After(delay):
		case <-s.n.ctx.Done():
			return
		}
		s.mu.Lock()
		delete(s.kickOnce, p)
		s.mu.Unlock()
		if !s.n.connected(p) {
			return
		}
		st, err := s.n.SyncWith(s.n.ctx, p)
		switch {
		case errors.Is(err, ErrSyncBusy):
			s.n.log.Debug("sync deferred: a session with that node is running", "peer", p)
		case err != nil:
			retry := s.backoff(p)
			s.n.log.Debug("sync failed", "peer", p, "err", err, "retry_in", retry)
			if s.n.ctx.Err() == nil {
				s.kickAfter(p, retry)
			}
		default:
			s.resetBackoff(p)
			if st.Accepted > 0 {
				s.forward(p)
			}
			if st.Partial {
				s.kick(p)
			}
			if st.Accepted > 0 || st.Sent > 0 {
				s.n.log.Info("synced", "peer", p, "received", st.Accepted, "sent", st.Sent, "duration", st.Duration.Round(time.Millisecond))
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
	if d > s.n.cfg.SyncInterval {
		d = s.n.cfg.SyncInterval
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
	for p := range s.n.access.Load().members {
		if p != from && p != s.n.host.ID() && s.n.connected(p) {
			s.kick(p)
		}
	}
}

// kickAll syncs with every connected member node.
func (s *syncer) kickAll() {
	for p := range s.n.access.Load().members {
		if p != s.n.host.ID() && s.n.connected(p) {
			s.kick(p)
		}
	}
}

// countingStream counts bytes both ways and buffers reads.
type countingStream struct {
	s        network.Stream
	r        *bufio.Reader
	sent     int64
	received int64
}

func (c *countingStream) Read(p []byte) (int, error) {
	n, err := c.s.Read(p)
	c.received += int64(n)
	return n, err
}

func (c *countingStream) Write(p []byte) (int, error) {
	n, err := c.s.Write(p)
	c.sent += int64(n)
	return n, err
}

func newCountingStream(s network.Stream) *countingStream {
	c := &countingStream{s: s}
	c.r = bufio.NewReaderSize(readerFunc(c.Read), 64<<10)
	return c
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func (c *countingStream) send(m proto.Message) error {
	_, err := protodelim.MarshalTo(c, m)
	return err
}

func (c *countingStream) recv(m proto.Message) error {
	return readDelimitedFrom(c.r, m, maxSyncMessage)
}

// syncSession is one side of one session.
type syncSession struct {
	n         *Node
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
}

type syncScope struct {
	ref    epochRef
	set    *reconcile.Set
	queue  []alert.ID // envelopes to send
	queued map[alert.ID]bool
	sorted bool       // queue is in the order to send
	wants  []alert.ID // ids to ask for
	asked  map[alert.ID]bool
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
	sess := &syncSession{n: n, peer: p, initiator: true, cs: newCountingStream(s)}
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
	sess := &syncSession{n: n, peer: p, cs: newCountingStream(s)}
	if err := sess.run(); err != nil {
		n.log.Debug("sync session ended badly", "peer", p, "err", err)
		s.Reset()
		return
	}
	s.Close()
	n.synced(p)
	if sess.stats.Accepted > 0 {
		n.log.Info("synced", "peer", p, "received", sess.stats.Accepted, "sent", sess.stats.Sent)
		n.syncer.forward(p)
	}
	if sess.stats.Partial {
		n.syncer.kick(p)
	}
}

func (ss *syncSession) run() error {
	if err := ss.handshake(); err != nil {
		return err
	}
	var out *wire.SyncMessage
	if ss.initiator {
		out = ss.initial()
		if err := ss.cs.send(out); err != nil {
			return err
		}
		ss.stats.Messages++
	}
	for {
		var in wire.SyncMessage
		if err := ss.cs.recv(&in); err != nil {
			if errors.Is(err, io.EOF) && out != nil && isEmpty(out) {
				return nil // we said we were done, and so was the other side
			}
			return fmt.Errorf("reading: %w", err)
		}
		ss.stats.Messages++
		next, err := ss.process(&in)
		if err != nil {
			return err
		}
		if isEmpty(&in) && isEmpty(next) {
			return nil
		}
		if err := ss.cs.send(next); err != nil {
			return err
		}
		ss.stats.Messages++
		out = next
	}
}

func isEmpty(m *wire.SyncMessage) bool {
	for _, s := range m.Scopes {
		if len(s.Ranges) > 0 || len(s.Want) > 0 || len(s.Envelopes) > 0 {
			return false
		}
	}
	return true
}

// handshake exchanges nonces and proofs of the epoch keys each side holds,
// bound to both peer ids and both nonces. A side that cannot prove a key
// learns nothing about that epoch, not even whether the other holds it.
func (ss *syncSession) handshake() error {
	mine := make([]byte, syncNonceSize)
	rand.Read(mine)
	hello := &wire.SyncHello{Version: syncVersion, Nonce: mine}
	var theirs wire.SyncHello
	var asked, got time.Time // by our clock, for the clock offset
	if ss.initiator {
		asked = ss.n.now()
		hello.Time = asked.UnixMilli()
		if err := ss.cs.send(hello); err != nil {
			return err
		}
		if err := ss.cs.recv(&theirs); err != nil {
			return err
		}
		got = ss.n.now()
	} else {
		if err := ss.cs.recv(&theirs); err != nil {
			return err
		}
		got = ss.n.now()
		hello.Time = got.UnixMilli()
		if err := ss.cs.send(hello); err != nil {
			return err
		}
	}
	if theirs.Version != syncVersion || len(theirs.Nonce) != syncNonceSize {
		return errors.New("sync: bad hello")
	}
	if theirs.Time != 0 {
		ss.n.clocks.note(ss.peer, helloOffset(time.UnixMilli(theirs.Time), asked, got), got)
	}
	nonceI, nonceR := mine, theirs.Nonce
	peerI, peerR := ss.n.host.ID(), ss.peer
	if !ss.initiator {
		nonceI, nonceR = nonceR, nonceI
		peerI, peerR = peerR, peerI
	}
	proof := func(keys *crypto.EpochKeys, role byte) []byte {
		m := hmac.New(sha256.New, keys.SyncKey())
		m.Write([]byte(syncProofLabel))
		m.Write([]byte{role})
		m.Write(nonceI)
		m.Write(nonceR)
		for _, p := range []peer.ID{peerI, peerR} {
			m.Write([]byte{byte(len(p))})
			m.Write([]byte(p))
		}
		tag := keys.Tag()
		m.Write(tag[:])
		return m.Sum(nil)
	}
	myRole, theirRole := byte(syncRoleResponder), byte(syncRoleInitiator)
	if ss.initiator {
		myRole, theirRole = theirRole, myRole
	}
	ss.scopes = make(map[crypto.KeyTag]*syncScope)
	if ss.initiator {
		offer := &wire.SyncScopes{}
		shared := ss.n.sharedEpochs(ss.peer)
		if len(shared) > maxSyncScopes {
			shared = shared[:maxSyncScopes] // the newest of each group first
		}
		for _, ref := range shared {
			tag := ref.keys.Tag()
			offer.Scopes = append(offer.Scopes, &wire.ScopeProof{Tag: tag[:], Proof: proof(ref.keys, myRole)})
		}
		if err := ss.cs.send(offer); err != nil {
			return err
		}
		var answer wire.SyncScopes
		if err := ss.cs.recv(&answer); err != nil {
			return err
		}
		offered := make(map[crypto.KeyTag]epochRef)
		for _, ref := range shared {
			offered[ref.keys.Tag()] = ref
		}
		for _, sp := range answer.Scopes {
			tag, ok := tagOf(sp.Tag)
			ref, offeredIt := offered[tag]
			if !ok || !offeredIt || !hmac.Equal(sp.Proof, proof(ref.keys, theirRole)) {
				return errors.New("sync: the other node's proof of membership does not verify")
			}
			ss.addScope(ref)
		}
		return nil
	}
	var offer wire.SyncScopes
	if err := ss.cs.recv(&offer); err != nil {
		return err
	}
	if len(offer.Scopes) > maxSyncScopes {
		return errors.New("sync: too many scopes")
	}
	shared := make(map[crypto.KeyTag]epochRef)
	for _, ref := range ss.n.sharedEpochs(ss.peer) {
		shared[ref.keys.Tag()] = ref
	}
	answer := &wire.SyncScopes{}
	for _, sp := range offer.Scopes {
		tag, ok := tagOf(sp.Tag)
		ref, have := shared[tag]
		if !ok || !have || !hmac.Equal(sp.Proof, proof(ref.keys, theirRole)) {
			continue // say nothing about epochs the other cannot prove
		}
		if _, dup := ss.scopes[tag]; dup {
			continue
		}
		ss.addScope(ref)
		answer.Scopes = append(answer.Scopes, &wire.ScopeProof{Tag: tag[:], Proof: proof(ref.keys, myRole)})
	}
	return ss.cs.send(answer)
}

func tagOf(b []byte) (crypto.KeyTag, bool) {
	var t crypto.KeyTag
	if len(b) != len(t) {
		return t, false
	}
	copy(t[:], b)
	return t, true
}

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
		g.mu.Lock()
		var es []*epoch
		for _, e := range g.epochs {
			es = append(es, e)
		}
		g.mu.Unlock()
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
	cut := now.Add(-ss.n.cfg.Retention).UnixMilli()
	var items []reconcile.Item
	for _, it := range ss.n.store.Items(tag) {
		if it.Created < cut {
			continue
		}
		h, ok := ss.n.store.Header(it.ID)
		if ok && !h.Expires.IsZero() && !h.Expires.After(now) {
			continue
		}
		// What a removed member wrote stays where it is, but is not passed
		// on: nodes that learned of the removal would not take it.
		if ok {
			if m, known := ref.g.roster.Member(h.Author); known && m.Removed {
				continue
			}
		}
		items = append(items, reconcile.Item{Created: it.Created, ID: reconcile.ID(it.ID)})
	}
	set := reconcile.NewSet(items)
	set.Window(cut, now.Add(alert.MaxClockError).UnixMilli())
	ss.scopes[tag] = &syncScope{
		ref: ref, set: set,
		queued: make(map[alert.ID]bool), asked: make(map[alert.ID]bool),
	}
	ss.order = append(ss.order, tag)
	ss.stats.Scopes++
}

func (ss *syncSession) initial() *wire.SyncMessage {
	m := &wire.SyncMessage{}
	for _, tag := range ss.order {
		sc := ss.scopes[tag]
		m.Scopes = append(m.Scopes, &wire.ScopeMessage{Tag: tag[:], Ranges: rangesToWire(sc.set.Initiate())})
	}
	return m
}

// process handles one incoming message and builds the reply.
func (ss *syncSession) process(in *wire.SyncMessage) (*wire.SyncMessage, error) {
	if len(in.Scopes) > maxSyncScopes {
		return nil, errors.New("sync: too many scopes")
	}
	replies := make(map[crypto.KeyTag]*wire.ScopeMessage)
	for _, sm := range in.Scopes {
		tag, ok := tagOf(sm.Tag)
		sc := ss.scopes[tag]
		if !ok || sc == nil {
			return nil, errors.New("sync: message for an epoch not agreed on")
		}
		// Envelopes first: each takes the same path as gossip.
		ss.stats.Received += len(sm.Envelopes)
		if ss.stats.Received > maxSyncEnvelopes {
			return nil, errors.New("sync: too many envelopes")
		}
		for _, env := range sm.Envelopes {
			ss.stats.EnvelopeBytes += int64(len(env))
		}
		for _, err := range ss.n.ingestSynced(sm.Envelopes, sm.Ages, maxSyncRejects-ss.rejects) {
			ss.n.count(err)
			switch {
			case err == nil:
				ss.stats.Accepted++
			case errors.Is(err, errReject):
				ss.rejects++
				ss.n.log.Info("rejected a synced message", "peer", ss.peer, "err", err)
				if ss.rejects > maxSyncRejects {
					return nil, errTooManyRejects
				}
			default:
				ss.n.log.Debug("ignored a synced message", "peer", ss.peer, "err", err)
			}
		}
		if len(sm.Want) > maxSyncWants {
			return nil, errors.New("sync: too many wants")
		}
		for _, w := range sm.Want {
			id, err := idOf(w)
			if err != nil {
				return nil, err
			}
			if ss.n.store.HasIn(id, tag) {
				ss.enqueue(sc, id)
			}
		}
		rs, err := rangesFromWire(sm.Ranges)
		if err != nil {
			return nil, err
		}
		out, have, need, err := sc.set.Respond(rs)
		if err != nil {
			return nil, err
		}
		for _, id := range have {
			ss.enqueue(sc, alert.ID(id))
		}
		for _, id := range need {
			aid := alert.ID(id)
			if sc.asked[aid] || ss.n.store.HasIn(aid, tag) {
				continue
			}
			if ss.asked >= maxSyncAsked {
				ss.stats.Partial = true // the next session asks for the rest
				break
			}
			sc.asked[aid] = true
			ss.asked++
			sc.wants = append(sc.wants, aid)
		}
		if len(out) > 0 {
			replies[tag] = &wire.ScopeMessage{Tag: tag[:], Ranges: rangesToWire(out)}
		}
	}
	// Build the reply: ranges, then wants, then as many queued envelopes as
	// the budget allows, most urgent first, across all scopes.
	budget := syncEnvelopeBudget
	now := ss.n.now()
	next := &wire.SyncMessage{}
	for _, tag := range ss.order {
		sc := ss.scopes[tag]
		r := replies[tag]
		if r == nil {
			r = &wire.ScopeMessage{Tag: append([]byte(nil), tag[:]...)}
		}
		n := min(len(sc.wants), maxSyncWants)
		for _, id := range sc.wants[:n] {
			r.Want = append(r.Want, append([]byte(nil), id[:]...))
		}
		sc.wants = sc.wants[n:]
		ss.sortQueue(sc)
		for len(sc.queue) > 0 && budget > 0 {
			id := sc.queue[0]
			env, err := ss.n.store.EnvelopeIn(id, tag)
			sc.queue = sc.queue[1:]
			if err != nil {
				continue // pruned meanwhile
			}
			budget -= len(env)
			r.Envelopes = append(r.Envelopes, env)
			r.Ages = append(r.Ages, ss.n.age(id, now))
			ss.stats.Sent++
			ss.n.syncedOwn(sc.ref.g, id, ss.peer)
		}
		if len(r.Ranges) > 0 || len(r.Want) > 0 || len(r.Envelopes) > 0 {
			next.Scopes = append(next.Scopes, r)
		}
	}
	ss.noteHeld()
	return next, nil
}

// noteHeld records how many ids the session holds now.
func (ss *syncSession) noteHeld() {
	var held int64
	for _, sc := range ss.scopes {
		held += int64(len(sc.wants) + len(sc.asked) + len(sc.queue) + len(sc.queued))
	}
	for {
		old := ss.n.syncer.held.Load()
		if held <= old || ss.n.syncer.held.CompareAndSwap(old, held) {
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

func idOf(b []byte) (alert.ID, error) {
	var id alert.ID
	if len(b) != len(id) {
		return id, errors.New("sync: bad id")
	}
	copy(id[:], b)
	return id, nil
}

func rangesToWire(rs []reconcile.Range) []*wire.Range {
	out := make([]*wire.Range, 0, len(rs))
	for _, r := range rs {
		w := &wire.Range{UpperCreated: r.Upper.Created, UpperId: r.Upper.ID, Mode: uint32(r.Mode)}
		switch r.Mode {
		case reconcile.Fingerprint:
			w.Fingerprint = append([]byte(nil), r.Fingerprint[:]...)
		case reconcile.IDList:
			w.Ids = make([][]byte, len(r.IDs))
			for i, id := range r.IDs {
				w.Ids[i] = append([]byte(nil), id[:]...)
			}
		}
		out = append(out, w)
	}
	return out
}

func rangesFromWire(ws []*wire.Range) ([]reconcile.Range, error) {
	if len(ws) > reconcile.MaxRanges {
		return nil, errors.New("sync: too many ranges")
	}
	out := make([]reconcile.Range, 0, len(ws))
	for _, w := range ws {
		r := reconcile.Range{Upper: reconcile.Bound{Created: w.UpperCreated, ID: w.UpperId}, Mode: reconcile.Mode(w.Mode)}
		if w.Mode > math.MaxUint8 {
			return nil, errors.New("sync: bad range mode")
		}
		switch r.Mode {
		case reconcile.Fingerprint:
			if len(w.Fingerprint) != reconcile.FingerprintLen {
				return nil, errors.New("sync: bad fingerprint")
			}
			copy(r.Fingerprint[:], w.Fingerprint)
		case reconcile.IDList:
			if len(w.Ids) > reconcile.MaxListedIDs {
				return nil, errors.New("sync: id list too long")
			}
			r.IDs = make([]reconcile.ID, len(w.Ids))
			for i, b := range w.Ids {
				if len(b) != len(reconcile.ID{}) {
					return nil, errors.New("sync: bad id")
				}
				copy(r.IDs[i][:], b)
			}
		}
		out = append(out, r)
	}
	return out, nil
}
