package node_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/internal/wire"
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
// fails the test if it cannot within 30 s. A direct connection the two
// hold (after a hole punch) is cut first, as if they had moved. A dial
// the node made by itself while to held no slot yet leaves a dial
// backoff: it is cleared between tries.
func reachThrough(t *testing.T, net *nodetest.Net, from, to *nodetest.Node, circuit ma.Multiaddr) {
	t.Helper()
	relay, _ := circuit.ValueForProtocol(ma.P_P2P)
	rel, id := mustDecode(t, relay), to.Host().ID()
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		if relayedVia(from, id, rel) {
			return
		}
		if from.Host().Network().Connectedness(id) == network.Connected {
			for _, pair := range [][2]*nodetest.Node{{from, to}, {to, from}} {
				pair[0].Host().Network().ClosePeer(pair[1].Host().ID())
				pair[0].Host().Peerstore().ClearAddrs(pair[1].Host().ID())
			}
		}
		from.Host().Network().(*swarm.Swarm).Backoff().Clear(id)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = from.Host().Connect(ctx, peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{circuit}})
		cancel()
		if err == nil && relayedVia(from, id, rel) {
			return
		}
	}
	t.Fatalf("no connection through the relay within 30 s: %v", err)
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

// proveGrant has h, connected to relay, prove the grant of secret, and
// returns how many proofs the relay took.
func proveGrant(t *testing.T, ctx context.Context, h host.Host, relay peer.ID, secret [32]byte) int {
	t.Helper()
	n, err := tryProveGrant(ctx, h, relay, secret)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func tryProveGrant(ctx context.Context, h host.Host, relay peer.ID, secret [32]byte) (int, error) {
	return sendProof(ctx, h, relay, crypto.RelayLabel(secret), crypto.RelayProof(secret, relay, h.ID()))
}

// sendProof has h show relay proof for the grant of label, whoever it was
// made for.
func sendProof(ctx context.Context, h host.Host, relay peer.ID, label [16]byte, proof [32]byte) (int, error) {
	st, err := h.NewStream(ctx, relay, node.RelayAuthProtocol)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if _, err := protodelim.MarshalTo(st, &wire.RelayAuth{Proofs: []*wire.RelayAuthProof{{Label: label[:], Proof: proof[:]}}}); err != nil {
		return 0, err
	}
	var res wire.RelayAuthResult
	if err := protodelim.UnmarshalFrom(bufio.NewReader(st), &res); err != nil {
		return 0, err
	}
	return int(res.Accepted), nil
}

// TestRemovedMemberLosesRelay: a member removed from the group still
// knows the relay grant's secret (it was in the roster). Once an admin
// grants the relay again and its operator takes the new code, which names
// the one it replaces, the group's nodes show the relay the new grant on
// the connections they hold; an hour later the relay drops the old code:
// the removed member's node is cut off and its proofs of the old grant
// are refused, while the group's nodes keep their slots. An operator can
// also drop a code by hand (a revoked grant): the nodes that proved only
// it are cut off.
func TestRemovedMemberLosesRelay(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := newOutsiderNet(t, ctx, 0, node.RelayConfig{}, 0)
	// The removed member's own host, with the secret it kept.
	removed := newStranger(t, nil)
	if err := removed.h.Connect(ctx, o.orgInfo); err != nil {
		t.Fatal(err)
	}
	if got := proveGrant(t, ctx, removed.h, o.relayID, o.code.Secret); got != 1 {
		t.Fatalf("before the new grant, the relay took %d proofs of the removed member", got)
	}
	if _, err := client.Reserve(ctx, removed.h, o.orgInfo); err != nil {
		t.Fatalf("before the new grant: %v", err)
	}

	again, err := o.ana.GrantRelay(ctx, o.gid, o.orgInfo.Addrs[0].String()+"/p2p/"+o.relayID.String(), "Servicios Comunitarios", 0)
	if err != nil {
		t.Fatal(err)
	}
	if again.Replaces != o.granted.Label || again.Label == o.granted.Label {
		t.Fatalf("the new grant (label %s) replaces %q, want %s", again.Label, again.Replaces, o.granted.Label)
	}
	v, err := o.org.AcceptRelayCode(again.Code)
	if err != nil {
		t.Fatal(err)
	}
	if codes := o.org.RelayCodes(); v.Replaced != o.granted.Label || len(codes) != 2 {
		t.Fatalf("the relay took the new code (%+v) and holds %+v", v, codes)
	}
	// For an hour the old code still holds, as the same grant: Beto, had
	// he not yet learned of the new grant, would still reach Ana. Both
	// show the relay the new grant on the connection they hold.
	o.net.WaitFor(30*time.Second, "member nodes prove the new grant", func() bool {
		return o.org.RelayProvedForTest(o.anaID, again.Label) && o.org.RelayProvedForTest(o.betoID, again.Label)
	})
	o.skew.Store(int64(time.Hour + time.Minute))
	o.org.PruneForTest()
	if codes := o.org.RelayCodes(); len(codes) != 1 || codes[0].Label != again.Label {
		t.Fatalf("an hour after the new code, the relay holds %+v", codes)
	}
	o.net.WaitFor(10*time.Second, "the removed member's node is cut off", func() bool {
		return removed.h.Network().Connectedness(o.relayID) != network.Connected
	})
	if err := removed.h.Connect(ctx, o.orgInfo); err != nil {
		t.Fatal(err)
	}
	if got := proveGrant(t, ctx, removed.h, o.relayID, o.code.Secret); got != 0 {
		t.Fatalf("the relay took %d proofs of the replaced grant", got)
	}
	var rerr client.ReservationError
	if _, err := client.Reserve(ctx, removed.h, o.orgInfo); !errors.As(err, &rerr) || rerr.Status != pbv2.Status_PERMISSION_DENIED {
		t.Fatalf("a reservation with the replaced grant: %v, want PERMISSION_DENIED", err)
	}
	// The group's nodes were never cut off, and reach each other through
	// the relay.
	for _, m := range []*nodetest.Node{o.ana, o.beto} {
		if m.Host().Network().Connectedness(o.relayID) != network.Connected {
			t.Fatalf("%s lost the relay", m.Host().ID())
		}
	}
	reachThrough(t, o.net, o.beto, o.ana, o.circuit)

	// A grant revoked: the operator drops its code by the label the
	// admin sees; whoever still proves it is cut off.
	code2, err := crypto.ParseRelayCode(again.Code)
	if err != nil {
		t.Fatal(err)
	}
	holder := newStranger(t, nil)
	if err := holder.h.Connect(ctx, o.orgInfo); err != nil {
		t.Fatal(err)
	}
	if got := proveGrant(t, ctx, holder.h, o.relayID, code2.Secret); got != 1 {
		t.Fatalf("the relay took %d proofs of the current grant", got)
	}
	r, err := o.ana.RevokeRelay(ctx, o.gid, "Servicios Comunitarios")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.org.DropRelayCode(r.Label[:4]); !errors.Is(err, node.ErrNoSuchRelayCode) {
		t.Fatalf("a label of 4 characters: %v", err)
	}
	if _, err := o.org.DropRelayCode(strings.ToUpper(r.Label)); err != nil {
		t.Fatal(err)
	}
	if _, err := o.org.DropRelayCode(r.Label); !errors.Is(err, node.ErrNoSuchRelayCode) {
		t.Fatalf("a code dropped twice: %v", err)
	}
	if codes := o.org.RelayCodes(); len(codes) != 0 {
		t.Fatalf("the relay still holds %+v", codes)
	}
	o.net.WaitFor(10*time.Second, "the holder of the dropped code is cut off", func() bool {
		return holder.h.Network().Connectedness(o.relayID) != network.Connected
	})
	// With no code left, the relay lets no stranger in at all; if the
	// connection stood, no proof would hold.
	if err := holder.h.Connect(ctx, o.orgInfo); err == nil {
		if got, _ := tryProveGrant(ctx, holder.h, o.relayID, code2.Secret); got != 0 {
			t.Fatalf("the relay took %d proofs of a dropped code", got)
		}
	}
}

// registerRecords has h leave n made-up records at relay, and returns the
// relay's answer.
func registerRecords(t *testing.T, ctx context.Context, h host.Host, relay peer.ID, n int) wire.RendezvousStatus {
	t.Helper()
	req := &wire.RendezvousRequest{}
	for range n {
		pt, rec := make([]byte, 32), make([]byte, crypto.RendezvousSealedSize)
		rand.Read(pt)
		rand.Read(rec)
		req.Register = append(req.Register, &wire.RendezvousRecordAt{Point: pt, Record: rec})
	}
	st, err := h.NewStream(ctx, relay, node.RendezvousProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := protodelim.MarshalTo(st, req); err != nil {
		t.Fatal(err)
	}
	var res wire.RendezvousResponse
	if err := protodelim.UnmarshalFrom(bufio.NewReader(st), &res); err != nil {
		t.Fatal(err)
	}
	return res.Status
}

// TestRelayGrantQuota: whoever knows a grant's secret (any member, or one
// removed since) can make up node identities and prove the grant with
// each. The relay gives one grant no more than its share: at most
// MaxNodesPerGrant nodes prove it at once, and their rendezvous records
// are bounded by grant, so that one group's nodes cannot take the slots
// and records of the other groups the relay serves.
func TestRelayGrantQuota(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := newOutsiderNet(t, ctx, 0, node.RelayConfig{MaxNodesPerGrant: 3}, 0)
	o.net.WaitFor(30*time.Second, "Ana and Beto proved the grant", func() bool {
		return o.org.RelayProvedForTest(o.anaID, o.granted.Label) && o.org.RelayProvedForTest(o.betoID, o.granted.Label)
	})
	// Another group's grant, at the same relay.
	other := crypto.NewRelayCode(time.Now().Add(24 * time.Hour))
	if _, err := o.org.AcceptRelayCode(other.String()); err != nil {
		t.Fatal(err)
	}

	// A proof made for Ana's node (as its relay, or anyone who saw it,
	// would hold it), or for another relay, proves nothing from another
	// node.
	replayer := newStranger(t, nil)
	if err := replayer.h.Connect(ctx, o.orgInfo); err != nil {
		t.Fatal(err)
	}
	label := crypto.RelayLabel(o.code.Secret)
	for name, proof := range map[string][32]byte{
		"Ana's proof":               crypto.RelayProof(o.code.Secret, o.relayID, o.anaID),
		"a proof for another relay": crypto.RelayProof(o.code.Secret, o.anaID, replayer.h.ID()),
	} {
		if got, err := sendProof(ctx, replayer.h, o.relayID, label, proof); err != nil || got != 0 {
			t.Fatalf("%s, replayed: %d proofs taken (%v)", name, got, err)
		}
	}
	replayer.h.Close()

	// Made-up nodes with the secret: the third node of the grant gets in,
	// the fourth does not.
	var made []*stranger
	for range 2 {
		s := newStranger(t, nil)
		if err := s.h.Connect(ctx, o.orgInfo); err != nil {
			t.Fatal(err)
		}
		made = append(made, s)
	}
	if got := proveGrant(t, ctx, made[0].h, o.relayID, o.code.Secret); got != 1 {
		t.Fatalf("the third node of the grant: %d proofs taken", got)
	}
	if got := proveGrant(t, ctx, made[1].h, o.relayID, o.code.Secret); got != 0 {
		t.Fatalf("a fourth node of a grant that allows 3: %d proofs taken", got)
	}
	var rerr client.ReservationError
	if _, err := client.Reserve(ctx, made[1].h, o.orgInfo); !errors.As(err, &rerr) || rerr.Status != pbv2.Status_PERMISSION_DENIED {
		t.Fatalf("the fourth node's reservation: %v, want PERMISSION_DENIED", err)
	}
	// The third floods the rendezvous records: it gets no more than the
	// grant's share (3 nodes of 16 records each).
	if st := registerRecords(t, ctx, made[0].h, o.relayID, 64); st != wire.RendezvousStatus_RENDEZVOUS_FULL {
		t.Fatalf("64 records from one node of a grant of 3 nodes: %v, want FULL", st)
	}
	if st := registerRecords(t, ctx, made[0].h, o.relayID, 16); st != wire.RendezvousStatus_RENDEZVOUS_OK {
		t.Fatalf("16 records: %v", st)
	}

	// The other group's node still gets in, a slot and room for records.
	s := newStranger(t, nil)
	if err := s.h.Connect(ctx, o.orgInfo); err != nil {
		t.Fatal(err)
	}
	if got := proveGrant(t, ctx, s.h, o.relayID, other.Secret); got != 1 {
		t.Fatalf("a node of another grant: %d proofs taken", got)
	}
	if _, err := client.Reserve(ctx, s.h, o.orgInfo); err != nil {
		t.Fatalf("a node of another grant: %v", err)
	}
	if st := registerRecords(t, ctx, s.h, o.relayID, 16); st != wire.RendezvousStatus_RENDEZVOUS_OK {
		t.Fatalf("a node of another grant, 16 records: %v", st)
	}
	// Once the third node leaves, a fourth may come in.
	made[0].h.Network().ClosePeer(o.relayID)
	o.net.WaitFor(10*time.Second, "the relay sees the third node gone", func() bool {
		return !o.org.RelayProvedForTest(made[0].h.ID(), o.granted.Label)
	})
	if got := proveGrant(t, ctx, made[1].h, o.relayID, o.code.Secret); got != 1 {
		t.Fatalf("a node of the grant once there is room: %d proofs taken", got)
	}
}

// TestHostileRelayLearnsNothing: the relay an admin granted is run by
// someone hostile, with plain GossipSub. The group's member nodes dial it
// and prove their grant, and send alerts meanwhile; it hears no topic
// name and no message.
func TestHostileRelayLearnsNothing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	net := nodetest.New(t, 2, nodetest.Options{Loopback: true, Static: true})
	ana, beto := net.Nodes[0], net.Nodes[1]
	gid := net.Group("istmo")
	hostile := newStranger(t, nil)
	proofs := make(chan int, 4)
	hostile.h.SetStreamHandler(node.RelayAuthProtocol, func(st network.Stream) {
		defer st.Close()
		var req wire.RelayAuth
		if err := protodelim.UnmarshalFrom(bufio.NewReader(st), &req); err == nil {
			proofs <- len(req.Proofs)
		}
		protodelim.MarshalTo(st, &wire.RelayAuthResult{Accepted: 1})
	})
	addr := hostile.h.Addrs()[0].String() + "/p2p/" + hostile.h.ID().String()
	if _, err := ana.GrantRelay(ctx, gid, addr, "Servicios", 0); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(30*time.Second, "Beto knows the grant", func() bool {
		rs, _ := beto.Relays(gid)
		return len(rs) == 1
	})
	info := peer.AddrInfo{ID: hostile.h.ID(), Addrs: hostile.h.Addrs()}
	for _, m := range []*nodetest.Node{ana, beto} {
		if err := m.Host().Connect(ctx, info); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		select {
		case <-proofs:
		case <-ctx.Done():
			t.Fatal("member nodes did not prove their grant to the relay")
		}
	}
	sendOne(t, ana, gid, "checkpoint at the bridge")
	sendOne(t, beto, gid, "all clear")
	time.Sleep(1500 * time.Millisecond) // a heartbeat or more of gossip
	if topics, msgs := hostile.learned(); topics > 0 || msgs > 0 {
		t.Fatalf("the hostile relay heard %d topic names and %d messages", topics, msgs)
	}
}
