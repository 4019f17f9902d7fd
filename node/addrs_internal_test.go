package node

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
)

// refusedByAndroid is the error net.InterfaceAddrs returns to an app on
// Android 11 and later (net/interface_linux.go wraps NetlinkRIB's EACCES
// so): what anet returns too when built without cgo, as it then does not
// know it runs on Android.
var refusedByAndroid = &net.OpError{Op: "route", Net: "ip+net", Err: os.NewSyscallError("netlinkrib", syscall.EACCES)}

// androidLister stands for anet.InterfaceAddrs on a phone with Android 11
// or later: refused until told it runs on Android 11, then the phone's
// addresses (mobile data: a carrier address; Wi-Fi: a home address).
type androidLister struct {
	told  int
	addrs []net.Addr
}

func (a *androidLister) list() ([]net.Addr, error) {
	if a.told == 0 {
		return nil, refusedByAndroid
	}
	return a.addrs, nil
}

func (a *androidLister) asAndroid11() { a.told++ }

// TestInterfaceAddrsAndroid: where the system refuses netlink to apps,
// the node still learns its addresses, so it advertises them and knows
// whether it needs relay slots. interfaceAddrsRetry is what
// systemInterfaceAddrs runs on every system, with anet's lister.
func TestInterfaceAddrsAndroid(t *testing.T) {
	t.Parallel()
	public := &net.IPNet{IP: net.IPv4(187, 190, 10, 7), Mask: net.CIDRMask(24, 32)}
	phone := &androidLister{addrs: []net.Addr{public}}
	n := &Node{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	n.cfg.interfaces = func() ([]net.Addr, error) { return interfaceAddrsRetry(phone.list, phone.asAndroid11) }
	got := n.interfaceAddrs()
	if len(got) != 1 || got[0].String() != "/ip4/187.190.10.7" {
		t.Fatalf("interface addresses on Android 11+: %v, want /ip4/187.190.10.7", got)
	}
	if n.needsRelay() {
		t.Error("a phone with a public address on its interface takes relay slots")
	}
	// Once told, anet stays told: no second refusal, no second retry.
	n.interfaceAddrs()
	if phone.told != 1 {
		t.Errorf("anet told it runs on Android 11 %d times, want 1", phone.told)
	}
}

// TestInterfaceAddrsRefusedElsewhere: where telling anet changes nothing
// (any other system refusing), or the error is not a refusal, the error
// comes back as it is, after at most one retry, and the node lists no
// address (it logs a warning) rather than a made-up one.
func TestInterfaceAddrsRefusedElsewhere(t *testing.T) {
	t.Parallel()
	calls, told := 0, 0
	_, err := interfaceAddrsRetry(func() ([]net.Addr, error) { calls++; return nil, refusedByAndroid }, func() { told++ })
	if !errors.Is(err, syscall.EACCES) || calls != 2 || told != 1 {
		t.Errorf("still refused: err %v after %d calls, told %d times; want EACCES after 2 calls, told once", err, calls, told)
	}
	other := errors.New("no such device")
	calls, told = 0, 0
	_, err = interfaceAddrsRetry(func() ([]net.Addr, error) { calls++; return nil, other }, func() { told++ })
	if err != other || calls != 1 || told != 0 {
		t.Errorf("another error: %v after %d calls, told %d times; want it as it is after 1 call", err, calls, told)
	}
	n := &Node{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	n.cfg.interfaces = func() ([]net.Addr, error) { return nil, refusedByAndroid }
	if got := n.interfaceAddrs(); got != nil {
		t.Errorf("interface addresses when refused: %v, want none", got)
	}
}

// TestSystemInterfaceAddrs: where netlink is allowed (this machine),
// systemInterfaceAddrs lists what the standard library lists.
func TestSystemInterfaceAddrs(t *testing.T) {
	t.Parallel()
	want, err := net.InterfaceAddrs()
	if err != nil {
		t.Skipf("the standard library cannot list interfaces here: %v", err)
	}
	got, err := systemInterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	str := func(as []net.Addr) []string {
		var s []string
		for _, a := range as {
			s = append(s, a.String())
		}
		slices.Sort(s)
		return s
	}
	if !slices.Equal(str(got), str(want)) {
		t.Errorf("systemInterfaceAddrs: %v, net.InterfaceAddrs: %v", got, want)
	}
}
