package node

import (
	"maps"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/transport"
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
// (transport.PubsubHost), so such a peer is never told a topic name nor
// sent an envelope. The mechanisms are in node/internal/transport; this
// file builds what they read.

// inviteDoorGrace is how long after an invite expires the nodes that know
// it still let in its door peer, so that a late joiner hears why it is
// refused rather than finding the node unreachable. Only holders of the
// code can be that peer.
const inviteDoorGrace = 7 * 24 * time.Hour

// cutOffDelay is how long a peer that has done what it was let in for (a
// duress node that handed over its warning) stays connected, so that the
// answer sent to it arrives.
const cutOffDelay = 5 * time.Second

// refreshAccess rebuilds the membership snapshot from the groups and the
// granted relays, publishes it, and resets the pubsub streams of the nodes
// that are no longer member nodes. Called after every change of a roster,
// of a group's epochs, or of the duress warnings taken.
func (n *Node) refreshAccess() {
	n.accessMu.Lock()
	n.accessBuilds.Add(1)
	a := n.buildAccess()
	old := n.access.Publish(a)
	n.accessMu.Unlock()
	n.accessChanged(old, a)
}

// buildAccess builds the membership snapshot from the groups, the duress
// warnings taken and the granted relays.
func (n *Node) buildAccess() *transport.Access {
	a := transport.NewAccess()
	n.duressMu.Lock()
	taken := maps.Clone(n.duressTaken)
	n.duressMu.Unlock()
	for _, g := range n.groupList() {
		n.groupAccess(a, g, taken)
	}
	for p := range a.Members {
		delete(a.Removed, p)
	}
	for p, ggs := range n.grantedRelays(n.now()) {
		if !a.Members[p] {
			a.Relays[p] = ggs[0].st.Addrs
			for _, gg := range ggs {
				l := crypto.RelayLabel(gg.st.Secret)
				a.Grants[p] += string(l[:])
			}
		}
	}
	return a
}

// groupAccess adds to a what group g lets in: its member nodes, the
// duress nodes of its members (but those in taken, whose warning this node
// took), the door peers of its invites if this node's member is an admin,
// and its removed members' nodes. A removed member's node adds nothing.
func (n *Node) groupAccess(a *transport.Access, g *group, taken map[crypto.MemberID]bool) {
	me, ok := g.roster.Member(n.me)
	if !ok || me.Removed {
		// A removed member's node has no one to talk to in this
		// group any more.
		return
	}
	set := make(map[peer.ID]bool)
	for _, m := range g.roster.Members() {
		set[m.Peer] = true
		a.Members[m.Peer] = true
		if !m.Duress.IsZero() && m.ID() != n.me && !taken[m.ID()] {
			a.Duress[n.duressPeer(m.Duress)] = true
		}
	}
	for _, e := range g.state().epochs {
		a.ByTopic[e.keys.Topic()] = set
	}
	if me.Role == alert.RoleAdmin {
		for _, inv := range g.roster.AllInvites() {
			p, err := crypto.DoorPeer(inv.Key)
			if err != nil {
				continue
			}
			a.Doors[p] = transport.Door{Group: g.id, Invite: inv.ID, Until: inv.Expires.Add(inviteDoorGrace)}
		}
	}
	for _, m := range g.roster.RemovedMembers() {
		a.Removed[m.Peer] = true
	}
}

// duressPeer is k.PeerID(), derived once per key; under accessMu.
func (n *Node) duressPeer(k crypto.DuressKey) peer.ID {
	if p, ok := n.duressPeers[k]; ok {
		return p
	}
	if n.duressPeers == nil {
		n.duressPeers = make(map[crypto.DuressKey]peer.ID)
	}
	p := k.PeerID()
	n.duressPeers[k] = p
	return p
}

// accessChanged acts on what changed from snapshot old to a: the pubsub
// streams of nodes no longer members are reset, relays no longer granted
// are left, and a relay granted anew is shown the new grant.
func (n *Node) accessChanged(old, a *transport.Access) {
	for p := range old.Members {
		if !a.Members[p] {
			transport.ResetPubsub(n.host, p)
		}
	}
	n.leaveRelays(old, a)
	// A relay granted anew (a new secret) is shown the new grant on the
	// connection that stands: it drops the old one in time.
	for p, key := range a.Grants {
		if old.Grants[p] != key && old.Grants[p] != "" && n.connected(p) {
			n.spawn(func() {
				if err := n.authRelay(n.ctx, p); err != nil {
					n.log.Debug("relay auth", "peer", p, "err", err)
				}
			})
		}
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
func (n *Node) leaveRelays(old, a *transport.Access) {
	gone := make(map[peer.ID]bool)
	for p := range old.Relays {
		if a.Relays[p] == nil && !a.Members[p] {
			gone[p] = true
		}
	}
	for p := range old.Members {
		if !a.Members[p] && a.Relays[p] == nil {
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
			if now.Members[p] || now.Relays[p] != nil { // granted again
				delete(gone, p)
			}
		}
		for _, c := range n.host.Network().Conns() {
			if rel, ok := transport.RelayOf(c); ok && gone[rel] {
				c.Close()
			}
		}
		for p := range gone {
			if old.Relays[p] != nil {
				n.host.Network().ClosePeer(p)
			}
		}
	})
}

func (n *Node) isMemberPeer(p peer.ID) bool { return n.access.IsMember(p) }

func (n *Node) connected(p peer.ID) bool {
	if p == n.host.ID() {
		return true
	}
	return n.host.Network().Connectedness(p) == network.Connected
}
