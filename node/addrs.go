package node

import (
	"slices"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/wlynxg/anet"
)

// This node's own addresses: those of its interfaces, and those it tells
// others. Reaching member nodes behind NAT (relay slots, hole punching)
// is node/internal/transport's Reach.

// needsRelay reports whether this node should hold relay slots: it is not
// a relay itself and none of its interfaces has a public address (it is
// behind NAT, or on mobile data).
func (n *Node) needsRelay() bool {
	if n.relay != nil {
		return false
	}
	for _, a := range n.interfaceAddrs() {
		if manet.IsPublicAddr(a) {
			return false
		}
	}
	return true
}

// interfaceAddrs are the addresses of this machine's interfaces. They are
// read with github.com/wlynxg/anet, which on Android 11 and later reads
// them without the netlink calls the system refuses to apps (where the
// standard library fails); elsewhere it is the standard library.
func (n *Node) interfaceAddrs() []ma.Multiaddr {
	list := n.cfg.interfaces
	if list == nil {
		list = anet.InterfaceAddrs
	}
	addrs, err := list()
	if err != nil {
		n.log.Warn("cannot list network interfaces", "err", err)
		return nil
	}
	var out []ma.Multiaddr
	for _, a := range addrs {
		if m, err := manet.FromNetAddr(a); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// advertised is the host's address factory: the addresses libp2p found,
// plus every listen address on an unspecified IP (0.0.0.0, ::) resolved
// with this node's own interface list. Where libp2p could not list the
// interfaces (Android 11+ refuses it netlink), it finds only loopback,
// and without this the node would tell others, and put in invites, no
// address where it can be reached. The interface list is read at most
// once a minute.
func (n *Node) advertised(addrs []ma.Multiaddr) []ma.Multiaddr {
	h := n.hostRef.Load()
	if h == nil {
		return addrs
	}
	n.ifaceMu.Lock()
	if time.Since(n.ifaceAt) > time.Minute || n.ifaceAt.IsZero() {
		n.ifaces = slices.DeleteFunc(n.interfaceAddrs(), manet.IsIP6LinkLocal)
		n.ifaceAt = time.Now()
	}
	ifaces := n.ifaces
	n.ifaceMu.Unlock()
	resolved, err := manet.ResolveUnspecifiedAddresses((*h).Network().ListenAddresses(), ifaces)
	if err != nil {
		return addrs
	}
	out := slices.Clone(addrs)
	for _, a := range resolved {
		if !manet.IsIPUnspecified(a) && !slices.ContainsFunc(out, a.Equal) {
			out = append(out, a)
		}
	}
	return out
}
