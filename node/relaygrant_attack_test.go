package node_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// outsiderNet is a group of two member nodes behind NAT (Ana, Beto) and
// an organisation's relay in no group that holds the group's relay code.
// Ana and Beto reach each other only through the relay.
type outsiderNet struct {
	net            *nodetest.Net
	ana, beto, org *nodetest.Node
	gid            crypto.GroupID
	orgInfo        peer.AddrInfo
	code           crypto.RelayCode
	circuit        ma.Multiaddr
	anaID, betoID  peer.ID
	relayID        peer.ID
	granted        node.GrantedRelay
	extra          []*nodetest.Node // nodes beyond the three, in no group
	skew           atomic.Int64     // how far ahead the clock of every node runs, in ns
}

func newOutsiderNet(t *testing.T, ctx context.Context, extra int, rc node.RelayConfig, ttl time.Duration) *outsiderNet {
	t.Helper()
	o := &outsiderNet{}
	net := nodetest.New(t, 3+extra, nodetest.Options{Loopback: true, Static: true, Config: func(i int, c *node.Config) {
		if i == 2 {
			c.Relay = &rc
		}
		c.Now = func() time.Time { return time.Now().Add(time.Duration(o.skew.Load())) }
		node.BehindNATForTest(c)
		c.Libp2p = nil // the circuit transport, to dial through relays
	}})
	o.net, o.ana, o.beto, o.org, o.extra = net, net.Nodes[0], net.Nodes[1], net.Nodes[2], net.Nodes[3:]
	for _, nd := range net.Nodes[2:] {
		nd.Stop()
	}
	o.gid = net.Group("istmo")
	for _, nd := range net.Nodes[2:] {
		nd.Start()
	}
	o.anaID, o.betoID, o.relayID = o.ana.Host().ID(), o.beto.Host().ID(), o.org.Host().ID()
	orgAddr := o.org.Host().Addrs()[0].String() + "/p2p/" + o.relayID.String()
	var err error
	o.granted, err = o.ana.GrantRelay(ctx, o.gid, orgAddr, "Servicios Comunitarios", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.org.AcceptRelayCode(o.granted.Code); err != nil {
		t.Fatal(err)
	}
	if o.code, err = crypto.ParseRelayCode(o.granted.Code); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(30*time.Second, "Beto knows the grant", func() bool {
		rs, _ := o.beto.Relays(o.gid)
		return len(rs) == 1 && rs[0].Usable
	})
	for _, pair := range [][2]*nodetest.Node{{o.ana, o.beto}, {o.beto, o.ana}} {
		pair[0].Host().Network().ClosePeer(pair[1].Host().ID())
		pair[0].Host().Peerstore().ClearAddrs(pair[1].Host().ID())
	}
	o.orgInfo = o.org.AddrInfo()
	for _, m := range []*nodetest.Node{o.ana, o.beto} {
		if err := m.Host().Connect(ctx, o.orgInfo); err != nil {
			t.Fatal(err)
		}
	}
	net.WaitFor(30*time.Second, "member nodes hold slots", func() bool {
		return o.ana.Status().RelaySlots == 1 && o.beto.Status().RelaySlots == 1
	})
	o.circuit = ma.StringCast("/p2p/" + o.relayID.String() + "/p2p-circuit")
	return o
}

// reachThrough has from connect to to through the relay of circuit, and
// fails the test if it cannot within 30 s. A dial the node made by itself
// while to held no slot yet leaves a dial backoff: it is cleared between
// tries.
func reachThrough(t *testing.T, net *nodetest.Net, from, to *nodetest.Node, circuit ma.Multiaddr) {
	t.Helper()
	relay, _ := circuit.ValueForProtocol(ma.P_P2P)
	id := to.Host().ID()
	net.WaitFor(30*time.Second, "a connection through the relay", func() bool {
		if relayedVia(from, id, mustDecode(t, relay)) {
			return true
		}
		from.Host().Network().(*swarm.Swarm).Backoff().Clear(id)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := from.Host().Connect(ctx, peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{circuit}})
		return err == nil && relayedVia(from, id, mustDecode(t, relay))
	})
}

func mustDecode(t *testing.T, s string) peer.ID {
	t.Helper()
	p, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// relayedVia reports whether from holds a connection to to through relay.
func relayedVia(from *nodetest.Node, to, relay peer.ID) bool {
	for _, c := range from.Host().Network().ConnsToPeer(to) {
		if v, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_P2P); err == nil && v == relay.String() {
			if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err == nil {
				return true
			}
		}
	}
	return false
}

// TestRevokedRelayIsLeft: once an admin revokes a relay's grant, the
// group's member nodes stop using it at once: they close their
// connections to it, and with them their slots and the connections
// relayed through it; they do not dial it again. (The relay is not told;
// what it still holds is the code, which no member node proves any more.)
func TestRevokedRelayIsLeft(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := newOutsiderNet(t, ctx, 0, node.RelayConfig{}, 0)
	reachThrough(t, o.net, o.beto, o.ana, o.circuit)

	if _, err := o.ana.RevokeRelay(ctx, o.gid, "Servicios Comunitarios"); err != nil {
		t.Fatal(err)
	}
	o.net.WaitFor(30*time.Second, "member nodes leave the revoked relay", func() bool {
		for _, m := range []*nodetest.Node{o.ana, o.beto} {
			if m.Host().Network().Connectedness(o.relayID) == network.Connected || m.Status().RelaySlots != 0 {
				return false
			}
		}
		return !relayedVia(o.beto, o.anaID, o.relayID) && !relayedVia(o.ana, o.betoID, o.relayID)
	})
	// And they stay away: nothing in them dials it again.
	time.Sleep(2 * time.Second)
	for _, m := range []*nodetest.Node{o.ana, o.beto} {
		if m.Host().Network().Connectedness(o.relayID) == network.Connected {
			t.Fatalf("%s is connected to the revoked relay again", m.Host().ID())
		}
		for _, p := range m.Status().Paths {
			if p.Path == node.PathRelayed {
				t.Fatalf("a path still goes through the revoked relay: %+v", p)
			}
		}
	}
}

// TestEndedRelayGrantIsLeft: a grant that ends, with no roster op to say
// so, is left as a revoked one is, once the nodes' periodic upkeep sees
// that it ended.
func TestEndedRelayGrantIsLeft(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := newOutsiderNet(t, ctx, 0, node.RelayConfig{}, time.Hour)
	o.skew.Store(int64(time.Hour + time.Minute))
	for _, m := range []*nodetest.Node{o.ana, o.beto} {
		m.MaintainForTest()
	}
	o.net.WaitFor(30*time.Second, "member nodes leave the relay whose grant ended", func() bool {
		for _, m := range []*nodetest.Node{o.ana, o.beto} {
			if m.Host().Network().Connectedness(o.relayID) == network.Connected || m.Status().RelaySlots != 0 {
				return false
			}
		}
		return true
	})
}
