package node

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/wlynxg/anet"
)

// Reaching member nodes behind NAT (PROTOCOL.md, "Relays"): a node without
// a public address holds a slot (a circuit relay v2 reservation) on up to
// maxRelaySlots relays among its member nodes, so that other members can
// reach it through them; it dials a member node it cannot reach directly
// through every relay it is connected to; once a relayed connection stands,
// libp2p's hole punching (DCUtR) tries to replace it with a direct one.

const (
	// maxRelaySlots is how many relays a node behind NAT holds a slot on.
	maxRelaySlots = 2
	// relayRetry is the first wait after a failed reservation; it doubles
	// up to relayRetryMax while the relay stays connected.
	relayRetry    = 2 * time.Second
	relayRetryMax = 2 * time.Minute
)

// reach holds this node's relay slots, the relays it knows, and what
// member nodes saw of its address.
type reach struct {
	n *Node
	// punch is the hole punching service (DCUtR), nil where the host
	// cannot have one (a host given in Config.Host).
	punch *holepunch.Service

	mu       sync.Mutex
	relays   map[peer.ID]bool         // connected member nodes that relay
	slots    map[peer.ID]time.Time    // relays we hold a slot on, until
	observed map[peer.ID]ma.Multiaddr // our address as each member node saw it
	punching map[peer.ID]bool         // hole punches under way
	dropping map[peer.ID]bool         // relayed connections about to close
	// rendezvousing holds the relays this node exchanges rendezvous
	// records with now (rendezvous.go).
	rendezvousing map[peer.ID]bool

	punchStats punchTracer
}

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

var _ holepunch.MetricsTracer = (*punchTracer)(nil)

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

func (t *punchTracer) snapshot() PunchStats {
	return PunchStats{Succeeded: t.succeeded.Load(), Failed: t.failed.Load()}
}

// punchRetry is how long a node waits before punching a hole again to a
// member node it still reaches only through a relay.
const punchRetry = 10 * time.Minute

func newReach(n *Node) *reach {
	return &reach{
		n: n, relays: make(map[peer.ID]bool), slots: make(map[peer.ID]time.Time),
		observed: make(map[peer.ID]ma.Multiaddr), punching: make(map[peer.ID]bool),
		dropping: make(map[peer.ID]bool), rendezvousing: make(map[peer.ID]bool),
	}
}

// startPunch starts hole punching on the host. libp2p's own switch
// (EnableHolePunching) is not used: it learns the node's public address
// only once four different IP addresses have reported the same one, which
// a small group behind few routers may never reach, and it punches only
// for relayed connections that arrive after that. Here a member node's
// word is enough (punchAddrs), and the node punches for every relayed
// connection to a member node (connected).
func (r *reach) startPunch(h host.Host) error {
	idh, ok := h.(interface{ IDService() identify.IDService })
	if !ok {
		return nil
	}
	svc, err := holepunch.NewService(h, idh.IDService(), r.punchAddrs, holepunch.WithMetricsTracer(&r.punchStats))
	if err != nil {
		return err
	}
	r.punch = svc
	return nil
}

// sawUs records the address a peer saw this node's connection come
// from (identify's observed address), if the connection left from a port
// we listen on: then it is where this node's NAT maps that port, the
// address hole punching needs.
func (r *reach) sawUs(p peer.ID, c network.Conn, observed ma.Multiaddr) {
	if observed == nil || c == nil || isRelayed(c) || !manet.IsPublicAddr(observed) {
		return
	}
	local := transportPort(c.LocalMultiaddr())
	if local == "" || !slices.ContainsFunc(r.n.host.Network().ListenAddresses(), func(l ma.Multiaddr) bool {
		return transportPort(l) == local
	}) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.observed[p]; ok || len(r.observed) < maxObservers {
		r.observed[p] = observed
	}
}

// maxObservers bounds how many peers' observations a node keeps (only
// those of member nodes are used; a peer may become one after it
// connected, as the node a joiner joins through does).
const maxObservers = 256

// punchReady reports whether the hole punching service has found a public
// address of ours and serves DCUtR (it registers the protocol then).
func (r *reach) punchReady() bool {
	return slices.Contains(r.n.host.Mux().Protocols(), holepunch.Protocol)
}

// speaksPunch reports whether p serves hole punching (DCUtR), as
// identify last told.
func (r *reach) speaksPunch(p peer.ID) bool {
	ok, err := r.n.host.Peerstore().SupportsProtocols(p, holepunch.Protocol)
	return err == nil && len(ok) > 0
}

// punchAddrs are this node's public addresses for hole punching: those of
// its interfaces, and those member nodes saw.
func (r *reach) punchAddrs() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range r.n.host.Addrs() {
		if manet.IsPublicAddr(a) && !isCircuit(a) {
			out = append(out, a)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, a := range r.observed {
		if r.n.isMemberPeer(p) && !slices.ContainsFunc(out, a.Equal) {
			out = append(out, a)
		}
	}
	return out
}

// connected is called for every new connection. For a relayed one that
// another member node opened to us, it punches a hole for a direct
// connection (DCUtR: the side that received the relayed connection
// starts), and again every punchRetry while the two are still relayed.
func (r *reach) connected(c network.Conn) {
	p := c.RemotePeer()
	if r.punch == nil || !isRelayed(c) || c.Stat().Direction != network.DirInbound || !r.n.isMemberPeer(p) {
		return
	}
	r.mu.Lock()
	busy := r.punching[p]
	r.punching[p] = true
	r.mu.Unlock()
	if busy {
		return
	}
	r.n.spawn(func() {
		defer func() {
			r.mu.Lock()
			delete(r.punching, p)
			r.mu.Unlock()
		}()
		for {
			if path, _ := r.n.pathTo(p); path != PathRelayed {
				return
			}
			// The service punches only once it knows a public address
			// of ours; until then DirectConnect would wait without end,
			// even after the node closed. The other side serves DCUtR
			// only once it knows one of its own (identify tells us
			// when it starts to).
			if !r.punchReady() || !r.speaksPunch(p) {
				if !r.sleepConnected(r.n.ctx, p, 2*time.Second) {
					return
				}
				continue
			}
			err := r.punch.DirectConnect(p)
			r.n.notePath(p)
			switch {
			case err == nil:
				r.n.log.Debug("hole punched", "peer", p)
				return
			case errors.Is(err, holepunch.ErrHolePunchActive):
				// The library's own watcher is punching: see how
				// it ends.
				if !r.sleepConnected(r.n.ctx, p, 2*time.Second) {
					return
				}
				continue
			}
			r.n.log.Debug("hole punching failed; staying relayed", "peer", p, "err", err)
			if !r.sleepConnected(r.n.ctx, p, punchRetry) {
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

// directUp is called for every new connection. Once a direct connection
// to a node stands beside a relayed one (whichever came first), the
// relayed ones are closed after relayGrace: libp2p keeps streams where
// they were opened, and without this GossipSub would go on sending
// through the relay after a hole punch succeeded.
func (r *reach) directUp(c network.Conn) {
	p := c.RemotePeer()
	if path, _ := r.n.pathTo(p); path != PathDirect || !r.hasRelayed(p) {
		return
	}
	r.mu.Lock()
	busy := r.dropping[p]
	r.dropping[p] = true
	r.mu.Unlock()
	if busy {
		return
	}
	r.n.spawn(func() {
		defer func() {
			r.mu.Lock()
			delete(r.dropping, p)
			r.mu.Unlock()
		}()
		t := time.NewTimer(relayGrace)
		defer t.Stop()
		select {
		case <-r.n.ctx.Done():
			return
		case <-t.C:
		}
		if path, _ := r.n.pathTo(p); path != PathDirect {
			return
		}
		for _, rc := range r.n.host.Network().ConnsToPeer(p) {
			if isRelayed(rc) {
				rc.Close()
			}
		}
		r.n.log.Debug("direct connection stands; relayed one closed", "peer", p)
	})
}

// hasRelayed reports whether a relayed connection to p is open.
func (r *reach) hasRelayed(p peer.ID) bool {
	return slices.ContainsFunc(r.n.host.Network().ConnsToPeer(p), func(c network.Conn) bool {
		return !c.IsClosed() && isRelayed(c)
	})
}

// identified is called once identify tells what a connected member node
// speaks: if it relays, remember it and, if this node is behind NAT, take
// a slot on it.
func (r *reach) identified(p peer.ID) {
	ok, err := r.n.host.Peerstore().SupportsProtocols(p, proto.ProtoIDv2Hop)
	if err != nil || len(ok) == 0 {
		return
	}
	r.mu.Lock()
	known := r.relays[p]
	r.relays[p] = true
	_, held := r.slots[p]
	take := !held && len(r.slots) < maxRelaySlots && r.n.needsRelay()
	if take {
		r.slots[p] = time.Time{}
	}
	r.mu.Unlock()
	if take {
		r.n.spawn(func() { r.keepSlot(r.n.ctx, p) })
	}
	if !known {
		r.n.spawn(func() { r.dialThrough(r.n.ctx, p) })
	}
	if ok, err := r.n.host.Peerstore().SupportsProtocols(p, RendezvousProtocol); err == nil && len(ok) > 0 {
		r.mu.Lock()
		busy := r.rendezvousing[p]
		r.rendezvousing[p] = true
		r.mu.Unlock()
		if !busy {
			r.n.spawn(func() { r.rendezvousWith(r.n.ctx, p) })
		}
	}
}

// dialThrough tries once to reach, through relay rel, every member node
// this node is not connected to. The dialer's own attempt may be waiting
// on direct addresses that do not answer (a node behind NAT), for up to
// dialTimeout, and its next try comes later still; libp2p joins this
// dial to one under way to the same node. A relay where the node holds
// no slot refuses at once.
func (r *reach) dialThrough(ctx context.Context, rel peer.ID) {
	a, err := ma.NewMultiaddr("/p2p/" + rel.String() + "/p2p-circuit")
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	for p := range r.n.access.Load().Members {
		if p == rel || p == r.n.host.ID() || r.n.connected(p) {
			continue
		}
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, dialTimeout)
			defer cancel()
			if err := r.n.host.Connect(dctx, peer.AddrInfo{ID: p, Addrs: []ma.Multiaddr{a}}); err != nil {
				r.n.log.Debug("could not reach a member node through a relay", "peer", p, "relay", rel, "err", err)
			}
		})
	}
	wg.Wait()
}

// keepSlot holds a reservation on relay p and renews it before it ends,
// as long as p stays connected and a relay.
func (r *reach) keepSlot(ctx context.Context, p peer.ID) {
	defer func() {
		r.mu.Lock()
		delete(r.slots, p)
		r.mu.Unlock()
	}()
	wait := relayRetry
	for r.n.connected(p) {
		rctx, cancel := context.WithTimeout(ctx, dialTimeout)
		rsv, err := client.Reserve(rctx, r.n.host, peer.AddrInfo{ID: p})
		cancel()
		var next time.Duration
		if err != nil {
			r.n.log.Debug("relay reservation failed", "peer", p, "err", err)
			next, wait = wait, min(2*wait, relayRetryMax)
		} else {
			wait = relayRetry
			r.mu.Lock()
			r.slots[p] = rsv.Expiration
			r.mu.Unlock()
			r.n.log.Debug("holding a relay slot", "peer", p, "until", rsv.Expiration)
			// Renew when three quarters of it have passed.
			next = max(time.Until(rsv.Expiration)*3/4, time.Second)
		}
		if !r.sleepConnected(ctx, p, next) {
			return
		}
	}
}

// sleepConnected waits for d, and returns false early if ctx ends or p
// disconnects.
func (r *reach) sleepConnected(ctx context.Context, p peer.ID, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return r.n.connected(p)
		case <-tick.C:
			if !r.n.connected(p) {
				return false
			}
		}
	}
}

// circuitAddrs are addresses that reach p through each relay this node is
// connected to: /p2p/RELAY/p2p-circuit. A relay where p holds no slot
// refuses at once.
func (r *reach) circuitAddrs(p peer.ID) []ma.Multiaddr {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ma.Multiaddr
	for rel := range r.relays {
		if rel == p || !r.n.connected(rel) {
			continue
		}
		a, err := ma.NewMultiaddr("/p2p/" + rel.String() + "/p2p-circuit")
		if err == nil {
			out = append(out, a)
		}
	}
	return out
}

// disconnected forgets a relay, and what a node saw of us, once the
// last connection to it closed.
func (r *reach) disconnected(p peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.n.connected(p) {
		delete(r.relays, p)
		delete(r.observed, p)
	}
}

// slotRelays are the relays this node holds a slot on now.
func (r *reach) slotRelays() []peer.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	var out []peer.ID
	for p, until := range r.slots {
		if until.After(now) {
			out = append(out, p)
		}
	}
	return out
}

// slotCount is how many relay slots this node holds now.
func (r *reach) slotCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	c := 0
	for _, until := range r.slots {
		if until.After(now) {
			c++
		}
	}
	return c
}

// needsRelay reports whether this node should hold relay slots: it is not
// a relay itself and none of its interfaces has a public address (it is
// behind NAT, or on mobile data).
func (n *Node) needsRelay() bool {
	if n.relay != nil {
		return false
	}
	for _, a := range n.interfaceAddrs() {
		if manet.IsPublicAddr(a) {
			return false
		}
	}
	return true
}

// interfaceAddrs are the addresses of this machine's interfaces. They are
// read with github.com/wlynxg/anet, which on Android 11 and later reads
// them without the netlink calls the system refuses to apps (where the
// standard library fails); elsewhere it is the standard library.
func (n *Node) interfaceAddrs() []ma.Multiaddr {
	list := n.cfg.interfaces
	if list == nil {
		list = anet.InterfaceAddrs
	}
	addrs, err := list()
	if err != nil {
		n.log.Warn("cannot list network interfaces", "err", err)
		return nil
	}
	var out []ma.Multiaddr
	for _, a := range addrs {
		if m, err := manet.FromNetAddr(a); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// isRelayed reports whether a connection goes through a relay.
func isRelayed(c network.Conn) bool { return isCircuit(c.RemoteMultiaddr()) }

// transportPort names an address's transport and port ("tcp/4001",
// "udp/4001"), or "" if it has neither.
func transportPort(a ma.Multiaddr) string {
	if v, err := a.ValueForProtocol(ma.P_TCP); err == nil {
		return "tcp/" + v
	}
	if v, err := a.ValueForProtocol(ma.P_UDP); err == nil {
		return "udp/" + v
	}
	return ""
}

func isCircuit(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// relayOf returns the relay a relayed connection goes through.
func relayOf(c network.Conn) (peer.ID, bool) {
	relayPart, _ := ma.SplitFunc(c.RemoteMultiaddr(), func(c ma.Component) bool { return c.Protocol().Code == ma.P_CIRCUIT })
	if relayPart == nil {
		return "", false
	}
	v, err := relayPart.ValueForProtocol(ma.P_P2P)
	if err != nil {
		return "", false
	}
	p, err := peer.Decode(v)
	return p, err == nil
}

// advertised is the host's address factory: the addresses libp2p found,
// plus every listen address on an unspecified IP (0.0.0.0, ::) resolved
// with this node's own interface list. Where libp2p could not list the
// interfaces (Android 11+ refuses it netlink), it finds only loopback,
// and without this the node would tell others, and put in invites, no
// address where it can be reached. The interface list is read at most
// once a minute.
func (n *Node) advertised(addrs []ma.Multiaddr) []ma.Multiaddr {
	h := n.hostRef.Load()
	if h == nil {
		return addrs
	}
	n.ifaceMu.Lock()
	if time.Since(n.ifaceAt) > time.Minute || n.ifaceAt.IsZero() {
		n.ifaces = slices.DeleteFunc(n.interfaceAddrs(), manet.IsIP6LinkLocal)
		n.ifaceAt = time.Now()
	}
	ifaces := n.ifaces
	n.ifaceMu.Unlock()
	resolved, err := manet.ResolveUnspecifiedAddresses((*h).Network().ListenAddresses(), ifaces)
	if err != nil {
		return addrs
	}
	out := slices.Clone(addrs)
	for _, a := range resolved {
		if !manet.IsIPUnspecified(a) && !slices.ContainsFunc(out, a.Equal) {
			out = append(out, a)
		}
	}
	return out
}
