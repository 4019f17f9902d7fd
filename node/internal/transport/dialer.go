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
	now      func() time.Time // the node's clock: when a member node was seen
	interval time.Duration
	target   int
	wake     chan struct{}
	dials    sync.WaitGroup
	// clock schedules the dials and connect makes one; tests replace them.
	clock   func() time.Time
	connect func(context.Context, peer.AddrInfo) error

	mu    sync.Mutex
	book  map[peer.ID][]ma.Multiaddr // where member nodes were seen, newest first
	next  map[peer.ID]time.Time
	delay map[peer.ID]time.Duration
	last  map[peer.ID]time.Time
	busy  map[peer.ID]bool
}

// The waits between failed dials of a member node (nextDialDelay).
const (
	minDialBackoff = time.Second
	// flapDialBackoff is the last wait of the quick retries of a link
	// that flapped: 1, 2, then 4 s.
	flapDialBackoff = 4 * time.Second
	// offDialBackoff is the first wait once those failed too.
	offDialBackoff = time.Minute
)

// nextDialDelay is the wait before dialling a member node again after a
// dial failed, prev being the wait before that dial (zero: the first)
// and unseen how long ago it was last connected.
//
// A link that just dropped (a phone changed networks) is retried 1, 2 and
// 4 s later. A member node that three dials in a row did not reach is
// taken to be off: the next dial comes a minute later, and each wait is
// four times the one before (1, 4, 16 minutes), up to dialBackoffCap: 8
// dials in the first hour, then one per half hour or two hours. A phone
// that is off costs every other member a dial each time (a TCP SYN and a
// QUIC Initial of 1,200 bytes per address, each sent again a few times),
// for nothing; one that comes back dials the others itself (its own
// backoffs are cleared when its addresses change, or when it reaches its
// first member node: [Dialer.Moved], [Dialer.Connected]), and syncs at
// once.
func nextDialDelay(prev, unseen time.Duration) time.Duration {
	var d time.Duration
	switch {
	case prev < minDialBackoff:
		d = minDialBackoff
	case prev < flapDialBackoff:
		d = 2 * prev
	case prev < offDialBackoff:
		d = offDialBackoff
	default:
		d = 4 * prev
	}
	return min(d, dialBackoffCap(unseen))
}

// dialBackoffCap is the longest wait between two dials of a member node
// last seen unseen ago: 30 minutes for one seen within the day, 2 hours
// for one not seen for a day (or never).
func dialBackoffCap(unseen time.Duration) time.Duration {
	if unseen < 24*time.Hour {
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
		clock: time.Now, connect: c.Host.Connect,
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
func (d *Dialer) RetryNow(p peer.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.delay, p)
	delete(d.next, p)
}

// Connected clears p's backoff: it is connected. If p is the only member
// node connected, this node was probably the one cut off (out of coverage,
// no network), so the dials that failed meanwhile say nothing of the
// others: every backoff is cleared, and the dialer looks at once.
func (d *Dialer) Connected(p peer.ID) {
	for q := range d.adm.Load().Members {
		if q != p && q != d.host.ID() && connected(d.host, q) {
			d.RetryNow(p)
			return
		}
	}
	d.Moved()
}

// Moved clears every backoff and makes the dialer look now: this node's
// own addresses changed (it moved networks, or came back to one), so the
// dials that failed before may have failed on its side.
func (d *Dialer) Moved() {
	d.mu.Lock()
	clear(d.delay)
	clear(d.next)
	d.mu.Unlock()
	d.Poke()
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
	now := d.clock()
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
	err := d.connect(ctx, peer.AddrInfo{ID: p, Addrs: addrs})
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.busy, p)
	if err == nil {
		delete(d.delay, p)
		delete(d.next, p)
		return
	}
	d.log.Debug("could not reach a member node", "peer", p, "addrs", addrs, "err", err)
	delay := nextDialDelay(d.delay[p], d.now().Sub(d.last[p]))
	d.delay[p] = delay
	d.next[p] = d.clock().Add(delay)
}
