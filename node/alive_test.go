package node_test

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/event"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

func reachable(nd *nodetest.Node) int {
	gs := nd.Groups()
	if len(gs) == 0 {
		return -1
	}
	return gs[0].Reachable
}

// TestDeadLinkNoticed: the link between two member nodes dies without a
// word (nothing closed, nothing arrives). Both sides stop counting the
// other as reachable within a few ping intervals, where today a dead TCP
// link counts as up for over half a minute; when the link comes back they
// reconnect by themselves.
func TestDeadLinkNoticed(t *testing.T) {
	nt := nodetest.New(t, 2, nodetest.Options{Config: func(_ int, c *node.Config) {
		c.PingInterval, c.PingTimeout = 200*time.Millisecond, 300*time.Millisecond
	}})
	nt.ConnectAll()
	nt.Group("juchitan")
	a, b := nt.Nodes[0], nt.Nodes[1]
	nt.WaitFor(10*time.Second, "both see the other", func() bool { return reachable(a) == 1 && reachable(b) == 1 })

	nt.KillLink(0, 1)
	start := time.Now()
	nt.WaitFor(10*time.Second, "both notice the dead link", func() bool {
		return reachable(a) == 0 && reachable(b) == 0 && a.Status().Peers == 0 && b.Status().Peers == 0
	})
	t.Logf("the dead link was noticed after %s", time.Since(start).Round(10*time.Millisecond))

	nt.Reconnect(0)
	nt.WaitFor(15*time.Second, "they reconnect", func() bool { return reachable(a) == 1 && reachable(b) == 1 })
}

// TestOwnAddressChangeChecksLinks: when a node's own addresses change (the
// phone went from Wi-Fi to mobile data), it checks every link at once,
// without waiting for the next periodic ping, and finds the dead one.
func TestOwnAddressChangeChecksLinks(t *testing.T) {
	nt := nodetest.New(t, 2, nodetest.Options{Config: func(_ int, c *node.Config) {
		c.PingInterval, c.PingTimeout = time.Hour, 300*time.Millisecond
	}})
	nt.ConnectAll()
	nt.Group("juchitan")
	a, b := nt.Nodes[0], nt.Nodes[1]
	nt.WaitFor(10*time.Second, "both see the other", func() bool { return reachable(a) == 1 && reachable(b) == 1 })

	nt.KillLink(0, 1)
	em, err := a.Host().EventBus().Emitter(new(event.EvtLocalAddressesUpdated))
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	time.Sleep(time.Second) // no periodic ping comes meanwhile
	if reachable(a) != 1 {
		t.Fatal("node 0 noticed the dead link before its addresses changed: the test proves nothing")
	}
	if err := em.Emit(event.EvtLocalAddressesUpdated{Diffs: true}); err != nil {
		t.Fatal(err)
	}
	nt.WaitFor(5*time.Second, "node 0 notices the dead link", func() bool { return reachable(a) == 0 })
}

// TestIdleLinkPingedLess: while nothing happens in the group, a link is
// pinged less and less often, down to once per idle interval, instead of
// every ping interval; a link that dies meanwhile is still noticed within
// the idle interval (plus the timeout), and both sides reconnect.
func TestIdleLinkPingedLess(t *testing.T) {
	const interval, idle = 100 * time.Millisecond, 1600 * time.Millisecond
	nt := nodetest.New(t, 2, nodetest.Options{Traffic: true, Config: func(_ int, c *node.Config) {
		c.PingInterval, c.PingIdleInterval, c.PingTimeout = interval, idle, 500*time.Millisecond
	}})
	nt.ConnectAll()
	nt.Group("juchitan")
	a, b := nt.Nodes[0], nt.Nodes[1]
	nt.WaitFor(10*time.Second, "both see the other", func() bool { return reachable(a) == 1 && reachable(b) == 1 })

	// The group was formed just now: wait until it has been idle for
	// twice the idle interval, so that pings are a full interval apart.
	time.Sleep(2 * idle)
	pings := func() int64 {
		var n int64
		for p, s := range a.Traffic() {
			if p == "/ipfs/ping/1.0.0" {
				n += s.TotalIn + s.TotalOut
			}
		}
		return n / 64 // 32 bytes each way
	}
	const window = 4 * time.Second
	time.Sleep(1100 * time.Millisecond) // the counter is sampled once a second
	before := pings()
	time.Sleep(window)
	got := pings() - before
	// At the ping interval that would be 40 pings; at the idle interval
	// 2 or 3 (a few more if both sides probe at once).
	if most := int64(2 * window / idle); got > most+2 {
		t.Fatalf("%d pings in %s on an idle link, want at most %d (one per %s)", got, window, most+2, idle)
	}
	if reachable(a) != 1 || reachable(b) != 1 {
		t.Fatal("the idle link was dropped")
	}
	t.Logf("%d pings in %s", got, window)

	nt.KillLink(0, 1)
	nt.WaitFor(10*time.Second, "both notice the dead idle link", func() bool {
		return reachable(a) == 0 && reachable(b) == 0
	})
	nt.Reconnect(0)
	nt.WaitFor(15*time.Second, "they reconnect", func() bool { return reachable(a) == 1 && reachable(b) == 1 })
}
