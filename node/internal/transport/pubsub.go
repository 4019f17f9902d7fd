package transport

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// PubsubHost is the host GossipSub runs on: the node's host, except that a
// pubsub stream exists only with a member node. A stream a non-member opens
// is reset before pubsub reads it, so nothing it announces or sends is
// taken; a stream pubsub opens to a connected peer that is not a member
// node waits until it becomes one (a node that just joined, whose addition
// the other side learned first) and fails if it is removed or disconnects,
// so pubsub never sends such a peer our subscriptions (the topic names) or
// an envelope, whatever flood publishing or the peer filter would do. A
// member node that stops being one has its pubsub streams reset at once
// ([ResetPubsub]).
type PubsubHost struct {
	host.Host
	adm *Admission
}

var _ host.Host = PubsubHost{}

// NewPubsubHost returns h as GossipSub should see it, admitting the
// member nodes of adm.
func NewPubsubHost(h host.Host, adm *Admission) PubsubHost { return PubsubHost{Host: h, adm: adm} }

func (h PubsubHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	if err := h.adm.WaitMember(ctx, h.Network(), p); err != nil {
		return nil, err
	}
	return h.Host.NewStream(ctx, p, pids...)
}

func (h PubsubHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, h.gate(handler))
}

func (h PubsubHost) SetStreamHandlerMatch(pid protocol.ID, match func(protocol.ID) bool, handler network.StreamHandler) {
	h.Host.SetStreamHandlerMatch(pid, match, h.gate(handler))
}

func (h PubsubHost) gate(handler network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		if !h.adm.IsMember(s.Conn().RemotePeer()) {
			s.Reset()
			return
		}
		handler(s)
	}
}

// IsPubsubProtocol reports whether a stream protocol is GossipSub's (or
// FloodSub's, which GossipSub also speaks).
func IsPubsubProtocol(pid protocol.ID) bool {
	return strings.HasPrefix(string(pid), "/meshsub/") || strings.HasPrefix(string(pid), "/floodsub/")
}

// ResetPubsub resets the pubsub streams with p on h, where p is no longer
// a member node; pubsub then finds it gone and cannot reach it again
// ([PubsubHost]).
func ResetPubsub(h host.Host, p peer.ID) {
	for _, c := range h.Network().ConnsToPeer(p) {
		for _, s := range c.GetStreams() {
			if IsPubsubProtocol(s.Protocol()) {
				s.Reset()
			}
		}
	}
}

// topicNames makes pubsub track only names of the form of our topics, at
// most 256 per message, so a peer cannot make us keep state for arbitrary
// topics. It cannot be narrower (only the topics we are in): a node learns
// a peer's subscriptions once, when they connect, which can be before it
// joins the group.
var topicNames = pubsub.WrapLimitSubscriptionFilter(
	pubsub.NewRegexpSubscriptionFilter(regexp.MustCompile(`^tc1/[a-z2-7]{26}$`)), 256)

// TopicFilter is the subscription filter (pubsub.WithSubscriptionFilter):
// besides names not of the form of our topics, it refuses more than
// MaxForeignTopics subscriptions per peer to topics that are not ours
// ([ForeignTopics]). Subscriptions to our topics are all kept, whoever
// sends them: a member node of another of our groups that subscribes to
// one is sent our own envelopes there by flood publishing (PROTOCOL.md
// "GossipSub"); dropping them also dropped, for good, those of a member
// whose joining we learned after its subscription.
type TopicFilter struct {
	pubsub.SubscriptionFilter
	adm     *Admission
	foreign *ForeignTopics
}

// NewTopicFilter returns the filter for the topics of adm, recording in
// foreign the subscriptions it keeps to other topics.
func NewTopicFilter(adm *Admission, foreign *ForeignTopics) TopicFilter {
	return TopicFilter{SubscriptionFilter: topicNames, adm: adm, foreign: foreign}
}

func (f TopicFilter) FilterIncomingSubscriptions(from peer.ID, subs []*pb.RPC_SubOpts) ([]*pb.RPC_SubOpts, error) {
	subs, err := f.SubscriptionFilter.FilterIncomingSubscriptions(from, subs)
	if err != nil {
		return nil, err
	}
	a := f.adm.Load()
	return slices.DeleteFunc(subs, func(s *pb.RPC_SubOpts) bool {
		if _, ours := a.ByTopic[s.GetTopicid()]; ours {
			return false
		}
		return !f.foreign.keep(from, s.GetTopicid(), s.GetSubscribe())
	}), nil
}

// MaxForeignTopics is how many topics that are not ours pubsub may count
// one peer on: an honest node announces the current and recently retired
// epochs of each of its groups.
const MaxForeignTopics = 256

// ForeignTopics records, per peer, the subscriptions to topics that are
// not ours that pubsub was let keep, so that a member node cannot make it
// keep state for endless made-up topic names (the filter's regular
// expression checks only their form). A peer's record goes when it
// disconnects ([ForeignTopics.Forget]), as pubsub's does. The zero value
// is ready for use.
type ForeignTopics struct {
	mu sync.Mutex
	by map[peer.ID]map[string]bool
}

// keep reports whether pubsub may take p's subscription to (or from)
// topic, and records it.
func (f *ForeignTopics) keep(p peer.ID, topic string, subscribe bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := f.by[p]
	switch {
	case !subscribe:
		delete(set, topic)
		if len(set) == 0 {
			delete(f.by, p)
		}
		return true
	case set[topic]:
		return true
	case len(set) >= MaxForeignTopics:
		return false
	}
	if set == nil {
		if f.by == nil {
			f.by = make(map[peer.ID]map[string]bool)
		}
		set = make(map[string]bool)
		f.by[p] = set
	}
	set[topic] = true
	return true
}

// Forget drops what was recorded for p.
func (f *ForeignTopics) Forget(p peer.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.by, p)
}
