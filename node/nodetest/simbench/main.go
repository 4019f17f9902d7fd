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
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
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
	formProfile string
	rmProfile   string
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
	flag.StringVar(&c.formProfile, "form-cpuprofile", "", "write a CPU profile of the largest takecare group's catch-up after its joins to this file")
	flag.StringVar(&c.rmProfile, "removal-cpuprofile", "", "write a CPU profile of the removal in the largest membership run, from the call until 3 s after every member has its epoch, to this file")
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
	p := &parts{c: c, t: t}
	try := p.try
	p.deliveries(base)
	if c.members > 0 {
		try("Membership", func() {
			r := membershipRun(c, base, c.members, c.members, c.big == 0)
			t.membership(c, r)
			t.membershipTargets(r)
		})
	}
	if c.big > 0 {
		try("Membership, large group", func() {
			r := membershipRun(c, base, c.big, min(c.bigRunning, c.big), true)
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
				p.failed = append(p.failed, "the daemon")
			}
		})
	}
	t.print(os.Stdout, c)
	if len(p.failed) > 0 {
		return fmt.Errorf("could not measure: %s", strings.Join(p.failed, ", "))
	}
	return nil
}

// parts runs the parts of a run, each filling its section of t.
type parts struct {
	c      config
	t      *table
	failed []string // the parts that could not be measured
}

// try runs one part. A part that fails is a row of the table: the others
// are still measured, and the table printed.
func (p *parts) try(what string, f func()) {
	// The table so far goes to stderr after each part: a run stopped
	// part-way (the large sizes take hours on small machines) keeps every
	// figure it measured.
	defer func() {
		fmt.Fprintf(os.Stderr, "simbench: the table so far, after %q:\n", what)
		p.t.print(os.Stderr, p.c)
	}()
	defer func() {
		if r := recover(); r != nil {
			fl, ok := r.(failure)
			if !ok {
				panic(r)
			}
			logf("%s failed: %s", what, fl.msg)
			p.t.section(what)
			p.t.add("could not be measured", "", strings.ReplaceAll(fl.msg, "\n", " "), "")
			p.failed = append(p.failed, what)
		}
	}()
	f()
}

// deliveries runs delivery at each size, raw GossipSub and takecare, and
// churn and memory at the largest.
func (p *parts) deliveries(base string) {
	c, t := p.c, p.t
	largest := 0
	if len(c.sizes) > 0 {
		largest = slices.Max(c.sizes)
	}
	for _, n := range c.sizes {
		p.try(fmt.Sprintf("Delivery, %d nodes", n), func() {
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
}
