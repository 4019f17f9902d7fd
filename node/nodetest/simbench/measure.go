package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
	"github.com/takecare-network/takecare/store"
)

// Memory.

type memSample struct {
	rss, rssAnon, rssFile uint64
	heap, stack           uint64
	goroutines            int
	owners                map[string]uint64 // sampled heap in use, by owner
}

func sampleMem() memSample {
	// The heap profile is that of the last completed collection cycle.
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, _ := statusKB("/proc/self/status", "VmRSS")
	anon, _ := statusKB("/proc/self/status", "RssAnon")
	file, _ := statusKB("/proc/self/status", "RssFile")
	return memSample{rss: rss * 1024, rssAnon: anon * 1024, rssFile: file * 1024,
		heap: ms.HeapInuse, stack: ms.StackInuse, goroutines: runtime.NumGoroutine(), owners: heapByOwner()}
}

func memBefore() memSample { return sampleMem() }

func memAfter(before memSample, n int) memResult {
	after := sampleMem()
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	r := memResult{
		rssPerNode:   per(after.rss, before.rss),
		anonPerNode:  per(after.rssAnon, before.rssAnon),
		filePerNode:  per(after.rssFile, before.rssFile),
		heapPerNode:  per(after.heap, before.heap),
		stackPerNode: per(after.stack, before.stack),
		goroutines:   float64(after.goroutines-before.goroutines) / float64(n),
		owners:       make(map[string]float64),
	}
	var sampled float64
	for o, b := range after.owners {
		if d := float64(b) - float64(before.owners[o]); d > 0 {
			r.owners[o] = d
			sampled += d
		}
	}
	// Shares of the sampled growth, scaled to the heap's growth per node.
	for o, d := range r.owners {
		r.owners[o] = d / sampled * r.heapPerNode
	}
	return r
}

// statusKB reads a "Name:   123 kB" line of a /proc status file.
func statusKB(path, field string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		return strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
	}
	return 0, fmt.Errorf("%s: no %s", path, field)
}

// Throughput.

type throughputResult struct {
	envelopes int
	took      time.Duration
	fsync     bool
}

func (r throughputResult) rate() float64 { return float64(r.envelopes) / r.took.Seconds() }

// throughputAuthors is how many members author the envelopes fed to the
// measured node.
const throughputAuthors = 5

// throughputRun has five members write c.throughput alerts, gathers them
// at one node, then feeds them to a node that lacks them, by sync, on one
// core, and times that node's pipeline.
func throughputRun(c config, base string, fsync bool) throughputResult {
	tb := newRunner(base, fmt.Sprintf("throughput-fsync-%v", fsync))
	defer tb.close()
	logf("throughput (fsync %v): %d members write %d alerts", fsync, throughputAuthors, c.throughput)
	net := nodetest.New(tb, throughputAuthors+1, nodetest.Options{FormWait: c.formWait, Static: true, Sync: fsync})
	gid := net.FormGroup("throughput")
	recv, relay := net.Nodes[0], net.Nodes[1]
	ctx := context.Background()
	workers(throughputAuthors*4, func(i int) {
		a, w := 1+i/4, i%4
		for k := w; k < c.throughput/throughputAuthors; k += 4 {
			_, err := net.Nodes[a].SendAlert(ctx, gid, node.AlertRequest{
				Kind: "danger", Severity: "warning", Region: "bench", Text: fmt.Sprintf("alert %d of member %d", k, a),
			})
			if err != nil {
				tb.Fatal(err)
			}
		}
	})
	// Gather everything at the relay by sync.
	want := relay.Store.Count() + (throughputAuthors-1)*(c.throughput/throughputAuthors)
	for a := 2; a <= throughputAuthors; a++ {
		if err := net.Connect(1, a); err != nil {
			tb.Fatal(err)
		}
	}
	net.WaitFor(5*time.Minute, "the relay holds every alert", func() bool { return relay.Store.Count() >= want })
	net.DisconnectAll()
	lacking := lacks(relay, recv)
	logf("throughput (fsync %v): feeding %d envelopes to one node on one core", fsync, lacking)
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	runtime.GC()
	if err := net.Connect(0, 1); err != nil {
		tb.Fatal(err)
	}
	st := syncWith(tb, recv, relay)
	if st.Accepted != lacking {
		tb.Fatalf("the node accepted %d of %d envelopes", st.Accepted, lacking)
	}
	return throughputResult{envelopes: st.Accepted, took: st.Duration, fsync: fsync}
}

// syncWith runs a session from a to b, retrying while the session that
// their new connection started by itself is still running (the other side
// then refuses, or this side says it is busy).
func syncWith(tb *runner, a, b *nodetest.Node) node.SyncStats {
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := a.SyncWith(context.Background(), b.Host().ID())
		if errors.Is(err, node.ErrSyncBusy) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if err != nil && st.Accepted == 0 && time.Now().Before(deadline) {
			// The other side refuses (resets) a session while its own,
			// started by the new connection, runs.
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		return st
	}
}

// lacks counts the messages that from holds and to does not.
func lacks(from, to *nodetest.Node) int {
	return len(from.Store.Headers(func(h store.Header) bool { return !to.Store.Has(h.ID) }))
}

// Sync.

type syncResult struct {
	missed   int
	link     mocknet.LinkOptions
	catchUp  node.SyncStats
	lacked   int64 // bytes of the envelopes the node lacked
	inSync   node.SyncStats
	inSyncOf int
}

// syncRun has member A send alerts while B is away, then times B's
// catch-up from A over a link with the options link, then a second
// session between the two, which now agree.
func syncRun(c config, base string, alerts int, link mocknet.LinkOptions) syncResult {
	tb := newRunner(base, "sync")
	defer tb.close()
	logf("sync: A sends %d alerts while B is away", alerts)
	net := nodetest.New(tb, 2, nodetest.Options{FormWait: c.formWait, Static: true, Sync: c.fsync})
	gid := net.FormGroup("sync")
	net.SetLinks(link)
	a, b := net.Nodes[0], net.Nodes[1]
	// B never receives what A sent before B joined, sealed in epochs B
	// has no key for.
	before := lacks(a, b)
	ctx := context.Background()
	workers(8, func(w int) {
		for k := w; k < alerts; k += 8 {
			_, err := a.SendAlert(ctx, gid, node.AlertRequest{
				Kind: "danger", Severity: "warning", Region: "bench", Text: fmt.Sprintf("alert %d", k),
			})
			if err != nil {
				tb.Fatal(err)
			}
		}
	})
	missed := lacks(a, b) - before
	logf("sync: B comes back and catches up on %d alerts", missed)
	if err := net.Connect(1, 0); err != nil {
		tb.Fatal(err)
	}
	res := syncResult{missed: missed, link: link}
	res.catchUp = syncWith(tb, b, a)
	res.lacked = int64(missed) * int64(crypto.EnvelopeSizes[0])
	if left := lacks(a, b) - before; left != 0 || res.catchUp.Accepted != missed {
		tb.Fatalf("after catching up B accepted %d of %d messages and lacks %d", res.catchUp.Accepted, missed, left)
	}
	res.inSync = syncWith(tb, b, a)
	res.inSyncOf = a.Store.Count()
	return res
}
