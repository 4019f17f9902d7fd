// Command natbench measures takecare across NATs in the NAT laboratory
// (package natlab: network namespaces and iptables on this machine, real
// `takecare run` daemons, real TCP and QUIC) and prints one Markdown table
// on stdout; progress goes to stderr. `make bench-nat` runs it, as root;
// docs/BENCHMARKS.md explains every row.
//
// Usage:
//
//	go run ./node/nodetest/natlab/natbench [-tries 20] [-alerts 20]
//
// For each pair of home routers (MASQUERADE and MASQUERADE --random-fully,
// both ways round) it builds a volunteer's node with a public address,
// running --relay, and two members behind the two routers, and makes
// -tries tries ([natlab.Trio.Try]): the members start afresh on new ports,
// so that no translation of an earlier try is left in their routers,
// meet through the relay and try to punch a hole. It reports the hole
// punches that succeeded, the time from a member's start to the first
// alert it receives, to meeting the other member and to a direct
// connection, and the alert latency, direct and relayed. It then measures
// the bytes the relay carries per alert between two members it relays
// for, alert latency through a volunteer member that is no relay, and,
// on loopback, the memory a relay spends per member node that holds a
// slot.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest/natlab"
)

func main() {
	tries := flag.Int("tries", 20, "hole punching tries per pair of routers")
	alerts := flag.Int("alerts", 20, "alerts timed through a volunteer member, and counted through the relay")
	slots := flag.Int("slots", 200, "member nodes holding a slot, for the relay's memory (on loopback)")
	flag.Parse()
	if err := natlab.Available(); err != nil {
		fmt.Fprintf(os.Stderr, "natbench: the NAT laboratory %v\n", err)
		os.Exit(2)
	}
	if _, err := natlab.Binary(); err != nil {
		fmt.Fprintf(os.Stderr, "natbench: %v\n", err)
		os.Exit(1)
	}
	started := time.Now()
	var out strings.Builder
	fmt.Fprintf(&out, "## NAT laboratory (`make bench-nat`, %d tries per pair)\n\n", *tries)
	pairs := [][2]natlab.NAT{
		{natlab.Masquerade, natlab.Masquerade},
		{natlab.Masquerade, natlab.RandomPorts},
		{natlab.RandomPorts, natlab.Masquerade},
		{natlab.RandomPorts, natlab.RandomPorts},
	}
	fmt.Fprintln(&out, "| routers (Ana / Beto) | hole punch succeeded | first alert after start | met through the relay after | direct after | latency direct | latency relayed |")
	fmt.Fprintln(&out, "|---|---|---|---|---|---|---|")
	for _, p := range pairs {
		var rows []natlab.Try
		ok := scene(func(t natlab.TB) { punchTries(t, p[0], p[1], *tries, &rows) })
		fmt.Fprintln(&out, pairRow(p, rows, ok))
	}
	fmt.Fprintln(&out)
	scene(func(t natlab.TB) { relayBytes(t, &out, *alerts) })
	scene(func(t natlab.TB) { viaMember(t, &out, *alerts) })
	if err := relayMemory(&out, *slots); err != nil {
		fmt.Fprintf(&out, "relay memory: %v\n", err)
	}
	fmt.Fprintf(&out, "\n%s, %d cores, %s in all.\n", runtime.Version(), runtime.NumCPU(), time.Since(started).Round(time.Second))
	fmt.Print(out.String())
}

// punchTries makes a trio behind routers a and b, runs tries tries and
// appends what each gave to out.
func punchTries(t natlab.TB, a, b natlab.NAT, tries int, out *[]natlab.Try) {
	ctx := context.Background()
	tr := natlab.NewTrio(t, ctx, a, b, "--relay")
	for i := range tries {
		tctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
		r, err := tr.Try(tctx, 4101+i, 60*time.Second)
		cancel()
		if err != nil {
			t.Logf("%s/%s try %d: %v", a, b, i+1, err)
			continue
		}
		t.Logf("%s/%s try %d: %+v", a, b, i+1, r)
		*out = append(*out, r)
	}
}

func pairRow(p [2]natlab.NAT, rows []natlab.Try, ok bool) string {
	name := p[0].String() + " / " + p[1].String()
	if !ok && len(rows) == 0 {
		return "| " + name + " | failed (see stderr) | | | | | |"
	}
	var punched, attempted int
	var first, met, direct, latD, latR []time.Duration
	for _, r := range rows {
		if r.Punched {
			punched++
		}
		if r.Attempts > 0 {
			attempted++
		}
		first = append(first, r.FirstAlert)
		if r.Relayed > 0 {
			met = append(met, r.Relayed)
		}
		if r.Direct > 0 {
			direct = append(direct, r.Direct)
		}
		switch r.Path {
		case node.PathDirect:
			latD = append(latD, r.Latency)
		case node.PathRelayed:
			latR = append(latR, r.Latency)
		}
	}
	rate := fmt.Sprintf("%d of %d", punched, len(rows))
	if attempted < len(rows) {
		rate += fmt.Sprintf(" (%d without an attempt)", len(rows)-attempted)
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s |", name, rate,
		spread(first), spread(met), spread(direct), spread(latD), spread(latR))
}

// relayBytes counts the bytes the volunteer's relay carries per alert
// between two members behind port-randomising routers (they stay
// relayed), less what it carries when nobody sends.
func relayBytes(t natlab.TB, out io.Writer, alerts int) {
	ctx := context.Background()
	tr := natlab.NewTrio(t, ctx, natlab.RandomPorts, natlab.RandomPorts, "--relay")
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := natlab.WaitPath(wctx, tr.Ana, tr.Beto.Name, node.PathRelayed); err != nil {
		t.Fatalf("%v", err)
	}
	bytes := func() int64 {
		st, err := tr.Vol.API.Status(ctx)
		if err != nil || st.Relay == nil {
			t.Fatalf("the volunteer's status: %v", err)
		}
		return st.Relay.Bytes
	}
	warmUp(t, wctx, tr)
	time.Sleep(5 * time.Second) // let sync sessions end
	b0, t0 := bytes(), time.Now()
	lat := latencies(t, wctx, tr, alerts)
	sending := time.Since(t0)
	b1 := bytes()
	time.Sleep(sending)
	idle := bytes() - b1
	st, _ := tr.Vol.API.Status(ctx)
	rss := tr.Vol.RSS()
	fmt.Fprintf(out, "| through the relay (random / random) | |\n|---|---|\n")
	fmt.Fprintf(out, "| bytes relayed per alert | %d B (%d alerts: %d B; the same time idle: %d B) |\n",
		(b1-b0-idle)/int64(alerts), alerts, b1-b0, idle)
	fmt.Fprintf(out, "| alert latency, relayed | %s |\n", spread(lat))
	if st.Relay != nil {
		fmt.Fprintf(out, "| the volunteer's daemon | %d slots, %d relayed connections, %s resident |\n\n",
			st.Relay.Reservations, st.Relay.Circuits, mib(rss))
	}
}

// viaMember times alerts between two members behind NAT that reach each
// other only through a volunteer member that is no relay.
func viaMember(t natlab.TB, out io.Writer, alerts int) {
	ctx := context.Background()
	tr := natlab.NewTrio(t, ctx, natlab.Masquerade, natlab.RandomPorts)
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	warmUp(t, wctx, tr)
	lat := latencies(t, wctx, tr, alerts)
	fmt.Fprintf(out, "| through a volunteer member, no relay (masquerade / random) | |\n|---|---|\n")
	fmt.Fprintf(out, "| alert latency, forwarded by the volunteer | %s |\n\n", spread(lat))
}

// latencies has Ana alert Beto n times, one after another, and returns
// each alert's time to Beto's feed.
func latencies(t natlab.TB, ctx context.Context, tr *natlab.Trio, n int) []time.Duration {
	var lat []time.Duration
	for range n {
		l, err := natlab.Latency(ctx, tr.Ana, tr.Beto, tr.Group)
		if err != nil {
			t.Fatalf("%v", err)
		}
		lat = append(lat, l)
	}
	return lat
}

// warmUp has Ana alert Beto once, untimed: it fills Beto's feed (which
// natlab.Latency needs) and lets the meshes form.
func warmUp(t natlab.TB, ctx context.Context, tr *natlab.Trio) {
	id, err := natlab.Send(ctx, tr.Ana, tr.Group, false)
	if err == nil {
		_, err = tr.Beto.WaitFeed(ctx, id)
	}
	if err != nil {
		t.Fatalf("%v", err)
	}
}

// relayMemory measures, on loopback in this process, what a relay with
// takecare's settings (no limit on a circuit, node.Default* limits)
// holds per member node that holds a slot: the heap in use after n
// clients connected, then after they reserved.
func relayMemory(out io.Writer, n int) error {
	rc := relayv2.DefaultResources()
	rc.Limit = nil
	rc.MaxReservations, rc.MaxReservationsPerIP, rc.MaxReservationsPerASN = n+1, n+1, n+1
	rc.MaxCircuits, rc.BufferSize = node.DefaultRelayCircuits, node.DefaultRelayBuffer
	rh, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		return err
	}
	defer rh.Close()
	r, err := relayv2.New(rh, relayv2.WithResources(rc), relayv2.WithInfiniteLimits())
	if err != nil {
		return err
	}
	defer r.Close()
	clients := make([]host.Host, n)
	for i := range clients {
		if clients[i], err = libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0")); err != nil {
			return err
		}
		defer clients[i].Close()
	}
	info := peer.AddrInfo{ID: rh.ID(), Addrs: rh.Addrs()}
	ctx := context.Background()
	m0 := heap()
	for _, c := range clients {
		if err := c.Connect(ctx, info); err != nil {
			return err
		}
	}
	m1 := heap()
	for _, c := range clients {
		if _, err := client.Reserve(ctx, c, info); err != nil {
			return err
		}
	}
	m2 := heap()
	fmt.Fprintf(out, "| relay memory, %d member nodes on loopback | |\n|---|---|\n", n)
	fmt.Fprintf(out, "| per slot (reservation) | %s |\n", kib((m2-m1)/int64(n)))
	fmt.Fprintf(out, "| per connection, both ends in one process | %s |\n", kib((m1-m0)/int64(n)))
	return nil
}

// heap returns the Go heap in use after a collection, once the
// connections' background work has settled.
func heap() int64 {
	time.Sleep(2 * time.Second)
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

func kib(b int64) string { return fmt.Sprintf("%.1f KiB", float64(b)/1024) }
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// spread is "median (min–max)", or "–" without samples.
func spread(d []time.Duration) string {
	if len(d) == 0 {
		return "–"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	r := func(x time.Duration) string {
		if x < time.Second {
			return x.Round(time.Millisecond).String()
		}
		return x.Round(100 * time.Millisecond).String()
	}
	return fmt.Sprintf("%s (%s–%s)", r(s[len(s)/2]), r(s[0]), r(s[len(s)-1]))
}

// scene runs f with its own lab context, as a test would: its Fatalf
// ends f, and its cleanups (daemons stopped, namespaces deleted) run
// when f returns, failed or not. It reports whether f ended well.
func scene(f func(natlab.TB)) bool {
	t := &benchTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer t.cleanup()
		f(t)
	}()
	<-done
	return !t.failed
}

// benchTB is the natlab.TB of a scene.
type benchTB struct {
	mu       sync.Mutex
	failed   bool
	cleanups []func()
	dirs     []string
}

func (t *benchTB) Helper() {}
func (t *benchTB) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}
func (t *benchTB) Fatalf(format string, args ...any) {
	t.Logf(format, args...)
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	runtime.Goexit()
}
func (t *benchTB) Skipf(format string, args ...any) { t.Fatalf(format, args...) }
func (t *benchTB) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}
func (t *benchTB) TempDir() string {
	d, err := os.MkdirTemp("", "natbench")
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.mu.Lock()
	t.dirs = append(t.dirs, d)
	t.mu.Unlock()
	return d
}

func (t *benchTB) cleanup() {
	t.mu.Lock()
	cs, dirs := t.cleanups, t.dirs
	t.cleanups, t.dirs = nil, nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
	for _, d := range dirs {
		os.RemoveAll(d)
	}
}
