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
		for _, s := range st.Addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				n.host.Peerstore().AddAddr(p, a, addrTTL)
			}
		}
	}
	return nil
}

// peerIdentified saves the addresses of a member node once identify told us
// where it listens.
func (n *Node) peerIdentified(p peer.ID) {
	if !n.isMemberPeer(p) {
		return
	}
	n.savePeer(p)
}

func (n *Node) peerConnected(p peer.ID) {
	if !n.isMemberPeer(p) {
		return
	}
	n.dialer.setSeen(p, n.now())
	n.dialer.connected(p)
	// Store and forward: every new connection to a member node starts a
	// sync. The node with the lower peer id starts it; the other answers.
	if n.host.ID() < p {
		n.syncer.kick(p)
	}
}

func (n *Node) savePeer(p peer.ID) {
	st := peerState{LastSeen: n.now()}
	n.dialer.setSeen(p, st.LastSeen)
	for _, a := range n.host.Peerstore().Addrs(p) {
		if len(st.Addrs) < maxPeerAddrs {
			st.Addrs = append(st.Addrs, a.String())
		}
	}
	b, _ := json.Marshal(st)
	if err := n.store.PutBlob(blobPeer, []byte(p), b); err != nil {
		n.log.Warn("saving a peer address", "err", err)
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

func newDialer(n *Node) *dialer {
	return &dialer{
		n:     n,
		wake:  make(chan struct{}, 1),
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
	now := time.Now()
	for p := range d.n.access.Load().members {
		if p == d.n.host.ID() || d.n.connected(p) {
			continue
		}
		if len(d.n.host.Peerstore().Addrs(p)) == 0 {
			continue
		}
		d.mu.Lock()
		due := !d.busy[p] && !now.Before(d.next[p])
		if due {
			d.busy[p] = true
		}
		d.mu.Unlock()
		if !due {
			continue
		}
		go d.dial(ctx, p)
	}
}

func (d *dialer) dial(ctx context.Context, p peer.ID) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	err := d.n.host.Connect(ctx, peer.AddrInfo{ID: p})
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.busy, p)
	if err == nil {
		delete(d.delay, p)
		delete(d.next, p)
		return
	}
	delay := d.delay[p] * 2
	if delay < minDialBackoff {
		delay = minDialBackoff
	}
	if delay > maxDialBackoff {
		delay = maxDialBackoff
	}
	d.delay[p] = delay
	d.next[p] = time.Now().Add(delay)
}
