package node

import (
	"errors"
	"fmt"
	"slices"
	"syscall"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/takecare-network/takecare/node/internal/transport"
)

// Listen says where the node listens for one address it was told to
// listen on.
type Listen struct {
	// Want is the address as configured.
	Want string `json:"want"`
	// Got is where the node listens for it (the port filled in), or empty
	// if it listens nowhere for it.
	Got string `json:"got,omitempty"`
	// Moved is true when Got is a fallback: the port was taken, or the IP
	// address is no longer this device's.
	Moved bool `json:"moved,omitempty"`
	// Why says why Want could not be used: one of ListenWhy.
	Why string `json:"why,omitempty"`
	// Reason says the same in English.
	Reason string `json:"reason,omitempty"`
}

// ListenWhy are the reasons an address cannot be listened on
// (Listen.Why): the port is taken, the IP address is gone, the port needs
// privileges, something else.
var ListenWhy = []string{"port_taken", "ip_gone", "privileged", "other"}

// defaultListen is where a node listens when not told.
var defaultListen = []string{
	"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1",
	"/ip6/::/tcp/0", "/ip6/::/udp/0/quic-v1",
}

// listenAddrs parses the configured listen addresses, leaving out relay
// addresses; none (or only relay addresses) means defaultListen.
func listenAddrs(cfg []string) ([]ma.Multiaddr, error) {
	var out []ma.Multiaddr
	for _, s := range cfg {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("node: listen address %q: %w", s, err)
		}
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return listenAddrs(defaultListen)
	}
	return out, nil
}

// Listening says where the node listens, for each address it was told to
// listen on (Config.ListenAddrs, or the default). It is nil for a node
// given its host (Config.Host).
func (n *Node) Listening() []Listen { return slices.Clone(n.listens) }

// listen has the network listen on each wanted address. When one cannot be
// used, it falls back, with a warning in the log and in Status: first to a
// free port on the same IP address (the port was taken), then to the same
// port on every interface, then to any port on every interface (the IP
// address is gone: the device moved from one network to another). A node
// that listens nowhere still runs: it can reach member nodes, they cannot
// reach it.
func (n *Node) listen(nw network.Network, want []ma.Multiaddr) []Listen {
	adder, ok := nw.(interface{ AddListenAddr(ma.Multiaddr) error })
	add := func(a ma.Multiaddr) (ma.Multiaddr, error) {
		before := nw.ListenAddresses()
		var err error
		if ok {
			err = adder.AddListenAddr(a)
		} else {
			err = nw.Listen(a)
		}
		if err != nil {
			return nil, err
		}
		for _, got := range nw.ListenAddresses() {
			if !slices.ContainsFunc(before, got.Equal) {
				return got, nil
			}
		}
		return a, nil
	}
	out := make([]Listen, 0, len(want))
	for _, a := range want {
		l := Listen{Want: a.String()}
		got, err := add(a)
		if err != nil {
			l.Why, l.Reason = listenReason(err)
			for _, alt := range fallbacks(a) {
				if slices.ContainsFunc(nw.ListenAddresses(), alt.Equal) {
					continue
				}
				if got, err = add(alt); err == nil {
					l.Moved = true
					break
				}
			}
		}
		if err == nil {
			l.Got = got.String()
		}
		if l.Moved || l.Got == "" {
			n.log.Warn("could not listen where told to", "want", l.Want, "got", l.Got, "reason", l.Reason)
		}
		out = append(out, l)
	}
	return out
}

// listenReason says why an address could not be listened on: a code of
// ListenWhy and English words.
func listenReason(err error) (string, string) {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "port_taken", "the port is taken by another program"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "ip_gone", "the IP address is not this device's any more"
	case errors.Is(err, syscall.EACCES):
		return "privileged", "the port needs privileges"
	}
	return "other", fmt.Sprint(err)
}

// fallbacks are the addresses tried, in order, when a cannot be listened
// on: port 0 on its IP address, its port on every interface, port 0 on
// every interface. Addresses without an IP and a port have none.
func fallbacks(a ma.Multiaddr) []ma.Multiaddr {
	if len(a) < 2 {
		return nil
	}
	ip, port := a[0], a[1]
	if port.Protocol().Code != ma.P_TCP && port.Protocol().Code != ma.P_UDP {
		return nil
	}
	var any ma.Component
	switch ip.Protocol().Code {
	case ma.P_IP4:
		any = ma.StringCast("/ip4/0.0.0.0")[0]
	case ma.P_IP6:
		any = ma.StringCast("/ip6/::")[0]
	default:
		return nil
	}
	zero, err := ma.NewComponent(port.Protocol().Name, "0")
	if err != nil {
		return nil
	}
	rest := a[2:]
	build := func(ip, port ma.Component) ma.Multiaddr {
		return append(ma.Multiaddr{ip, port}, rest...)
	}
	var out []ma.Multiaddr
	if port.Value() != "0" {
		out = append(out, build(ip, *zero))
	}
	if !manet.IsIPUnspecified(ma.Multiaddr{ip}) {
		if port.Value() != "0" {
			out = append(out, build(any, port))
		}
		out = append(out, build(any, *zero))
	}
	return out
}

// newHost builds the node's libp2p host and listens on Config.ListenAddrs.
func (n *Node) newHost() (host.Host, error) {
	listen, err := listenAddrs(n.cfg.ListenAddrs)
	if err != nil {
		return nil, err
	}
	opts := []libp2p.Option{
		libp2p.Identity(n.id.NodeKey()),
		// Listening is done below, address by address (listen.go).
		// NoListenAddrs turns the circuit relay transport off unless
		// asked for: member nodes are dialled through relays.
		libp2p.NoListenAddrs,
		libp2p.EnableRelay(),
		libp2p.ConnectionGater(n.gate),
		libp2p.AddrsFactory(n.advertised),
		// The default agent string names the program's Go module; a
		// peer learns nothing from this one.
		libp2p.UserAgent(userAgent),
		// yamux without its keep-alive: liveness (alive.go) is the one
		// keep-alive of a link.
		transport.Muxer(),
	}
	h, err := libp2p.New(append(opts, n.cfg.Libp2p...)...)
	if err != nil {
		return nil, fmt.Errorf("node: starting libp2p host: %w", err)
	}
	n.listens = n.listen(h.Network(), listen)
	return h, nil
}
