// Command simbench measures takecare on simulated networks next to raw
// GossipSub on the same networks, and prints one Markdown table on stdout
// (progress goes to stderr). `make bench` runs it; docs/BENCHMARKS.md
// explains every row.
//
// Usage:
//
//	go run ./node/nodetest/simbench [flags]
//
// In one run it measures:
//
//   - alert delivery on networks of each size in -sizes: real takecare nodes
//     (nodetest, mocknet, -latency per link, a seeded random graph of
//     -degree) and, on the same graph and links, plain GossipSub routers with
//     the nodes' pubsub settings publishing 2048-byte payloads (the size of
//     an alert's envelope). Each of -alerts publications comes from a random
//     node and is timed at every other node: for takecare from the call that
//     seals and signs it to the moment it shows in that node's feed, for
//     GossipSub from Publish to the subscription delivering it;
//   - churn on the largest network: a -churn fraction of the nodes is cut
//     off while -churn-alerts are published, then reconnected;
//   - memory per node of the largest network (process RSS and Go heap
//     growth divided by the number of nodes);
//   - throughput: envelopes validated, opened and stored per second by one
//     node on one core (GOMAXPROCS=1), fed by sync, with and without fsync;
//   - sync: catch-up of a node that missed -sync-alerts alerts, and the cost
//     of a sync between two nodes that already agree;
//   - the resident memory of an idle daemon with one group (the real
//     binary, built for the purpose, on loopback), and of one in a group of
//     -daemon-members members whose other nodes run in this process on
//     loopback;
//   - membership: forming a group, what a join and a removal cost each
//     member already there (time, bytes), next to alert latency on the
//     same network (-members; -big for a group whose members are mostly
//     offline);
//   - slow links: alerts and a catch-up over links of -slow-kbit and
//     -slow-latency, raw GossipSub beside takecare;
//   - idle cost: bytes per hour of an idle node, by protocol and on the
//     interface (-idle).
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

type config struct {
	sizes         []int
	degree        int
	latency       time.Duration
	alerts        int
	seed          uint64
	timeout       time.Duration
	gap           time.Duration
	settle        time.Duration
	formWait      time.Duration
	churn         float64
	churnAlerts   int
	churnWait     time.Duration
	syncAlerts    int
	throughput    int
	fsync         bool
	daemon        bool
	daemonMembers int
	// Membership.
	members      int
	joins        int
	memberAlerts int
	big          int
	bigRunning   int
	// Idle.
	idle        time.Duration
	idleSettle  time.Duration
	idleMembers int
	idleOnline  int
	// Slow links.
	slowNodes   int
	slowKbit    int
	slowLatency time.Duration
	slowAlerts  int
	slowTimeout time.Duration
	slowSync    int
	cpuprofile  string
	memprofile  string
}

func main() {
	var c config
	sizes := flag.String("sizes", "20,50,100,200,500", "network sizes, comma-separated (empty: no delivery runs)")
	flag.IntVar(&c.degree, "degree", 6, "average number of neighbours of a node")
	flag.DurationVar(&c.latency, "latency", 25*time.Millisecond, "one-way latency of every link")
	flag.IntVar(&c.alerts, "alerts", 100, "alerts published per network size, each from a random node")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the graphs and of the choice of senders")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Second, "an alert not delivered this long after publishing counts as lost")
	flag.DurationVar(&c.gap, "gap", 50*time.Millisecond, "pause between one alert's delivery and the next publication")
	flag.DurationVar(&c.formWait, "form-wait", 30*time.Minute, "how long the nodes of a group may take to catch up once joined before the run fails (up to twice as long while they still receive messages)")
	flag.DurationVar(&c.settle, "settle", 3*time.Second, "wait after connecting a network before publishing")
	flag.Float64Var(&c.churn, "churn", 0.2, "fraction of the largest network cut off in the churn run (0: skip)")
	flag.IntVar(&c.churnAlerts, "churn-alerts", 20, "alerts published while nodes are cut off")
	flag.DurationVar(&c.churnWait, "churn-wait", 2*time.Minute, "how long takecare gets to deliver everything after reconnection")
	flag.IntVar(&c.syncAlerts, "sync-alerts", 10000, "alerts a node misses before it catches up by sync (0: skip)")
	flag.IntVar(&c.throughput, "throughput", 10000, "envelopes fed to one node to measure throughput (0: skip)")
	flag.BoolVar(&c.fsync, "fsync", false, "fsync the stores of simulated nodes (the daemon always does)")
	flag.BoolVar(&c.daemon, "daemon", true, "build the takecare binary and measure an idle daemon's memory")
	flag.IntVar(&c.daemonMembers, "daemon-members", 30, "members of the group the daemon is measured in the second time (the others are simulated nodes on loopback; 0: skip)")
	flag.IntVar(&c.members, "members", 100, "size of the group of the membership run, every member's node running (0: skip)")
	flag.IntVar(&c.joins, "joins", 3, "joins measured in each membership run")
	flag.IntVar(&c.memberAlerts, "member-alerts", 20, "alerts sent in each membership run, for the yardstick of a removal's reach")
	flag.IntVar(&c.big, "big", 1000, "size of the group of a second membership run in which only -big-running nodes run and the other members' devices are off (0: skip)")
	flag.IntVar(&c.bigRunning, "big-running", 100, "nodes running in the -big run")
	flag.IntVar(&c.slowNodes, "slow-nodes", 20, "nodes of the slow-link run (0: skip)")
	flag.IntVar(&c.slowKbit, "slow-kbit", 200, "rate of a slow link, kbit/s (both directions share it)")
	flag.DurationVar(&c.slowLatency, "slow-latency", 300*time.Millisecond, "one-way latency of a slow link")
	flag.IntVar(&c.slowAlerts, "slow-alerts", 20, "alerts sent over slow links")
	flag.DurationVar(&c.slowTimeout, "slow-timeout", 30*time.Second, "an alert not delivered this long after publishing over slow links counts as lost")
	flag.IntVar(&c.slowSync, "slow-sync", 1000, "alerts a node catches up on by sync over one slow link (0: skip)")
	flag.DurationVar(&c.idle, "idle", 10*time.Minute, "how long idle nodes are measured (0: skip)")
	flag.DurationVar(&c.idleSettle, "idle-settle", 5*time.Minute, "wait between forming the idle group and measuring: the idle node's pings and periodic sync thin out the longer it is idle (pings reach their slowest pace 8 minutes after the last message, sync sessions theirs after an hour)")
	flag.IntVar(&c.idleMembers, "idle-members", 20, "members of the idle group")
	flag.IntVar(&c.idleOnline, "idle-online", 7, "members of the idle group whose node is online (each connected to the others)")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the largest takecare delivery run to this file")
	flag.StringVar(&c.memprofile, "memprofile", "", "write an allocation profile of the largest takecare delivery run to this file")
	flag.Parse()
	for _, s := range strings.FieldsFunc(*sizes, func(r rune) bool { return r == ',' }) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			fmt.Fprintf(os.Stderr, "simbench: bad size %q\n", s)
			os.Exit(2)
		}
		c.sizes = append(c.sizes, n)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "simbench:", err)
		os.Exit(1)
	}
}

func run(c config) (err error) {
	base, err := os.MkdirTemp("", "simbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	t := &table{}
	// A part that fails is a row of the table: the others are still
	// measured, and the table printed.
	var failed []string
	try := func(what string, f func()) {
		// The table so far goes to stderr after each part: a run
		// stopped part-way (the large sizes take hours on small
		// machines) keeps every figure it measured.
		defer func() {
			fmt.Fprintf(os.Stderr, "simbench: the table so far, after %q:\n", what)
			t.print(os.Stderr, c)
		}()
		defer func() {
			if r := recover(); r != nil {
				fl, ok := r.(failure)
				if !ok {
					panic(r)
				}
				logf("%s failed: %s", what, fl.msg)
				t.section(what)
				t.add("could not be measured", "", strings.ReplaceAll(fl.msg, "\n", " "), "")
				failed = append(failed, what)
			}
		}()
		f()
	}
	largest := 0
	if len(c.sizes) > 0 {
		largest = slices.Max(c.sizes)
	}
	for _, n := range c.sizes {
		try(fmt.Sprintf("Delivery, %d nodes", n), func() {
			raw := rawRun(c, base, n, n == largest)
			tc := takecareRun(c, base, n, n == largest)
			t.delivery(n, raw.delivery, tc.delivery)
			if n >= 200 {
				t.deliveryTarget(n, raw.delivery, tc.delivery)
			}
			if n == largest {
				if c.churn > 0 {
					t.churn(n, c, raw.churn, tc.churn)
				}
				t.memory(n, raw.mem, tc.mem)
				t.memoryTarget(n, tc.mem)
			}
		})
	}
	if c.members > 0 {
		try("Membership", func() {
			r := membershipRun(c, base, c.members, c.members)
			t.membership(c, r)
			t.membershipTargets(r)
		})
	}
	if c.big > 0 {
		try("Membership, large group", func() {
			r := membershipRun(c, base, c.big, min(c.bigRunning, c.big))
			t.membership(c, r)
			t.membershipTargets(r)
		})
	}
	if c.throughput > 0 {
		try("Throughput", func() { t.throughput(throughputRun(c, base, false), throughputRun(c, base, true)) })
	}
	if c.syncAlerts > 0 {
		try("Sync", func() { t.sync(syncRun(c, base, c.syncAlerts, mocknet.LinkOptions{Latency: c.latency})) })
	}
	if c.slowNodes > 0 {
		try("Slow links", func() {
			r := slowRun(c, base)
			t.slow(r)
			t.slowTarget(r)
		})
	}
	if c.idle > 0 {
		try("Idle node", func() {
			r := idleRun(c, base)
			t.idle(r)
			t.idleTarget(r)
		})
	}
	if c.daemon {
		try("Idle daemon", func() {
			d, err := daemonRun(c, base)
			t.daemon(d)
			t.daemonTarget(d)
			if err != nil {
				logf("measuring the daemon: %v", err)
				t.add("the daemon could not be measured", "", strings.ReplaceAll(err.Error(), "\n", " "), "")
				failed = append(failed, "the daemon")
			}
		})
	}
	t.print(os.Stdout, c)
	if len(failed) > 0 {
		return fmt.Errorf("could not measure: %s", strings.Join(failed, ", "))
	}
	return nil
}

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
	var seq uint64
	publish := func(sender int) publication {
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
	logf("raw GossipSub, %d routers: publishing %d messages", n, c.alerts)
	pubs := deliver(c, n, tr, publish)
	res.delivery = tr.result(pubs, n, c.timeout)
	if !largest {
		return res
	}
	res.mem = memAfter(mem, n)
	if c.churn > 0 {
		off := offline(c, n)
		res.churn = churn(c, off, n, tr,
			func(i int) { rn.Disconnect(i) },
			func(i int) { rn.Reconnect(i) },
			publish, false)
	}
	return res
}

func takecareRun(c config, base string, n int, largest bool) (res runResult) {
	tb := newRunner(base, fmt.Sprintf("takecare-%d", n))
	defer tb.close()
	logf("takecare, %d nodes: building and forming the group", n)
	mem := memBefore()
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
	for _, nd := range net.Nodes[1:] {
		nd.Start()
	}
	net.JoinGroup(gid)
	logf("takecare, %d nodes: group formed in %s", n, time.Since(formed).Round(time.Millisecond))
	net.ConnectRandom(c.degree, c.seed)
	tr := newTracker()
	for _, nd := range net.Nodes {
		f := nd.Follow(node.FeedQuery{Group: gid})
		tb.Cleanup(f.Stop)
		go func() {
			for e := range f.C {
				tr.record(e.ID, nd.Index, time.Now())
			}
		}()
	}
	time.Sleep(c.settle)
	ctx := context.Background()
	var seq int
	publish := func(sender int) publication {
		seq++
		at := time.Now()
		id, err := net.Nodes[sender].SendAlert(ctx, gid, node.AlertRequest{
			Kind: "danger", Severity: "urgent", Region: "bench", Text: fmt.Sprintf("simulated alert %d", seq),
		})
		if err != nil {
			tb.Fatal(err)
		}
		return publication{key: id.String(), sender: sender, at: at}
	}
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
	if !largest {
		return res
	}
	res.mem = memAfter(mem, n)
	if c.churn > 0 {
		off := offline(c, n)
		res.churn = churn(c, off, n, tr, net.Disconnect, net.Reconnect, publish, true)
	}
	return res
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
