package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// Delivery: alerts published one at a time from random senders, through
// takecare and through raw GossipSub on the same graph; churn and memory at
// the largest size.

// runResult is what one network of one size gave.
type runResult struct {
	delivery result
	churn    churnResult
	mem      memResult
}

// result is the delivery of a set of publications.
type result struct {
	pairs     int // (alert, receiving node) pairs
	delivered int // pairs delivered within the timeout
	lat       []time.Duration
}

func (r result) ratio() float64 { return float64(r.delivered) / float64(max(r.pairs, 1)) }

// pct returns the p-th percentile latency by nearest rank.
func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*p/100+0.999999) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

type churnResult struct {
	off         int
	after       result        // right after publishing, every node counted
	reconnected result        // once the cut-off nodes are back
	recovery    time.Duration // from reconnecting to every pair delivered; 0: never
	waited      time.Duration
}

type memResult struct {
	rssPerNode   float64 // bytes
	anonPerNode  float64 // of which anonymous (heap, stacks)
	filePerNode  float64 // and file-backed (bbolt's memory map)
	heapPerNode  float64
	stackPerNode float64
	goroutines   float64
	owners       map[string]float64 // heap per node by owner
}

// publication is one alert sent.
type publication struct {
	key    string
	sender int
	at     time.Time
}

// tracker records when each node saw each publication.
type tracker struct {
	mu   sync.Mutex
	seen map[string]map[int]time.Time
}

func newTracker() *tracker { return &tracker{seen: make(map[string]map[int]time.Time)} }

// alertPublisher returns a function that has nodes[sender] send an alert
// to group gid, texts numbered after label.
func alertPublisher(tb *runner, nodes []*nodetest.Node, gid crypto.GroupID, label string) func(sender int) publication {
	var seq int
	return func(sender int) publication {
		seq++
		at := time.Now()
		id, err := nodes[sender].SendAlert(context.Background(), gid, node.AlertRequest{
			Kind: "danger", Severity: "urgent", Region: "bench", Text: fmt.Sprintf("%s %d", label, seq),
		})
		if err != nil {
			tb.Fatal(err)
		}
		return publication{key: id.String(), sender: sender, at: at}
	}
}

// rawPublisher returns a function that has router sender publish a
// random message the size of an envelope, keyed by its first 8 bytes.
func rawPublisher(ctx context.Context, tb *runner, rn *nodetest.RawNet) func(sender int) publication {
	var seq uint64
	return func(sender int) publication {
		seq++
		payload := make([]byte, crypto.EnvelopeSizes[0])
		rand.Read(payload)
		binary.BigEndian.PutUint64(payload, seq)
		p := publication{key: string(payload[:8]), sender: sender, at: time.Now()}
		if err := rn.Peers[sender].Topic.Publish(ctx, payload); err != nil {
			tb.Fatal(err)
		}
		return p
	}
}

// trackFeeds records, until the runner closes, when each node's feed
// shows each message of group gid.
func trackFeeds(tb *runner, nodes []*nodetest.Node, gid crypto.GroupID) *tracker {
	tr := newTracker()
	for _, nd := range nodes {
		f := nd.Follow(node.FeedQuery{Group: gid})
		tb.Cleanup(f.Stop)
		go func() {
			for e := range f.C {
				tr.record(e.ID, nd.Index, time.Now())
			}
		}()
	}
	return tr
}

// trackRaw records, until ctx ends, when each raw GossipSub peer receives
// each publication (keyed by its first 8 bytes).
func trackRaw(ctx context.Context, rn *nodetest.RawNet) *tracker {
	tr := newTracker()
	for _, p := range rn.Peers {
		go func() {
			for {
				m, err := p.Sub.Next(ctx)
				if err != nil {
					return
				}
				tr.record(string(m.Data[:8]), p.Index, time.Now())
			}
		}()
	}
	return tr
}

func (t *tracker) record(key string, node int, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.seen[key]
	if m == nil {
		m = make(map[int]time.Time)
		t.seen[key] = m
	}
	if _, dup := m[node]; !dup {
		m[node] = at
	}
}

func (t *tracker) count(key string, except int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.seen[key])
	if _, ok := t.seen[key][except]; ok {
		n--
	}
	return n
}

// wait waits until n nodes other than except saw key, or until deadline.
func (t *tracker) wait(key string, except, n int, deadline time.Time) bool {
	for t.count(key, except) < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// result counts, for each publication, every node but its sender among
// nodes.
func (t *tracker) result(pubs []publication, nodes int, timeout time.Duration) result {
	t.mu.Lock()
	defer t.mu.Unlock()
	var r result
	for _, p := range pubs {
		for i := range nodes {
			if i == p.sender {
				continue
			}
			r.pairs++
			at, ok := t.seen[p.key][i]
			if ok && (timeout == 0 || at.Sub(p.at) <= timeout) {
				r.delivered++
				r.lat = append(r.lat, at.Sub(p.at))
			}
		}
	}
	slices.Sort(r.lat)
	return r
}

// senders returns who publishes each alert: the same sequence for both
// networks of a size.
func senders(c config, n, count int, salt uint64, eligible func(int) bool) []int {
	r := mrand.New(mrand.NewPCG(c.seed, salt+uint64(n)))
	out := make([]int, 0, count)
	for len(out) < count {
		if s := r.IntN(n); eligible == nil || eligible(s) {
			out = append(out, s)
		}
	}
	return out
}

// offline returns the nodes cut off in the churn run.
func offline(c config, n int) []int {
	k := int(float64(n)*c.churn + 0.5)
	r := mrand.New(mrand.NewPCG(c.seed, 0xc4))
	return r.Perm(n)[:k]
}

func rawRun(c config, base string, n int, largest bool) (res runResult) {
	tb := newRunner(base, fmt.Sprintf("raw-%d", n))
	defer tb.close()
	logf("raw GossipSub, %d routers: building", n)
	mem := memBefore()
	rn := nodetest.NewRaw(tb, n, nodetest.Options{Latency: c.latency})
	rn.ConnectRandom(c.degree, c.seed)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := trackRaw(ctx, rn)
	time.Sleep(c.settle)
	publish := rawPublisher(ctx, tb, rn)
	logf("raw GossipSub, %d routers: publishing %d messages", n, c.alerts)
	pubs := deliver(c, n, tr, publish)
	res.delivery = tr.result(pubs, n, c.timeout)
	if largest {
		res.mem, res.churn = atLargest(c, n, mem, tr, rn.Disconnect, rn.Reconnect, publish, false)
	}
	return res
}

func takecareRun(c config, base string, n int, largest bool) (res runResult) {
	tb := newRunner(base, fmt.Sprintf("takecare-%d", n))
	defer tb.close()
	logf("takecare, %d nodes: building and forming the group", n)
	mem := memBefore()
	net, gid := formBenchGroup(tb, c, n, largest)
	net.ConnectRandom(c.degree, c.seed)
	tr := trackFeeds(tb, net.Nodes, gid)
	time.Sleep(c.settle)
	publish := alertPublisher(tb, net.Nodes, gid, "simulated alert")
	logf("takecare, %d nodes: publishing %d alerts", n, c.alerts)
	stopProfile := func() {}
	if largest && c.cpuprofile != "" {
		stopProfile = startCPUProfile(tb, c.cpuprofile)
	}
	if largest && c.memprofile != "" {
		runtime.MemProfileRate = 64 << 10
	}
	pubs := deliver(c, n, tr, publish)
	stopProfile()
	if largest && c.memprofile != "" {
		writeProfile(tb, "allocs", c.memprofile)
	}
	res.delivery = tr.result(pubs, n, c.timeout)
	if largest {
		res.mem, res.churn = atLargest(c, n, mem, tr, net.Disconnect, net.Reconnect, publish, true)
	}
	return res
}

// atLargest measures what the largest size alone adds to its delivery
// run: the memory per node since mem, and, unless c.churn is 0, churn
// (cut and back take a node off the network and bring it back; recovers
// says the network catches up on what a node missed).
func atLargest(c config, n int, mem memSample, tr *tracker, cut, back func(int), publish func(int) publication, recovers bool) (memResult, churnResult) {
	m := memAfter(mem, n)
	if c.churn <= 0 {
		return m, churnResult{}
	}
	return m, churn(c, offline(c, n), n, tr, cut, back, publish, recovers)
}

// deliver publishes c.alerts alerts from random senders, one at a time:
// each once it reached every other node (or c.timeout passed), c.gap after
// the last.
func deliver(c config, n int, tr *tracker, publish func(int) publication) []publication {
	var pubs []publication
	for _, s := range senders(c, n, c.alerts, 0, nil) {
		p := publish(s)
		tr.wait(p.key, p.sender, n-1, p.at.Add(c.timeout))
		pubs = append(pubs, p)
		time.Sleep(c.gap)
	}
	return pubs
}

// churn cuts off the nodes in off, publishes from the others, measures,
// reconnects, and measures again: until every pair is delivered if
// recovers, else for as long as takecare took (or the timeout).
func churn(c config, off []int, n int, tr *tracker, cut, back func(int), publish func(int) publication, recovers bool) churnResult {
	res := churnResult{off: len(off)}
	isOff := make(map[int]bool)
	for _, i := range off {
		isOff[i] = true
		cut(i)
	}
	time.Sleep(time.Second)
	logf("churn: %d of %d nodes cut off, publishing %d alerts", len(off), n, c.churnAlerts)
	var pubs []publication
	for _, s := range senders(c, n, c.churnAlerts, 0xc5, func(i int) bool { return !isOff[i] }) {
		pubs = append(pubs, publish(s))
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(c.timeout)
	res.after = tr.result(pubs, n, 0)
	logf("churn: reconnecting")
	t0 := time.Now()
	workers(len(off), func(k int) { back(off[k]) })
	deadline := t0.Add(c.churnWait)
	if !recovers {
		deadline = t0.Add(churnRawWait)
	}
	for {
		r := tr.result(pubs, n, 0)
		if r.delivered == r.pairs {
			res.recovery = time.Since(t0)
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	res.waited = time.Since(t0)
	res.reconnected = tr.result(pubs, n, 0)
	return res
}

// churnRawWait is how long raw GossipSub gets after reconnection: longer
// than its gossip history (3 heartbeats), so whatever it can recover, it
// has.
const churnRawWait = 10 * time.Second

func startCPUProfile(tb *runner, path string) func() {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		tb.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func writeProfile(tb *runner, name, path string) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		tb.Fatal(err)
	}
}

// formBenchGroup builds n takecare nodes and forms their group.
func formBenchGroup(tb *runner, c config, n int, largest bool) (*nodetest.Net, crypto.GroupID) {
	// Every node but the founder joins through a node started for its
	// join and stopped after, then all start and catch up by sync: what
	// is measured here is delivery, and a group of 500 formed with every
	// node running takes hours on two cores (forming is measured in the
	// membership run).
	net := nodetest.New(tb, n, nodetest.Options{
		FormWait: c.formWait, Latency: c.latency, Static: true, Sync: c.fsync,
		Stopped: func(i int) bool { return i > 0 },
	})
	formed := time.Now()
	gid := net.FormGroup("bench")
	net.JoinStopped(gid, net.Nodes[1:], func(done int) {
		logf("takecare, %d nodes: %d joined", n, done)
	})
	joined := time.Now()
	if largest && c.formProfile != "" {
		defer startCPUProfile(tb, c.formProfile)()
	}
	for _, nd := range net.Nodes[1:] {
		nd.Start()
	}
	net.JoinGroup(gid)
	logf("takecare, %d nodes: group formed in %s (joins %s, catch-up %s)", n,
		time.Since(formed).Round(time.Millisecond), joined.Sub(formed).Round(time.Millisecond),
		time.Since(joined).Round(time.Millisecond))
	return net, gid
}
