package transport

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
)

// RelayCodes are the relay codes a relay holds (grants of groups it is not
// in), as [RelayACL] asks about them.
type RelayCodes interface {
	// Authorized reports whether p proved a code that has not ended at now.
	Authorized(p peer.ID, now time.Time) bool
	// Together reports whether p and q proved one same code that has
	// not ended at now.
	Together(p, q peer.ID, now time.Time) bool
}

// RelayACL is the relay's access list (relayv2.ACLFilter): it admits
// reservations from member nodes of this node's groups and from nodes
// that proved a relay code it holds, and circuits between two member
// nodes of one same group or two nodes that proved one same code.
type RelayACL struct {
	adm   *Admission
	codes RelayCodes
	now   func() time.Time
}

var _ relayv2.ACLFilter = RelayACL{}

// NewRelayACL returns the access list for the members of adm and the
// holders of codes, at the times now tells.
func NewRelayACL(adm *Admission, codes RelayCodes, now func() time.Time) RelayACL {
	return RelayACL{adm: adm, codes: codes, now: now}
}

func (a RelayACL) AllowReserve(p peer.ID, _ ma.Multiaddr) bool {
	return a.adm.IsMember(p) || a.codes.Authorized(p, a.now())
}

func (a RelayACL) AllowConnect(src peer.ID, _ ma.Multiaddr, dst peer.ID) bool {
	return a.adm.Load().ShareGroup(src, dst) || a.codes.Together(src, dst, a.now())
}
