package transport

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
)

// MDNSNotifee takes the nodes that local discovery (mDNS) finds: it keeps
// the addresses of member nodes only, and tells the dialer.
type MDNSNotifee struct {
	self  peer.ID
	adm   *Admission
	book  peerstore.AddrBook
	found func()
}

var _ mdns.Notifee = MDNSNotifee{}

// NewMDNSNotifee returns the notifee of node self, which keeps in book the
// addresses of the member nodes of adm it finds and calls found after
// each.
func NewMDNSNotifee(self peer.ID, adm *Admission, book peerstore.AddrBook, found func()) MDNSNotifee {
	return MDNSNotifee{self: self, adm: adm, book: book, found: found}
}

// HandlePeerFound keeps the addresses of a node found on the local
// network, if it belongs to a member of one of our groups.
func (m MDNSNotifee) HandlePeerFound(pi peer.AddrInfo) {
	if pi.ID == m.self || !m.adm.IsMember(pi.ID) {
		return
	}
	m.book.AddAddrs(pi.ID, pi.Addrs, time.Hour)
	m.found()
}
