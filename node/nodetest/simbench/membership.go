package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/nodetest"
)

// Membership: what joins and removals cost the members who are already
// there.
//
// A group of `members` members is formed; `running` of them have a node
// running in the simulation, connected in a seeded random graph, and the
// others are members whose device is off: each joined through a node that
// was started for the join and stopped right after. So a group of 1,000
// members is simulated with, say, 100 nodes: what a removal or a join costs
// a member depends on the size of the roster (the keys a rekey carries, the
// roster ops re-sent), which is the full 1,000, and on the number of nodes
// it crosses, which is the running ones. An offline member pays the same
// bytes later, by sync, when its device comes back.

type membershipResult struct {
	members, running int
	formTime         time.Duration // forming the running nodes' group
	offlineTime      time.Duration // the offline members joining, one after another (8 at a time)
	alerts           result        // alerts on the same network, for the ratio
	joins            []flowResult  // one per measured join
	removal          flowResult
	err              string // why the run stopped early
}

// flowResult is how one membership change spread: when each running
// member had it, and what each received meanwhile.
type flowResult struct {
	reach []time.Duration     // per member, sorted
	lost  int                 // members it did not reach in time
	in    []int64             // bytes received per member, sorted
	proto map[string][2]int64 // by protocol family: bytes received, summed over members; members counted
	call  time.Duration       // until the changing node's call returned
	kind  string              // "join" or "removal"
}

func (f flowResult) reachPct(p float64) time.Duration { return pctOf(f.reach, p) }

func (f flowResult) meanIn() float64 {
	if len(f.in) == 0 {
		return 0
	}
	var s int64
	for _, b := range f.in {
		s += b
	}
	return float64(s) / float64(len(f.in))
}

func pctOf[T int64 | time.Duration](xs []T, p float64) T {
	if len(xs) == 0 {
		return 0
	}
	i := int(float64(len(xs))*p/100+0.999999) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

// family names a protocol for the tables: what each byte was for.
func family(p protocol.ID) string {
	s := string(p)
	switch {
	case strings.HasPrefix(s, "/meshsub/"):
		return "gossipsub"
	case strings.HasPrefix(s, "/takecare/sync/"):
		return "sync"
	case strings.HasPrefix(s, "/takecare/join/"):
		return "join"
	case strings.HasPrefix(s, "/ipfs/id/"):
		return "identify"
	case strings.HasPrefix(s, "/ipfs/ping/"):
		return "ping"
	case s == "":
		return "unnegotiated"
	}
	return s
}

const (
	// membershipQuiet is how long a membership change is given, after it
	// reached every member, for what follows it (syncs it starts, gossip
	// of duplicates) before the bytes are read.
	membershipQuiet = 3 * time.Second
	// flowTimeout is how long a change may take to reach every member.
	flowTimeout = 2 * time.Minute
)

// membershipRun forms a group of members, running of them with their node
// running, and measures joins and a removal in it; largest says it is the
// run -removal-cpuprofile profiles.
func membershipRun(c config, base string, members, running int, largest bool) (res membershipResult) {
	res.members, res.running = members, running
	name := fmt.Sprintf("membership-%d", members)
	tb := newRunner(base, name)
	defer tb.close()
	defer func() {
		// A run that cannot go on (the baseline cannot form a group of
		// more than 400) reports how far it got.
		if r := recover(); r != nil {
			f, ok := r.(failure)
			if !ok {
				panic(r)
			}
			res.err = f.msg
			logf("%s: stopped: %s", name, f.msg)
		}
	}()
	joiners := c.joins
	offline := members - running
	// Nodes: [0, running) run; then the joiners measured; then the
	// members whose device is off.
	total := running + joiners + offline
	net := nodetest.New(tb, total, nodetest.Options{
		FormWait: c.formWait, Latency: c.latency, Static: true, Sync: c.fsync, Traffic: true,
		Stopped: func(i int) bool { return i > 0 },
	})
	founder := net.Nodes[0]
	gid := net.FormGroup("membership")
	res.offlineTime, res.formTime = formMembership(net, gid, name, running, joiners)
	live := net.Nodes[:running]
	others := live[1:] // every running node but the founder, who makes the changes
	net.ConnectRandom(c.degree, c.seed)
	// Every running node on the founder's epoch before anything is
	// measured.
	want := epochOf(tb, founder, gid)
	waitEpoch(tb, live, gid, want, flowTimeout)
	time.Sleep(c.settle)

	// Alerts on this very network: the yardstick for a removal's reach.
	res.alerts = yardstick(tb, c, name, live, gid)

	res.joins = measureJoins(tb, name, founder, net.Nodes[running:running+joiners], others, gid)

	// The removal of a running member other than the founder.
	logf("%s: the founder removes a member", name)
	profile := ""
	if largest {
		profile = c.rmProfile
	}
	res.removal = measureRemoval(tb, founder, live[running-1], others[:len(others)-1], gid, profile)
	return res
}

// measureRemoval has founder remove gone's member from gid, and measures
// the removal's flow to the nodes rest; with profile set, under a CPU
// profile written there.
func measureRemoval(tb *runner, founder, gone *nodetest.Node, rest []*nodetest.Node, gid crypto.GroupID, profile string) flowResult {
	time.Sleep(membershipQuiet)
	if profile != "" {
		defer startCPUProfile(tb, profile)()
	}
	return measureFlow(tb, rest, gid, "removal", func() uint64 {
		r, err := founder.Remove(context.Background(), gid, gone.Identity.ID().String())
		if err != nil {
			tb.Fatalf("removing: %v", err)
		}
		return r.Epoch
	})
}

// measureFlow runs change, which returns the epoch it starts, and times
// its arrival at every node of nodes (as that node's current epoch), then
// counts what each received until membershipQuiet after the last.
func measureFlow(tb *runner, nodes []*nodetest.Node, gid crypto.GroupID, kind string, change func() uint64) flowResult {
	before := make([]nodetest.Traffic, len(nodes))
	for i, nd := range nodes {
		before[i] = nd.Traffic()
	}
	// Every node is watched from before the change starts: change returns
	// only once the changing node is done (a removal's caller waits to be
	// in the new epoch's topic), and a member may have the new epoch long
	// before that.
	w := watchEpochs(nodes, gid)
	t0 := time.Now()
	epoch := change()
	call := time.Since(t0)
	reached := w.until(epoch, t0, t0.Add(flowTimeout))
	left := 0
	for _, d := range reached {
		if d == 0 {
			left++
		}
	}
	f := flowResult{kind: kind, lost: left, call: call, proto: make(map[string][2]int64)}
	for _, d := range reached {
		if d != 0 {
			f.reach = append(f.reach, d)
		}
	}
	slices.Sort(f.reach)
	// The bandwidth counter samples once a second.
	time.Sleep(membershipQuiet + 1100*time.Millisecond)
	for i, nd := range nodes {
		d := nd.Traffic().Sub(before[i])
		f.in = append(f.in, d.In())
		seen := make(map[string]bool)
		for p, s := range d {
			fam := family(p)
			v := f.proto[fam]
			v[0] += s.TotalIn
			if !seen[fam] && s.TotalIn > 0 {
				v[1]++
				seen[fam] = true
			}
			f.proto[fam] = v
		}
	}
	slices.Sort(f.in)
	return f
}

// epochWatch polls nodes' current epochs and notes, per node, when it was
// first seen on each epoch.
type epochWatch struct {
	nodes []*nodetest.Node
	gid   crypto.GroupID
	mu    sync.Mutex
	first []map[uint64]time.Time // per node: epoch → first seen on it
	stop  chan struct{}
	done  chan struct{}
}

// watchEpochs starts polling, every 2 ms, until [epochWatch.until] ends it.
func watchEpochs(nodes []*nodetest.Node, gid crypto.GroupID) *epochWatch {
	w := &epochWatch{nodes: nodes, gid: gid, first: make([]map[uint64]time.Time, len(nodes)), stop: make(chan struct{}), done: make(chan struct{})}
	for i := range w.first {
		w.first[i] = make(map[uint64]time.Time)
	}
	w.poll()
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(2 * time.Millisecond):
				w.poll()
			}
		}
	}()
	return w
}

func (w *epochWatch) poll() {
	for i, nd := range w.nodes {
		e, err := nd.CurrentEpoch(w.gid)
		if err != nil {
			continue
		}
		now := time.Now()
		w.mu.Lock()
		if _, ok := w.first[i][e]; !ok {
			w.first[i][e] = now
		}
		w.mu.Unlock()
	}
}

// until waits until every node has been seen on epoch or a later one, or
// deadline passes, stops polling, and returns per node how long after t0
// it was first seen there (0: never).
func (w *epochWatch) until(epoch uint64, t0, deadline time.Time) []time.Duration {
	reached := make([]time.Duration, len(w.nodes))
	for {
		left := 0
		w.mu.Lock()
		for i := range w.nodes {
			var at time.Time
			for e, t := range w.first[i] {
				if e >= epoch && (at.IsZero() || t.Before(at)) {
					at = t
				}
			}
			if at.IsZero() {
				left++
			} else {
				reached[i] = max(at.Sub(t0), time.Nanosecond)
			}
		}
		w.mu.Unlock()
		if left == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(w.stop)
	<-w.done
	return reached
}

func epochOf(tb *runner, nd *nodetest.Node, gid crypto.GroupID) uint64 {
	e, err := nd.CurrentEpoch(gid)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// waitEpoch waits until every node sends in epoch want or a later one.
func waitEpoch(tb *runner, nodes []*nodetest.Node, gid crypto.GroupID, want uint64, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for _, nd := range nodes {
		for {
			e, err := nd.CurrentEpoch(gid)
			if err == nil && e >= want {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("node %d is on epoch %d, not %d, after %s", nd.Index, e, want, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// formMembership lets the members whose device is off, then the running
// nodes, into group gid. It returns how long each took.
func formMembership(net *nodetest.Net, gid crypto.GroupID, name string, running, joiners int) (offlineTime, formTime time.Duration) {
	offline := len(net.Nodes) - running - joiners
	// The members whose device is off join first, each through a node
	// started for its join and stopped after: then the running nodes do
	// not each process hundreds of joins in a few minutes, which a phone
	// would do over months.
	if offline > 0 {
		logf("%s: %d members whose device is off join, then stop", name, offline)
		t0 := time.Now()
		net.JoinStopped(gid, net.Nodes[running+joiners:], func(done int) {
			logf("%s: %d of %d offline members joined", name, done, offline)
		})
		offlineTime = time.Since(t0)
		logf("%s: %d offline members joined in %s", name, offline, offlineTime.Round(time.Millisecond))
	}
	logf("%s: the other %d running nodes join", name, running-1)
	for _, nd := range net.Nodes[1:running] {
		nd.Start()
	}
	net.JoinGroup(gid)
	logf("%s: formed in %s", name, net.Formed.Round(time.Millisecond))
	return offlineTime, net.Formed
}

// yardstick sends alerts on the membership network and returns their
// delivery: what a removal's reach is compared with.
func yardstick(tb *runner, c config, name string, live []*nodetest.Node, gid crypto.GroupID) result {
	tr := trackFeeds(tb, live, gid)
	publish := alertPublisher(tb, live, gid, "membership alert")
	logf("%s: %d alerts for the yardstick", name, c.memberAlerts)
	ac := c
	ac.alerts = c.memberAlerts
	pubs := deliver(ac, len(live), tr, publish)
	return tr.result(pubs, len(live), c.timeout)
}

// measureJoins has each of joiners join group gid with an invite of its
// own from founder, one after the other, and measures how each join reached others.
func measureJoins(tb *runner, name string, founder *nodetest.Node, joiners, others []*nodetest.Node, gid crypto.GroupID) []flowResult {
	ctx := context.Background()
	var out []flowResult
	for j, nd := range joiners {
		logf("%s: join %d of %d", name, j+1, len(joiners))
		inv, err := founder.CreateInvite(ctx, gid, 1, time.Hour)
		if err != nil {
			tb.Fatal(err)
		}
		time.Sleep(membershipQuiet)
		f := measureFlow(tb, others, gid, "join", func() uint64 {
			nd.Start()
			info, err := nd.Join(ctx, inv.Code)
			if err != nil {
				tb.Fatalf("joining: %v", err)
			}
			return info.Epoch
		})
		out = append(out, f)
	}

	return out
}
