package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
)

// The demo runs a real network on this machine: every person is a separate
// `takecare run` process with its own encrypted profile, talking libp2p over
// loopback TCP and QUIC. The demo drives them through their local APIs, as
// the command line does, and narrates.

type person struct {
	name, role string
	home       string
	proc       *exec.Cmd
	api        *api.Client
	started    bool
}

var demoPeople = []struct{ name, role string }{
	{"Ana", "community watcher in Juchitán, founds the group"},
	{"Beto", "defender who travels between villages"},
	{"Carmen", "accompaniment volunteer with an always-on node"},
	{"Dani", "community watcher in Ixtepec"},
	{"Elena", "journalist in Salina Cruz"},
	{"Fede", "community radio in Unión Hidalgo"},
	{"Gabi", "lawyer in Oaxaca city"},
	{"Hugo", "watcher in Espinal"},
}

type demo struct {
	e      *env
	dir    string
	pass   string
	exe    string
	people []*person
	start  time.Time
}

func cmdDemo(ctx context.Context, e *env, args []string) error {
	f := newFlags("demo", e)
	count := f.Int("nodes", 4, "how many nodes, 3 to 8")
	keep := f.Bool("keep", false, "keep the demo folder (its path is printed)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *count < 3 || *count > len(demoPeople) {
		return usagef("--nodes must be between 3 and %d", len(demoPeople))
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "takecare-demo-")
	if err != nil {
		return err
	}
	pass := make([]byte, 16)
	rand.Read(pass)
	d := &demo{e: e, dir: dir, pass: hex.EncodeToString(pass), exe: exe, start: time.Now()}
	for _, p := range demoPeople[:*count] {
		d.people = append(d.people, &person{name: p.name, role: p.role, home: filepath.Join(dir, strings.ToLower(p.name))})
	}
	defer func() {
		d.stopAll()
		if *keep {
			d.say("The demo folder is kept: %s", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	err = d.run(ctx)
	if ctx.Err() != nil {
		d.say("Interrupted.")
		return nil
	}
	if err != nil {
		d.say("The demo failed: %v. Node logs are in %s.", err, dir)
		*keep = true
	}
	return err
}

func (d *demo) say(format string, a ...any) {
	fmt.Fprintf(d.e.stdout, format+"\n", a...)
}

func (d *demo) step(format string, a ...any) {
	fmt.Fprintf(d.e.stdout, "\n▶ "+format+"\n", a...)
}

func (d *demo) run(ctx context.Context) error {
	n := len(d.people)
	d.say("takecare demo: %d people, each running their own node on this machine.", n)
	d.say("Every node is a separate process with an encrypted profile, talking libp2p")
	d.say("(TCP and QUIC over loopback) and GossipSub. No server is involved.")

	d.step("Each person creates an encrypted profile (takecare init)")
	for _, p := range d.people {
		out, err := d.cli(ctx, "init", "--home", p.home, "--name", p.name)
		if err != nil {
			return fmt.Errorf("init %s: %w", p.name, err)
		}
		d.say("  %-7s %s; %s", p.name, strings.TrimSpace(strings.TrimPrefix(out, "member ")), p.role)
	}

	d.step("Each person starts a node (takecare run)")
	for _, p := range d.people {
		if err := d.startNode(ctx, p); err != nil {
			return err
		}
	}
	for _, p := range d.people {
		st, err := p.api.Status(ctx)
		if err != nil {
			return err
		}
		d.say("  %-7s node %s…  listening on %s", p.name, st.Peer[:16], strings.Join(loopbackAddrs(st.Addrs), " "))
	}

	ana := d.people[0]
	d.step("%s founds the group \"juchitan\" and makes one invite code for the others", ana.name)
	if _, err := ana.api.CreateGroup(ctx, "juchitan"); err != nil {
		return err
	}
	inv, err := ana.api.Invite(ctx, "juchitan", n-1, time.Hour)
	if err != nil {
		return err
	}
	d.say("  invite code (valid 1 hour, %d uses): %s…%s", n-1, inv.Code[:24], inv.Code[len(inv.Code)-8:])

	d.step("The others join with the code (takecare join)")
	for _, p := range d.people[1:] {
		t0 := time.Now()
		g, err := p.api.Join(ctx, inv.Code)
		if err != nil {
			return fmt.Errorf("%s joining: %w", p.name, err)
		}
		d.say("  %-7s joined %s in %s: received the roster and the group key, sealed to their own key", p.name, g.Name, ms(time.Since(t0)))
	}
	d.say("  waiting until every node knows every member and is connected to every other node…")
	if err := d.waitMesh(ctx, 30*time.Second); err != nil {
		return err
	}
	for _, p := range d.people {
		gs, _ := p.api.Groups(ctx)
		for _, g := range gs {
			d.say("  %-7s sees %d members in %s, %d reachable now", p.name, g.Members, g.Name, g.Reachable)
		}
	}

	d.step("%s sends a danger alert (takecare alert juchitan --kind danger --severity urgent …)", ana.name)
	text := "Armed men at the crossroads on the road to Ixtepec. Avoid it."
	if err := d.measure(ctx, ana, func() (string, error) {
		r, err := ana.api.Alert(ctx, "juchitan", api.AlertRequest{Kind: "danger", Severity: "urgent", Region: "istmo", Place: "crossroads to Ixtepec", Text: text})
		return r.ID, err
	}); err != nil {
		return err
	}

	carmen := d.people[2]
	d.step("%s presses panic (takecare panic juchitan)", carmen.name)
	if err := d.measure(ctx, carmen, func() (string, error) {
		r, err := carmen.api.Panic(ctx, "juchitan", "Stopped by a patrol near Espinal, need help")
		return r.ID, err
	}); err != nil {
		return err
	}

	if err := d.checkIns(ctx); err != nil {
		return err
	}
	if err := d.offline(ctx); err != nil {
		return err
	}
	if err := d.removal(ctx); err != nil {
		return err
	}

	beto := d.people[1]
	d.step("%s's feed (takecare feed)", beto.name)
	var buf bytes.Buffer
	if err := beto.api.Feed(ctx, api.FeedOptions{Group: "juchitan"}, func(en node.Entry) error {
		printEntry(&buf, newSpeaker(func(string) string { return "" }), en, time.Now())
		return nil
	}); err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		d.say("  %s", line)
	}

	d.step("Nothing readable at rest: searching every file of every profile for the alert's words")
	// Words of three letters ("Ana") would turn up by chance in a few
	// hundred kilobytes of ciphertext; every needle here has four or more.
	found, files, err := grepTree(d.dir, []string{"Armed men", "Ixtepec", "juchitan", "patrol", "white pickup", beto.name, carmen.name})
	if err != nil {
		return err
	}
	if len(found) > 0 {
		return fmt.Errorf("found plaintext at rest: %s", strings.Join(found, ", "))
	}
	d.say("  searched %d files (keystores, bbolt stores, configs): no alert text, place, group or member name in clear", files)

	d.step("Stopping the nodes")
	d.stopAll()
	d.say("  all %d nodes stopped; the demo took %s.", n, time.Since(d.start).Round(100*time.Millisecond))
	return nil
}

// cli runs this binary as a separate process with the demo passphrase.
func (d *demo) cli(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.exe, args...)
	cmd.Env = append(os.Environ(), "TAKECARE_PASSPHRASE="+d.pass)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (d *demo) startNode(ctx context.Context, p *person) error {
	logf, err := os.OpenFile(p.home+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := []string{"run", "--home", p.home, "--mdns=false"}
	if os.Getenv("TAKECARE_DEMO_VERBOSE") != "" {
		args = append(args, "--verbose")
	}
	if p.proc == nil && !p.started {
		// First start: loopback, ports the system picks. A restart listens
		// where the node did before, as saved in its config.
		args = append(args, "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1")
	}
	p.started = true
	cmd := exec.Command(d.exe, args...)
	cmd.Env = append(os.Environ(), "TAKECARE_PASSPHRASE="+d.pass)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s's node: %w", p.name, err)
	}
	go func() { cmd.Wait(); logf.Close() }()
	p.proc = cmd
	p.api = api.NewClient(p.home)
	deadline := time.Now().Add(20 * time.Second)
	for !p.api.Running(ctx) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s's node did not start (see %s.log)", p.name, p.home)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func (d *demo) stopAll() {
	var wg sync.WaitGroup
	for _, p := range d.people {
		wg.Add(1)
		go func(p *person) {
			defer wg.Done()
			d.stopNode(p)
		}(p)
	}
	wg.Wait()
}

// stopNode stops one node as Ctrl-C would, and waits until it is gone.
func (d *demo) stopNode(p *person) {
	if p.proc == nil || p.proc.Process == nil {
		return
	}
	p.proc.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for api.SocketExists(p.home) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if api.SocketExists(p.home) {
		p.proc.Process.Kill()
	}
	p.proc = nil
}

// waitMesh waits until every node knows all members and reaches all others.
func (d *demo) waitMesh(ctx context.Context, timeout time.Duration) error {
	n := len(d.people)
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, p := range d.people {
			gs, err := p.api.Groups(ctx)
			if err != nil || len(gs) != 1 || gs[0].Members != n || gs[0].Reachable != n-1 {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the nodes did not all connect in time")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// measure follows every other node's feed, sends, and reports when each
// node had the message in its feed.
func (d *demo) measure(ctx context.Context, sender *person, send func() (string, error)) error {
	type arrival struct {
		p   *person
		id  string
		err error
		at  time.Time
	}
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	arrivals := make(chan arrival, 64)
	ready := make(chan struct{}, len(d.people))
	for _, p := range d.people {
		if p == sender {
			continue
		}
		go func(p *person) {
			first := true
			err := p.api.Feed(fctx, api.FeedOptions{Group: "juchitan", Follow: true}, func(en node.Entry) error {
				if first {
					first = false
				}
				arrivals <- arrival{p: p, id: en.ID, at: time.Now()}
				return nil
			})
			if err != nil && fctx.Err() == nil {
				arrivals <- arrival{p: p, err: err}
			}
		}(p)
		ready <- struct{}{}
	}
	// Let the followers subscribe before sending.
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	id, err := send()
	if err != nil {
		return err
	}
	d.say("  message %s… stored at %s's node, then published", id[:12], sender.name)
	got := map[*person]time.Duration{}
	for len(got) < len(d.people)-1 {
		select {
		case a := <-arrivals:
			if a.err != nil {
				return fmt.Errorf("%s's feed: %w", a.p.name, a.err)
			}
			if a.id == id {
				if _, dup := got[a.p]; !dup {
					got[a.p] = a.at.Sub(t0)
				}
			}
		case <-fctx.Done():
			return fmt.Errorf("not every node received the message in 20 s (%d of %d)", len(got), len(d.people)-1)
		}
	}
	var parts []string
	for _, p := range d.people {
		if dt, ok := got[p]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", p.name, ms(dt)))
		}
	}
	d.say("  in every other feed, decrypted and verified: %s", strings.Join(parts, ", "))
	return nil
}

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

func loopbackAddrs(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		if strings.Contains(a, "/127.0.0.1/") {
			out = append(out, a)
		}
	}
	return out
}

// grepTree searches every regular file under dir for each needle (case
// sensitive and lower-case). It returns the needles found and the number of
// files read.
func grepTree(dir string, needles []string) ([]string, int, error) {
	var found []string
	files := 0
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() || strings.HasSuffix(path, ".log") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return nil // e.g. removed meanwhile
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return err
		}
		files++
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) || bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(n))) {
				found = append(found, fmt.Sprintf("%q in %s", n, filepath.Base(path)))
			}
		}
		return nil
	})
	return found, files, err
}
