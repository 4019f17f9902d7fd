package nodetest

import (
	"context"
	"sort"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Traffic is what a node's streams carried, per protocol, as counted by
// libp2p's bandwidth counter ([metrics.BandwidthCounter]): the bytes read
// from and written to streams, after the security and multiplexing layers
// took theirs off. See [Options.Traffic].
type Traffic map[protocol.ID]metrics.Stats

// In and Out are the bytes received and sent over every protocol.
func (t Traffic) In() int64 {
	var sum int64
	for _, s := range t {
		sum += s.TotalIn
	}
	return sum
}

func (t Traffic) Out() int64 {
	var sum int64
	for _, s := range t {
		sum += s.TotalOut
	}
	return sum
}

// Sub returns what was carried since the snapshot old.
func (t Traffic) Sub(old Traffic) Traffic {
	out := make(Traffic, len(t))
	for p, s := range t {
		o := old[p]
		out[p] = metrics.Stats{TotalIn: s.TotalIn - o.TotalIn, TotalOut: s.TotalOut - o.TotalOut}
	}
	return out
}

// Protocols lists the protocols that carried something, by name.
func (t Traffic) Protocols() []protocol.ID {
	var out []protocol.ID
	for p, s := range t {
		if s.TotalIn != 0 || s.TotalOut != 0 {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Traffic returns what the node's streams carried since it was built, per
// protocol; nil unless [Options.Traffic] is set. The counter's totals lag
// by up to a second (it samples once a second).
func (nd *Node) Traffic() Traffic {
	if nd.bwc == nil {
		return nil
	}
	return nd.bwc.GetBandwidthByProtocol()
}

// countingHost counts what streams opened through it, or handed to its
// handlers, carry. On mocknet, which has no bandwidth reporter of its own,
// it is what [Options.Traffic] uses. Streams the host opens for itself
// (identify) go around it and are not counted.
type countingHost struct {
	host.Host
	bwc *metrics.BandwidthCounter
}

func (h *countingHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil {
		return nil, err
	}
	return &countingStream{Stream: s, bwc: h.bwc}, nil
}

func (h *countingHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, h.wrap(handler))
}

func (h *countingHost) SetStreamHandlerMatch(pid protocol.ID, match func(protocol.ID) bool, handler network.StreamHandler) {
	h.Host.SetStreamHandlerMatch(pid, match, h.wrap(handler))
}

func (h *countingHost) wrap(handler network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) { handler(&countingStream{Stream: s, bwc: h.bwc}) }
}

type countingStream struct {
	network.Stream
	bwc *metrics.BandwidthCounter
}

func (s *countingStream) Read(b []byte) (int, error) {
	n, err := s.Stream.Read(b)
	if n > 0 {
		s.bwc.LogRecvMessage(int64(n))
		s.bwc.LogRecvMessageStream(int64(n), s.Protocol(), s.Conn().RemotePeer())
	}
	return n, err
}

func (s *countingStream) Write(b []byte) (int, error) {
	n, err := s.Stream.Write(b)
	if n > 0 {
		s.bwc.LogSentMessage(int64(n))
		s.bwc.LogSentMessageStream(int64(n), s.Protocol(), s.Conn().RemotePeer())
	}
	return n, err
}
