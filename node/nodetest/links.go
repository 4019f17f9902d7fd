package nodetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// Links between the nodes of a network: connecting them, cutting and
// restoring mocknet links, partitions.

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
