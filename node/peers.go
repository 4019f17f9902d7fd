package node

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Address book: where member nodes were last seen, saved so that a restarted
// node finds its group again without an invite.

const (
	blobPeer     = "peer"
	addrTTL      = 30 * 24 * time.Hour
	maxPeerAddrs = 16
)

type peerState struct {
	Addrs    []string  `json:"addrs"`
	LastSeen time.Time `json:"last_seen"`
}

func (n *Node) loadPeers() error {
	blobs, err := n.store.Blobs(blobPeer)
	if err != nil {
		return err
	}
	for k, b := range blobs {
		p, err := peer.IDFromBytes([]byte(k))
		if err != nil {
			continue
		}
		var st peerState
		if json.Unmarshal(b, &st) != nil {
			continue
		}
		n.dialer.setSeen(p, st.LastSeen)
		var addrs []ma.Multiaddr
		for _, s := range st.Addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				addrs = append(addrs, a)
			}
		}
		n.dialer.learn(p, addrs)
	}
	return nil
}

// peerIdentified saves the addresses of a member node once identify told us
// where it listens.
func (n *Node) peerIdentified(p peer.ID) {
	if !n.isMemberPeer(p) {
		if n.access.Load().Relays[p] != nil {
			n.spawn(func() {
				if err := n.authRelay(n.ctx, p); err != nil {
					n.log.Debug("relay auth", "peer", p, "err", err)
				}
			})
		}
		return
	}
	n.savePeer(p)
	n.reach.Identified(p)
}

func (n *Node) peerConnected(p peer.ID) {
	// A removed member's node is told so, whoever connected.
	n.tellRemoved(p)
	if !n.isMemberPeer(p) {
		return
	}
	n.log.Debug("connected to a member node", "peer", p)
	// The handshake just showed the link works: the first ping is due
	// a ping interval from now.
	n.alive.heardFrom(p, time.Now())
	n.dialer.setSeen(p, n.now())
	n.dialer.connected(p)
	n.spawn(func() { n.checkTwin(p, "connected") })
	// Store and forward: every new connection to a member node starts a
	// sync. The node with the lower peer id starts it; the other answers.
	if n.host.ID() < p {
		n.syncer.kick(p)
	}
}

// peerDisconnected: once a member node has no connection left, the dialer
// tries to reach it again at once (its link may have died, or it moved).
func (n *Node) peerDisconnected(p peer.ID) {
	if !n.isMemberPeer(p) || n.connected(p) {
		return
	}
	n.alive.forget(p)
	n.dialer.poke()
}

// savePeer records where a connected member node can be reached, in memory
// and on disk.
func (n *Node) savePeer(p peer.ID) {
	n.dialer.setSeen(p, n.now())
	n.rememberPeer(p, n.host.Peerstore().Addrs(p))
}

// rememberPeer adds addresses of a member node to the address book and
// saves it.
func (n *Node) rememberPeer(p peer.ID, addrs []ma.Multiaddr) {
	n.dialer.learn(p, addrs)
	st := peerState{LastSeen: n.dialer.seen(p)}
	for _, a := range n.dialer.addrsOf(p) {
		st.Addrs = append(st.Addrs, a.String())
	}
	b, _ := json.Marshal(st)
	if err := n.store.PutBlob(blobPeer, []byte(p), b); err != nil {
		n.log.Warn("saving a peer address", "err", err)
	}
}

// saveConnectedMembers records the addresses of member nodes we are
// connected to, for nodes that became members after we connected.
func (n *Node) saveConnectedMembers() {
	for p := range n.access.Load().Members {
		if p == n.host.ID() || !n.connected(p) {
			continue
		}
		if len(n.dialer.addrsOf(p)) == 0 {
			n.savePeer(p)
		}
		// A relay we met before it was a member of our groups (the admin
		// node a joiner joined through) is taken now.
		n.reach.Identified(p)
	}
}

// lastSeen is when this node last had a connection to p, or zero.
func (n *Node) lastSeen(p peer.ID) time.Time {
	if n.connected(p) {
		return n.now()
	}
	return n.dialer.seen(p)
}

// shareableAddrs are our addresses worth putting in an invite: loopback
// last, at most 8.
func (n *Node) shareableAddrs() []ma.Multiaddr {
	var public, private, loop []ma.Multiaddr
	for _, a := range n.host.Addrs() {
		switch {
		case manet.IsIPLoopback(a):
			loop = append(loop, a)
		case manet.IsPrivateAddr(a):
			private = append(private, a)
		default:
			public = append(public, a)
		}
	}
	out := append(append(public, private...), loop...)
	if len(out) > 8 {
		out = out[:8]
	}
	return out
}

// dialer keeps trying to reach member nodes this node is not connected to,
// with an exponential backoff per peer.
type dialer struct {
	n    *Node
	wake chan struct{}

	mu    sync.Mutex
	book  map[peer.ID][]ma.Multiaddr // where member nodes were seen, newest first
	next  map[peer.ID]time.Time
	delay map[peer.ID]time.Duration
	last  map[peer.ID]time.Time
	busy  map[peer.ID]bool
}

const (
	minDialBackoff = time.Second
	maxDialBackoff = 5 * time.Minute
	dialTimeout    = 15 * time.Second
)

// dialBackoffCap is the longest wait between two dials of a member node
// last seen unseen ago: 5 minutes for one seen within the hour, then 30
// minutes, and 2 hours for one not seen for a day (or never). A phone that
// is off costs every other member a dial each time (a TCP SYN and a QUIC
// Initial of 1,200 bytes per address, each sent again a few times), for
// nothing; one that comes back dials, or is dialled by someone it meets,
// and syncs at once.
func dialBackoffCap(unseen time.Duration) time.Duration {
	switch {
	case unseen < time.Hour:
		return maxDialBackoff
	case unseen < 24*time.Hour:
		return 30 * time.Minute
	}
	return 2 * time.Hour
}

func newDialer(n *Node) *dialer {
	return &dialer{
		n:     n,
		wake:  make(chan struct{}, 1),
		book:  make(map[peer.ID][]ma.Multiaddr),
		next:  make(map[peer.ID]time.Time),
		delay: make(map[peer.ID]time.Duration),
		last:  make(map[peer.ID]time.Time),
		busy:  make(map[peer.ID]bool),
	}
}

// poke makes the dialer look for unconnected members now.
func (d *dialer) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// learn adds addresses for p to the book, newest first, at most
// maxPeerAddrs.
func (d *dialer) learn(p peer.ID, addrs []ma.Multiaddr) {
	if len(addrs) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	merged := append([]ma.Multiaddr(nil), addrs...)
	for _, old := range d.book[p] {
		dup := false
		for _, a := range merged {
			if a.Equal(old) {
				dup = true
				break
			}
		}
		if !dup {
			merged = append(merged, old)
		}
	}
	if len(merged) > maxPeerAddrs {
		merged = merged[:maxPeerAddrs]
	}
	d.book[p] = merged
}

func (d *dialer) addrsOf(p peer.ID) []ma.Multiaddr {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]ma.Multiaddr(nil), d.book[p]...)
}

func (d *dialer) setSeen(p peer.ID, t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.After(d.last[p]) {
		d.last[p] = t
	}
}

func (d *dialer) seen(p peer.ID) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last[p]
}

// retryNow clears p's backoff, so that the next round dials it (its
// addresses just changed).
func (d *dialer) retryNow(p peer.ID) { d.connected(p) }

func (d *dialer) connected(p peer.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.delay, p)
	delete(d.next, p)
}

func (d *dialer) run(ctx context.Context) {
	t := time.NewTicker(d.n.cfg.DialInterval)
	defer t.Stop()
	for {
		d.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
	}
}

func (d *dialer) round(ctx context.Context) {
	target := d.n.cfg.DialTarget
	if target < 0 {
		return
	}
	a := d.n.access.Load()
	members := a.Members
	now := time.Now()
	// Relays the groups granted come first: through them, member nodes
	// behind NAT are reached.
	for p, addrs := range a.Relays {
		d.learn(p, addrs)
		d.try(ctx, p, now)
	}
	want := len(members) // zero target: every member node
	if target > 0 {
		want = target
		for p := range members {
			if p != d.n.host.ID() && d.n.connected(p) {
				want--
			}
		}
		d.mu.Lock()
		want -= len(d.busy)
		d.mu.Unlock()
	}
	for p := range members {
		if want <= 0 {
			return
		}
		if d.try(ctx, p, now) {
			want--
		}
	}
}

// try dials p if it is not connected, has somewhere to be dialled and
// is due (its backoff has passed), and reports whether it dials.
func (d *dialer) try(ctx context.Context, p peer.ID, now time.Time) bool {
	if p == d.n.host.ID() || d.n.connected(p) {
		return false
	}
	if len(d.n.host.Peerstore().Addrs(p)) == 0 && len(d.addrsOf(p)) == 0 && len(d.n.reach.CircuitAddrs(p)) == 0 {
		return false
	}
	d.mu.Lock()
	due := !d.busy[p] && !now.Before(d.next[p])
	if due {
		d.busy[p] = true
	}
	d.mu.Unlock()
	if due {
		go d.dial(ctx, p)
	}
	return due
}

func (d *dialer) dial(ctx context.Context, p peer.ID) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	// Direct addresses first; through every relay we are connected to as
	// well, for a node behind NAT (libp2p tries relayed addresses after
	// direct ones).
	addrs := append(d.addrsOf(p), d.n.reach.CircuitAddrs(p)...)
	err := d.n.host.Connect(ctx, peer.AddrInfo{ID: p, Addrs: addrs})
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.busy, p)
	if err == nil {
		delete(d.delay, p)
		delete(d.next, p)
		return
	}
	d.n.log.Debug("could not reach a member node", "peer", p, "addrs", addrs, "err", err)
	delay := min(max(d.delay[p]*2, minDialBackoff), dialBackoffCap(d.n.now().Sub(d.last[p])))
	d.delay[p] = delay
	d.next[p] = time.Now().Add(delay)
}
