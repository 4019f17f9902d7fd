package transport

import (
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// How a peer is reached (directly, or through a relay), from the
// connections to it.

// IsRelayed reports whether a connection goes through a relay.
func IsRelayed(c network.Conn) bool { return IsCircuit(c.RemoteMultiaddr()) }

// transportPort names an address's transport and port ("tcp/4001",
// "udp/4001"), or "" if it has neither.
func transportPort(a ma.Multiaddr) string {
	if v, err := a.ValueForProtocol(ma.P_TCP); err == nil {
		return "tcp/" + v
	}
	if v, err := a.ValueForProtocol(ma.P_UDP); err == nil {
		return "udp/" + v
	}
	return ""
}

// IsCircuit reports whether an address goes through a relay.
func IsCircuit(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// RelayOf returns the relay a relayed connection goes through.
func RelayOf(c network.Conn) (peer.ID, bool) {
	relayPart, _ := ma.SplitFunc(c.RemoteMultiaddr(), func(c ma.Component) bool { return c.Protocol().Code == ma.P_CIRCUIT })
	if relayPart == nil {
		return "", false
	}
	v, err := relayPart.ValueForProtocol(ma.P_P2P)
	if err != nil {
		return "", false
	}
	p, err := peer.Decode(v)
	return p, err == nil
}

// Path is how a peer is reached.
type Path int

const (
	Unreachable Path = iota // no connection
	Direct                  // a direct connection
	Relayed                 // only through a relay
)

// PathTo says how p is reached on net now: [Direct] if any connection to
// it is direct, else [Relayed] through the relay of its first relayed
// connection.
func PathTo(net network.Network, p peer.ID) (Path, peer.ID) {
	var via peer.ID
	relayed := false
	for _, c := range net.ConnsToPeer(p) {
		if c.IsClosed() {
			continue
		}
		r, ok := RelayOf(c)
		if !ok {
			return Direct, ""
		}
		if !relayed {
			relayed, via = true, r
		}
	}
	if relayed {
		return Relayed, via
	}
	return Unreachable, ""
}
