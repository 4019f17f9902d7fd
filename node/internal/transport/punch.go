package transport

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Hole punching (DCUtR, libp2p spec relay/DCUtR.md) for the relayed
// connections of member nodes, and closing the relayed connection once a
// direct one stands.

// PunchStats counts the hole punches this node started since it started
// (it starts one for each relayed connection another node opens to it):
// each is one DCUtR exchange with up to three tries.
type PunchStats struct {
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
}

// punchTracer counts the outcome of every hole punch this node starts,
// whether the library's own watcher started it (for a relayed connection
// that arrives once the service runs) or connected (for those before).
type punchTracer struct{ succeeded, failed atomic.Int64 }

func (t *punchTracer) HolePunchFinished(side string, _ int, _, _ []ma.Multiaddr, direct network.ConnMultiaddrs) {
	if side != "initiator" {
		return
	}
	if direct != nil {
		t.succeeded.Add(1)
	} else {
		t.failed.Add(1)
	}
}

func (t *punchTracer) DirectDialFinished(bool) {}

// PunchStats returns the outcome of the hole punches started so far.
func (r *Reach) PunchStats() PunchStats {
	return PunchStats{Succeeded: r.punchStats.succeeded.Load(), Failed: r.punchStats.failed.Load()}
}

// punchRetry is how long a node waits before punching a hole again to a
// member node it still reaches only through a relay.
const punchRetry = 10 * time.Minute

// punchReady reports whether the hole punching service has found a public
// address of ours and serves DCUtR (it registers the protocol then).
func (r *Reach) punchReady() bool {
	return slices.Contains(r.host.Mux().Protocols(), holepunch.Protocol)
}

// speaksPunch reports whether p serves hole punching (DCUtR), as
// identify last told.
func (r *Reach) speaksPunch(p peer.ID) bool {
	ok, err := r.host.Peerstore().SupportsProtocols(p, holepunch.Protocol)
	return err == nil && len(ok) > 0
}

// PunchAddrs are this node's public addresses for hole punching: those of
// its interfaces, and those member nodes saw.
func (r *Reach) PunchAddrs() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range r.host.Addrs() {
		if manet.IsPublicAddr(a) && !IsCircuit(a) {
			out = append(out, a)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, a := range r.observed {
		if r.adm.IsMember(p) && !slices.ContainsFunc(out, a.Equal) {
			out = append(out, a)
		}
	}
	return out
}

// Connected is called for every new connection. For a relayed one that
// another member node opened to us, it punches a hole for a direct
// connection (DCUtR: the side that received the relayed connection
// starts), and again every punchRetry while the two are still relayed.
func (r *Reach) Connected(c network.Conn) {
	p := c.RemotePeer()
	if r.punch == nil || !IsRelayed(c) || c.Stat().Direction != network.DirInbound || !r.adm.IsMember(p) {
		return
	}
	r.goOnce(r.punching, p, func(ctx context.Context) {
		for {
			if path, _ := PathTo(r.host.Network(), p); path != Relayed {
				return
			}
			// The service punches only once it knows a public address
			// of ours; until then DirectConnect would wait without end,
			// even after the node closed. The other side serves DCUtR
			// only once it knows one of its own (identify tells us
			// when it starts to).
			if !r.punchReady() || !r.speaksPunch(p) {
				if !SleepConnected(r.host, ctx, p, 2*time.Second) {
					return
				}
				continue
			}
			err := r.punch.DirectConnect(p)
			r.hooks.PathChanged(p)
			switch {
			case err == nil:
				r.hooks.Log.Debug("hole punched", "peer", p)
				return
			case errors.Is(err, holepunch.ErrHolePunchActive):
				// The library's own watcher is punching: see how
				// it ends.
				if !SleepConnected(r.host, ctx, p, 2*time.Second) {
					return
				}
				continue
			}
			r.hooks.Log.Debug("hole punching failed; staying relayed", "peer", p, "err", err)
			if !SleepConnected(r.host, ctx, p, punchRetry) {
				return
			}
		}
	})
}

// relayGrace is how long a relayed connection to a node stays open once
// a direct one stands, for streams under way to end (libp2p spec
// relay/DCUtR.md: the relayed connection "should be closed after a grace
// period"; long-lived streams, GossipSub's and sync's, are opened again
// on the direct connection).
const relayGrace = 5 * time.Second

// DirectUp is called for every new connection. Once a direct connection
// to a node stands beside a relayed one (whichever came first), the
// relayed ones are closed after relayGrace: libp2p keeps streams where
// they were opened, and without this GossipSub would go on sending
// through the relay after a hole punch succeeded.
func (r *Reach) DirectUp(c network.Conn) {
	p := c.RemotePeer()
	if path, _ := PathTo(r.host.Network(), p); path != Direct || !r.hasRelayed(p) {
		return
	}
	r.goOnce(r.dropping, p, func(ctx context.Context) {
		t := time.NewTimer(relayGrace)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if path, _ := PathTo(r.host.Network(), p); path != Direct {
			return
		}
		for _, rc := range r.host.Network().ConnsToPeer(p) {
			if IsRelayed(rc) {
				rc.Close()
			}
		}
		r.hooks.Log.Debug("direct connection stands; relayed one closed", "peer", p)
	})
}

// hasRelayed reports whether a relayed connection to p is open.
func (r *Reach) hasRelayed(p peer.ID) bool {
	return slices.ContainsFunc(r.host.Network().ConnsToPeer(p), func(c network.Conn) bool {
		return !c.IsClosed() && IsRelayed(c)
	})
}

var _ holepunch.MetricsTracer = (*punchTracer)(nil)
