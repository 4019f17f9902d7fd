package transport

import (
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Tracer is GossipSub's raw tracer (pubsub.WithRawTracer). It watches for
// the messages GossipSub drops when a queue is full, which it does without
// a word and without trying again: a message it had no room to queue for a
// peer, and one from a peer it had no room to validate; and it passes on
// the messages GossipSub sends. GossipSub calls it from its event loop, so
// what it calls must only look and schedule.
type Tracer struct {
	lost func(p peer.ID)
	sent func(msgs []*pb.Message, p peer.ID)
}

var _ pubsub.RawTracer = Tracer{}

// NewTracer returns a tracer that calls lost with a peer messages to or
// from which GossipSub dropped, and sent with the messages GossipSub
// sends a peer (nil when it sends none).
func NewTracer(lost func(p peer.ID), sent func(msgs []*pb.Message, p peer.ID)) Tracer {
	return Tracer{lost: lost, sent: sent}
}

func (t Tracer) DropRPC(rpc *pubsub.RPC, p peer.ID) {
	if len(rpc.GetPublish()) > 0 {
		t.lost(p)
	}
}

func (t Tracer) RejectMessage(m *pubsub.Message, reason string) {
	switch reason {
	case pubsub.RejectValidationQueueFull, pubsub.RejectValidationThrottled:
		t.lost(m.ReceivedFrom)
	}
}

func (t Tracer) SendRPC(rpc *pubsub.RPC, p peer.ID) {
	if msgs := rpc.GetPublish(); len(msgs) > 0 {
		t.sent(msgs, p)
	}
}

func (Tracer) AddPeer(peer.ID, protocol.ID)                         {}
func (Tracer) RemovePeer(peer.ID)                                   {}
func (Tracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (Tracer) OnClosedOutboundStream(peer.ID)                       {}
func (Tracer) Join(string)                                          {}
func (Tracer) Leave(string)                                         {}
func (Tracer) Graft(peer.ID, string)                                {}
func (Tracer) Prune(peer.ID, string)                                {}
func (Tracer) ValidateMessage(*pubsub.Message)                      {}
func (Tracer) DeliverMessage(*pubsub.Message)                       {}
func (Tracer) DuplicateMessage(*pubsub.Message)                     {}
func (Tracer) ThrottlePeer(peer.ID)                                 {}
func (Tracer) RecvRPC(*pubsub.RPC)                                  {}
func (Tracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (Tracer) UndeliverableMessage(*pubsub.Message)                 {}
