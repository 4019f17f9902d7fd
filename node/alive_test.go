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
