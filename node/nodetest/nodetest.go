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
	"math/rand/v2"
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

// Connect connects nodes a and b, and remembers the pair as an edge of the
// network (see [Net.Edges]).
func (nt *Net) Connect(a, b int) error {
	nt.mu.Lock()
	nt.edges[edge(a, b)] = true
	nt.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return nt.Nodes[a].Host().Connect(ctx, nt.Nodes[b].AddrInfo())
}

// isCut reports whether a partition keeps nodes i and j apart.
func (nt *Net) isCut(i, j int) bool {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	return nt.cut[edge(i, j)]
}

func edge(a, b int) [2]int {
	if a > b {
		a, b = b, a
	}
	return [2]int{a, b}
}

// Edges returns the pairs of nodes connected with [Net.Connect],
// [Net.ConnectAll] or [Net.ConnectRandom], in order.
func (nt *Net) Edges() [][2]int {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	return sortedEdges(nt.edges)
}

// ConnectAll connects every pair of running nodes.
func (nt *Net) ConnectAll() {
	nt.t.Helper()
	for i := range nt.Nodes {
		for j := i + 1; j < len(nt.Nodes); j++ {
			if nt.Nodes[i].Running() && nt.Nodes[j].Running() {
				if err := nt.Connect(i, j); err != nil {
					nt.t.Fatal(err)
				}
			}
		}
	}
}

// ConnectRandom connects the running nodes as [RandomGraph](n, degree,
// seed) over the n running nodes in order, several connections at a time.
func (nt *Net) ConnectRandom(degree int, seed uint64) {
	nt.t.Helper()
	running := nt.running()
	connect := func(a, b int) error { return nt.Connect(running[a].Index, running[b].Index) }
	if err := connectEdges(RandomGraph(len(running), degree, seed), connect); err != nil {
		nt.t.Fatal(err)
	}
}

// connectEdges connects the edges, formParallel at a time, and returns the
// first error.
func connectEdges(edges [][2]int, connect func(a, b int) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		sem   = make(chan struct{}, formParallel)
	)
	for _, e := range edges {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := connect(e[0], e[1]); err != nil {
				once.Do(func() { first = fmt.Errorf("connecting %d and %d: %w", e[0], e[1], err) })
			}
		}()
	}
	wg.Wait()
	return first
}

// RandomGraph returns the edges of a connected graph of n nodes in which
// each node has about degree neighbours (degree on average, for n well
// above degree), chosen by a generator seeded with seed: a ring first, then
// degree/2 - 1 random chords from each node. The same arguments give the
// same edges, in the order they were chosen.
func RandomGraph(n, degree int, seed uint64) [][2]int {
	if n < 2 {
		return nil
	}
	r := rand.New(rand.NewPCG(seed, seed^0x7a6b))
	seen := make(map[[2]int]bool)
	var out [][2]int
	link := func(a, b int) {
		if a == b || seen[edge(a, b)] {
			return
		}
		seen[edge(a, b)] = true
		out = append(out, edge(a, b))
	}
	for i := range n {
		link(i, (i+1)%n)
	}
	for i := range n {
		for d := 2; d < degree; d += 2 {
			link(i, r.IntN(n))
		}
	}
	return out
}

// neighbours returns the other ends of i's edges.
func neighbours(edges [][2]int, i int) []int {
	var out []int
	for _, e := range edges {
		switch i {
		case e[0]:
			out = append(out, e[1])
		case e[1]:
			out = append(out, e[0])
		}
	}
	return out
}

// SetLinks gives every mocknet link, those there now and those made later,
// the options o: to slow a network down once its group is formed, say.
func (nt *Net) SetLinks(o mocknet.LinkOptions) {
	nt.Mock.SetLinkDefaults(o)
	for _, byPeer := range nt.Mock.Links() {
		for _, links := range byPeer {
			for l := range links {
				l.SetOptions(o)
			}
		}
	}
}

// Disconnect cuts the mocknet links of node i (and closes its connections)
// so that it is offline while still running.
func (nt *Net) Disconnect(i int) {
	nt.t.Helper()
	nd := nt.Nodes[i]
	for _, other := range nt.Nodes {
		if other.Index == i || !other.Running() {
			continue
		}
		nt.Mock.UnlinkPeers(nd.Host().ID(), other.Host().ID())
		nt.Mock.DisconnectPeers(nd.Host().ID(), other.Host().ID())
	}
}

// KillLink makes the mocknet link between nodes i and j die without a
// word, as a radio link does: what is on its way or sent later never
// arrives (it is delayed by a day), nothing is closed, and no new
// connection can be made until [Net.Reconnect].
func (nt *Net) KillLink(i, j int) {
	nt.t.Helper()
	a, b := nt.Nodes[i].Identity.PeerID(), nt.Nodes[j].Identity.PeerID()
	for _, l := range append(nt.Mock.LinksBetweenPeers(a, b), nt.Mock.LinksBetweenPeers(b, a)...) {
		l.SetOptions(mocknet.LinkOptions{Latency: 24 * time.Hour})
	}
	nt.Mock.UnlinkPeers(a, b)
}

// Reconnect restores node i's links; the nodes' dialers reconnect. On a
// [Options.Static] network, where nodes do not dial, Reconnect connects i to
// its running neighbours in [Net.Edges] itself.
func (nt *Net) Reconnect(i int) {
	nt.t.Helper()
	nd := nt.Nodes[i]
	for _, other := range nt.Nodes {
		if other.Index == i || !other.Running() {
			continue
		}
		nt.Mock.LinkPeers(nd.Host().ID(), other.Host().ID())
	}
	if !nt.opts.Static {
		return
	}
	for _, j := range neighbours(nt.Edges(), i) {
		if nt.Nodes[j].Running() {
			// A loaded machine may time a dial out: try again before
			// giving up.
			err := nt.Connect(i, j)
			for try := 0; err != nil && try < 2; try++ {
				time.Sleep(time.Second)
				err = nt.Connect(i, j)
			}
			if err != nil {
				nt.t.Fatalf("reconnecting node %d to %d: %v", i, j, err)
			}
		}
	}
}

// Group founds a group named name at node 0 and has every other running
// node join it with a fresh invite, one after the other. It waits until every
// node knows every member and is on the epoch started for the last join.
func (nt *Net) Group(name string) crypto.GroupID {
	nt.t.Helper()
	ctx := context.Background()
	founder, gid := nt.found(name)
	running := nt.running()
	for _, nd := range running[1:] {
		inv, err := founder.CreateInvite(ctx, gid, 1, time.Hour)
		if err != nil {
			nt.t.Fatal(err)
		}
		if _, err := nd.Join(ctx, inv.Code); err != nil {
			nt.t.Fatalf("node %d joining: %v", nd.Index, err)
		}
	}
	// And every node is on the last join's epoch: a message sent in an
	// earlier one does not reach the members who joined after it.
	nt.WaitFor(30*time.Second, "every node knows every member, on one epoch", func() bool {
		epoch := uint64(0)
		for i, nd := range running {
			ms, err := nd.Members(gid)
			if err != nil || len(ms) != len(running) {
				return false
			}
			e := groupEpoch(nd, gid)
			if i > 0 && e != epoch {
				return false
			}
			epoch = e
		}
		return true
	})
	return gid
}

// groupEpoch is the number of a node's current epoch in a group.
func groupEpoch(nd *Node, gid crypto.GroupID) uint64 {
	for _, g := range nd.Groups() {
		if g.ID == gid.String() {
			return g.Epoch
		}
	}
	return 0
}

// found has node 0 found a group named name.
func (nt *Net) found(name string) (*Node, crypto.GroupID) {
	nt.t.Helper()
	founder := nt.Nodes[0]
	info, err := founder.CreateGroup(context.Background(), name)
	if err != nil {
		nt.t.Fatal(err)
	}
	gid, err := crypto.ParseGroupID(info.ID)
	if err != nil {
		nt.t.Fatal(err)
	}
	return founder, gid
}

// WaitFor polls cond every 20 ms until it holds, failing the test after
// timeout.
func (nt *Net) WaitFor(timeout time.Duration, what string, cond func() bool) {
	nt.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			nt.t.Fatalf("timed out after %s waiting until %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Partition cuts every mocknet link between nodes of different sides and
// keeps any connection from crossing the cut until [Net.Heal]. (A dial that
// was under way when the links went can still complete on mocknet, so the
// cut is enforced for as long as it lasts.) A node named on one side may be
// stopped, and started during the partition: it is linked only to its own
// side. Nodes not named stay as they are.
func (nt *Net) Partition(sides ...[]int) {
	nt.t.Helper()
	// Cut a settled network: a connection being set up at the moment of the
	// cut can leave a mocknet stream alive across it.
	nt.Settle()
	cross := func(f func(a, b *Node)) {
		for i, s := range sides {
			for _, o := range sides[i+1:] {
				for _, a := range s {
					for _, b := range o {
						f(nt.Nodes[a], nt.Nodes[b])
					}
				}
			}
		}
	}
	nt.mu.Lock()
	cross(func(a, b *Node) { nt.cut[edge(a.Index, b.Index)] = true })
	nt.mu.Unlock()
	cross(func(a, b *Node) { nt.Mock.UnlinkPeers(a.Identity.PeerID(), b.Identity.PeerID()) })
	enforce := func() (crossed bool) {
		cross(func(a, b *Node) {
			if an, ok := a.state(); ok && len(an.Host().Network().ConnsToPeer(b.Identity.PeerID())) > 0 {
				crossed = true
				nt.Mock.DisconnectPeers(a.Identity.PeerID(), b.Identity.PeerID())
			}
		})
		return crossed
	}
	nt.WaitFor(10*time.Second, "no connection crosses the partition", func() bool { return !enforce() })
	// A dial under way when the links went completes within a few
	// latencies: let those finish, and cut them, before the caller acts on
	// one side (a node tells a peer it meets even for a moment of its
	// removal, for example).
	time.Sleep(100 * time.Millisecond)
	nt.WaitFor(10*time.Second, "no connection crosses the partition", func() bool { return !enforce() })
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				enforce()
			}
		}
	}()
	nt.healPartition = func() {
		close(stop)
		<-done
		nt.mu.Lock()
		clear(nt.cut)
		nt.mu.Unlock()
	}
	nt.t.Cleanup(func() {
		if nt.healPartition != nil {
			nt.healPartition()
			nt.healPartition = nil
		}
	})
}

// Settle waits until every running node is connected to every other
// running node.
func (nt *Net) Settle() {
	nt.t.Helper()
	nt.WaitFor(20*time.Second, "every node connected to every other", func() bool {
		var running []*Node
		for _, nd := range nt.Nodes {
			if nd.Running() {
				running = append(running, nd)
			}
		}
		for _, a := range running {
			for _, b := range running {
				if a != b && len(a.Host().Network().ConnsToPeer(b.Identity.PeerID())) == 0 {
					return false
				}
			}
		}
		return true
	})
	time.Sleep(50 * time.Millisecond)
}

// Heal ends a partition and restores every mocknet link between running
// nodes; their dialers reconnect.
func (nt *Net) Heal() {
	nt.t.Helper()
	if nt.healPartition != nil {
		nt.healPartition()
		nt.healPartition = nil
	}
	for i, a := range nt.Nodes {
		for _, b := range nt.Nodes[i+1:] {
			if a.Running() && b.Running() && len(nt.Mock.LinksBetweenPeers(a.Identity.PeerID(), b.Identity.PeerID())) == 0 {
				if _, err := nt.Mock.LinkPeers(a.Identity.PeerID(), b.Identity.PeerID()); err != nil {
					nt.t.Fatal(err)
				}
			}
		}
	}
}
