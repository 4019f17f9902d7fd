package node_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/alert"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// stranger is a plain go-libp2p host running GossipSub with its default
// options, not ours. It subscribes to every topic it hears of, and records
// every topic name and every message that reaches it.
type stranger struct {
	t  *testing.T
	h  host.Host
	ps *pubsub.PubSub

	mu     sync.Mutex
	topics map[string]bool
	msgs   int
	got    map[string]int // messages received, by topic
}

func newStranger(t *testing.T, key p2pcrypto.PrivKey) *stranger {
	t.Helper()
	opts := []libp2p.Option{libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0")}
	if key != nil {
		opts = append(opts, libp2p.Identity(key))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return newStrangerOn(t, h, pubsub.NewGossipSub)
}

// newStrangerOn is a stranger on host h, with the router newRouter makes
// (pubsub.NewGossipSub, pubsub.NewFloodSub) with its default options.
func newStrangerOn(t *testing.T, h host.Host, newRouter func(context.Context, host.Host, ...pubsub.Option) (*pubsub.PubSub, error)) *stranger {
	t.Helper()
	t.Cleanup(func() { h.Close() })
	s := &stranger{t: t, h: h, topics: make(map[string]bool), got: make(map[string]int)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var err error
	s.ps, err = newRouter(ctx, h, pubsub.WithRawTracer(s))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *stranger) heard(topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if topic == "" || s.topics[topic] {
		return
	}
	s.topics[topic] = true
	go func() {
		if tp, err := s.ps.Join(topic); err == nil {
			tp.Subscribe()
		}
	}()
}

func (s *stranger) RecvRPC(rpc *pubsub.RPC) {
	for _, sub := range rpc.GetSubscriptions() {
		s.heard(sub.GetTopicid())
	}
	for _, m := range rpc.GetPublish() {
		s.heard(m.GetTopic())
		s.mu.Lock()
		s.msgs++
		s.got[m.GetTopic()]++
		s.mu.Unlock()
	}
	c := rpc.GetControl()
	for _, x := range c.GetIhave() {
		s.heard(x.GetTopicID())
	}
	for _, x := range c.GetGraft() {
		s.heard(x.GetTopicID())
	}
	for _, x := range c.GetPrune() {
		s.heard(x.GetTopicID())
	}
}

// received returns how many messages reached s on topic.
func (s *stranger) received(topic string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[topic]
}

func (s *stranger) learned() (topics, msgs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.topics), s.msgs
}

func (*stranger) AddPeer(peer.ID, protocol.ID)                         {}
func (*stranger) RemovePeer(peer.ID)                                   {}
func (*stranger) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (*stranger) OnClosedOutboundStream(peer.ID)                       {}
func (*stranger) Join(string)                                          {}
func (*stranger) Leave(string)                                         {}
func (*stranger) Graft(peer.ID, string)                                {}
func (*stranger) Prune(peer.ID, string)                                {}
func (*stranger) ValidateMessage(*pubsub.Message)                      {}
func (*stranger) DeliverMessage(*pubsub.Message)                       {}
func (*stranger) RejectMessage(*pubsub.Message, string)                {}
func (*stranger) DuplicateMessage(*pubsub.Message)                     {}
func (*stranger) ThrottlePeer(peer.ID)                                 {}
func (*stranger) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (*stranger) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (*stranger) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (*stranger) UndeliverableMessage(*pubsub.Message)                 {}
func (s *stranger) connect(nd *nodetest.Node) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.h.Connect(ctx, nd.AddrInfo())
}

// TestStrangersLearnNothing, over loopback with the real connection gater:
// a plain GossipSub peer that connects to an admin's node while an invite
// is open, or to a member's node, is refused; one that holds the code (and
// so is the invite's door peer) is let in, but only for the join protocol.
// Neither hears a topic name or receives an envelope while the group sends
// alerts, changes its roster and moves to a new epoch for a joiner. Once the
// invite is long expired, the door peer is refused too.
func TestStrangersLearnNothing(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	net := nodetest.New(t, 3, nodetest.Options{Loopback: true, Config: func(i int, c *node.Config) {
		if i == 0 {
			c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
		}
	}})
	ana, beto, carmen := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	carmen.Stop()
	gid := net.Group("juchitan")
	ctx := context.Background()
	inv, err := ana.CreateInvite(ctx, gid, 2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := crypto.ParseInviteCode(inv.Code)
	if err != nil {
		t.Fatal(err)
	}
	plain := newStranger(t, nil)
	holder := newStranger(t, parsed.DoorKey())
	for _, nd := range []*nodetest.Node{ana, beto} {
		plain.connect(nd)
	}
	if err := holder.connect(ana); err != nil {
		t.Fatalf("the code's holder cannot reach the admin's node: %v", err)
	}
	holder.connect(beto)
	// The door admits the join protocol only.
	if s, err := holder.h.NewStream(ctx, ana.Host().ID(), node.SyncProtocol); err == nil {
		s.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := s.Read(make([]byte, 1)); n > 0 || err == nil {
			t.Error("the admin's node answered a sync from the code's holder")
		}
		s.Reset()
	}

	// The group goes on: alerts, a new member and its new epoch (a new
	// topic name announced), another invite.
	carmen.Start()
	if _, err := carmen.Join(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}
	// What Beto sends before his node takes Carmen's epoch stays in the
	// one before, which she does not read (PROTOCOL.md, "Joins").
	net.WaitFor(10*time.Second, "Beto on Carmen's epoch", func() bool { return epochOf(beto, gid) == epochOf(carmen, gid) })
	a := sendOne(t, ana, gid, "from the admin")
	b := sendOne(t, beto, gid, "from a member")
	if _, err := ana.CreateInvite(ctx, gid, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "the members have both alerts", func() bool {
		return carmen.Store.Has(a) && carmen.Store.Has(b) && beto.Store.Has(a)
	})
	time.Sleep(1500 * time.Millisecond) // a heartbeat or more of gossip
	for name, s := range map[string]*stranger{"a plain peer": plain, "the code's holder": holder} {
		if topics, msgs := s.learned(); topics > 0 || msgs > 0 {
			t.Errorf("%s heard %d topic names and received %d messages", name, topics, msgs)
		}
	}
	if len(plain.h.Network().Peers()) != 0 {
		t.Errorf("a plain peer is connected to %v", plain.h.Network().Peers())
	}

	// A week after the invite expired, its holder is not let in either.
	for _, p := range holder.h.Network().Peers() {
		holder.h.Network().ClosePeer(p)
	}
	skew.Store(int64(8 * 24 * time.Hour))
	if holder.connect(ana) == nil {
		time.Sleep(200 * time.Millisecond)
		if holder.h.Network().Connectedness(ana.Host().ID()) == network.Connected {
			t.Error("the admin's node let in the holder of a code expired a week ago")
		}
	}
}

// TestOtherGroupsMembersGetNoEnvelope: a volunteer's node is in two groups.
// The node of a member of one of them (a member node, so it has pubsub with
// the volunteer's node) hears the other group's topic name and subscribes
// to it, once with GossipSub and once with FloodSub. Neither receives an
// envelope the volunteer passes on in the group it is not in; before, the
// FloodSub one received them all.
func TestOtherGroupsMembersGetNoEnvelope(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{Latency: 2 * time.Millisecond})
	vol, beto := net.Nodes[0], net.Nodes[1]
	ctx := context.Background()
	gidB := net.Group("ixtepec")
	info, err := vol.CreateGroup(ctx, "juchitan")
	if err != nil {
		t.Fatal(err)
	}
	gidA, err := crypto.ParseGroupID(info.ID)
	if err != nil {
		t.Fatal(err)
	}
	routers := []func(context.Context, host.Host, ...pubsub.Option) (*pubsub.PubSub, error){pubsub.NewGossipSub, pubsub.NewFloodSub}
	var outsiders []*stranger
	for i, router := range routers {
		id, err := crypto.NewIdentity("outsider")
		if err != nil {
			t.Fatal(err)
		}
		h, err := net.Mock.AddPeer(id.NodeKey(), ma.StringCast(fmt.Sprintf("/ip4/10.254.1.%d/tcp/4001", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		outsiders = append(outsiders, newStrangerOn(t, h, router))
		if err := vol.AddMemberForTest(ctx, gidA, alert.MemberInfo{Name: "outsider", Keys: id.Public(), Peer: id.PeerID()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := net.Mock.LinkAll(); err != nil {
		t.Fatal(err)
	}
	for _, s := range outsiders {
		if _, err := net.Mock.ConnectPeers(s.h.ID(), vol.Host().ID()); err != nil {
			t.Fatal(err)
		}
	}
	topicA, topicB := vol.KeysForTest(gidA).Topic(), vol.KeysForTest(gidB).Topic()
	gossiper := outsiders[0]
	net.WaitFor(10*time.Second, "the outsider heard both topic names", func() bool {
		gossiper.mu.Lock()
		defer gossiper.mu.Unlock()
		return gossiper.topics[topicA] && gossiper.topics[topicB]
	})
	net.WaitFor(10*time.Second, "the volunteer's pubsub counts the outsider on both topics", func() bool {
		return slices.Contains(vol.TopicPeersForTest(topicA), gossiper.h.ID()) &&
			slices.Contains(vol.TopicPeersForTest(topicB), gossiper.h.ID())
	})

	fromBeto := sendOne(t, beto, gidB, "passed on by the volunteer")
	net.WaitFor(10*time.Second, "the volunteer has beto's alert", func() bool { return vol.Store.Has(fromBeto) })
	sendOne(t, vol, gidB, "the volunteer's own")
	sendOne(t, vol, gidA, "to the group the outsiders are in")
	net.WaitFor(10*time.Second, "the outsider receives its own group's alert", func() bool { return gossiper.received(topicA) > 0 })
	time.Sleep(500 * time.Millisecond)
	// On GossipSub it gets the volunteer's own envelope by flood
	// publishing (the gap PROTOCOL.md "GossipSub" names), never one the
	// volunteer passes on; on FloodSub nothing at all.
	for i, s := range outsiders {
		if got := s.received(topicB); got > 1-i {
			t.Errorf("a member of the other group, on %s, received %d envelopes of a group it is not in", []string{"GossipSub", "FloodSub"}[i], got)
		}
	}

}
