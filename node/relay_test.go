package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// TestRelayMembersOnly: a volunteer's relay gives slots only to member
// nodes of its groups, and relays only between two member nodes of one same
// group. A stranger connected to it is refused a slot and a circuit; so is a
// member of another of the volunteer's groups trying to reach into this one.
// A member's relayed connection is not limited, so GossipSub and sync use
// it.
func TestRelayMembersOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	net := nodetest.New(t, 3, nodetest.Options{Loopback: true, Config: func(i int, c *node.Config) {
		if i == 0 {
			c.Relay = &node.RelayConfig{}
		}
		c.Libp2p = nil // the circuit transport, to dial through relays
		c.DialTarget = -1
	}})
	vol, ana, beto := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	beto.Stop()
	net.FormGroup("a") // the volunteer and Ana
	beto.Start()
	info, err := vol.CreateGroup(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	gidB, _ := crypto.ParseGroupID(info.ID)
	inv, err := vol.CreateInvite(ctx, gidB, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := beto.Join(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}

	stranger, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	volInfo := vol.AddrInfo()
	// The volunteer's gate lets no stranger in; here the volunteer dials
	// it, so that the relay's own rule is what is tested.
	if err := vol.Host().Connect(ctx, peer.AddrInfo{ID: stranger.ID(), Addrs: stranger.Addrs()}); err != nil {
		t.Fatal(err)
	}
	_, err = client.Reserve(ctx, stranger, volInfo)
	var rerr client.ReservationError
	if !errors.As(err, &rerr) || rerr.Status != pbv2.Status_PERMISSION_DENIED {
		t.Fatalf("a stranger's reservation: %v, want PERMISSION_DENIED", err)
	}

	// Ana and Beto hold slots: both are member nodes of the volunteer's
	// groups.
	for _, m := range []*nodetest.Node{ana, beto} {
		if err := m.Host().Connect(ctx, volInfo); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Reserve(ctx, m.Host(), volInfo); err != nil {
			t.Fatalf("member node %d refused a slot: %v", m.Index, err)
		}
	}
	circuit := ma.StringCast("/p2p/" + vol.Host().ID().String() + "/p2p-circuit")
	// Neither the stranger nor Beto (in group b only) gets a circuit to
	// Ana (group a).
	for who, h := range map[string]interface {
		Connect(context.Context, peer.AddrInfo) error
	}{"stranger": stranger, "member of another group": beto.Host()} {
		err := h.Connect(ctx, peer.AddrInfo{ID: ana.Host().ID(), Addrs: []ma.Multiaddr{circuit}})
		if err == nil {
			t.Fatalf("the %s reached Ana through the relay", who)
		}
	}
	if st := vol.RelayStats(); st == nil || st.Refused < 2 {
		t.Fatalf("relay stats %+v: want the refusals counted", st)
	}

	// Once Beto is in group a too, the relay carries him to Ana.
	inv, err = vol.CreateInvite(ctx, mustGroup(t, vol, "a"), 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := beto.Join(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(30*time.Second, "Ana knows Beto as a member", func() bool {
		ms, _ := ana.Members(mustGroup(t, ana, "a"))
		return len(ms) == 3
	})
	// (The refused dial above left a dial backoff.)
	beto.Host().Network().(*swarm.Swarm).Backoff().Clear(ana.Host().ID())
	if err := beto.Host().Connect(ctx, peer.AddrInfo{ID: ana.Host().ID(), Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatalf("a member of the same group could not reach Ana through the relay: %v", err)
	}
	conns := beto.Host().Network().ConnsToPeer(ana.Host().ID())
	if len(conns) == 0 || conns[0].Stat().Limited {
		t.Fatalf("relayed connection missing or limited: %v", conns)
	}
	// (A session Ana started at the same moment is refused; it is tried
	// again.)
	net.WaitFor(20*time.Second, "a sync over the relayed connection", func() bool {
		_, err := beto.SyncWith(ctx, ana.Host().ID())
		return err == nil
	})

	// Once a direct connection stands (as after a hole punch), the
	// relayed one is closed, so that nothing more goes through the relay.
	if err := beto.Host().Connect(network.WithForceDirectDial(ctx, "test"), ana.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(30*time.Second, "the relayed connection closed", func() bool {
		for _, c := range beto.Host().Network().ConnsToPeer(ana.Host().ID()) {
			if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err == nil {
				return false
			}
		}
		return len(beto.Host().Network().ConnsToPeer(ana.Host().ID())) > 0 && vol.RelayStats().Circuits == 0
	})
}

func mustGroup(t *testing.T, n *nodetest.Node, name string) crypto.GroupID {
	t.Helper()
	for _, g := range n.Groups() {
		if g.Name == name {
			gid, err := crypto.ParseGroupID(g.ID)
			if err != nil {
				t.Fatal(err)
			}
			return gid
		}
	}
	t.Fatalf("node %d has no group %q", n.Index, name)
	return crypto.GroupID{}
}
