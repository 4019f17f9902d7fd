package natlab

import (
	"context"
	"errors"
	"fmt"
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

// Passphrase is the passphrase of every profile in the lab.
const Passphrase = "correct horse battery staple"

// PublicNetsEnv names the environment variable that tells a takecare
// daemon which networks to count as public although go-libp2p counts them
// as unroutable: the lab's documentation networks. Only the lab sets it.
const PublicNetsEnv = "TAKECARE_LAB_PUBLIC_NETS"

// PublicNets are the lab's internet.
const PublicNets = "198.51.100.0/24,203.0.113.0/24"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the takecare command once per process and returns its
// path.
func Binary() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "takecare-natlab-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "takecare")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/takecare-network/takecare/cmd/takecare").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building takecare: %v: %s", err, out)
		}
	})
	return binPath, buildErr
}

// Daemon is one person's takecare profile and, while started, their
// `takecare run` process in a host of the lab.
type Daemon struct {
	lab  *Lab
	Name string
	Home string
	// API talks to the running daemon over its unix socket (a file, so
	// reachable from outside the namespace).
	API *api.Client
	// Port is the TCP and UDP port the daemon listens on (default 4001).
	// A new port makes the routers treat the daemon as a new host: none
	// of their earlier translations applies to it.
	Port int

	mu   sync.Mutex
	host *Host
	proc *exec.Cmd
	done chan struct{}
	log  string
}

// Daemon creates a profile (takecare init) for a person named name.
func (l *Lab) Daemon(name string) *Daemon {
	l.t.Helper()
	home := filepath.Join(l.t.TempDir(), name)
	d := &Daemon{lab: l, Name: name, Home: home, API: api.NewClient(home), log: home + ".log"}
	if dir := os.Getenv("TAKECARE_LAB_LOGS"); dir != "" {
		d.log = filepath.Join(dir, l.id+"-"+name+".log")
	}
	if out, err := d.cli("init", "--home", home, "--name", name); err != nil {
		l.t.Fatalf("natlab: init %s: %v: %s", name, err, out)
	}
	l.mu.Lock()
	l.daemons = append(l.daemons, d)
	l.mu.Unlock()
	return d
}

func (d *Daemon) cli(args ...string) (string, error) {
	bin, err := Binary()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TAKECARE_PASSPHRASE="+Passphrase)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// CLI runs a takecare command for this profile (outside any namespace:
// commands reach the daemon through its socket) and returns its output.
func (d *Daemon) CLI(args ...string) (string, error) {
	return d.cli(append(args, "--home", d.Home)...)
}

// Start runs `takecare run` for the profile in host h, listening on TCP
// and QUIC port d.Port of every interface, with the extra arguments, and
// waits until its API answers.
func (d *Daemon) Start(h *Host, extra ...string) {
	d.lab.t.Helper()
	bin, err := Binary()
	if err != nil {
		d.lab.t.Fatalf("natlab: %v", err)
	}
	logf, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.lab.t.Fatalf("natlab: %v", err)
	}
	fmt.Fprintf(logf, "=== start in %s (%s) at %s\n", h.Name, h.IP, time.Now().Format(time.RFC3339Nano))
	port := d.port()
	args := append([]string{"run", "--home", d.Home, "--mdns=false", "--verbose",
		"--listen", fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", port), "--listen", fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", port)}, extra...)
	cmd := h.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TAKECARE_PASSPHRASE="+Passphrase, PublicNetsEnv+"="+PublicNets)
	if os.Getenv("GOLOG_LOG_LEVEL") == "" {
		cmd.Env = append(cmd.Env, "GOLOG_LOG_LEVEL=error")
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		d.lab.t.Fatalf("natlab: starting %s: %v", d.Name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	d.mu.Lock()
	d.host, d.proc, d.done = h, cmd, done
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for !d.API.Running(ctx) {
		select {
		case <-done:
			d.lab.t.Fatalf("natlab: %s's daemon exited: %s", d.Name, d.Log())
		case <-ctx.Done():
			d.lab.t.Fatalf("natlab: %s's daemon did not start: %s", d.Name, d.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d *Daemon) port() int {
	if d.Port == 0 {
		return 4001
	}
	return d.Port
}

// Stop stops the daemon as Ctrl-C would and waits until it has exited
// (killing it after 10 s). It does nothing if the daemon is not running.
func (d *Daemon) Stop() {
	d.mu.Lock()
	proc, done := d.proc, d.done
	d.proc = nil
	d.mu.Unlock()
	if proc == nil {
		return
	}
	proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		proc.Process.Kill()
		<-done
	}
}

// RSS returns the resident memory of the daemon's process in bytes (0 if
// it is not running or cannot be read).
func (d *Daemon) RSS() int64 {
	d.mu.Lock()
	proc := d.proc
	d.mu.Unlock()
	if proc == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", proc.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// Log returns the end of the daemon's log, for failure messages.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Addr is the daemon's TCP address as others on the internet dial it:
// /ip4/IP/tcp/PORT/p2p/PEER, for hosts with a public address.
func (d *Daemon) Addr(ctx context.Context) (string, error) {
	st, err := d.API.Status(ctx)
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	h := d.host
	d.mu.Unlock()
	if h == nil {
		return "", errors.New("not started")
	}
	return fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", h.IP, d.port(), st.Peer), nil
}

// WaitFeed waits until the daemon's feed holds a message with the given
// id, and returns it.
func (d *Daemon) WaitFeed(ctx context.Context, id string) (node.Entry, error) {
	for {
		var found *node.Entry
		err := d.API.Feed(ctx, api.FeedOptions{}, func(e node.Entry) error {
			if e.ID == id {
				found = &e
			}
			return nil
		})
		if err == nil && found != nil {
			return *found, nil
		}
		select {
		case <-ctx.Done():
			return node.Entry{}, fmt.Errorf("%s never received %s: %v", d.Name, id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Wait polls cond every 200 ms until it returns nil or ctx ends, and
// returns its last error then.
func Wait(ctx context.Context, cond func() error) error {
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (waited: %v)", err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// LastLine is the last non-empty line of out.
func LastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
