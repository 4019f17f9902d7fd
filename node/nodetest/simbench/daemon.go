package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/takecare-network/takecare/node/nodetest"
)

// The daemon: the real takecare binary, built for the purpose, run on
// loopback, and its resident memory read from /proc once it is idle.

type daemonResult struct {
	settle  time.Duration
	alone   daemonMem // in a group of its own
	members int       // of the group of the second measurement; 0 if skipped
	inGroup daemonMem
}

type daemonMem struct {
	rss, hwm uint64 // bytes
	// anon and file split rss: the process's own memory (Go's heap and
	// stacks, the runtime's), and the pages of the binary it has touched
	// (its code and constant data: shared, and dropped first when memory
	// is short).
	anon, file uint64
	conns      int // member nodes it is connected to
}

const daemonSettle = 10 * time.Second

// daemon is one running takecare daemon.
type daemon struct {
	bin, home string
	cmd       *exec.Cmd
	log       *os.File
}

func (d *daemon) env() []string {
	return append(os.Environ(), "TAKECARE_PASSPHRASE=a passphrase for the benchmark", "TAKECARE_HOME="+d.home)
}

// cli runs a command of the binary against the daemon's home and returns
// its standard output.
func (d *daemon) cli(args ...string) (string, error) {
	cmd := exec.Command(d.bin, args...)
	cmd.Env = d.env()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("takecare %s: %v: %s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out), nil
}

// startDaemon makes a profile in dir and runs the daemon on it, on
// loopback, until it answers.
func startDaemon(bin, dir string) (*daemon, error) {
	d := &daemon{bin: bin, home: filepath.Join(dir, "home")}
	if _, err := d.cli("init", "--name", "bench"); err != nil {
		return nil, err
	}
	d.cmd = exec.Command(bin, "run", "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1")
	d.cmd.Env = d.env()
	var err error
	if d.log, err = os.Create(filepath.Join(dir, "daemon.log")); err != nil {
		return nil, err
	}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		d.log.Close()
		return nil, err
	}
	up := time.Now().Add(30 * time.Second)
	for {
		_, err := d.cli("status")
		if err == nil {
			return d, nil
		}
		if time.Now().After(up) {
			d.stop()
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
	d.log.Close()
}

func (d *daemon) mem() (daemonMem, error) {
	status := fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid)
	var m daemonMem
	for _, f := range []struct {
		name string
		to   *uint64
	}{{"VmRSS", &m.rss}, {"VmHWM", &m.hwm}, {"RssAnon", &m.anon}, {"RssFile", &m.file}} {
		kb, err := statusKB(status, f.name)
		if err != nil {
			return daemonMem{}, err
		}
		*f.to = kb * 1024
	}
	return m, nil
}

// split says what the resident memory is made of.
func (m daemonMem) split() string {
	return fmt.Sprintf("%s (its own %s, the binary's pages %s; peak %s)", mb(float64(m.rss)), mb(float64(m.anon)), mb(float64(m.file)), mb(float64(m.hwm)))
}

// daemonRun builds the binary and measures an idle daemon twice: alone in
// a group it created, and as a member of a group of c.daemonMembers whose
// other members are nodes of this process on loopback.
func daemonRun(c config, base string) (daemonResult, error) {
	res := daemonResult{settle: daemonSettle}
	dir := filepath.Join(base, "daemon")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	bin, err := buildDaemon(dir)
	if err != nil {
		return res, err
	}

	logf("daemon: running it with one group")
	d, err := startDaemon(bin, filepath.Join(dir, "alone"))
	if err != nil {
		return res, err
	}
	if _, err := d.cli("group", "create", "bench"); err != nil {
		d.stop()
		return res, err
	}
	time.Sleep(daemonSettle)
	res.alone, err = d.mem()
	d.stop()
	if err != nil || c.daemonMembers < 2 {
		return res, err
	}

	res.members = c.daemonMembers
	others := c.daemonMembers - 1
	logf("daemon: joining a group of %d simulated nodes on loopback", others)
	tb := newRunner(base, "daemon-group")
	defer tb.close()
	net := nodetest.New(tb, others, nodetest.Options{FormWait: c.formWait, Loopback: true, Sync: c.fsync})
	gid := net.FormGroup("daemon")
	inv, err := net.Nodes[0].CreateInvite(context.Background(), gid, 1, time.Hour)
	if err != nil {
		return res, err
	}
	d, err = startDaemon(bin, filepath.Join(dir, "member"))
	if err != nil {
		return res, err
	}
	defer d.stop()
	if _, err := d.cli("join", inv.Code); err != nil {
		return res, err
	}
	res.inGroup.conns = waitDaemonConnected(net)
	logf("daemon: connected to %d of %d member nodes; idle for %s", res.inGroup.conns, others, daemonSettle)
	time.Sleep(daemonSettle)
	conns := res.inGroup.conns
	res.inGroup, err = d.mem()
	res.inGroup.conns = conns
	return res, err
}

func (t *table) daemon(d daemonResult) {
	t.section("Idle daemon (the real binary, loopback)")
	if d.alone.rss > 0 {
		t.add(fmt.Sprintf("alone in a group: resident memory %s after creating it", d.settle), "", d.alone.split(), "")
	}
	if d.members > 0 && d.inGroup.rss > 0 {
		t.add(fmt.Sprintf("in a group of %d: resident memory %s after joining, connected to %d member nodes", d.members, d.settle, d.inGroup.conns), "", d.inGroup.split(), "")
	}
}

// buildDaemon builds the takecare binary into dir and returns its path.
func buildDaemon(dir string) (string, error) {
	bin := filepath.Join(dir, "takecare")
	logf("daemon: building the binary")
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	if out, err := exec.Command(goCmd, "build", "-o", bin, "github.com/takecare-network/takecare/cmd/takecare").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v: %s", err, out)
	}
	return bin, nil
}

// waitDaemonConnected waits, up to 2 minutes, until every simulated node
// of net is connected to the daemon (a peer that is none of them), and
// returns to how many it is.
func waitDaemonConnected(net *nodetest.Net) int {
	others := len(net.Nodes)
	conns := 0
	sim := make(map[string]bool)
	for _, nd := range net.Nodes {
		sim[nd.Identity.PeerID().String()] = true
	}
	deadline := time.Now().Add(2 * time.Minute)
	for conns < others && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		conns = 0
		for _, nd := range net.Nodes {
			for _, p := range nd.Host().Network().Peers() {
				if !sim[p.String()] {
					conns++
					break
				}
			}
		}
	}
	return conns
}
