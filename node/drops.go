package node

import (
	"time"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// dropSyncDelay is how long after GossipSub dropped a message for lack of
// room the node syncs with the peer concerned: long enough for a burst to
// end, so that one session carries all it lost.
const dropSyncDelay = time.Second

// lostInGossip is told of a peer to or from which GossipSub dropped
// messages (transport.Tracer): a sync with it soon after carries what was
// lost, instead of the next periodic sync, up to Config.SyncInterval
// later.
func (n *Node) lostInGossip(p peer.ID) { n.syncer.KickAfter(p, dropSyncDelay) }

// sentInGossip notes the node's own queued messages that GossipSub hands
// to a peer later, on request (delivery.go). GossipSub calls it from its
// event loop.
func (n *Node) sentInGossip(msgs []*pb.Message, p peer.ID) {
	if n.deliveries.queued.Load() == 0 {
		return
	}
	for _, m := range msgs {
		n.gossiped(contentID(m), p)
	}
}
