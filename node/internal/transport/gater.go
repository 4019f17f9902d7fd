package transport

import (
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Gater is the host's connection gater (connmgr.ConnectionGater). It
// admits an inbound connection only from a member node, the door peer of
// an invite whose door is open here, the duress node of a current member,
// a removed member's node that is due to be told of its removal, or,
// on a relay in no group that holds relay codes, anyone (to prove a
// code). It never dials a removed member's node.
type Gater struct {
	adm         *Admission
	noticeDue   func(peer.ID) bool
	servesCodes func() bool
	now         func() time.Time
}

var _ connmgr.ConnectionGater = (*Gater)(nil)

// NewGater returns a gater that reads adm. noticeDue reports whether a
// removed member's node is due to be told of its removal; servesCodes
// whether this node is a relay in no group that holds relay codes; now is
// the node's clock.
func NewGater(adm *Admission, noticeDue func(peer.ID) bool, servesCodes func() bool, now func() time.Time) *Gater {
	return &Gater{adm: adm, noticeDue: noticeDue, servesCodes: servesCodes, now: now}
}

func (g *Gater) InterceptPeerDial(p peer.ID) bool { return !g.adm.Load().Removed[p] }

func (g *Gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool                    { return true }
func (g *Gater) InterceptAccept(network.ConnMultiaddrs) bool                     { return true }
func (g *Gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

func (g *Gater) InterceptSecured(dir network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	a := g.adm.Load()
	switch {
	case a.Members[p], a.Duress[p] && dir == network.DirInbound:
		return true
	case a.Removed[p]:
		return dir == network.DirInbound && g.noticeDue(p)
	case dir == network.DirOutbound:
		return true
	case g.servesCodes():
		// A relay in no group: anyone may connect and prove a code.
		return true
	}
	_, open := a.OpenDoor(p, g.now())
	return open
}
