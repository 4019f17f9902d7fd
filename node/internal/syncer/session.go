package syncer

// One sync session (docs/PROTOCOL.md, "Sync"): the handshake that proves
// which epoch keys both sides hold, then rounds of range reconciliation
// that ask for and send what each side lacks.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/reconcile"
)

// session is one side of one session. It is used by the goroutine that
// runs it.
type session struct {
	*Scheduler
	peer      peer.ID
	initiator bool
	cs        *countingStream
	scopes    map[crypto.KeyTag]*scope
	order     []crypto.KeyTag
	stats     Stats
	rejects   int
	// What the session holds besides its sets, across scopes, within
	// maxAsked and maxQueued.
	asked, queued int
	// Epochs the other node lacks, by the message that starts each, and
	// those whose messages were queued to it (handover.go).
	starts map[alert.ID][]start
	pushed map[crypto.KeyTag]bool
}

// session returns this node's side of a session with p on stream st.
func (s *Scheduler) session(p peer.ID, initiator bool, st network.Stream) *session {
	return &session{Scheduler: s, peer: p, initiator: initiator, cs: newCountingStream(st)}
}

func (ss *session) now() time.Time { return ss.cfg.Now() }

func (ss *session) run() error {
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
func (ss *session) handshake() error {
	mine, theirs, err := ss.exchangeHello()
	if err != nil {
		return err
	}
	pr := ss.prover(mine, theirs)
	ss.scopes = make(map[crypto.KeyTag]*scope)
	if ss.initiator {
		return ss.offerScopes(pr)
	}
	return ss.answerScopes(pr)
}

// exchangeHello sends this side's hello and reads the other's, in the
// order of the roles, and notes the other node's clock. It returns both
// nonces.
func (ss *session) exchangeHello() (mine, theirs []byte, err error) {
	mine = make([]byte, nonceSize)
	rand.Read(mine)
	hello := &wire.SyncHello{Version: version, Nonce: mine}
	var in wire.SyncHello
	var asked, got time.Time // by our clock, for the clock offset
	if ss.initiator {
		asked = ss.now()
		hello.Time = asked.UnixMilli()
		if err := ss.cs.send(hello); err != nil {
			return nil, nil, err
		}
		if err := ss.cs.recv(&in); err != nil {
			return nil, nil, err
		}
		got = ss.now()
	} else {
		if err := ss.cs.recv(&in); err != nil {
			return nil, nil, err
		}
		got = ss.now()
		hello.Time = got.UnixMilli()
		if err := ss.cs.send(hello); err != nil {
			return nil, nil, err
		}
	}
	if in.Version != version || len(in.Nonce) != nonceSize {
		return nil, nil, errors.New("sync: bad hello")
	}
	if in.Time != 0 {
		ss.cfg.Notes.Clock(ss.peer, helloOffset(time.UnixMilli(in.Time), asked, got), got)
	}
	return mine, in.Nonce, nil
}

// helloOffset is how far ahead of ours another node's clock is, from its
// hello: sent says when it wrote it by its clock; we sent ours at asked
// and received theirs at got, by ours (asked is zero when theirs came
// first). The error is at most half the round trip, or the one-way delay.
func helloOffset(sent, asked, got time.Time) time.Duration {
	if asked.IsZero() {
		return sent.Sub(got)
	}
	return sent.Sub(asked.Add(got.Sub(asked) / 2))
}

// prover makes the proofs of one session: an HMAC, under an epoch's sync
// key, of the label, the role, both nonces, both peer ids and the key tag
// (docs/PROTOCOL.md, "Sync").
type prover struct {
	nonceI, nonceR  []byte
	peerI, peerR    peer.ID
	myRole, herRole byte
}

func (ss *session) prover(mine, theirs []byte) prover {
	p := prover{nonceI: mine, nonceR: theirs, peerI: ss.cfg.Self, peerR: ss.peer, myRole: roleInitiator, herRole: roleResponder}
	if !ss.initiator {
		p.nonceI, p.nonceR = p.nonceR, p.nonceI
		p.peerI, p.peerR = p.peerR, p.peerI
		p.myRole, p.herRole = p.herRole, p.myRole
	}
	return p
}

// proof is the proof of holding keys, by the side in role.
func (p prover) proof(keys *crypto.EpochKeys, role byte) []byte {
	m := hmac.New(sha256.New, keys.SyncKey())
	m.Write([]byte(proofLabel))
	m.Write([]byte{role})
	m.Write(p.nonceI)
	m.Write(p.nonceR)
	for _, id := range []peer.ID{p.peerI, p.peerR} {
		m.Write([]byte{byte(len(id))})
		m.Write([]byte(id))
	}
	tag := keys.Tag()
	m.Write(tag[:])
	return m.Sum(nil)
}

// offerScopes, on the initiator's side, proves the epochs shared with the
// other node (the newest of each group first, at most maxScopes), and
// takes as scopes those the other proves back.
func (ss *session) offerScopes(pr prover) error {
	shared := ss.shared()
	if len(shared) > maxScopes {
		shared = shared[:maxScopes]
	}
	offer := &wire.SyncScopes{}
	offered := make(map[crypto.KeyTag]Epoch)
	for _, ref := range shared {
		tag := ref.Keys.Tag()
		offered[tag] = ref
		offer.Scopes = append(offer.Scopes, &wire.ScopeProof{Tag: tag[:], Proof: pr.proof(ref.Keys, pr.myRole)})
	}
	if err := ss.cs.send(offer); err != nil {
		return err
	}
	var answer wire.SyncScopes
	if err := ss.cs.recv(&answer); err != nil {
		return err
	}
	for _, sp := range answer.Scopes {
		tag, ok := tagOf(sp.Tag)
		ref, offeredIt := offered[tag]
		if !ok || !offeredIt || !hmac.Equal(sp.Proof, pr.proof(ref.Keys, pr.herRole)) {
			return errors.New("sync: the other node's proof of membership does not verify")
		}
		ss.addScope(ref)
	}
	// The other node lacks what it did not prove back.
	ss.noteLacking(func(t crypto.KeyTag) bool {
		_, mine := offered[t]
		return mine && ss.scopes[t] == nil
	})
	return nil
}

// answerScopes, on the responder's side, reads the initiator's proofs and
// proves back, as scopes, the epochs it proved that this node shares with
// it; it says nothing about the others.
func (ss *session) answerScopes(pr prover) error {
	var offer wire.SyncScopes
	if err := ss.cs.recv(&offer); err != nil {
		return err
	}
	if len(offer.Scopes) > maxScopes {
		return errors.New("sync: too many scopes")
	}
	shared := make(map[crypto.KeyTag]Epoch)
	for _, ref := range ss.shared() {
		shared[ref.Keys.Tag()] = ref
	}
	answer := &wire.SyncScopes{}
	for _, sp := range offer.Scopes {
		tag, ok := tagOf(sp.Tag)
		ref, have := shared[tag]
		if !ok || !have || !hmac.Equal(sp.Proof, pr.proof(ref.Keys, pr.herRole)) {
			continue // say nothing about epochs the other cannot prove
		}
		if _, dup := ss.scopes[tag]; dup {
			continue
		}
		ss.addScope(ref)
		answer.Scopes = append(answer.Scopes, &wire.ScopeProof{Tag: tag[:], Proof: pr.proof(ref.Keys, pr.myRole)})
	}
	// The initiator offers every epoch it holds of the groups it shares
	// with this node, unless there were too many: it lacks the others.
	theirs := make(map[crypto.KeyTag]bool, len(offer.Scopes))
	for _, sp := range offer.Scopes {
		if tag, ok := tagOf(sp.Tag); ok {
			theirs[tag] = true
		}
	}
	whole := len(offer.Scopes) < maxScopes
	ss.noteLacking(func(t crypto.KeyTag) bool { return whole && !theirs[t] })
	return ss.cs.send(answer)
}

func tagOf(b []byte) (crypto.KeyTag, bool) {
	t, err := crypto.KeyTagFromBytes(b)
	return t, err == nil
}

// process handles one incoming message and builds the reply.
func (ss *session) process(in *wire.SyncMessage) (*wire.SyncMessage, error) {
	if len(in.Scopes) > maxScopes {
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
		if err := ss.ingest(sm.Envelopes, sm.Ages); err != nil {
			return nil, err
		}
		if err := ss.takeWants(sc, tag, sm.Want); err != nil {
			return nil, err
		}
		out, err := ss.respond(sc, tag, sm.Ranges)
		if err != nil {
			return nil, err
		}
		if len(out) > 0 {
			replies[tag] = &wire.ScopeMessage{Tag: tag[:], Ranges: rangesToWire(out)}
		}
	}
	next := ss.reply(replies)
	ss.noteHeld()
	return next, nil
}

// ingest takes envelopes the other side sent through the pipeline, and
// ends the session after too many envelopes or rejects.
func (ss *session) ingest(envs [][]byte, ages []int64) error {
	ss.stats.Received += len(envs)
	if ss.stats.Received > maxEnvelopes {
		return errors.New("sync: too many envelopes")
	}
	for _, env := range envs {
		ss.stats.EnvelopeBytes += int64(len(env))
	}
	errs := ss.cfg.Pipeline.Take(envs, envelopeAges(ages, len(envs)), maxRejects-ss.rejects)
	for _, err := range errs {
		switch {
		case err == nil:
			ss.stats.Accepted++
		case ss.cfg.Pipeline.Rejected(err):
			ss.rejects++
			ss.log.Info("rejected a synced message", "peer", ss.peer, "err", err)
			if ss.rejects > maxRejects {
				return errTooManyRejects
			}
		default:
			ss.log.Debug("ignored a synced message", "peer", ss.peer, "err", err)
		}
	}
	return nil
}

// takeWants queues what the other side asks for and this node holds in
// the scope's epoch.
func (ss *session) takeWants(sc *scope, tag crypto.KeyTag, want [][]byte) error {
	if len(want) > maxWants {
		return errors.New("sync: too many wants")
	}
	for _, w := range want {
		id, err := alert.IDFromBytes(w)
		if err != nil {
			return err
		}
		if ss.cfg.Store.HasIn(id, tag) {
			ss.enqueue(sc, id)
		}
	}
	return nil
}

// respond reconciles the other side's ranges with the scope's set: it
// queues what this node has and the other lacks, notes what to ask for
// (at most maxAsked in a session), and returns the ranges to answer.
func (ss *session) respond(sc *scope, tag crypto.KeyTag, ranges []*wire.Range) ([]reconcile.Range, error) {
	rs, err := rangesFromWire(ranges)
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
		if sc.asked[aid] || ss.cfg.Store.HasIn(aid, tag) {
			continue
		}
		if ss.asked >= maxAsked {
			ss.stats.Partial = true // the next session asks for the rest
			break
		}
		sc.asked[aid] = true
		ss.asked++
		sc.wants = append(sc.wants, aid)
	}
	return out, nil
}

// reply builds the next message: per scope, the ranges to answer, then
// what to ask for, then as many queued envelopes as the budget allows,
// most urgent first, across all scopes.
func (ss *session) reply(replies map[crypto.KeyTag]*wire.ScopeMessage) *wire.SyncMessage {
	budget := envelopeBudget
	now := ss.now()
	next := &wire.SyncMessage{}
	for _, tag := range ss.order {
		sc := ss.scopes[tag]
		r := replies[tag]
		if r == nil {
			r = &wire.ScopeMessage{Tag: append([]byte(nil), tag[:]...)}
		}
		n := min(len(sc.wants), maxWants)
		for _, id := range sc.wants[:n] {
			r.Want = append(r.Want, append([]byte(nil), id[:]...))
		}
		sc.wants = sc.wants[n:]
		ss.sortQueue(sc)
		for budget > 0 {
			id, in, ok := sc.next()
			if !ok {
				break
			}
			env, err := ss.cfg.Store.EnvelopeIn(id, in)
			if err != nil {
				continue // pruned meanwhile
			}
			budget -= len(env)
			r.Envelopes = append(r.Envelopes, env)
			r.Ages = append(r.Ages, age(ss.cfg.Store, id, now))
			ss.stats.Sent++
			ss.cfg.Notes.Handed(sc.ref.Group, id, ss.peer)
			ss.pushStartedBy(sc, id, in)
		}
		if len(r.Ranges) > 0 || len(r.Want) > 0 || len(r.Envelopes) > 0 {
			next.Scopes = append(next.Scopes, r)
		}
	}
	return next
}
