package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// TestDialBackoffCap: a member node seen within the day is dialled at
// least every half hour; one gone for a day (or never seen), every two
// hours, so that phones that are off cost the others little.
func TestDialBackoffCap(t *testing.T) {
	for _, c := range []struct {
		unseen time.Duration
		want   time.Duration
	}{
		{0, 30 * time.Minute},
		{23 * time.Hour, 30 * time.Minute},
		{25 * time.Hour, 2 * time.Hour},
		{time.Since(time.Time{}), 2 * time.Hour}, // never seen
	} {
		if got := dialBackoffCap(c.unseen); got != c.want {
			t.Errorf("unseen %s: cap %s, want %s", c.unseen, got, c.want)
		}
	}
}

// offlineMember is a dialer with one member node, whose device is off:
// every dial fails at once. Time is the test's: run advances it.
type offlineMember struct {
	mn    mocknet.Mocknet
	d     *Dialer
	p     peer.ID
	mu    sync.Mutex
	now   time.Time
	dials []time.Duration // when, from the start
	start time.Time
}

func newOfflineMember(t *testing.T) *offlineMember {
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	h, err := mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	p := peers(t, 1)[0]
	adm := NewAdmission()
	a := NewAccess()
	a.Members[h.ID()], a.Members[p] = true, true
	adm.Publish(a)
	o := &offlineMember{mn: mn, p: p, start: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	o.now = o.start
	clock := func() time.Time {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.now
	}
	o.d = NewDialer(DialerConfig{Host: h, Admission: adm, Reach: &Reach{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: clock, Interval: time.Second})
	o.d.clock = clock
	o.d.connect = func(context.Context, peer.AddrInfo) error {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.dials = append(o.dials, o.now.Sub(o.start))
		return errors.New("connection refused")
	}
	o.d.Learn(p, []ma.Multiaddr{ma.StringCast("/ip4/192.0.2.7/tcp/4001")})
	o.d.SetSeen(p, o.start) // connected until now: the device just went off
	return o
}

// run lets the dialer run once a second for d of the test's time.
func (o *offlineMember) run(d time.Duration) {
	for range int(d / time.Second) {
		o.d.round(context.Background())
		o.d.dials.Wait()
		o.mu.Lock()
		o.now = o.now.Add(time.Second)
		o.mu.Unlock()
	}
}

func (o *offlineMember) count(from, to time.Duration) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, at := range o.dials {
		if at >= from && at < to {
			n++
		}
	}
	return n
}

// TestDialsToOfflineMember: a member node whose device just went off is
// retried quickly three times (a link that flapped comes back at once),
// then taken to be off: 8 dials in its first hour (every 5 minutes, 20
// dials, before), 2 in the second. When this node's own addresses change
// it dials at once again.
func TestDialsToOfflineMember(t *testing.T) {
	o := newOfflineMember(t)
	o.run(2 * time.Hour)
	if n := o.count(0, 10*time.Second); n < 4 {
		t.Errorf("%d dials in the first 10 s, want 4 (at once, 1, 3 and 7 s later): %v", n, o.dials)
	}
	if n := o.count(0, time.Hour); n > 8 {
		t.Errorf("%d dials of a member node that is off in its first hour, want at most 8: %v", n, o.dials)
	}
	if n := o.count(time.Hour, 2*time.Hour); n > 2 {
		t.Errorf("%d dials in its second hour, want at most 2: %v", n, o.dials)
	}
	before := len(o.dials)
	o.d.Moved()
	o.run(time.Second)
	if len(o.dials) != before+1 {
		t.Errorf("no dial at once after this node's addresses changed")
	}
}

// TestDialsAfterCutOff: a node that was cut off itself (no member node
// connected; every dial failed on its side) dials every member node again
// as soon as it reaches its first one, instead of waiting out the backoffs
// its own outage built up.
func TestDialsAfterCutOff(t *testing.T) {
	o := newOfflineMember(t)
	o.run(time.Hour)
	// Another member node comes within reach, and connects.
	other, err := o.mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	a := NewAccess()
	for p := range o.d.adm.Load().Members {
		a.Members[p] = true
	}
	a.Members[other.ID()] = true
	o.d.adm.Publish(a)
	if _, err := o.mn.LinkPeers(o.d.host.ID(), other.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := o.mn.ConnectPeers(o.d.host.ID(), other.ID()); err != nil {
		t.Fatal(err)
	}
	before := len(o.dials)
	o.d.Connected(other.ID())
	o.run(time.Second)
	if len(o.dials) != before+1 {
		t.Errorf("the member node still backed off was not dialled once this node reached its first member node")
	}
}
