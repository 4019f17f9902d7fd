package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// TestOutsiderRelay, over loopback: an organisation's node that is in no
// group is granted by an admin, with a code, the right to relay for the
// group. The group's member nodes prove they know the grant's secret, take
// slots on it and reach each other through it, on a connection that is
// not limited (sync runs over it); they leave their rendezvous records
// there. A stranger, and the member of another group the same relay
// serves, get neither a slot nor a way into this group. The relay learns
// nothing a network observer would not: it holds no group, no message,
// no key, and pubsub never told it a topic name.
func TestOutsiderRelay(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	net := nodetest.New(t, 4, nodetest.Options{Loopback: true, Static: true, Config: func(i int, c *node.Config) {
		if i == 2 {
			c.Relay = &node.RelayConfig{}
		}
		node.BehindNATForTest(c)
		c.Libp2p = nil // the circuit transport, to dial through relays
	}})
	ana, beto, org, carmen := net.Nodes[0], net.Nodes[1], net.Nodes[2], net.Nodes[3]
	org.Stop()
	carmen.Stop()
	gid := net.Group("istmo")
	org.Start()
	carmen.Start()
	orgAddr := org.Host().Addrs()[0].String() + "/p2p/" + org.Host().ID().String()

	// A relay code is refused by a node that is no relay, and by one in a
	// group; the organisation's node takes it.
	granted, err := ana.GrantRelay(ctx, gid, orgAddr, "Servicios Comunitarios", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := beto.AcceptRelayCode(granted.Code); !errors.Is(err, node.ErrNotRelay) {
		t.Fatalf("a node that is no relay took a code: %v", err)
	}
	if _, err := org.AcceptRelayCode(granted.Code); err != nil {
		t.Fatal(err)
	}
	if _, err := org.AcceptRelayCode(granted.Code[:len(granted.Code)-2] + "AA"); !errors.Is(err, crypto.ErrBadRelayCode) {
		t.Fatalf("a mistyped code: %v", err)
	}
	// Carmen's group "sierra" is served by the same relay.
	info, err := carmen.CreateGroup(ctx, "sierra")
	if err != nil {
		t.Fatal(err)
	}
	sierra, _ := crypto.ParseGroupID(info.ID)
	other, err := carmen.GrantRelay(ctx, sierra, orgAddr, "Servicios Comunitarios", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := org.AcceptRelayCode(other.Code); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(30*time.Second, "Beto knows the grant", func() bool {
		rs, _ := beto.Relays(gid)
		return len(rs) == 1 && rs[0].Usable
	})

	// Ana and Beto met directly when Beto joined; now they cannot (as if
	// behind two routers): they forget where the other listens.
	for _, pair := range [][2]*nodetest.Node{{ana, beto}, {beto, ana}} {
		pair[0].Host().Network().ClosePeer(pair[1].Host().ID())
		pair[0].Host().Peerstore().ClearAddrs(pair[1].Host().ID())
	}
	// Each member node connects to the relay, proves its grant and takes
	// a slot.
	orgInfo := org.AddrInfo()
	for _, m := range []*nodetest.Node{ana, beto, carmen} {
		if err := m.Host().Connect(ctx, orgInfo); err != nil {
			t.Fatal(err)
		}
	}
	net.WaitFor(30*time.Second, "member nodes hold slots", func() bool {
		return ana.Status().RelaySlots == 1 && beto.Status().RelaySlots == 1 && carmen.Status().RelaySlots == 1
	})
	circuit := ma.StringCast("/p2p/" + org.Host().ID().String() + "/p2p-circuit")
	// Beto may already be connected through the relay (dialThrough).
	reachThrough(t, net, beto, ana, circuit)
	conns := beto.Host().Network().ConnsToPeer(ana.Host().ID())
	if len(conns) == 0 || conns[0].Stat().Limited {
		t.Fatalf("relayed connection missing or limited: %v", conns)
	}
	if _, err := conns[0].RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err != nil {
		t.Fatalf("Beto reaches Ana by %s, not through the relay", conns[0].RemoteMultiaddr())
	}
	net.WaitFor(20*time.Second, "a sync over the relayed connection", func() bool {
		_, err := beto.SyncWith(ctx, ana.Host().ID())
		return err == nil
	})
	if v := pathOf(t, beto, "member-00"); v.Path != node.PathRelayed || v.Via != "Servicios Comunitarios" {
		t.Fatalf("Beto's path to Ana: %+v", v)
	}

	// Carmen's grant is for another group: no way to Ana.
	if err := carmen.Host().Connect(ctx, peer.AddrInfo{ID: ana.Host().ID(), Addrs: []ma.Multiaddr{circuit}}); err == nil {
		t.Fatal("a member of another group the relay serves reached Ana through it")
	}
	// A stranger gets in (the relay is open, to let nodes prove a code)
	// but gets no slot and no way to Ana.
	stranger := newStranger(t, nil)
	if err := stranger.h.Connect(ctx, orgInfo); err != nil {
		t.Fatal(err)
	}
	_, err = client.Reserve(ctx, stranger.h, orgInfo)
	var rerr client.ReservationError
	if !errors.As(err, &rerr) || rerr.Status != pbv2.Status_PERMISSION_DENIED {
		t.Fatalf("a stranger's reservation: %v, want PERMISSION_DENIED", err)
	}
	if err := stranger.h.Connect(ctx, peer.AddrInfo{ID: ana.Host().ID(), Addrs: []ma.Multiaddr{circuit}}); err == nil {
		t.Fatal("a stranger reached Ana through the relay")
	}

	// Meanwhile the group works; the relay learns nothing.
	sendOne(t, ana, gid, "checkpoint at the bridge")
	sendOne(t, beto, gid, "all clear")
	time.Sleep(1500 * time.Millisecond) // a heartbeat or more of gossip
	st := org.Status()
	if len(st.Groups) != 0 || st.Messages != 0 {
		t.Fatalf("the relay holds %d groups and %d messages", len(st.Groups), st.Messages)
	}
	for _, m := range []*nodetest.Node{ana, beto} {
		topic := m.KeysForTest(gid).Topic()
		if ps := org.TopicPeersForTest(topic); len(ps) != 0 {
			t.Fatalf("the relay's pubsub counts %v on the group's topic", ps)
		}
	}
	if topics, msgs := stranger.learned(); topics > 0 || msgs > 0 {
		t.Fatalf("the stranger heard %d topic names and %d messages", topics, msgs)
	}
	if r := org.RelayStats(); r == nil || r.Codes != 2 || r.Refused < 2 || r.Records == 0 {
		t.Fatalf("relay stats %+v: want 2 codes, the refusals and the rendezvous records counted", r)
	}

	// Revoked: members stop proving it (and list it so).
	if _, err := ana.RevokeRelay(ctx, gid, "servicios comunitarios"); err != nil {
		t.Fatal(err)
	}
	if rs, _ := ana.Relays(gid); len(rs) != 1 || rs[0].Usable || !rs[0].Revoked {
		t.Fatalf("after revoking: %+v", rs)
	}
}

// pathOf returns how n reaches the member named name.
func pathOf(t *testing.T, n *nodetest.Node, name string) node.PathView {
	t.Helper()
	for _, p := range n.Status().Paths {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no path to %s", name)
	return node.PathView{}
}
