package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
	"github.com/takecare-network/takecare/store"
)

// Memory.

type memSample struct{ rss, heap uint64 }

func sampleMem() memSample {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, _ := statusKB("/proc/self/status", "VmRSS")
	return memSample{rss: rss * 1024, heap: ms.HeapInuse}
}

func memBefore() memSample { return sampleMem() }

func memAfter(before memSample, n int) memResult {
	after := sampleMem()
	return memResult{
		rssPerNode:  (float64(after.rss) - float64(before.rss)) / float64(n),
		heapPerNode: (float64(after.heap) - float64(before.heap)) / float64(n),
	}
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
	net := nodetest.New(tb, throughputAuthors+1, nodetest.Options{Static: true, Sync: fsync})
	gid := net.FormGroup("throughput")
	recv, relay := net.Nodes[0], net.Nodes[1]
	ctx := context.Background()
	var wg sync.WaitGroup
	for a := 1; a <= throughputAuthors; a++ {
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := w; k < c.throughput/throughputAuthors; k += 4 {
					_, err := net.Nodes[a].SendAlert(ctx, gid, node.AlertRequest{
						Kind: "danger", Severity: "warning", Region: "bench", Text: fmt.Sprintf("alert %d of member %d", k, a),
					})
					if err != nil {
						tb.Fatal(err)
					}
				}
			}()
		}
	}
	wg.Wait()
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
// their new connection started by itself is still running.
func syncWith(tb *runner, a, b *nodetest.Node) node.SyncStats {
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := a.SyncWith(context.Background(), b.Host().ID())
		if errors.Is(err, node.ErrSyncBusy) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
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
	latency  time.Duration
	catchUp  node.SyncStats
	lacked   int64 // bytes of the envelopes the node lacked
	inSync   node.SyncStats
	inSyncOf int
}

// syncRun has member A send c.syncAlerts alerts while B is away, then
// times B's catch-up from A over links of c.latency, then a second session
// between the two, which now agree.
func syncRun(c config, base string) syncResult {
	tb := newRunner(base, "sync")
	defer tb.close()
	logf("sync: A sends %d alerts while B is away", c.syncAlerts)
	net := nodetest.New(tb, 2, nodetest.Options{Latency: c.latency, Static: true, Sync: c.fsync})
	gid := net.FormGroup("sync")
	a, b := net.Nodes[0], net.Nodes[1]
	// B never receives what A sent before B joined, sealed in epochs B
	// has no key for.
	before := lacks(a, b)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < c.syncAlerts; k += 8 {
				_, err := a.SendAlert(ctx, gid, node.AlertRequest{
					Kind: "danger", Severity: "warning", Region: "bench", Text: fmt.Sprintf("alert %d", k),
				})
				if err != nil {
					tb.Fatal(err)
				}
			}
		}()
	}
	wg.Wait()
	missed := lacks(a, b) - before
	logf("sync: B comes back and catches up on %d alerts", missed)
	if err := net.Connect(1, 0); err != nil {
		tb.Fatal(err)
	}
	res := syncResult{missed: missed, latency: c.latency}
	res.catchUp = syncWith(tb, b, a)
	res.lacked = int64(missed) * int64(crypto.EnvelopeSizes[0])
	if left := lacks(a, b) - before; left != 0 || res.catchUp.Accepted != missed {
		tb.Fatalf("after catching up B accepted %d of %d messages and lacks %d", res.catchUp.Accepted, missed, left)
	}
	res.inSync = syncWith(tb, b, a)
	res.inSyncOf = a.Store.Count()
	return res
}

// The daemon.

type daemonResult struct {
	rss, hwm uint64 // bytes
	settle   time.Duration
}

const daemonSettle = 10 * time.Second

// daemonRun builds the binary, makes a profile, runs the daemon on
// loopback, creates a group, lets it settle and reads its resident memory.
func daemonRun(base string) (daemonResult, error) {
	dir := filepath.Join(base, "daemon")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return daemonResult{}, err
	}
	bin := filepath.Join(dir, "takecare")
	logf("daemon: building the binary")
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	if out, err := exec.Command(goCmd, "build", "-o", bin, "github.com/takecare-network/takecare/cmd/takecare").CombinedOutput(); err != nil {
		return daemonResult{}, fmt.Errorf("go build: %v: %s", err, out)
	}
	home := filepath.Join(dir, "home")
	env := append(os.Environ(), "TAKECARE_PASSPHRASE=a passphrase for the benchmark", "TAKECARE_HOME="+home)
	cli := func(args ...string) error {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("takecare %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := cli("init", "--name", "bench"); err != nil {
		return daemonResult{}, err
	}
	logf("daemon: running it with one group")
	d := exec.Command(bin, "run", "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1")
	d.Env = env
	log, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return daemonResult{}, err
	}
	defer log.Close()
	d.Stdout, d.Stderr = log, log
	if err := d.Start(); err != nil {
		return daemonResult{}, err
	}
	defer func() {
		d.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { d.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			d.Process.Kill()
			<-done
		}
	}()
	up := time.Now().Add(30 * time.Second)
	for {
		if err := cli("status"); err == nil {
			break
		} else if time.Now().After(up) {
			return daemonResult{}, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cli("group", "create", "bench"); err != nil {
		return daemonResult{}, err
	}
	time.Sleep(daemonSettle)
	status := fmt.Sprintf("/proc/%d/status", d.Process.Pid)
	rss, err := statusKB(status, "VmRSS")
	if err != nil {
		return daemonResult{}, err
	}
	hwm, err := statusKB(status, "VmHWM")
	if err != nil {
		return daemonResult{}, err
	}
	return daemonResult{rss: rss * 1024, hwm: hwm * 1024, settle: daemonSettle}, nil
}
