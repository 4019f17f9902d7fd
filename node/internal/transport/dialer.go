package transport

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// MaxPeerAddrs is how many addresses the dialer keeps for one peer.
const MaxPeerAddrs = 16

// Dialer keeps trying to reach member nodes this node is not connected to,
// with an exponential backoff per peer, and keeps the address book: where
// member nodes were seen. Its methods are safe for concurrent use; the
// dials it starts end before [Dialer.Run] returns.
type Dialer struct {
	host     host.Host
	adm      *Admission
	reach    *Reach
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration
	target   int
	wake     chan struct{}
	dials    sync.WaitGroup

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

// DialerConfig is what a [Dialer] works with: the host, the member nodes
// adm tells, the relays of reach, the node's log and clock, and
// Config.DialInterval and Config.DialTarget.
type DialerConfig struct {
	Host      host.Host
	Admission *Admission
	Reach     *Reach
	Log       *slog.Logger
	Now       func() time.Time
	Interval  time.Duration
	// Target bounds the dials: zero, every member node; below zero,
	// none; else the dialer tries to keep that many member nodes
	// connected.
	Target int
}

// NewDialer returns a dialer; [Dialer.Run] runs it.
func NewDialer(c DialerConfig) *Dialer {
	return &Dialer{
		host: c.Host, adm: c.Admission, reach: c.Reach, log: c.Log, now: c.Now,
		interval: c.Interval, target: c.Target,
		wake:  make(chan struct{}, 1),
		book:  make(map[peer.ID][]ma.Multiaddr),
		next:  make(map[peer.ID]time.Time),
		delay: make(map[peer.ID]time.Duration),
		last:  make(map[peer.ID]time.Time),
		busy:  make(map[peer.ID]bool),
	}
}

// Poke makes the dialer look for unconnected members now.
func (d *Dialer) Poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Learn adds addresses for p to the book, newest first, at most
// MaxPeerAddrs.
func (d *Dialer) Learn(p peer.ID, addrs []ma.Multiaddr) {
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
	if len(merged) > MaxPeerAddrs {
		merged = merged[:MaxPeerAddrs]
	}
	d.book[p] = merged
}

// AddrsOf returns where p was seen, newest first.
func (d *Dialer) AddrsOf(p peer.ID) []ma.Multiaddr {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]ma.Multiaddr(nil), d.book[p]...)
}

// SetSeen records that p was connected at t.
func (d *Dialer) SetSeen(p peer.ID, t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.After(d.last[p]) {
		d.last[p] = t
	}
}

// Seen returns when p was last connected.
func (d *Dialer) Seen(p peer.ID) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last[p]
}

// RetryNow clears p's backoff, so that the next round dials it (its
// addresses just changed).
func (d *Dialer) RetryNow(p peer.ID) { d.Connected(p) }

// Connected clears p's backoff: it is connected.
func (d *Dialer) Connected(p peer.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.delay, p)
	delete(d.next, p)
}

// Run dials member nodes every interval, and when poked, until ctx ends;
// it returns once the dials it started ended.
func (d *Dialer) Run(ctx context.Context) {
	defer d.dials.Wait()
	t := time.NewTicker(d.interval)
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

// round dials the member nodes that are due, up to the target.
func (d *Dialer) round(ctx context.Context) {
	target := d.target
	if target < 0 {
		return
	}
	a := d.adm.Load()
	members := a.Members
	now := time.Now()
	// Relays the groups granted come first: through them, member nodes
	// behind NAT are reached.
	for p, addrs := range a.Relays {
		d.Learn(p, addrs)
		d.try(ctx, p, now)
	}
	want := len(members) // zero target: every member node
	if target > 0 {
		want = target
		for p := range members {
			if p != d.host.ID() && connected(d.host, p) {
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
func (d *Dialer) try(ctx context.Context, p peer.ID, now time.Time) bool {
	if p == d.host.ID() || connected(d.host, p) {
		return false
	}
	if len(d.host.Peerstore().Addrs(p)) == 0 && len(d.AddrsOf(p)) == 0 && len(d.reach.CircuitAddrs(p)) == 0 {
		return false
	}
	d.mu.Lock()
	due := !d.busy[p] && !now.Before(d.next[p])
	if due {
		d.busy[p] = true
	}
	d.mu.Unlock()
	if due {
		d.dials.Go(func() { d.dial(ctx, p) })
	}
	return due
}

// dial tries p once, and sets its backoff if it fails.
func (d *Dialer) dial(ctx context.Context, p peer.ID) {
	ctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	// Direct addresses first; through every relay we are connected to as
	// well, for a node behind NAT (libp2p tries relayed addresses after
	// direct ones).
	addrs := append(d.AddrsOf(p), d.reach.CircuitAddrs(p)...)
	err := d.host.Connect(ctx, peer.AddrInfo{ID: p, Addrs: addrs})
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.busy, p)
	if err == nil {
		delete(d.delay, p)
		delete(d.next, p)
		return
	}
	d.log.Debug("could not reach a member node", "peer", p, "addrs", addrs, "err", err)
	delay := min(max(d.delay[p]*2, minDialBackoff), dialBackoffCap(d.now().Sub(d.last[p])))
	d.delay[p] = delay
	d.next[p] = time.Now().Add(delay)
}
