package node

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// Admission (PROTOCOL.md, "Admission"). Who may connect, and what a
// connected peer may use, depends on what it is to this node:
//
//   - a member node (the node of a current member of one of our groups):
//     everything;
//   - the door peer of an invite this node's member can redeem or pass on
//     (its identity is the invite key, so only a holder of the code can be
//     it): the join protocol, for its own invite only;
//   - the node of a removed member: only to be told of the removal, at most
//     once per noticeInterval;
//   - the duress node of a current member (its identity is the member's
//     duress key), until this node has taken its warning: the duress
//     protocol only (duress.go);
//   - anyone else: refused after the handshake.
//
// GossipSub never has a stream with a peer that is not a member node
// ([pubsubHost]), so such a peer is never told a topic name nor sent an
// envelope.

// inviteDoorGrace is how long after an invite expires the nodes that know
// it still let in its door peer, so that a late joiner hears why it is
// refused rather than finding the node unreachable. Only holders of the
// code can be that peer.
const inviteDoorGrace = 7 * 24 * time.Hour

// cutOffDelay is how long a peer that has done what it was let in for (a
// duress node that handed over its warning) stays connected, so that the
// answer sent to it arrives.
const cutOffDelay = 5 * time.Second

// access is a snapshot of which peers are what to this node, rebuilt
// whenever a roster or an epoch changes.
type access struct {
	byTopic map[string]map[peer.ID]bool // topic -> member nodes of its group
	members map[peer.ID]bool            // member nodes of any group
	removed map[peer.ID]bool            // nodes of removed members, in no group
	duress  map[peer.ID]bool            // duress nodes of current members whose warning we have not taken
	doors   map[peer.ID]doorInfo        // door peers of invites this node knows
	// relays are the relays this node's groups granted (not members),
	// with where they listen (relaygrant.go).
	relays map[peer.ID][]ma.Multiaddr
	// changed is closed when a newer snapshot replaces this one.
	changed chan struct{}
}

// doorInfo is the invite a door peer may ask about.
type doorInfo struct {
	group  crypto.GroupID
	invite crypto.InviteID
	until  time.Time
}

func (n *Node) refreshAccess() {
	a := &access{
		byTopic: make(map[string]map[peer.ID]bool),
		members: make(map[peer.ID]bool),
		removed: make(map[peer.ID]bool),
		duress:  make(map[peer.ID]bool),
		doors:   make(map[peer.ID]doorInfo),
		relays:  make(map[peer.ID][]ma.Multiaddr),
		changed: make(chan struct{}),
	}
	n.duressMu.Lock()
	taken := maps.Clone(n.duressTaken)
	n.duressMu.Unlock()
	for _, g := range n.groupList() {
		me, ok := g.roster.Member(n.me)
		if !ok || me.Removed {
			// A removed member's node has no one to talk to in this
			// group any more.
			continue
		}
		set := make(map[peer.ID]bool)
		for _, m := range g.roster.Members() {
			set[m.Peer] = true
			a.members[m.Peer] = true
			if !m.Duress.IsZero() && m.ID() != n.me && !taken[m.ID()] {
				a.duress[m.Duress.PeerID()] = true
			}
		}
		g.mu.Lock()
		for _, e := range g.epochs {
			a.byTopic[e.keys.Topic()] = set
		}
		g.mu.Unlock()
		if me.Role == alert.RoleAdmin {
			for _, inv := range g.roster.AllInvites() {
				p, err := crypto.DoorPeer(inv.Key)
				if err != nil {
					continue
				}
				a.doors[p] = doorInfo{group: g.id, invite: inv.ID, until: inv.Expires.Add(inviteDoorGrace)}
			}
		}
		for _, m := range g.roster.RemovedMembers() {
			a.removed[m.Peer] = true
		}
	}
	for p := range a.members {
		delete(a.removed, p)
	}
	for p, ggs := range n.grantedRelays(n.now()) {
		if !a.members[p] {
			a.relays[p] = ggs[0].st.Addrs
		}
	}
	old := n.access.Swap(a)
	if old != nil && old.changed != nil {
		close(old.changed)
	}
	if old != nil {
		for p := range old.members {
			if !a.members[p] {
				n.resetPubsub(p)
			}
		}
		n.leaveRelays(old, a)
	}
}

// relayLeaveGrace is how long a node still uses a relay it may no longer
// use, so that the roster op that ended the grant reaches, through it,
// the member nodes on the other side of its relayed connections, which
// then leave it too.
const relayLeaveGrace = 10 * time.Second

// leaveRelays stops using the relays old let this node use and a does
// not (a revoked or ended grant, a removed member's node): after
// relayLeaveGrace the connections relayed through them are closed, and
// so is the connection to a granted relay, with the slot on it. A
// removed member's node is left to [Node.tellRemoved], which closes it
// once told.
func (n *Node) leaveRelays(old, a *access) {
	gone := make(map[peer.ID]bool)
	for p := range old.relays {
		if a.relays[p] == nil && !a.members[p] {
			gone[p] = true
		}
	}
	for p := range old.members {
		if !a.members[p] && a.relays[p] == nil {
			gone[p] = true
		}
	}
	if len(gone) == 0 {
		return
	}
	n.spawn(func() {
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(relayLeaveGrace):
		}
		now := n.access.Load()
		for p := range gone {
			if now.members[p] || now.relays[p] != nil { // granted again
				delete(gone, p)
			}
		}
		for _, c := range n.host.Network().Conns() {
			if rel, ok := relayOf(c); ok && gone[rel] {
				c.Close()
			}
		}
		for p := range gone {
			if old.relays[p] != nil {
				n.host.Network().ClosePeer(p)
			}
		}
	})
}

func (n *Node) isMemberPeer(p peer.ID) bool { return n.access.Load().members[p] }

// door returns the invite p is the door peer of, if its door is open.
func (a *access) door(p peer.ID, now time.Time) (doorInfo, bool) {
	d, ok := a.doors[p]
	return d, ok && now.Before(d.until)
}

// peerFilter lets pubsub mesh and gossip on a topic only with the member
// nodes of that topic's group.
func (n *Node) peerFilter(p peer.ID, topic string) bool {
	return n.access.Load().byTopic[topic][p]
}

// subscriptionFilter makes pubsub track only names of the form of our
// topics, at most 256 per message, so a peer cannot make us keep state for
// arbitrary topics. It cannot be narrower (only the topics we are in): a
// node learns a peer's subscriptions once, when they connect, which can be
// before it joins the group.
var subscriptionFilter = pubsub.WrapLimitSubscriptionFilter(
	pubsub.NewRegexpSubscriptionFilter(regexp.MustCompile(`^tc1/[a-z2-7]{26}$`)), 256)

// topicMembers is the subscription filter: besides what the inner filter
// refuses, it keeps at most maxForeignTopics subscriptions per peer to
// topics that are not ours ([foreignTopics]). Subscriptions to our topics
// are all kept, whoever sends them: a member node of another of our
// groups that subscribes to one is sent our own envelopes there by flood
// publishing (PROTOCOL.md "GossipSub"); dropping them also dropped, for
// good, those of a member whose joining we learned after its
// subscription.
type topicMembers struct {
	pubsub.SubscriptionFilter
	n *Node
}

func (f topicMembers) FilterIncomingSubscriptions(from peer.ID, subs []*pb.RPC_SubOpts) ([]*pb.RPC_SubOpts, error) {
	subs, err := f.SubscriptionFilter.FilterIncomingSubscriptions(from, subs)
	if err != nil {
		return nil, err
	}
	a := f.n.access.Load()
	return slices.DeleteFunc(subs, func(s *pb.RPC_SubOpts) bool {
		if _, ours := a.byTopic[s.GetTopicid()]; ours {
			return false
		}
		return !f.n.foreign.keep(from, s.GetTopicid(), s.GetSubscribe())
	}), nil
}

// maxForeignTopics is how many topics that are not ours pubsub may count
// one peer on: an honest node announces the current and recently retired
// epochs of each of its groups.
const maxForeignTopics = 256

// foreignTopics records, per peer, the subscriptions to topics that are
// not ours that pubsub was let keep, so that a member node cannot make it
// keep state for endless made-up topic names (the regular expression of
// [subscriptionFilter] checks only their form). A peer's record goes when
// it disconnects, as pubsub's does.
type foreignTopics struct {
	mu sync.Mutex
	by map[peer.ID]map[string]bool
}

// keep reports whether pubsub may take p's subscription to (or from)
// topic, and records it.
func (f *foreignTopics) keep(p peer.ID, topic string, subscribe bool) bool {
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
	case len(set) >= maxForeignTopics:
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

// forget drops what was recorded for p.
func (f *foreignTopics) forget(p peer.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.by, p)
}

// gater admits an inbound connection only from a member node, the door
// peer of an invite whose door is open here, the duress node of a current
// member, or a removed member's node that is due to be told of its
// removal. It never dials a removed member's node.
type gater struct{ n *Node }

func (g *gater) InterceptPeerDial(p peer.ID) bool {
	a := g.n.access.Load()
	return a == nil || !a.removed[p]
}

func (g *gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool                    { return true }
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool                     { return true }
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

func (g *gater) InterceptSecured(dir network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	a := g.n.access.Load()
	switch {
	case a == nil:
		return false
	case a.members[p], a.duress[p] && dir == network.DirInbound:
		return true
	case a.removed[p]:
		return dir == network.DirInbound && g.n.noticeDue(p)
	case dir == network.DirOutbound:
		return true
	case g.n.servesCodes():
		// A relay in no group: anyone may connect and prove a code.
		return true
	}
	_, open := a.door(p, g.n.now())
	return open
}

func (n *Node) connected(p peer.ID) bool {
	if p == n.host.ID() {
		return true
	}
	return n.host.Network().Connectedness(p) == network.Connected
}

// pubsubHost is the host GossipSub runs on: the node's host, except that a
// pubsub stream exists only with a member node. A stream a non-member opens
// is reset before pubsub reads it, so nothing it announces or sends is
// taken; a stream pubsub opens to a connected peer that is not a member
// node waits until it becomes one (a node that just joined, whose addition
// the other side learned first) and fails if it is removed or disconnects,
// so pubsub never sends such a peer our subscriptions (the topic names) or
// an envelope, whatever flood publishing or the peer filter would do. A
// member node that stops being one has its pubsub streams reset at once
// ([Node.resetPubsub]).
type pubsubHost struct {
	host.Host
	n *Node
}

var _ host.Host = pubsubHost{}

// errNotMemberNode is what pubsub is told when it tries to reach a peer
// that is not a member node.
var errNotMemberNode = errors.New("node: not a member node")

func (h pubsubHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	if err := h.n.waitMember(ctx, p); err != nil {
		return nil, err
	}
	return h.Host.NewStream(ctx, p, pids...)
}

func (h pubsubHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, h.gate(handler))
}

func (h pubsubHost) SetStreamHandlerMatch(pid protocol.ID, match func(protocol.ID) bool, handler network.StreamHandler) {
	h.Host.SetStreamHandlerMatch(pid, match, h.gate(handler))
}

func (h pubsubHost) gate(handler network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		if !h.n.isMemberPeer(s.Conn().RemotePeer()) {
			s.Reset()
			return
		}
		handler(s)
	}
}

// waitMember returns once p is a member node, or an error once it is
// removed, disconnected, or ctx is done.
func (n *Node) waitMember(ctx context.Context, p peer.ID) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		a := n.access.Load()
		if a.members[p] {
			return nil
		}
		if a.removed[p] || n.host.Network().Connectedness(p) != network.Connected {
			return errNotMemberNode
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.changed:
		case <-tick.C:
		}
	}
}

// isPubsubProtocol reports whether a stream protocol is GossipSub's (or
// FloodSub's, which GossipSub also speaks).
func isPubsubProtocol(pid protocol.ID) bool {
	return strings.HasPrefix(string(pid), "/meshsub/") || strings.HasPrefix(string(pid), "/floodsub/")
}

// resetPubsub resets the pubsub streams with p, which is no longer a
// member node; pubsub then finds it gone and cannot reach it again
// ([pubsubHost]).
func (n *Node) resetPubsub(p peer.ID) {
	for _, c := range n.host.Network().ConnsToPeer(p) {
		for _, s := range c.GetStreams() {
			if isPubsubProtocol(s.Protocol()) {
				s.Reset()
			}
		}
	}
}
