// Package nodetest builds networks of real takecare nodes in one process, on
// libp2p's mocknet (in-memory links with a chosen latency) or on loopback
// TCP/QUIC, for tests and benchmarks.
//
// Every node is a real [node.Node] with its own identity, bbolt store in a
// temporary folder, libp2p host and GossipSub router; only the transport is
// simulated on mocknet.
//
// # Simulations
//
// For large networks with a fixed shape, build a [Net] with
// [Options.Static] (nodes then dial no one by themselves), form the group
// with [Net.FormGroup] and connect a seeded random graph with
// [Net.ConnectRandom]. [NewRaw] builds the baseline: the same mocknet,
// latency and graph ([RandomGraph]) with plain GossipSub routers configured
// as nodes configure theirs, and nothing of takecare on top. The simbench
// command compares the two.
package nodetest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/store"
)

// TB is the part of [testing.TB] a network uses. A *testing.T or
// *testing.B is one; a program can bring its own.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Name() string
}

// Options shape a test network. Set TAKECARE_TEST_LOG=1 in the
// environment to see every node's debug log on stderr.
type Options struct {
	// Latency of every mocknet link.
	Latency time.Duration
	// Bandwidth of every mocknet link, in bytes per second in each
	// direction (zero: unlimited).
	Bandwidth float64
	// Loopback runs real TCP and QUIC hosts on 127.0.0.1 instead of mocknet.
	Loopback bool
	// Config is applied to every node's config (Identity, Store and Host are
	// filled in by the network). Index is the node's index.
	Config func(index int, c *node.Config)
	// Sync makes stores fsync (off by default: tests do not survive power
	// loss).
	Sync bool
	// Dir, if set, names the folder of node index's store; an empty
	// answer (and the default) is a new temporary folder.
	Dir func(index int) string
	// Store, if set, adjusts node index's store options.
	Store func(index int, o *store.Options)
	// Name gives node index's member its display name (default
	// "member-NN").
	Name func(index int) string
	// Static keeps the connections exactly those the caller makes: nodes do
	// not dial member nodes by themselves (node.Config.DialTarget < 0) nor
	// ping them (node.Config.PingInterval < 0), and
	// [Net.Reconnect] redials the node's own edges. Simulations use it to
	// hold a random graph.
	Static bool
	// Stopped, if set, names the nodes New builds but does not start:
	// members whose device is off. [Node.Start] starts one.
	Stopped func(index int) bool
	// FormWait is how long [Net.FormGroup] waits for every node to catch
	// up before it fails (default 2 minutes): past it, it goes on only
	// while its syncs still move messages, up to twice FormWait.
	FormWait time.Duration
	// Traffic counts what each node's streams carry, per protocol, with
	// libp2p's bandwidth counter; read it with [Node.Traffic]. On
	// mocknet the streams the host opens for itself (identify) are not
	// counted; on loopback everything is.
	Traffic bool
}

// Net is a network of nodes.
type Net struct {
	t     TB
	opts  Options
	Mock  mocknet.Mocknet // nil on loopback
	Nodes []*Node
	// Formed is how long the last [Net.FormGroup] took to form its group,
	// from founding to the last node caught up.
	Formed time.Duration

	healPartition func()
	building      bool // New links everything once at the end

	mu    sync.Mutex
	edges map[[2]int]bool // pairs connected with Connect
	cut   map[[2]int]bool // pairs a partition keeps apart

	// doors holds the hosts joiners use on mocknet, by door peer: joiners
	// of one invite at the same time share one (node.Config.DoorHost).
	doorMu sync.Mutex
	doors  map[peer.ID]*doorHost

	// stateMu guards each Node's running state (Node.done, and Node.Node
	// as it is replaced on a restart) for goroutines of the harness that
	// run next to Start and Stop, such as the one enforcing a partition.
	stateMu sync.RWMutex
}

// Node is one node of a [Net], with what is needed to stop and restart it.
type Node struct {
	*node.Node
	Index    int
	Identity *crypto.Identity
	Dir      string
	Store    *store.Store
	key      crypto.StorageKey
	net      *Net
	cancel   context.CancelFunc
	done     chan struct{}
	bwc      *metrics.BandwidthCounter // Options.Traffic
	runErr   error                     // what Run returned, once done is closed
}

// New builds a network of n nodes. Nothing is connected yet; see
// [Net.ConnectAll] and [Net.ConnectRandom]. Nodes stop when the test ends.
func New(t TB, n int, opts Options) *Net {
	t.Helper()
	nt := &Net{t: t, opts: opts, building: true, edges: make(map[[2]int]bool), cut: make(map[[2]int]bool), doors: make(map[peer.ID]*doorHost)}
	if !opts.Loopback {
		nt.Mock = mocknet.New()
		nt.Mock.SetLinkDefaults(mocknet.LinkOptions{Latency: opts.Latency, Bandwidth: opts.Bandwidth})
		t.Cleanup(func() { nt.Mock.Close() })
	}
	for i := range n {
		name := fmt.Sprintf("member-%02d", i)
		if opts.Name != nil {
			name = opts.Name(i)
		}
		id, err := crypto.NewIdentity(name)
		if err != nil {
			t.Fatal(err)
		}
		nd := &Node{Index: i, Identity: id, Dir: t.TempDir(), key: crypto.NewStorageKey(), net: nt}
		if opts.Dir != nil {
			if d := opts.Dir(i); d != "" {
				nd.Dir = d
			}
		}
		if opts.Traffic {
			nd.bwc = metrics.NewBandwidthCounter()
		}
		nt.Nodes = append(nt.Nodes, nd)
		if opts.Stopped == nil || !opts.Stopped(i) {
			nd.Start()
		}
	}
	if nt.Mock != nil {
		if err := nt.Mock.LinkAll(); err != nil {
			t.Fatal(err)
		}
	}
	nt.building = false
	t.Cleanup(func() {
		for _, nd := range nt.Nodes {
			nd.Stop()
		}
	})
	return nt
}

// Start starts (or restarts) the node on its saved store.
func (nd *Node) Start() {
	t := nd.net.t
	t.Helper()
	if nd.done != nil {
		t.Fatalf("node %d already running", nd.Index)
	}
	so := store.Options{NoSync: !nd.net.opts.Sync}
	if nd.net.opts.Store != nil {
		nd.net.opts.Store(nd.Index, &so)
	}
	st, err := store.Open(nd.StorePath(), nd.key, so)
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.Config{Identity: nd.Identity, Store: st, DialInterval: 500 * time.Millisecond}
	if nd.net.opts.Static {
		// The connections stay those the caller made: a slow answer to a
		// ping under load must not cut one.
		cfg.DialTarget, cfg.PingInterval = -1, -1
	}
	if nd.net.opts.Loopback {
		cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
		cfg.Libp2p = []libp2p.Option{libp2p.DisableRelay()}
		if nd.bwc != nil {
			cfg.Libp2p = append(cfg.Libp2p, libp2p.BandwidthReporter(nd.bwc))
		}
	} else {
		h, err := nd.mockHost()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Host = h
		cfg.DoorHost = func(key p2pcrypto.PrivKey) (host.Host, error) { return nd.net.doorHost(key, nd) }
		if nd.bwc != nil {
			cfg.Host = &countingHost{Host: h, bwc: nd.bwc}
		}
	}
	if os.Getenv("TAKECARE_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).
			With("test", nd.net.t.Name(), "node", nd.Index)
	}
	if nd.net.opts.Config != nil {
		nd.net.opts.Config(nd.Index, &cfg)
	}
	n, err := node.New(cfg)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	nd.net.stateMu.Lock()
	nd.Node, nd.Store, nd.cancel, nd.done = n, st, cancel, make(chan struct{})
	nd.net.stateMu.Unlock()
	done := nd.done
	go func() {
		defer close(done)
		err := n.Run(ctx)
		nd.net.stateMu.Lock()
		nd.runErr = err
		nd.net.stateMu.Unlock()
	}()
}

func (nd *Node) mockHost() (host.Host, error) {
	mn := nd.net.Mock
	pid := nd.Identity.PeerID()
	if h := mn.Host(pid); h != nil {
		// Restart: mocknet keeps the old peer and its links; drop the
		// links so that dials reach the new host.
		for _, other := range mn.Peers() {
			if other != pid {
				mn.UnlinkPeers(pid, other)
			}
		}
	}
	addr := ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4001", nd.Index/65536%256, nd.Index/256%256, nd.Index%256))
	h, err := mn.AddPeer(nd.Identity.NodeKey(), addr)
	if err != nil {
		return nil, err
	}
	if !nd.net.building {
		// Link to running nodes only: mocknet keeps stopped nodes' networks
		// and would accept connections to them.
		for _, other := range nd.net.Nodes {
			if other != nd && other.Running() && !nd.net.isCut(nd.Index, other.Index) {
				if _, err := mn.LinkPeers(pid, other.Identity.PeerID()); err != nil {
					return nil, err
				}
			}
		}
	}
	return h, nil
}

// doorHost is a joiner's host on mocknet, shared by the joiners of one
// invite at the same time and closed when the last is done.
type doorHost struct {
	host.Host
	net  *Net
	refs int
}

// doorHost gives a joiner on mocknet a host with the invite's key, linked
// to every running node that a partition does not keep apart from the
// joiner's node (joiners sharing the host are on one side).
func (nt *Net) doorHost(key p2pcrypto.PrivKey, joiner *Node) (host.Host, error) {
	pid, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	nt.doorMu.Lock()
	defer nt.doorMu.Unlock()
	if d := nt.doors[pid]; d != nil {
		d.refs++
		return d, nil
	}
	mn := nt.Mock
	if mn.Host(pid) != nil {
		for _, other := range mn.Peers() {
			if other != pid {
				mn.UnlinkPeers(pid, other)
			}
		}
	}
	h, err := mn.AddPeer(key, ma.StringCast(fmt.Sprintf("/ip4/10.255.%d.%d/tcp/4001", len(nt.doors)/256%256, len(nt.doors)%256)))
	if err != nil {
		return nil, err
	}
	for _, nd := range nt.Nodes {
		if nd.Running() && !nt.isCut(nd.Index, joiner.Index) {
			if _, err := mn.LinkPeers(pid, nd.Identity.PeerID()); err != nil {
				h.Close()
				return nil, err
			}
		}
	}
	d := &doorHost{Host: h, net: nt, refs: 1}
	nt.doors[pid] = d
	return d, nil
}

// Close releases the host, and closes it once no joiner uses it.
func (d *doorHost) Close() error {
	d.net.doorMu.Lock()
	defer d.net.doorMu.Unlock()
	if d.refs--; d.refs > 0 {
		return nil
	}
	delete(d.net.doors, d.ID())
	return d.Host.Close()
}

// Stop stops the node and closes its store, keeping its folder.
func (nd *Node) Stop() {
	if nd.done == nil {
		return
	}
	mn := nd.net.Mock
	pid := nd.Identity.PeerID()
	// A stopped node is unreachable: cut its links first, so that no dial
	// completes while it closes, then drop whatever connection remains on
	// the other side (mocknet does not always tear both ends down).
	if mn != nil {
		for _, other := range mn.Peers() {
			if other != pid {
				mn.UnlinkPeers(pid, other)
			}
		}
	}
	nd.cancel()
	<-nd.done
	nd.Node.Close()
	nd.Store.Close()
	nd.net.stateMu.Lock()
	nd.done = nil
	nd.net.stateMu.Unlock()
	if mn != nil {
		for _, other := range nd.net.Nodes {
			if other != nd && other.Running() {
				other.Host().Network().ClosePeer(pid)
			}
		}
	}
}

// Exited reports whether the node's Run returned by itself (the node
// stopped), and what it returned.
func (nd *Node) Exited() (bool, error) {
	nd.net.stateMu.RLock()
	done := nd.done
	nd.net.stateMu.RUnlock()
	if done == nil {
		return false, nil
	}
	select {
	case <-done:
		nd.net.stateMu.RLock()
		defer nd.net.stateMu.RUnlock()
		return true, nd.runErr
	default:
		return false, nil
	}
}

// Twin starts a copy of node i's profile, as if it were copied to a
// second device: the same identity and storage key, and a copy of its
// store taken while it was stopped for a moment. Only on loopback:
// mocknet cannot hold two hosts with one peer id. The copy is the last
// node of the network.
func (nt *Net) Twin(i int) *Node {
	nt.t.Helper()
	if nt.Mock != nil {
		nt.t.Fatal("nodetest: Twin needs a loopback network")
	}
	orig := nt.Nodes[i]
	orig.Stop()
	dir := nt.t.TempDir()
	for _, name := range []string{"store.db", "store.db.keep"} {
		b, err := os.ReadFile(filepath.Join(orig.Dir, name))
		if err != nil && !os.IsNotExist(err) {
			nt.t.Fatal(err)
		}
		if err == nil {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				nt.t.Fatal(err)
			}
		}
	}
	orig.Start()
	// Both find the nodes i was connected to (a profile copied from a
	// device that had run for a while would know where they are).
	peers := neighbours(nt.Edges(), i)
	for _, j := range peers {
		if err := nt.Connect(i, j); err != nil {
			nt.t.Fatalf("nodetest: reconnecting node %d to %d: %v", i, j, err)
		}
	}
	twin := &Node{Index: len(nt.Nodes), Identity: orig.Identity, Dir: dir, key: orig.key, net: nt}
	nt.Nodes = append(nt.Nodes, twin)
	twin.Start()
	for _, j := range peers {
		// It may fail: the copy may already have found out and stopped.
		_ = nt.Connect(twin.Index, j)
	}
	return twin
}

// StorageKey is the key the node's store is sealed under (the one its
// keystore would hold), for tests that open or repair its files.
func (nd *Node) StorageKey() crypto.StorageKey { return nd.key }

// StorePath is where the node's store file is. Copying it while the node
// is stopped, and back before a restart, takes the node back in time.
func (nd *Node) StorePath() string { return filepath.Join(nd.Dir, "store.db") }

// Running reports whether the node is started.
func (nd *Node) Running() bool {
	_, ok := nd.state()
	return ok
}

// state returns the node's current takecare node and whether it runs.
func (nd *Node) state() (*node.Node, bool) {
	nd.net.stateMu.RLock()
	defer nd.net.stateMu.RUnlock()
	return nd.Node, nd.done != nil
}

// AddrInfo returns where the node can be reached.
func (nd *Node) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: nd.Host().ID(), Addrs: nd.Host().Addrs()}
}
