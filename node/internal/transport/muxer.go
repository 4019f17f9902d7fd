package transport

import (
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
)

// Muxer is the stream multiplexer of the node's host: yamux
// (/yamux/1.0.0) as libp2p configures it, without yamux's pings.
//
// yamux pings every connection every 30 s twice over, each side on its
// own: as a keep-alive, and to measure the round-trip time (a 12-byte
// frame each way, in a Noise frame of its own and a TCP segment each,
// with its ACKs). The keep-alive only finds dead connections and keeps NAT
// mappings, which the node's liveness probe (libp2p's ping to every member
// node, node/alive.go) already does, and TCP keeps its own keep-alive. The
// round-trip time is measured once, when the connection opens (yamux uses
// it to grow a stream's receive window), and then once a day instead of
// every 30 s. Those pings on an idle link cost a phone on prepaid data
// more than everything else it exchanges.
func Muxer() libp2p.Option {
	t := *yamux.DefaultTransport // a copy: the default is shared by every host of the process
	t.EnableKeepAlive = false
	t.MeasureRTTInterval = 24 * time.Hour
	return libp2p.Muxer(yamux.ID, &t)
}
