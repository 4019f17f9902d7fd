package node

import (
	"encoding/json"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Address book: where member nodes were last seen, saved so that a restarted
// node finds its group again without an invite.

const (
	blobPeer = "peer"
	addrTTL  = 30 * 24 * time.Hour
)

type peerState struct {
	Addrs    []string  `json:"addrs"`
	LastSeen time.Time `json:"last_seen"`
}

func (n *Node) loadPeers() error {
	blobs, err := n.store.Blobs(blobPeer)
	if err != nil {
		return err
	}
	for k, b := range blobs {
		p, err := peer.IDFromBytes([]byte(k))
		if err != nil {
			continue
		}
		var st peerState
		if json.Unmarshal(b, &st) != nil {
			continue
		}
		n.dialer.SetSeen(p, st.LastSeen)
		var addrs []ma.Multiaddr
		for _, s := range st.Addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				addrs = append(addrs, a)
			}
		}
		n.dialer.Learn(p, addrs)
	}
	return nil
}

// peerIdentified saves the addresses of a member node once identify told us
// where it listens.
func (n *Node) peerIdentified(p peer.ID) {
	if !n.isMemberPeer(p) {
		if n.access.Load().Relays[p] != nil {
			n.spawn(func() {
				if err := n.authRelay(n.ctx, p); err != nil {
					n.log.Debug("relay auth", "peer", p, "err", err)
				}
			})
		}
		return
	}
	n.savePeer(p)
	n.reach.Identified(p)
}

func (n *Node) peerConnected(p peer.ID) {
	// A removed member's node is told so, whoever connected.
	n.tellRemoved(p)
	if !n.isMemberPeer(p) {
		return
	}
	n.log.Debug("connected to a member node", "peer", p)
	// The handshake just showed the link works: the first ping is due
	// a ping interval from now.
	n.alive.heardFrom(p, time.Now())
	n.dialer.SetSeen(p, n.now())
	n.dialer.Connected(p)
	n.spawn(func() { n.checkTwin(p, "connected") })
	// Store and forward: every new connection to a member node starts a
	// sync. The node with the lower peer id starts it; the other answers.
	if n.host.ID() < p {
		n.syncer.Kick(p)
	}
}

// peerDisconnected: once a member node has no connection left, the dialer
// tries to reach it again at once (its link may have died, or it moved).
func (n *Node) peerDisconnected(p peer.ID) {
	if !n.isMemberPeer(p) || n.connected(p) {
		return
	}
	n.alive.forget(p)
	n.dialer.Poke()
}

// savePeer records where a connected member node can be reached, in memory
// and on disk.
func (n *Node) savePeer(p peer.ID) {
	n.dialer.SetSeen(p, n.now())
	n.rememberPeer(p, n.host.Peerstore().Addrs(p))
}

// rememberPeer adds addresses of a member node to the address book and
// saves it.
func (n *Node) rememberPeer(p peer.ID, addrs []ma.Multiaddr) {
	n.dialer.Learn(p, addrs)
	st := peerState{LastSeen: n.dialer.Seen(p)}
	for _, a := range n.dialer.AddrsOf(p) {
		st.Addrs = append(st.Addrs, a.String())
	}
	b, _ := json.Marshal(st)
	if err := n.store.PutBlob(blobPeer, []byte(p), b); err != nil {
		n.log.Warn("saving a peer address", "err", err)
	}
}

// connectedMembers returns the member nodes other than this one that it
// is connected to now, as the membership snapshot lists them.
func (n *Node) connectedMembers() []peer.ID {
	var out []peer.ID
	for p := range n.access.Load().Members {
		if p != n.host.ID() && n.connected(p) {
			out = append(out, p)
		}
	}
	return out
}

// saveConnectedMembers records the addresses of member nodes we are
// connected to, for nodes that became members after we connected.
func (n *Node) saveConnectedMembers() {
	for _, p := range n.connectedMembers() {
		if len(n.dialer.AddrsOf(p)) == 0 {
			n.savePeer(p)
		}
		// A relay we met before it was a member of our groups (the admin
		// node a joiner joined through) is taken now.
		n.reach.Identified(p)
	}
}

// lastSeen is when this node last had a connection to p, or zero.
func (n *Node) lastSeen(p peer.ID) time.Time {
	if n.connected(p) {
		return n.now()
	}
	return n.dialer.Seen(p)
}

// shareableAddrs are our addresses worth putting in an invite: loopback
// last, at most 8.
func (n *Node) shareableAddrs() []ma.Multiaddr {
	var public, private, loop []ma.Multiaddr
	for _, a := range n.host.Addrs() {
		switch {
		case manet.IsIPLoopback(a):
			loop = append(loop, a)
		case manet.IsPrivateAddr(a):
			private = append(private, a)
		default:
			public = append(public, a)
		}
	}
	out := append(append(public, private...), loop...)
	if len(out) > 8 {
		out = out[:8]
	}
	return out
}
