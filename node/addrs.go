package node

import (
	"errors"
	"io/fs"
	"net"
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

// interfaceAddrs are the addresses of this machine's interfaces, read
// with systemInterfaceAddrs, which works on Android 11 and later too.
func (n *Node) interfaceAddrs() []ma.Multiaddr {
	list := n.cfg.interfaces
	if list == nil {
		list = systemInterfaceAddrs
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

// systemInterfaceAddrs lists this machine's interface addresses, also on
// Android 11 and later, where the system refuses apps the netlink calls
// the standard library makes (bind on a NETLINK_ROUTE socket, RTM_GETLINK:
// "route ip+net: netlinkrib: permission denied"; golang/go#40569,
// libp2p/go-libp2p#2986). github.com/wlynxg/anet lists them there with
// netlink without bind and ioctl, if it knows it runs on Android 11+: it
// learns that from the NDK when built with cgo (gomobile), and not at
// all in a build without cgo, where it answers like the standard library.
// So a refusal makes it answer again as on Android 11 (anet's
// SetAndroidVersion; a no-op on other systems, where the refusal is
// returned). The result is the same on every other system as
// net.InterfaceAddrs.
func systemInterfaceAddrs() ([]net.Addr, error) {
	return interfaceAddrsRetry(anet.InterfaceAddrs, func() { anet.SetAndroidVersion(11) })
}

// interfaceAddrsRetry calls list; if the system refused it (a permission
// error: EACCES or EPERM), it calls asAndroid11 and list once more, and
// returns what that second call returns. Other errors are returned as
// they are.
func interfaceAddrsRetry(list func() ([]net.Addr, error), asAndroid11 func()) ([]net.Addr, error) {
	addrs, err := list()
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return addrs, err
	}
	asAndroid11()
	return list()
}

// ifaceTTL is how long advertised reuses the interface list: libp2p asks
// for the addresses every 5 s, so a new address (Wi-Fi to mobile data) is
// told to peers within about 10 s, also where libp2p cannot list the
// interfaces itself (Android). Listing them is one netlink dump.
const ifaceTTL = 5 * time.Second

// advertised is the host's address factory: the addresses libp2p found,
// plus every listen address on an unspecified IP (0.0.0.0, ::) resolved
// with this node's own interface list. Where libp2p could not list the
// interfaces (Android 11+ refuses it netlink), it finds only loopback,
// and without this the node would tell others, and put in invites, no
// address where it can be reached. The interface list is read at most
// every ifaceTTL.
func (n *Node) advertised(addrs []ma.Multiaddr) []ma.Multiaddr {
	h := n.hostRef.Load()
	if h == nil {
		return addrs
	}
	n.ifaceMu.Lock()
	if time.Since(n.ifaceAt) > ifaceTTL || n.ifaceAt.IsZero() {
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
