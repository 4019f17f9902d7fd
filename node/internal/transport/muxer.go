package transport

import (
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
)

// Muxer is the stream multiplexer of the node's host: yamux
// (/yamux/1.0.0) as libp2p configures it, without yamux's keep-alive.
//
// yamux pings every connection every 30 s (a 12-byte frame each way, in
// a Noise frame of its own and a TCP segment each, with its ACKs) only to
// find dead connections and keep NAT mappings; the node's liveness probe
// (libp2p's ping to every member node, node/alive.go) already does both,
// and TCP keeps its own keep-alive. Three keep-alives on one link cost an
// idle phone on prepaid data more than everything else it exchanges.
func Muxer() libp2p.Option {
	t := *yamux.DefaultTransport // a copy: the default is shared by every host of the process
	t.EnableKeepAlive = false
	return libp2p.Muxer(yamux.ID, &t)
}
