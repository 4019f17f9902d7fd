package node

import (
	"crypto/sha256"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/takecare-network/takecare/crypto"
)

// GossipSub's options, and the message ids it uses.

// PubSubOptions are the GossipSub settings every node runs with, apart from
// the membership filters and the logger: no author, sequence number or
// signature on the wire, a content-hash message id, flood publishing of our
// own messages, no peer exchange, room for the largest envelope, and queues
// deep enough for bursts. They are exported so that a baseline can run the
// very same router without takecare on top (see nodetest.NewRaw).
func PubSubOptions() []pubsub.Option {
	return []pubsub.Option{
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(contentID),
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerExchange(false),
		// GossipSub only, no FloodSub: the router sends a FloodSub peer
		// every message of every topic it announces, which no peer
		// filter stops (gate.go).
		pubsub.WithGossipSubProtocols(gossipSubProtocols, pubsub.GossipSubDefaultFeatures),
		pubsub.WithMaxMessageSize(crypto.MaxEnvelopeSize + 64*1024),
		// Messages wait in these queues: received ones for a validation
		// goroutine, sent ones for each peer's stream. The defaults (32)
		// overflow, and drop messages without a word, as soon as a burst
		// comes faster than they drain: a member sending alerts in quick
		// succession, a gossip reply carrying many. Nearly every message
		// is a 2048-byte envelope, so a full queue of 256 holds half a
		// megabyte.
		pubsub.WithValidateQueueSize(pubsubQueueSize),
		pubsub.WithPeerOutboundQueueSize(pubsubQueueSize),
	}
}

const pubsubQueueSize = 256

// contentID is the pubsub message id: a hash of the envelope and nothing
// else, since messages carry no author or sequence number.
func contentID(m *pb.Message) string {
	h := sha256.Sum256(m.Data)
	return string(h[:])
}

// gossipSubProtocols are the pubsub protocols a node speaks: the GossipSub
// versions of [pubsub.GossipSubDefaultProtocols], without FloodSub.
var gossipSubProtocols = []protocol.ID{pubsub.GossipSubID_v13, pubsub.GossipSubID_v12, pubsub.GossipSubID_v11, pubsub.GossipSubID_v10}
