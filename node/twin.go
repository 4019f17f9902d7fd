package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	msmux "github.com/multiformats/go-multistream"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/ratelimit"
)

// One profile, one device. A profile copied to a second device carries the
// same node key, so both devices are the same libp2p peer: the other
// nodes' GossipSub keeps one stream per peer, and live messages to and
// from both copies get lost. So a node finds out whether its identity runs
// elsewhere too, without trusting anyone's word for it
// (docs/PROTOCOL.md, "One profile, one device"):
//
//   - On every new connection to a member node B, a node X asks B (a
//     TwinCheck with relay set, and a fresh nonce of X's) to pass the
//     question to every other connection B has to X's peer id.
//   - A node that receives the question on such a connection answers with
//     a proof signed by its node key over X's nonce, its instance (random,
//     new at every start) and how long it has been running. B hands the
//     proofs back.
//   - X checks each proof with its own public key: a valid proof with
//     another instance, over X's own fresh nonce, can only come from
//     another holder of X's key, running now. B can withhold proofs but
//     not make one up, nor replay an old one.
//   - Of the two, the one that started later stops, with a clear message
//     (ErrTwin from Run); the other keeps running, warns (a status warning
//     "twin"), and once the copy is gone starts its links to member nodes
//     afresh. A node that is asked to prove itself checks in turn, so that
//     both find out.

// TwinProtocol is the libp2p protocol id of the check for a copied profile.
const TwinProtocol protocol.ID = "/takecare/twin/1.0.0"

const (
	twinNonceSize    = 32
	twinInstanceSize = 16
	maxTwinProofs    = 8
	maxTwinMessage   = 4096
	twinLabel        = "takecare/v1/twin\x00"
	// twinLinger is how long a node that found it must stop keeps
	// answering, so that its twin, which checks as soon as it is asked to
	// prove itself, gets its proof and warns.
	twinLinger = 2 * time.Second
)

// ErrTwin means this node stopped because its profile runs on another
// device, started earlier. Errors that wrap it are a [*TwinError].
var ErrTwin = NewError(KindConflict, "this profile is already running on another device")

// TwinError says how long the other device had been running.
type TwinError struct {
	Since time.Duration // how long the other device has been running
}

func (e *TwinError) Error() string {
	return fmt.Sprintf("%v (for %s): one profile can run on one device at a time, so this one stops. "+
		"If that other device is not yours, your keys have been copied: ask an admin of each group to remove you, "+
		"and start again with a new profile and new invites", ErrTwin, e.Since.Round(time.Second))
}

func (e *TwinError) Unwrap() error { return ErrTwin }

// twins is what a node knows of another device running its profile.
type twins struct {
	// instance and started are set once, by start.
	instance [twinInstanceSize]byte
	started  time.Time // on the monotonic clock
	// asked bounds how often this node checks through one member node;
	// served, what one connection can make this node do (pass a question
	// on, prove itself), by connection since both copies share a peer id.
	asked  *ratelimit.Limiter[peer.ID]
	served *ratelimit.Limiter[string]

	mu     sync.Mutex
	seen   time.Time     // when a later copy was last proven to run, or zero
	seenUp time.Duration // how long it had been running then
	// nonces are those of this node's checks under way: a question that
	// carries one is this node's own, passed back to it by a member node
	// that holds two connections to it.
	nonces map[string]bool
	// stopped are the instances of copies found to have started later
	// (they stop by themselves), for which this node starts its links
	// afresh once (twinReconnect).
	stopped map[string]bool
}

// start picks this run's instance and notes when it started.
func (t *twins) start() {
	rand.Read(t.instance[:])
	t.started = time.Now()
	t.asked = ratelimit.New[peer.ID](1, 2, 1024)
	t.served = ratelimit.New[string](1, 4, 1024)
}

// asking notes (on) or forgets (off) a nonce of this node's.
func (t *twins) asking(nonce []byte, on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nonces == nil {
		t.nonces = make(map[string]bool)
	}
	if on {
		t.nonces[string(nonce)] = true
	} else {
		delete(t.nonces, string(nonce))
	}
}

func (t *twins) mine(nonce []byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nonces[string(nonce)]
}

// twinSigned is what a twin proof's signature covers.
func twinSigned(nonce, instance []byte, uptime uint64) []byte {
	b := append([]byte(twinLabel), nonce...)
	b = append(b, instance...)
	return binary.BigEndian.AppendUint64(b, uptime)
}

// twinProof proves that this node runs now, over nonce.
func (n *Node) twinProof(nonce []byte) *wire.TwinProof {
	up := uint64(time.Since(n.twins.started).Milliseconds())
	sig, err := n.id.NodeKey().Sign(twinSigned(nonce, n.twins.instance[:], up))
	if err != nil {
		return nil
	}
	return &wire.TwinProof{Instance: n.twins.instance[:], UptimeMs: up, Signature: sig}
}

// checkTwin asks member node p whether another node with this node's
// identity is connected to it, and acts on the proofs that come back (why:
// a new connection, or a request for proof, for the log). It asks through
// one member node at most once a second, after a burst of two.
func (n *Node) checkTwin(p peer.ID, why string) {
	if !n.twins.asked.Allow(p, time.Now()) {
		return
	}
	nonce := make([]byte, twinNonceSize)
	rand.Read(nonce)
	n.twins.asking(nonce, true)
	defer n.twins.asking(nonce, false)
	var ans *wire.TwinAnswer
	// A new connection is often one of two dialled at once, and the other
	// one closed: try again while p stays connected.
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(n.ctx, 2*n.cfg.PingTimeout)
		a, err := n.twinExchange(ctx, p, nil, &wire.TwinCheck{Nonce: nonce, Relay: true})
		cancel()
		if err == nil {
			ans = a
			break
		}
		n.log.Debug("twin check", "peer", p, "why", why, "err", err)
		if try == 2 || !n.sleep(time.Second) || !n.connected(p) {
			return
		}
	}
	n.log.Debug("twin check", "peer", p, "why", why, "proofs", len(ans.Proofs))
	for _, pr := range twinProven(n.id.NodeKey().GetPublic(), nonce, n.twins.instance[:], ans) {
		n.twinFound(pr)
	}
}

// twinProven returns the proofs of ans that show another holder of the
// node key pub running now: a 16-byte instance other than mine, signed
// with pub over nonce (fresh, chosen by this node). The member node that
// passed them on can withhold proofs but not make one, and an old proof
// does not carry the nonce.
func twinProven(pub p2pcrypto.PubKey, nonce, mine []byte, ans *wire.TwinAnswer) []*wire.TwinProof {
	var out []*wire.TwinProof
	for _, pr := range ans.Proofs {
		if len(pr.Instance) != twinInstanceSize || bytes.Equal(pr.Instance, mine) {
			continue
		}
		if ok, err := pub.Verify(twinSigned(nonce, pr.Instance, pr.UptimeMs), pr.Signature); err == nil && ok {
			out = append(out, pr)
		}
	}
	return out
}

// twinFound acts on a proven copy of this node: the one that started later
// stops; the other warns.
func (n *Node) twinFound(pr *wire.TwinProof) {
	mine := uint64(time.Since(n.twins.started).Milliseconds())
	theirs := time.Duration(pr.UptimeMs) * time.Millisecond
	if pr.UptimeMs > mine || (pr.UptimeMs == mine && bytes.Compare(pr.Instance, n.twins.instance[:]) < 0) {
		n.log.Error("this profile is already running on another device: stopping", "other_uptime", theirs.Round(time.Second))
		n.stopWith(&TwinError{Since: theirs}, twinLinger)
		return
	}
	n.log.Warn("another device started with this profile; it stops, since it started later", "other_uptime", theirs.Round(time.Second))
	n.twins.mu.Lock()
	n.twins.seen, n.twins.seenUp = n.now(), theirs
	if n.twins.stopped == nil || len(n.twins.stopped) > 64 {
		n.twins.stopped = make(map[string]bool)
	}
	first := !n.twins.stopped[string(pr.Instance)]
	n.twins.stopped[string(pr.Instance)] = true
	n.twins.mu.Unlock()
	if first {
		n.spawn(n.twinReconnect)
	}
}

// twinReconnect starts every link to member nodes afresh once a copy of
// this node has stopped. While both ran, member nodes held streams of
// both under one peer id, and GossipSub on either side may have dropped
// this node from its topics; a new connection starts them clean.
func (n *Node) twinReconnect() {
	if !n.sleep(twinLinger + n.cfg.PingTimeout) {
		return
	}
	for _, p := range n.connectedMembers() {
		n.host.Network().ClosePeer(p)
	}
	n.dialer.Poke()
}

// twinExchange sends req to p, on connection c if given (else on any),
// and reads the answer.
func (n *Node) twinExchange(ctx context.Context, p peer.ID, c network.Conn, req *wire.TwinCheck) (*wire.TwinAnswer, error) {
	var s network.Stream
	var err error
	if c == nil {
		s, err = n.host.NewStream(ctx, p, TwinProtocol)
	} else if s, err = c.NewStream(ctx); err == nil {
		if err = s.SetProtocol(TwinProtocol); err == nil {
			s = &lazySelect{s, msmux.NewMSSelect(s, TwinProtocol)}
		}
	}
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	var ans *wire.TwinAnswer
	if _, err = protodelim.MarshalTo(s, req); err == nil {
		ans, err = readTwinAnswer(s)
	}
	if err != nil {
		s.Reset()
		return nil, err
	}
	s.Close()
	return ans, nil
}

// readTwinAnswer reads one length-delimited TwinAnswer of at most
// maxTwinMessage bytes and maxTwinProofs proofs.
func readTwinAnswer(r io.Reader) (*wire.TwinAnswer, error) {
	ans := &wire.TwinAnswer{}
	if err := readDelimited(r, ans, maxTwinMessage); err != nil {
		return nil, err
	}
	if len(ans.Proofs) > maxTwinProofs {
		return nil, fmt.Errorf("node: %d twin proofs, more than %d", len(ans.Proofs), maxTwinProofs)
	}
	return ans, nil
}

// lazySelect is a stream opened on a given connection, whose protocol is
// negotiated with its first write (as the host does for NewStream).
type lazySelect struct {
	network.Stream
	rw interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
	}
}

func (l *lazySelect) Read(b []byte) (int, error)  { return l.rw.Read(b) }
func (l *lazySelect) Write(b []byte) (int, error) { return l.rw.Write(b) }

// handleTwin serves TwinProtocol for member nodes.
func (n *Node) handleTwin(s network.Stream) {
	if !n.enter() {
		s.Reset()
		return
	}
	defer n.leave()
	p := s.Conn().RemotePeer()
	if !n.isMemberPeer(p) {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(3 * n.cfg.PingTimeout))
	var req wire.TwinCheck
	if err := readDelimited(s, &req, maxTwinMessage); err != nil || len(req.Nonce) != twinNonceSize {
		s.Reset()
		return
	}
	ans := &wire.TwinAnswer{}
	switch {
	case !n.twins.served.Allow(s.Conn().ID(), time.Now()):
		// Enough for this connection: an empty answer.
	case req.Relay:
		ans.Proofs = n.relayTwin(s.Conn(), p, req.Nonce)
	default:
		if pr := n.twinProof(req.Nonce); pr != nil {
			ans.Proofs = []*wire.TwinProof{pr}
		}
		// Unless the question is this node's own, passed back on another
		// connection, p holds another connection that claims this node's
		// identity: check in turn, so that both copies find out.
		if !n.twins.mine(req.Nonce) {
			n.spawn(func() { n.checkTwin(p, "proof") })
		}
	}
	if _, err := protodelim.MarshalTo(s, ans); err != nil {
		s.Reset()
		return
	}
	s.Close()
}

// relayTwin asks p's other connections to this node (other than the one
// the question came on) to prove themselves over nonce, and returns the
// proofs, unchecked: only the asker holds the key that checks them.
func (n *Node) relayTwin(from network.Conn, p peer.ID, nonce []byte) []*wire.TwinProof {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		proofs []*wire.TwinProof
	)
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.PingTimeout)
	defer cancel()
	for i, c := range n.host.Network().ConnsToPeer(p) {
		if c == from || i >= maxTwinProofs {
			continue
		}
		wg.Go(func() {
			ans, err := n.twinExchange(ctx, p, c, &wire.TwinCheck{Nonce: nonce})
			if err != nil || len(ans.Proofs) == 0 {
				return
			}
			mu.Lock()
			proofs = append(proofs, ans.Proofs[0])
			mu.Unlock()
		})
	}
	wg.Wait()
	return proofs
}

// sleep waits for d, and reports false if the node stops meanwhile.
func (n *Node) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-n.ctx.Done():
		return false
	}
}

// stopWith makes Run return err, after answering peers for linger.
func (n *Node) stopWith(err error, linger time.Duration) {
	n.stopOnce.Do(func() {
		n.stopErr.Store(&err)
		go func() {
			time.Sleep(linger)
			n.cancel()
		}()
	})
}

// stopped returns the error the node stopped with by itself, if any.
func (n *Node) stopped() error {
	if e := n.stopErr.Load(); e != nil {
		return *e
	}
	return nil
}

// twinWarnings: another device ran this profile, and stopped since it
// started later.
func (n *Node) twinWarnings() []Warning {
	n.twins.mu.Lock()
	seen, up := n.twins.seen, n.twins.seenUp
	n.twins.mu.Unlock()
	if seen.IsZero() {
		return nil
	}
	since := seen.Add(-up)
	return []Warning{{Code: WarnTwin,
		Text: fmt.Sprintf("Another device started with this profile at %s and stopped: one profile runs on one device at a time. "+
			"If that was not you, your keys have been copied: ask an admin of each group to remove you, and start again with a new profile and new invites.",
			since.Local().Format("15:04")),
		Params: map[string]string{"since": since.UTC().Format(time.RFC3339)}}}
}
