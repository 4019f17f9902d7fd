package node

import (
	"maps"
	"regexp"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/alert"
)

// inviteDoorGrace is how long after an invite closes its redeeming nodes
// still accept connections from unknown peers.
const inviteDoorGrace = 7 * 24 * time.Hour

// access is a snapshot of which peers are member nodes, rebuilt whenever a
// roster or an epoch changes.
type access struct {
	byTopic     map[string]map[peer.ID]bool // topic -> member nodes of its group
	members     map[peer.ID]bool            // member nodes of any group
	removed     map[peer.ID]bool            // nodes of removed members, in no group
	duress      map[peer.ID]bool            // duress nodes of current members whose warning we have not taken
	invitesOpen time.Time                   // some invite we can redeem is open until then
}

func (n *Node) refreshAccess() {
	a := &access{
		byTopic: make(map[string]map[peer.ID]bool),
		members: make(map[peer.ID]bool),
		removed: make(map[peer.ID]bool),
		duress:  make(map[peer.ID]bool),
	}
	n.duressMu.Lock()
	taken := maps.Clone(n.duressTaken)
	n.duressMu.Unlock()
	for _, g := range n.groupList() {
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
		// While an invite this node can redeem is open, and for a week
		// after it closed (so that a late joiner hears why it is refused
		// rather than finding the node unreachable), unknown peers may
		// connect; they can use the join protocol and nothing else.
		if me, ok := g.roster.Member(n.me); ok && me.Role == alert.RoleAdmin && !me.Removed {
			for _, inv := range g.roster.AllInvites() {
				if until := inv.Expires.Add(inviteDoorGrace); until.After(a.invitesOpen) {
					a.invitesOpen = until
				}
			}
		}
		for _, m := range g.roster.RemovedMembers() {
			a.removed[m.Peer] = true
		}
	}
	for p := range a.members {
		delete(a.removed, p)
	}
	n.access.Store(a)
}

func (n *Node) isMemberPeer(p peer.ID) bool { return n.access.Load().members[p] }

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

// gater admits inbound connections only from member nodes and from the
// duress nodes of current members (which can use only the duress protocol:
// they are in no pubsub mesh and hold no key to sync with), except while
// an invite this node can redeem is open (a joiner is not a member yet).
// Nodes of removed members are refused both ways.
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
	if a == nil {
		return false
	}
	if a.removed[p] {
		return false
	}
	if dir == network.DirOutbound || a.members[p] || a.duress[p] {
		return true
	}
	return g.n.now().Before(a.invitesOpen)
}

func (n *Node) connected(p peer.ID) bool {
	if p == n.host.ID() {
		return true
	}
	return n.host.Network().Connectedness(p) == network.Connected
}
