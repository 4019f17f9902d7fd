package transport

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Reaching member nodes behind NAT (PROTOCOL.md, "Relays"): a node without
// a public address holds a slot (a circuit relay v2 reservation) on up to
// maxRelaySlots relays among its member nodes, so that other members can
// reach it through them; it dials a member node it cannot reach directly
// through every relay it is connected to; once a relayed connection stands,
// libp2p's hole punching (DCUtR) tries to replace it with a direct one.

// DialTimeout bounds one dial of a member node.
const DialTimeout = 15 * time.Second

const (
	// maxRelaySlots is how many relays a node behind NAT holds a slot on.
	maxRelaySlots = 2
	// relayRetry is the first wait after a failed reservation; it doubles
	// up to relayRetryMax while the relay stays connected.
	relayRetry    = 2 * time.Second
	relayRetryMax = 2 * time.Minute
)

// Reach holds this node's relay slots, the relays it knows, and what
// member nodes saw of its address, and punches holes (DCUtR) for relayed
// connections to member nodes. Its methods are safe for concurrent use;
// the goroutines it starts are started and owned by [ReachHooks.Go].
type Reach struct {
	host  host.Host
	adm   *Admission
	hooks ReachHooks
	// punch is the hole punching service (DCUtR), nil where the host
	// cannot have one (a host the node was given).
	punch *holepunch.Service

	mu     sync.Mutex
	relays map[peer.ID]bool      // connected member nodes that relay
	slots  map[peer.ID]time.Time // relays we hold a slot on, until
	// renew wakes the keeper of a slot to reserve again at once: the
	// relay was identified anew, on a new connection, and a relay
	// forgets a slot when its holder disconnects, even for a moment.
	renew    map[peer.ID]chan struct{}
	observed map[peer.ID]ma.Multiaddr // our address as each member node saw it
	punching map[peer.ID]bool         // hole punches under way
	dropping map[peer.ID]bool         // relayed connections about to close
	// rendezvousing holds the relays this node exchanges rendezvous
	// records with now.
	rendezvousing map[peer.ID]bool

	punchStats punchTracer
}

// ReachHooks are what [Reach] asks of the node it serves.
type ReachHooks struct {
	// Go runs f on a goroutine the node owns and waits for when it
	// closes, with a context that ends then.
	Go func(f func(ctx context.Context))
	// Log is where Reach says what it did.
	Log *slog.Logger
	// NeedsRelay reports whether this node should hold relay slots (it
	// is behind NAT, and not a relay itself).
	NeedsRelay func() bool
	// PathChanged is told after a hole punch to p ended, well or not.
	PathChanged func(p peer.ID)
	// RendezvousProtocol is the protocol of rendezvous; Rendezvous
	// exchanges records with relay rel, which speaks it, as long as
	// the two are connected.
	RendezvousProtocol protocol.ID
	Rendezvous         func(ctx context.Context, rel peer.ID)
}

// Close stops hole punching.
func (r *Reach) Close() {
	if r.punch != nil {
		r.punch.Close()
	}
}

// NewReach returns the Reach of a node whose member nodes adm tells; it
// works once [Reach.Start] gave it the host.
func NewReach(adm *Admission, hooks ReachHooks) *Reach {
	return &Reach{
		adm: adm, hooks: hooks, relays: make(map[peer.ID]bool), slots: make(map[peer.ID]time.Time), renew: make(map[peer.ID]chan struct{}),
		observed: make(map[peer.ID]ma.Multiaddr), punching: make(map[peer.ID]bool),
		dropping: make(map[peer.ID]bool), rendezvousing: make(map[peer.ID]bool),
	}
}

// Start starts hole punching on h, the node's host. libp2p's own switch
// (EnableHolePunching) is not used: it learns the node's public address
// only once four different IP addresses have reported the same one, which
// a small group behind few routers may never reach, and it punches only
// for relayed connections that arrive after that. Here a member node's
// word is enough (PunchAddrs), and the node punches for every relayed
// connection to a member node (connected).
func (r *Reach) Start(h host.Host) error {
	r.host = h
	idh, ok := h.(interface{ IDService() identify.IDService })
	if !ok {
		return nil
	}
	svc, err := holepunch.NewService(h, idh.IDService(), r.PunchAddrs, holepunch.WithMetricsTracer(&r.punchStats))
	if err != nil {
		return err
	}
	r.punch = svc
	return nil
}

// SawUs records the address a peer saw this node's connection come
// from (identify's observed address), if the connection left from a port
// we listen on: then it is where this node's NAT maps that port, the
// address hole punching needs.
func (r *Reach) SawUs(p peer.ID, c network.Conn, observed ma.Multiaddr) {
	if observed == nil || c == nil || IsRelayed(c) || !manet.IsPublicAddr(observed) {
		return
	}
	local := transportPort(c.LocalMultiaddr())
	if local == "" || !slices.ContainsFunc(r.host.Network().ListenAddresses(), func(l ma.Multiaddr) bool {
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

// Identified is called once identify tells what a connected member node
// speaks: if it relays, remember it and, if this node is behind NAT, take
// a slot on it.
func (r *Reach) Identified(p peer.ID) {
	ok, err := r.host.Peerstore().SupportsProtocols(p, proto.ProtoIDv2Hop)
	if err != nil || len(ok) == 0 {
		return
	}
	r.mu.Lock()
	known := r.relays[p]
	r.relays[p] = true
	_, held := r.slots[p]
	take := !held && len(r.slots) < maxRelaySlots && r.hooks.NeedsRelay()
	var renew chan struct{}
	if take {
		r.slots[p] = time.Time{}
		renew = make(chan struct{}, 1)
		r.renew[p] = renew
	} else if held {
		select {
		case r.renew[p] <- struct{}{}:
		default:
		}
	}
	r.mu.Unlock()
	if take {
		r.hooks.Go(func(ctx context.Context) { r.keepSlot(ctx, p, renew) })
	}
	if !known {
		r.hooks.Go(func(ctx context.Context) { r.dialThrough(ctx, p) })
	}
	if ok, err := r.host.Peerstore().SupportsProtocols(p, r.hooks.RendezvousProtocol); err == nil && len(ok) > 0 {
		r.goOnce(r.rendezvousing, p, func(ctx context.Context) { r.hooks.Rendezvous(ctx, p) })
	}
}

// goOnce runs f for p on a goroutine of the node, unless one started for
// p with the same running set (punching, dropping, rendezvousing) has not
// ended yet.
func (r *Reach) goOnce(running map[peer.ID]bool, p peer.ID, f func(ctx context.Context)) {
	r.mu.Lock()
	busy := running[p]
	running[p] = true
	r.mu.Unlock()
	if busy {
		return
	}
	r.hooks.Go(func(ctx context.Context) {
		defer func() {
			r.mu.Lock()
			delete(running, p)
			r.mu.Unlock()
		}()
		f(ctx)
	})
}

// dialThrough tries once to reach, through relay rel, every member node
// this node is not connected to. The dialer's own attempt may be waiting
// on direct addresses that do not answer (a node behind NAT), for up to
// DialTimeout, and its next try comes later still; libp2p joins this
// dial to one under way to the same node. A relay where the node holds
// no slot refuses at once.
func (r *Reach) dialThrough(ctx context.Context, rel peer.ID) {
	a, err := ma.NewMultiaddr("/p2p/" + rel.String() + "/p2p-circuit")
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	for p := range r.adm.Load().Members {
		if p == rel || p == r.host.ID() || connected(r.host, p) {
			continue
		}
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, DialTimeout)
			defer cancel()
			if err := r.host.Connect(dctx, peer.AddrInfo{ID: p, Addrs: []ma.Multiaddr{a}}); err != nil {
				r.hooks.Log.Debug("could not reach a member node through a relay", "peer", p, "relay", rel, "err", err)
			}
		})
	}
	wg.Wait()
}

// keepSlot holds a reservation on relay p and renews it before it ends
// (or at once when renew says so),
// as long as p stays connected and a relay.
func (r *Reach) keepSlot(ctx context.Context, p peer.ID, renew chan struct{}) {
	defer func() {
		r.mu.Lock()
		delete(r.slots, p)
		delete(r.renew, p)
		r.mu.Unlock()
	}()
	wait := relayRetry
	for connected(r.host, p) {
		rctx, cancel := context.WithTimeout(ctx, DialTimeout)
		rsv, err := client.Reserve(rctx, r.host, peer.AddrInfo{ID: p})
		cancel()
		var next time.Duration
		if err != nil {
			r.hooks.Log.Debug("relay reservation failed", "peer", p, "err", err)
			next, wait = wait, min(2*wait, relayRetryMax)
		} else {
			wait = relayRetry
			r.mu.Lock()
			r.slots[p] = rsv.Expiration
			r.mu.Unlock()
			r.hooks.Log.Debug("holding a relay slot", "peer", p, "until", rsv.Expiration)
			// Renew when three quarters of it have passed.
			next = max(time.Until(rsv.Expiration)*3/4, time.Second)
		}
		if !sleepConnected(r.host, ctx, p, next, renew) {
			return
		}
	}
}

// SleepConnected waits for d, and returns false early if ctx ends or p
// disconnects from h.
func SleepConnected(h host.Host, ctx context.Context, p peer.ID, d time.Duration) bool {
	return sleepConnected(h, ctx, p, d, nil)
}

// sleepConnected is SleepConnected that also ends, reporting whether p
// is connected, when wake (nil: never) says so.
func sleepConnected(h host.Host, ctx context.Context, p peer.ID, d time.Duration, wake chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return connected(h, p)
		case <-wake:
			return connected(h, p)
		case <-tick.C:
			if !connected(h, p) {
				return false
			}
		}
	}
}

// connected reports whether h has a connection to p, or is p.
func connected(h host.Host, p peer.ID) bool {
	return p == h.ID() || h.Network().Connectedness(p) == network.Connected
}

// CircuitAddrs are addresses that reach p through each relay this node is
// connected to: /p2p/RELAY/p2p-circuit. A relay where p holds no slot
// refuses at once.
func (r *Reach) CircuitAddrs(p peer.ID) []ma.Multiaddr {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ma.Multiaddr
	for rel := range r.relays {
		if rel == p || !connected(r.host, rel) {
			continue
		}
		a, err := ma.NewMultiaddr("/p2p/" + rel.String() + "/p2p-circuit")
		if err == nil {
			out = append(out, a)
		}
	}
	return out
}

// Disconnected forgets a relay, and what a node saw of us, once the
// last connection to it closed.
func (r *Reach) Disconnected(p peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !connected(r.host, p) {
		delete(r.relays, p)
		delete(r.observed, p)
	}
}

// SlotRelays are the relays this node holds a slot on now.
func (r *Reach) SlotRelays() []peer.ID {
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

// SlotCount is how many relay slots this node holds now.
func (r *Reach) SlotCount() int {
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
