// Package natlab builds a small internet with home routers that translate
// addresses (NAT) in Linux network namespaces on this machine, and runs real
// takecare daemons in it: real TCP and QUIC through real iptables NAT.
//
// # The network
//
// One namespace is the internet: a bridge with the two documentation
// networks 198.51.100.0/24 (routers' public addresses) and 203.0.113.0/24
// (always-on nodes with public addresses), routing between them. Nothing is
// connected to the machine's own network, so nothing leaves the lab.
//
//	[Lab.Public]  a host with a public address (a volunteer's server)
//	[Lab.Router]  a home router: a public address on the internet, a
//	              private network 192.168.N.0/24 behind it, iptables
//	              MASQUERADE on the way out ([Masquerade]), or MASQUERADE
//	              --random-fully ([RandomPorts]), which gives every new
//	              flow a random public port as many carrier NATs do; only
//	              replies come back in
//	[Router.Host] a host behind a router (a member's laptop or phone)
//
// go-libp2p counts the documentation networks as unroutable, so daemons in
// the lab run with TAKECARE_LAB_PUBLIC_NETS naming them (see
// [Daemon]): to them these networks are the public internet.
//
// # Requirements and cleanup
//
// Building a lab needs root, the ip command (iproute2) and iptables; [New]
// skips the test with a message saying what is missing. Every namespace is
// named with the prefix [Prefix], the test process id and a counter;
// [New] first deletes the namespaces of earlier runs whose process is gone
// (a run killed before its cleanup), and the test's Cleanup stops every
// daemon and deletes the lab's namespaces, whether the test passed or not.
package natlab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// TB is the part of testing.TB a lab uses; a program can bring its own.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// NAT is how a home router translates addresses.
type NAT int

const (
	// Masquerade is iptables MASQUERADE: a flow keeps its source port when
	// it can (the usual home router).
	Masquerade NAT = iota
	// RandomPorts is MASQUERADE --random-fully: every flow gets a random
	// public port (many carrier-grade NATs), so the port another node sees
	// says nothing about the next flow's.
	RandomPorts
)

func (k NAT) String() string {
	if k == RandomPorts {
		return "random"
	}
	return "masquerade"
}

// Prefix starts the name of every namespace a lab creates.
const Prefix = "tclab"

var labSeq atomic.Int64

// Lab is one internet with its routers and hosts. Its methods are safe for
// concurrent use.
type Lab struct {
	t    TB
	id   string // prefix, pid and counter
	inet string // the internet's namespace

	mu      sync.Mutex
	spaces  []string
	routers int
	publics int
	daemons []*Daemon
}

// Host is a network namespace with one address, where daemons run.
type Host struct {
	lab  *Lab
	Name string // namespace name
	IP   string // its address

	router *Router // the router it is behind, if any
	port   string  // its link's end in the router's namespace
}

// Router is a home router and the private network behind it.
type Router struct {
	lab     *Lab
	Name    string // the router's namespace
	IP      string // its public address
	NAT     NAT    // how it translates
	subnet  int    // 192.168.subnet.0/24
	mu      sync.Mutex
	members int
}

// New builds an empty internet, or skips the test if this machine cannot
// (not root, or ip or iptables missing). Everything is torn down when the
// test ends.
func New(t TB) *Lab {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("natlab: %v", err)
	}
	Sweep()
	l := &Lab{t: t, id: fmt.Sprintf("%s%dx%d", Prefix, os.Getpid(), labSeq.Add(1))}
	t.Cleanup(l.Close)
	l.inet = l.space("inet")
	l.must(l.inet, "ip", "link", "add", "br0", "type", "bridge")
	l.must(l.inet, "ip", "addr", "add", "198.51.100.1/24", "dev", "br0")
	l.must(l.inet, "ip", "addr", "add", "203.0.113.1/24", "dev", "br0")
	l.must(l.inet, "ip", "link", "set", "br0", "up")
	l.must(l.inet, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	return l
}

// Available says why this machine cannot build a lab, or nil. It checks
// once per process.
func Available() error {
	availableOnce.Do(func() { availableErr = available() })
	return availableErr
}

var (
	availableOnce sync.Once
	availableErr  error
)

func available() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces and iptables); run as root, e.g. in CI")
	}
	for _, tool := range []string{"ip", "iptables", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("needs %s (apt-get install iproute2 iptables procps)", tool)
		}
	}
	// Namespaces may be refused (a container without CAP_SYS_ADMIN).
	probe := fmt.Sprintf("%s%dprobe", Prefix, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		return fmt.Errorf("cannot create a network namespace: %s", strings.TrimSpace(string(out)))
	}
	defer exec.Command("ip", "netns", "del", probe).Run()
	// iptables may lack its kernel modules (nf_nat, conntrack).
	if err := run(probe, "iptables", "-t", "nat", "-L", "-n"); err != nil {
		return fmt.Errorf("iptables cannot use its nat table: %v", err)
	}
	return nil
}

// Sweep deletes namespaces left by labs whose process is gone.
func Sweep() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, Prefix)
		if !ok {
			continue
		}
		digits := rest
		if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
			digits = rest[:i]
		}
		pid, err := strconv.Atoi(digits)
		if err == nil && pid > 0 && syscall.Kill(pid, 0) == nil {
			continue // its lab is still running
		}
		killIn(name)
		exec.Command("ip", "netns", "del", name).Run()
	}
}

// killIn kills every process still running in namespace ns.
func killIn(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Close stops every daemon and deletes every namespace of the lab. The
// test's cleanup calls it; calling it again does nothing.
func (l *Lab) Close() {
	l.mu.Lock()
	daemons, spaces := l.daemons, l.spaces
	l.daemons, l.spaces = nil, nil
	l.mu.Unlock()
	var wg sync.WaitGroup
	for _, d := range daemons {
		wg.Go(d.Stop)
	}
	wg.Wait()
	for _, ns := range spaces {
		killIn(ns)
		exec.Command("ip", "netns", "del", ns).Run()
	}
}

// space creates a namespace with its loopback up.
func (l *Lab) space(name string) string {
	ns := l.id + name
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		l.t.Fatalf("natlab: ip netns add %s: %s", ns, out)
	}
	l.mu.Lock()
	l.spaces = append(l.spaces, ns)
	l.mu.Unlock()
	l.must(ns, "ip", "link", "set", "lo", "up")
	return ns
}

// must runs a command in namespace ns and fails the test if it fails.
func (l *Lab) must(ns string, args ...string) {
	l.t.Helper()
	if err := run(ns, args...); err != nil {
		l.t.Fatalf("natlab: %v", err)
	}
}

func run(ns string, args ...string) error {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("in %s: %s: %v: %s", ns, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// link connects namespace a (interface ifA, address addrA with its
// prefix, or none) to namespace b (interface ifB, enslaved to bridge
// brB if set) with a veth pair created directly in the two namespaces.
func (l *Lab) link(a, ifA, addrA, b, ifB, brB string) {
	l.t.Helper()
	if out, err := exec.Command("ip", "link", "add", ifA, "netns", a, "type", "veth", "peer", "name", ifB, "netns", b).CombinedOutput(); err != nil {
		l.t.Fatalf("natlab: veth %s/%s: %s", a, b, out)
	}
	if addrA != "" {
		l.must(a, "ip", "addr", "add", addrA, "dev", ifA)
	}
	l.must(a, "ip", "link", "set", ifA, "up")
	if brB != "" {
		l.must(b, "ip", "link", "set", ifB, "master", brB)
	}
	l.must(b, "ip", "link", "set", ifB, "up")
}

// Public adds a host with a public address in 203.0.113.0/24, such as a
// volunteer's server.
func (l *Lab) Public(name string) *Host {
	l.t.Helper()
	l.mu.Lock()
	l.publics++
	i := l.publics
	l.mu.Unlock()
	ip := fmt.Sprintf("203.0.113.%d", 9+i)
	ns := l.space(name)
	l.link(ns, "eth0", ip+"/24", l.inet, fmt.Sprintf("p%d", i), "br0")
	l.must(ns, "ip", "route", "add", "default", "via", "203.0.113.1")
	return &Host{lab: l, Name: ns, IP: ip}
}

// Router adds a home router with a public address in 198.51.100.0/24 and
// an empty private network behind it.
func (l *Lab) Router(name string, nat NAT) *Router {
	l.t.Helper()
	l.mu.Lock()
	l.routers++
	i := l.routers
	l.mu.Unlock()
	ip := fmt.Sprintf("198.51.100.%d", 9+i)
	ns := l.space(name)
	l.link(ns, "wan", ip+"/24", l.inet, fmt.Sprintf("r%d", i), "br0")
	l.must(ns, "ip", "route", "add", "default", "via", "198.51.100.1")
	l.must(ns, "ip", "link", "add", "lan", "type", "bridge")
	l.must(ns, "ip", "addr", "add", fmt.Sprintf("192.168.%d.1/24", i), "dev", "lan")
	l.must(ns, "ip", "link", "set", "lan", "up")
	l.must(ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	masq := []string{"iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"}
	if nat == RandomPorts {
		masq = append(masq, "--random-fully")
	}
	l.must(ns, masq...)
	// Only replies come in from the internet, as on a home router, and
	// the router's own firewall drops what nobody asked for (as
	// OpenWrt's wan zone does). Dropped there, an unsolicited packet
	// leaves no connection-tracking entry behind; accepted, it would
	// hold the public port that a host behind the router is about to use
	// for that same peer, and the router would give the host another.
	l.must(ns, "iptables", "-A", "FORWARD", "-i", "wan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	l.must(ns, "iptables", "-A", "FORWARD", "-i", "wan", "-j", "DROP")
	l.must(ns, "iptables", "-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	l.must(ns, "iptables", "-A", "INPUT", "-i", "wan", "-j", "DROP")
	return &Router{lab: l, Name: ns, IP: ip, NAT: nat, subnet: i}
}

// Host adds a host behind the router, with a private address in its
// network.
func (r *Router) Host(name string) *Host {
	l := r.lab
	l.t.Helper()
	ns := l.space(name)
	j, ip := r.next()
	l.link(ns, "eth0", ip+"/24", r.Name, fmt.Sprintf("h%d", j), "lan")
	l.must(ns, "ip", "route", "add", "default", "via", r.gateway())
	return &Host{lab: l, Name: ns, IP: ip, router: r, port: fmt.Sprintf("h%d", j)}
}

// next numbers a new host of the router and gives its address.
func (r *Router) next() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members++
	return r.members, fmt.Sprintf("192.168.%d.%d", r.subnet, 9+r.members)
}

func (r *Router) gateway() string { return fmt.Sprintf("192.168.%d.1", r.subnet) }

// MoveTo moves a host that is behind a router behind router r instead,
// as a phone that leaves a Wi-Fi network for mobile data: its cable is
// plugged into r's network, and its address is replaced by one of r's,
// without the interface going away (so nothing on the host is told that
// its connections broke) and without any goodbye reaching anyone.
// Daemons running in the host keep running. Not to be called while
// another goroutine reads h.IP.
func (h *Host) MoveTo(r *Router) {
	l := h.lab
	l.t.Helper()
	if h.router == nil {
		l.t.Fatalf("natlab: %s is not behind a router", h.Name)
	}
	j, ip := r.next()
	port := fmt.Sprintf("h%d", j)
	l.must(h.router.Name, "ip", "link", "set", h.port, "down")
	l.must(h.router.Name, "ip", "link", "set", h.port, "name", port)
	l.must(h.router.Name, "ip", "link", "set", port, "netns", r.Name)
	l.must(r.Name, "ip", "link", "set", port, "master", "lan")
	l.must(r.Name, "ip", "link", "set", port, "up")
	l.must(h.Name, "ip", "addr", "replace", ip+"/24", "dev", "eth0")
	l.must(h.Name, "ip", "addr", "del", h.IP+"/24", "dev", "eth0")
	l.must(h.Name, "ip", "route", "replace", "default", "via", r.gateway())
	h.IP, h.router, h.port = ip, r, port
}

// LinkDown takes the host's link down, as when a phone leaves coverage:
// packets neither leave nor arrive, and nobody is told.
func (h *Host) LinkDown() {
	h.lab.t.Helper()
	h.lab.must(h.Name, "ip", "link", "set", "eth0", "down")
}

// Command returns a command that runs in the host's namespace.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.Name, name}, args...)...)
}

// Run runs a command in the host's namespace and returns its output.
func (h *Host) Run(name string, args ...string) (string, error) {
	out, err := h.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %v: %s", name, strings.Join(args, " "), h.Name, err, out)
	}
	return string(out), nil
}

// Translated returns how many flows the router has translated so far
// (the packet count of its MASQUERADE rule, which sees the first packet of
// each flow).
func (r *Router) Translated() (int, error) {
	out, err := exec.Command("ip", "netns", "exec", r.Name, "iptables", "-t", "nat", "-L", "POSTROUTING", "-v", "-n", "-x").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("iptables in %s: %v: %s", r.Name, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[2] == "MASQUERADE" {
			return strconv.Atoi(f[0])
		}
	}
	return 0, fmt.Errorf("no MASQUERADE rule in %s", r.Name)
}
