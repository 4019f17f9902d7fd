package nodetest

import (
	"context"
	"fmt"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/node"
)

// RawTopic is the one topic of a [RawNet]. It has the shape of a group's
// topic name.
const RawTopic = "tc1/aaaaaaaaaaaaaaaaaaaaaaaaaa"

// RawNet is the baseline for a [Net]: plain GossipSub routers on mocknet,
// configured as nodes configure theirs ([node.PubSubOptions]: no author,
// content-hash message ids, flood publishing), all subscribed to
// [RawTopic], with no encryption, signature, validation, storage or sync.
// What it delivers, and how fast, is the limit for what a [Net] on the same
// links and graph can do.
type RawNet struct {
	t     TB
	Mock  mocknet.Mocknet
	Peers []*RawPeer

	mu    sync.Mutex
	edges map[[2]int]bool
}

// RawPeer is one router of a [RawNet]. Read what it receives from Sub.
type RawPeer struct {
	Index  int
	Host   host.Host
	PubSub *pubsub.PubSub
	Topic  *pubsub.Topic
	Sub    *pubsub.Subscription
	bwc    *metrics.BandwidthCounter // Options.Traffic
}

// Traffic returns what the router's streams carried, per protocol; nil
// unless [Options.Traffic] is set.
func (p *RawPeer) Traffic() Traffic {
	if p.bwc == nil {
		return nil
	}
	return p.bwc.GetBandwidthByProtocol()
}

// NewRaw builds n routers on a mocknet whose links have opts.Latency and
// opts.Bandwidth, counting their traffic if opts.Traffic (the other
// options do not apply). Nothing is connected yet. The routers stop
// when the test ends.
func NewRaw(t TB, n int, opts Options) *RawNet {
	t.Helper()
	rn := &RawNet{t: t, Mock: mocknet.New(), edges: make(map[[2]int]bool)}
	rn.Mock.SetLinkDefaults(mocknet.LinkOptions{Latency: opts.Latency, Bandwidth: opts.Bandwidth})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		rn.Mock.Close()
	})
	for i := range n {
		key, _, err := p2pcrypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		addr := ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4001", i/65536%256, i/256%256, i%256))
		h, err := rn.Mock.AddPeer(key, addr)
		if err != nil {
			t.Fatal(err)
		}
		var bwc *metrics.BandwidthCounter
		if opts.Traffic {
			bwc = metrics.NewBandwidthCounter()
			h = &countingHost{Host: h, bwc: bwc}
		}
		ps, err := pubsub.NewGossipSub(ctx, h, node.PubSubOptions()...)
		if err != nil {
			t.Fatal(err)
		}
		topic, err := ps.Join(RawTopic)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := topic.Subscribe()
		if err != nil {
			t.Fatal(err)
		}
		rn.Peers = append(rn.Peers, &RawPeer{Index: i, Host: h, PubSub: ps, Topic: topic, Sub: sub, bwc: bwc})
	}
	if err := rn.Mock.LinkAll(); err != nil {
		t.Fatal(err)
	}
	return rn
}

// Connect connects routers a and b and remembers the pair as an edge.
func (rn *RawNet) Connect(a, b int) error {
	rn.mu.Lock()
	rn.edges[edge(a, b)] = true
	rn.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pb := rn.Peers[b].Host
	return rn.Peers[a].Host.Connect(ctx, peer.AddrInfo{ID: pb.ID(), Addrs: pb.Addrs()})
}

// ConnectRandom connects the routers as [RandomGraph](n, degree, seed),
// the same graph [Net.ConnectRandom] makes, several at a time.
func (rn *RawNet) ConnectRandom(degree int, seed uint64) {
	rn.t.Helper()
	if err := connectEdges(RandomGraph(len(rn.Peers), degree, seed), rn.Connect); err != nil {
		rn.t.Fatal(err)
	}
}

// Edges returns the pairs connected so far, in order.
func (rn *RawNet) Edges() [][2]int {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return sortedEdges(rn.edges)
}

// Disconnect cuts router i's links and connections.
func (rn *RawNet) Disconnect(i int) {
	rn.t.Helper()
	p := rn.Peers[i].Host.ID()
	for _, o := range rn.Peers {
		if o.Index != i {
			rn.Mock.UnlinkPeers(p, o.Host.ID())
			rn.Mock.DisconnectPeers(p, o.Host.ID())
		}
	}
}

// Reconnect restores router i's links and connects it to its neighbours.
func (rn *RawNet) Reconnect(i int) {
	rn.t.Helper()
	p := rn.Peers[i].Host.ID()
	for _, o := range rn.Peers {
		if o.Index != i {
			rn.Mock.LinkPeers(p, o.Host.ID())
		}
	}
	for _, j := range neighbours(rn.Edges(), i) {
		if err := rn.Connect(i, j); err != nil {
			rn.t.Fatalf("reconnecting router %d to %d: %v", i, j, err)
		}
	}
}
