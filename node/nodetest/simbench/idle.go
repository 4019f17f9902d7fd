package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/gologshim"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/sys/unix"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// Idle cost: what an idle node sends and receives when nothing happens in
// its group. Real libp2p hosts on loopback TCP (Noise, yamux), so that
// everything a phone would pay is there: identify, keep-alives, the
// transport's framing. Every node counts its streams per protocol with
// libp2p's bandwidth counter; every TCP connection is made through a
// dialer that keeps the socket, and the kernel's own counters of the
// socket (TCP_INFO: payload bytes and segments, both ways, ACKs and TCP
// keep-alives included) give what went over the interface: the payload
// plus 52 bytes of IPv4 and TCP headers (with timestamps) per segment.
//
// The group has -idle-members members; -idle-online of them are online
// (all connected to each other), the others' devices are off (their
// addresses are known: every online node keeps dialing them).

type idleResult struct {
	members, online int
	settle, window  time.Duration         // measured from settle after the group went idle, for window
	conns           float64               // connections per online node, on average
	streams         map[string][2]float64 // per protocol family: bytes in, out per hour per node
	payload, wire   float64               // per hour per node, both ways
	segs, dataSegs  float64               // segments per hour per node, both ways: all, and those with payload
	dials, failed   float64               // dial attempts per hour per node, and how many failed
}

// tcpStat is what the kernel counted on one socket.
type tcpStat struct {
	bytesOut, bytesIn       uint64
	segsOut, segsIn         uint64
	dataSegsOut, dataSegsIn uint64 // segments that carried payload
}

func (a tcpStat) sub(b tcpStat) tcpStat {
	return tcpStat{a.bytesOut - b.bytesOut, a.bytesIn - b.bytesIn, a.segsOut - b.segsOut, a.segsIn - b.segsIn,
		a.dataSegsOut - b.dataSegsOut, a.dataSegsIn - b.dataSegsIn}
}

// meteredConn is a dialed TCP connection from node local to node remote
// (-1 if unknown).
type meteredConn struct {
	*net.TCPConn
	m             *connMeter
	local, remote int
	mu            sync.Mutex
	last          tcpStat
	closed        bool
}

func (c *meteredConn) stat() tcpStat {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.last
	}
	raw, err := c.TCPConn.SyscallConn()
	if err != nil {
		return c.last
	}
	raw.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return
		}
		c.last = tcpStat{bytesOut: info.Bytes_acked, bytesIn: info.Bytes_received, segsOut: uint64(info.Segs_out), segsIn: uint64(info.Segs_in),
			dataSegsOut: uint64(info.Data_segs_out), dataSegsIn: uint64(info.Data_segs_in)}
	})
	return c.last
}

func (c *meteredConn) Close() error {
	c.stat()
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.TCPConn.Close()
}

// connMeter keeps every connection the nodes dial, and counts their dials.
type connMeter struct {
	nodes func() []*nodetest.Node

	mu     sync.Mutex
	conns  []*meteredConn
	dials  map[int]int
	failed map[int]int
}

func newConnMeter() *connMeter {
	return &connMeter{dials: make(map[int]int), failed: make(map[int]int)}
}

// option makes node i dial TCP through the meter, and only TCP.
func (m *connMeter) option(i int) libp2p.Option {
	return libp2p.Transport(tcp.NewTCPTransport, tcp.WithDialerForAddr(func(ma.Multiaddr) (tcp.ContextDialer, error) {
		return dialFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
			return m.dial(ctx, i, network, addr)
		}), nil
	}))
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

func (m *connMeter) dial(ctx context.Context, i int, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	m.mu.Lock()
	m.dials[i]++
	if err != nil {
		m.failed[i]++
	}
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	// What libp2p's TCP transport does to the connections it dials itself
	// (it cannot reach through the wrapper).
	tc.SetKeepAlive(true)
	tc.SetKeepAlivePeriod(30 * time.Second)
	tc.SetLinger(0)
	mc := &meteredConn{TCPConn: tc, m: m, local: i, remote: m.nodeAt(addr)}
	m.mu.Lock()
	m.conns = append(m.conns, mc)
	m.mu.Unlock()
	return mc, nil
}

// nodeAt finds the running node that listens on addr.
func (m *connMeter) nodeAt(addr string) int {
	for _, nd := range m.nodes() {
		if !nd.Running() {
			continue
		}
		for _, a := range nd.Host().Addrs() {
			if _, host, err := manet.DialArgs(a); err == nil && host == addr {
				return nd.Index
			}
		}
	}
	return -1
}

// snapshot returns what each connection counted so far.
func (m *connMeter) snapshot() map[*meteredConn]tcpStat {
	m.mu.Lock()
	conns := append([]*meteredConn(nil), m.conns...)
	m.mu.Unlock()
	out := make(map[*meteredConn]tcpStat, len(conns))
	for _, c := range conns {
		out[c] = c.stat()
	}
	return out
}

// perNode adds up, for node i, what every connection with it carried
// between two snapshots: bytes both ways, segments both ways, and of those
// the segments that carried payload.
func perNode(i int, from, to map[*meteredConn]tcpStat) (bytes, segs, dataSegs uint64) {
	for c, end := range to {
		if c.local != i && c.remote != i {
			continue
		}
		d := end.sub(from[c])
		bytes += d.bytesOut + d.bytesIn
		segs += d.segsOut + d.segsIn
		dataSegs += d.dataSegsOut + d.dataSegsIn
	}
	return bytes, segs, dataSegs
}

// tcpHeaders is what a segment adds on the interface: IPv4 (20) and TCP
// (20, plus 12 of the timestamp option Linux sends).
const tcpHeaders = 52

// quietTCPLog drops the log records of libp2p's TCP transport, which
// complains that it cannot set TCP keep-alives on the metered connections
// (the dialer sets them itself), and passes on the others.
type quietTCPLog struct {
	slog.Handler
	drop bool
}

func (h quietTCPLog) Enabled(ctx context.Context, l slog.Level) bool {
	return !h.drop && h.Handler.Enabled(ctx, l)
}

func (h quietTCPLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	drop := h.drop
	for _, a := range attrs {
		if a.Key == "logger" && a.Value.String() == "tcp-tpt" {
			drop = true
		}
	}
	return quietTCPLog{Handler: h.Handler.WithAttrs(attrs), drop: drop}
}

func init() {
	gologshim.SetDefaultHandler(quietTCPLog{Handler: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})})
}

func idleRun(c config, base string) idleResult {
	tb := newRunner(base, "idle")
	defer tb.close()
	members, online := c.idleMembers, min(c.idleOnline, c.idleMembers)
	meter := newConnMeter()
	logf("idle: %d members on loopback TCP, forming the group", members)
	net := nodetest.New(tb, members, nodetest.Options{FormWait: c.formWait, Loopback: true, Traffic: true, Sync: c.fsync,
		Config: func(i int, cfg *node.Config) {
			cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
			cfg.Libp2p = append(cfg.Libp2p, meter.option(i))
			cfg.DialInterval = 0 // the daemon's default
		}})
	meter.nodes = func() []*nodetest.Node { return net.Nodes }
	net.FormGroup("idle")
	logf("idle: %d of %d devices go off", members-online, members)
	for _, nd := range net.Nodes[online:] {
		nd.Stop()
	}
	on := net.Nodes[:online]
	connectAll(tb, net, on)
	logf("idle: settling for %s", c.idleSettle)
	time.Sleep(c.idleSettle)
	res := idleResult{members: members, online: online, settle: c.idleSettle, window: c.idle, streams: make(map[string][2]float64)}
	before := make([]nodetest.Traffic, online)
	for i, nd := range on {
		before[i] = nd.Traffic()
	}
	meter.mu.Lock()
	dials0, failed0 := maps.Clone(meter.dials), maps.Clone(meter.failed)
	meter.mu.Unlock()
	s0 := meter.snapshot()
	logf("idle: measuring for %s", c.idle)
	time.Sleep(c.idle)
	s1 := meter.snapshot()
	time.Sleep(1100 * time.Millisecond) // the bandwidth counter samples once a second
	perHour := float64(time.Hour) / float64(c.idle) / float64(online)
	for i, nd := range on {
		for p, s := range nd.Traffic().Sub(before[i]) {
			v := res.streams[family(p)]
			v[0] += float64(s.TotalIn) * perHour
			v[1] += float64(s.TotalOut) * perHour
			res.streams[family(p)] = v
		}
		b, s, ds := perNode(nd.Index, s0, s1)
		res.payload += float64(b) * perHour
		res.segs += float64(s) * perHour
		res.dataSegs += float64(ds) * perHour
		res.conns += float64(len(nd.Host().Network().Conns())) / float64(online)
	}
	res.wire = res.payload + res.segs*tcpHeaders
	meter.mu.Lock()
	for _, nd := range on {
		res.dials += float64(meter.dials[nd.Index]-dials0[nd.Index]) * perHour
		res.failed += float64(meter.failed[nd.Index]-failed0[nd.Index]) * perHour
	}
	meter.mu.Unlock()
	return res
}

func (t *table) idle(r idleResult) {
	t.section(fmt.Sprintf("Idle node, a group of %d members, %d online (loopback TCP, %.1f connections each), measured for %s from %s after the group went idle; per node per hour", r.members, r.online, r.conns, r.window, r.settle))
	t.add("on the interface: TCP payload + 52 B of headers per segment, both ways", "", kb(int64(r.wire)), "")
	t.add("TCP payload (security, multiplexing, streams), both ways", "", kb(int64(r.payload)), "")
	t.add("segments, both ways (headers alone)", "", fmt.Sprintf("%.0f (%s)", r.segs, kb(int64(r.segs*tcpHeaders))), "")
	t.add("of those, without payload: ACKs alone and TCP keep-alive probes (libp2p's TCP transport: 30 s)", "", fmt.Sprintf("%.0f (%s)", r.segs-r.dataSegs, kb(int64((r.segs-r.dataSegs)*tcpHeaders))), "")
	var fams []string
	var streams float64
	for f, v := range r.streams {
		if v[0]+v[1] > 0 {
			fams = append(fams, f)
			streams += v[0] + v[1]
		}
	}
	slices.Sort(fams)
	for _, f := range fams {
		v := r.streams[f]
		t.add("streams: "+f+", in + out", "", fmt.Sprintf("%s + %s", kb(int64(v[0])), kb(int64(v[1]))), "")
	}
	t.add("below the streams: Noise and yamux framing, yamux keep-alive where on, multistream", "", kb(int64(r.payload-streams)), "")
	t.add("dials (to the members whose device is off)", "", fmt.Sprintf("%.0f attempts, %.0f failed", r.dials, r.failed), "")
}

// connectAll connects the nodes on to each other, as their dialers would
// in time (a node that joined early learns the later ones' addresses only
// once it meets them), and waits until every pair is connected.
func connectAll(tb *runner, net *nodetest.Net, on []*nodetest.Node) {
	for i := range on {
		for j := i + 1; j < len(on); j++ {
			if err := net.Connect(on[i].Index, on[j].Index); err != nil {
				tb.Fatal(err)
			}
		}
	}
	net.WaitFor(time.Minute, "every online node connected to every other", func() bool {
		for _, a := range on {
			for _, b := range on {
				if a != b && len(a.Host().Network().ConnsToPeer(b.Identity.PeerID())) == 0 {
					return false
				}
			}
		}
		return true
	})
}
