package node_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/nodetest"
)

// heapInUse returns the bytes of heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestDeclaredSizesAllocateNothing: a member node opens removal notice
// streams to another member's node, each announcing the largest notice
// allowed (32 MiB) and sending only 8 KiB of it. The node holds no more memory
// than the bytes it was sent, and serves one notice per peer at a time.
// Before, each stream made the node allocate the 32 MiB the prefix
// announced, for 30 s, once 4 KiB had come: one member could make a node
// hold about 2 GiB (64 streams, the default per protocol and peer) for
// 256 KiB sent. Not
// parallel: it measures the process's heap.
func TestDeclaredSizesAllocateNothing(t *testing.T) {
	net := nodetest.New(t, 2, nodetest.Options{})
	gid := net.Group("juchitan")
	ana, beto := net.Nodes[0], net.Nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const streams, sent = 4, 8 << 10
	before := heapInUse()
	var open []network.Stream
	answered := 0
	for range streams {
		s, err := beto.Host().NewStream(ctx, ana.Host().ID(), node.RemovalProtocol)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, s)
		// The node answers with its heads, or (one notice at a time) resets.
		if _, err := protodelim.MarshalTo(s, &wire.RemovalOffer{Group: gid[:]}); err != nil {
			continue
		}
		var heads wire.RosterHeads
		if err := (protodelim.UnmarshalOptions{MaxSize: 1 << 20}).UnmarshalFrom(bufio.NewReader(s), &heads); err != nil {
			continue
		}
		answered++
		s.Write(append(binary.AppendUvarint(nil, 32<<20-1), make([]byte, sent)...))
	}
	defer func() {
		for _, s := range open {
			s.Reset()
		}
	}()
	time.Sleep(500 * time.Millisecond) // the node reads the prefixes
	if grew := int64(heapInUse()) - int64(before); grew > 16<<20 {
		t.Errorf("%d streams that announced 32 MiB and sent %d KiB made the node hold %d MiB", streams, sent>>10, grew>>20)
	}
	if answered != 1 {
		t.Errorf("the node took %d notices from one peer at once", answered)
	}
}

// TestSubscriptionsAreBounded: a member node announces, over its pubsub
// stream, subscriptions to a hundred thousand topics of the form of ours
// that no group uses. The node keeps track of a bounded number of them.
// Not parallel: it measures the process's heap.
func TestSubscriptionsAreBounded(t *testing.T) {
	net := nodetest.New(t, 1, nodetest.Options{})
	gid := net.Group("juchitan")
	ana := net.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The member's node is a bare host: no pubsub of its own to open
	// streams that would replace the one it writes on.
	id, err := crypto.NewIdentity("member")
	if err != nil {
		t.Fatal(err)
	}
	h, err := net.Mock.AddPeer(id.NodeKey(), ma.StringCast("/ip4/10.254.2.1/tcp/4001"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := ana.AddMemberForTest(ctx, gid, alert.MemberInfo{Name: "member", Keys: id.Public(), Peer: id.PeerID()}); err != nil {
		t.Fatal(err)
	}
	if err := net.Mock.LinkAll(); err != nil {
		t.Fatal(err)
	}
	const rpcs = 400
	before := heapInUse()
	s, err := h.NewStream(ctx, ana.Host().ID(), "/meshsub/1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	topic := make([]byte, 26)
	for range rpcs {
		rpc := &pb.RPC{}
		for range 256 {
			for i := range topic {
				topic[i] = "abcdefghijklmnopqrstuvwxyz234567"[rand.IntN(32)]
			}
			rpc.Subscriptions = append(rpc.Subscriptions, &pb.RPC_SubOpts{Subscribe: proto.Bool(true), Topicid: proto.String("tc1/" + string(topic))})
		}
		if _, err := protodelim.MarshalTo(s, rpc); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second) // the node reads them
	if grew := int64(heapInUse()) - int64(before); grew > 8<<20 {
		t.Errorf("%d subscriptions to topics no group uses made the node hold %d MiB", rpcs*256, grew>>20)
	}
}
