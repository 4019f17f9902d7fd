package node

import (
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// dropSyncDelay is how long after GossipSub dropped a message for lack of
// room the node syncs with the peer concerned: long enough for a burst to
// end, so that one session carries all it lost.
const dropSyncDelay = time.Second

// dropTracer watches GossipSub for the messages it drops when a queue is
// full, which it does without a word and without trying again: a message
// it had no room to queue for a peer, and one from a peer it had no room
// to validate. Either way a sync with that peer soon after carries what was
// lost, instead of the next periodic sync, up to Config.SyncInterval later.
// GossipSub calls it from its event loop, so it only schedules.
type dropTracer struct{ n *Node }

func (t dropTracer) DropRPC(rpc *pubsub.RPC, p peer.ID) {
	if len(rpc.GetPublish()) > 0 {
		t.n.syncer.kickAfter(p, dropSyncDelay)
	}
}

func (t dropTracer) RejectMessage(m *pubsub.Message, reason string) {
	switch reason {
	case pubsub.RejectValidationQueueFull, pubsub.RejectValidationThrottled:
		t.n.syncer.kickAfter(m.ReceivedFrom, dropSyncDelay)
	}
}

// SendRPC notes the node's own queued messages that GossipSub hands to a
// peer later, on request (delivery.go).
func (t dropTracer) SendRPC(rpc *pubsub.RPC, p peer.ID) {
	if t.n.deliveries.queued.Load() == 0 {
		return
	}
	for _, m := range rpc.GetPublish() {
		t.n.gossiped(contentID(m), p)
	}
}

func (dropTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (dropTracer) RemovePeer(peer.ID)                                   {}
func (dropTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (dropTracer) OnClosedOutboundStream(peer.ID)                       {}
func (dropTracer) Join(string)                                          {}
func (dropTracer) Leave(string)                                         {}
func (dropTracer) Graft(peer.ID, string)                                {}
func (dropTracer) Prune(peer.ID, string)                                {}
func (dropTracer) ValidateMessage(*pubsub.Message)                      {}
func (dropTracer) DeliverMessage(*pubsub.Message)                       {}
func (dropTracer) DuplicateMessage(*pubsub.Message)                     {}
func (dropTracer) ThrottlePeer(peer.ID)                                 {}
func (dropTracer) RecvRPC(*pubsub.RPC)                                  {}
func (dropTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (dropTracer) UndeliverableMessage(*pubsub.Message)                 {}
