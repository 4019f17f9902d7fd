package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// Liveness. A connection whose link died without a word (a phone that
// left coverage, a Wi-Fi that dropped, an address that changed) looks open
// to libp2p until its transport's keepalive gives up, half a minute or
// more: meanwhile the node counts the member as reachable, hands it
// alerts that go nowhere, and does not redial. So every member node is
// probed with libp2p's ping (/ipfs/ping/1.0.0: 32 random bytes, echoed)
// once it has been quiet (no ping either way) for a while, and at once when
// this node's own addresses change; a node that does not answer within
// Config.PingTimeout is disconnected, and the dialer tries again. Both ends
// of a dead link find out this way, each by itself.
//
// The ping is the one keep-alive of a link (yamux's is off, see
// transport.Muxer), and while the groups are idle it thins out: a link is
// probed once it has been quiet for half as long as the groups have (no
// message stored, sent or received), within Config.PingInterval and
// Config.PingIdleInterval. After the last message, the probes of an idle
// link come 1, 2, 4, 8... ping intervals later, then every idle interval.

// Defaults of Config.PingInterval, Config.PingIdleInterval and
// Config.PingTimeout.
const (
	DefaultPingInterval     = 15 * time.Second
	DefaultPingIdleInterval = 5 * time.Minute
	DefaultPingTimeout      = 5 * time.Second
)

// pingStreamLimit bounds how long one ping stream may stay open.
const pingStreamLimit = time.Minute

// liveness remembers when each member node last showed it is there, and
// which are being probed.
type liveness struct {
	mu      sync.Mutex
	heard   map[peer.ID]time.Time
	busy    map[peer.ID]bool
	stirred time.Time // when the groups last had a message
}

// stir notes that a message was stored at t: links are probed at the
// ping interval again.
func (l *liveness) stir(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.stirred) {
		l.stirred = t
	}
}

// quiet is how long a link must have been quiet at now to be probed: half
// of how long the groups have been quiet, within [short, long].
func (l *liveness) quiet(now time.Time, short, long time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return min(max(now.Sub(l.stirred)/2, short), long)
}

func (l *liveness) heardFrom(p peer.ID, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.heard == nil {
		l.heard = make(map[peer.ID]time.Time)
	}
	l.heard[p] = t
}

// due reports whether p should be probed now, and marks it busy if so.
func (l *liveness) due(p peer.ID, now time.Time, quiet time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy == nil {
		l.busy = make(map[peer.ID]bool)
	}
	if l.busy[p] || now.Sub(l.heard[p]) < quiet {
		return false
	}
	l.busy[p] = true
	return true
}

func (l *liveness) done(p peer.ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.busy, p)
}

// forget drops what is known of a peer that is no longer connected.
func (l *liveness) forget(p peer.ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.heard, p)
}

// handlePing answers pings as libp2p's ping service does, and takes each
// one from a member node as a sign that the link to it works.
func (n *Node) handlePing(s network.Stream) {
	defer s.Close()
	p := s.Conn().RemotePeer()
	member := n.isMemberPeer(p)
	s.SetDeadline(time.Now().Add(pingStreamLimit))
	buf := make([]byte, ping.PingSize)
	for {
		if _, err := io.ReadFull(s, buf); err != nil {
			return
		}
		if member {
			n.alive.heardFrom(p, time.Now())
		}
		if _, err := s.Write(buf); err != nil {
			return
		}
	}
}

// probe pings p once and reports whether it answered within
// Config.PingTimeout. It does not rely on stream deadlines, which not
// every transport keeps.
func (n *Node) probe(ctx context.Context, p peer.ID) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.PingTimeout)
	defer cancel()
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "ping"), p, ping.ID)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		out, in := make([]byte, ping.PingSize), make([]byte, ping.PingSize)
		rand.Read(out)
		_, err := s.Write(out)
		if err == nil {
			_, err = io.ReadFull(s, in)
		}
		if err == nil && !bytes.Equal(in, out) {
			err = errors.New("ping answered wrongly")
		}
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		s.Reset()
		return err
	}
	s.Close()
	n.alive.heardFrom(p, time.Now())
	return nil
}

// probeAll probes every connected member node that has been quiet for
// long enough (liveness.quiet; all of them if now is true), each in its
// own goroutine, and disconnects those that do not answer.
func (n *Node) probeAll(now bool) {
	t := time.Now()
	quiet := n.alive.quiet(t, n.cfg.PingInterval, n.cfg.PingIdleInterval)
	if now {
		quiet = 0
	}
	for _, p := range n.connectedMembers() {
		if !n.alive.due(p, t, quiet) {
			continue
		}
		n.spawn(func() {
			defer n.alive.done(p)
			if n.probe(n.ctx, p) != nil && n.ctx.Err() == nil {
				n.linkLost(p)
			}
		})
	}
}

// linkLost closes the connections to a member node whose link died, so
// that it counts as unreachable and the dialer tries again.
func (n *Node) linkLost(p peer.ID) {
	if !n.connected(p) {
		return
	}
	n.log.Info("the link to a member node is dead: reconnecting", "peer", p)
	n.host.Network().ClosePeer(p)
	n.dialer.Poke()
}

// keepAlive looks, every third of Config.PingInterval, for member nodes
// quiet for long enough (probeAll), and probes every member node at once
// when wake receives, until ctx is done. Looking three times per interval,
// a link of a busy group that dies just after a ping is probed within 4/3
// of the interval, and cut within that plus Config.PingTimeout (25 s by
// default), where looking once per interval let it wait up to twice the
// interval plus the timeout (35 s).
func (n *Node) keepAlive(ctx context.Context, wake <-chan struct{}) {
	n.alive.stir(time.Now()) // a node that just started probes at the ping interval first
	t := time.NewTicker(n.cfg.PingInterval / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.probeAll(false)
		case <-wake:
			n.probeAll(true)
		}
	}
}
