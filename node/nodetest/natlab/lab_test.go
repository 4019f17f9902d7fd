package natlab_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
	"github.com/takecare-network/takecare/node/nodetest/natlab"
)

// group is a group formed in a lab: the founder's daemon first.
type group struct {
	name    string
	daemons []*natlab.Daemon
}

// formGroup has founder (running) create a group and the others (running)
// join it with one invite code.
func formGroup(t *testing.T, ctx context.Context, name string, founder *natlab.Daemon, others ...*natlab.Daemon) *group {
	t.Helper()
	if _, err := founder.API.CreateGroup(ctx, name); err != nil {
		t.Fatalf("create group: %v", err)
	}
	inv, err := founder.API.Invite(ctx, name, len(others), time.Hour)
	if err != nil {
		t.Fatalf("invite: %v", err)
	}
	for _, d := range others {
		if _, err := d.API.Join(ctx, inv.Code); err != nil {
			t.Fatalf("%s joining: %v\n%s", d.Name, err, d.Log())
		}
	}
	return &group{name: name, daemons: append([]*natlab.Daemon{founder}, others...)}
}

// sendAndWait has from send an alert (or a panic) and waits until every
// daemon in to shows it.
func sendAndWait(t *testing.T, ctx context.Context, g *group, panic bool, from *natlab.Daemon, to ...*natlab.Daemon) string {
	t.Helper()
	var r api.SentResponse
	var err error
	if panic {
		r, err = from.API.Panic(ctx, g.name, "stopped at a checkpoint")
	} else {
		r, err = from.API.Alert(ctx, g.name, api.AlertRequest{Kind: "danger", Severity: "urgent", Text: "armed men at the crossroads"})
	}
	if err != nil {
		t.Fatalf("%s sending: %v", from.Name, err)
	}
	for _, d := range to {
		wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		e, err := d.WaitFeed(wctx, r.ID)
		cancel()
		if err != nil {
			t.Fatalf("%v\n--- %s's log:\n%s\n--- %s's log:\n%s", err, from.Name, from.Log(), d.Name, d.Log())
		}
		if want := map[bool]string{true: "panic", false: "danger"}[panic]; e.Kind != want {
			t.Fatalf("%s shows kind %q, want %q", d.Name, e.Kind, want)
		}
	}
	return r.ID
}

// TestNATVolunteerMember: two members behind different home routers (one
// of them randomising ports) cannot reach each other, but both reach a
// volunteer member's node with a public address. Alerts and panics flow
// both ways through it, and a member that was off receives what it missed
// from the volunteer by sync.
func TestNATVolunteerMember(t *testing.T) {
	lab := natlab.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	server := lab.Public("vol")
	homeA := lab.Router("ra", natlab.Masquerade)
	homeB := lab.Router("rb", natlab.RandomPorts)
	hostA, hostB := homeA.Host("a"), homeB.Host("b")

	vol, ana, beto := lab.Daemon("Vol"), lab.Daemon("Ana"), lab.Daemon("Beto")
	vol.Start(server)
	ana.Start(hostA)
	beto.Start(hostB)
	g := formGroup(t, ctx, "istmo", vol, ana, beto)

	sendAndWait(t, ctx, g, false, ana, beto, vol)
	sendAndWait(t, ctx, g, true, beto, ana, vol)

	// Store and forward: Beto is off while Ana alerts; the volunteer holds
	// it and Beto gets it when he is back.
	beto.Stop()
	id := sendAndWait(t, ctx, g, false, ana, vol)
	beto.Start(hostB)
	wctx, wcancel := context.WithTimeout(ctx, 90*time.Second)
	defer wcancel()
	if _, err := beto.WaitFeed(wctx, id); err != nil {
		t.Fatalf("after coming back: %v\n%s", err, beto.Log())
	}
	// What reached them went through the volunteer: with no relay, the
	// two members behind NAT never connect to each other.
	st, err := ana.API.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Peers != 1 {
		t.Fatalf("Ana is connected to %d member nodes, want 1 (the volunteer's)", st.Peers)
	}
	// And the routers did translate their traffic.
	for _, r := range []*natlab.Router{homeA, homeB} {
		if n, err := r.Translated(); err != nil || n == 0 {
			t.Fatalf("router %s translated %d flows (%v)", r.Name, n, err)
		}
	}
}

// TestSweep: namespaces left by a lab whose process is gone are deleted;
// those of a running process are kept.
func TestSweep(t *testing.T) {
	if err := natlab.Available(); err != nil {
		t.Skipf("natlab: %v", err)
	}
	// Process id 1 is always running; a pid above the kernel's maximum
	// never is.
	stale := fmt.Sprintf("%s%dxstale", natlab.Prefix, 1<<22+1)
	live := fmt.Sprintf("%s1xlive", natlab.Prefix)
	for _, ns := range []string{stale, live} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", live).Run() })
	natlab.Sweep()
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), stale) {
		exec.Command("ip", "netns", "del", stale).Run()
		t.Errorf("a stale namespace was kept")
	}
	if !strings.Contains(string(out), live) {
		t.Errorf("a running lab's namespace was deleted")
	}
}

// pathTo waits until d's status shows the member named name reached by
// path, and returns that view.
func pathTo(t *testing.T, ctx context.Context, d *natlab.Daemon, name, path string) node.PathView {
	t.Helper()
	var got node.PathView
	err := natlab.Wait(ctx, func() error {
		st, err := d.API.Status(ctx)
		if err != nil {
			return err
		}
		for _, p := range st.Paths {
			if p.Name == name {
				got = p
				if p.Path == path {
					return nil
				}
				return fmt.Errorf("%s reaches %s %s (via %q), not %s", d.Name, name, p.Path, p.Via, path)
			}
		}
		return fmt.Errorf("%s does not list %s", d.Name, name)
	})
	if err != nil {
		t.Fatalf("%v\n--- %s's log:\n%s", err, d.Name, d.Log())
	}
	return got
}

// TestNATRelayHolePunch: a volunteer member node relays (circuit relay v2)
// for two members behind different MASQUERADE routers; they reach each
// other through it, hole punching replaces the relayed connection with a
// direct one, and once the volunteer is stopped they still exchange
// alerts both ways.
func TestNATRelayHolePunch(t *testing.T) {
	lab := natlab.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	server := lab.Public("vol")
	hostA := lab.Router("ra", natlab.Masquerade).Host("a")
	hostB := lab.Router("rb", natlab.Masquerade).Host("b")
	vol, ana, beto := lab.Daemon("Vol"), lab.Daemon("Ana"), lab.Daemon("Beto")
	vol.Start(server, "--relay")
	ana.Start(hostA)
	beto.Start(hostB)
	g := formGroup(t, ctx, "istmo", vol, ana, beto)

	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	pathTo(t, wctx, ana, "Beto", node.PathDirect)
	pathTo(t, wctx, beto, "Ana", node.PathDirect)
	st, err := vol.API.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Relay == nil || st.Relay.Bytes == 0 {
		t.Fatalf("the volunteer relayed nothing: %+v", st.Relay)
	}
	t.Logf("volunteer relayed %d bytes, %d slots held", st.Relay.Bytes, st.Relay.Reservations)

	vol.Stop()
	sendAndWait(t, ctx, g, false, ana, beto)
	sendAndWait(t, ctx, g, true, beto, ana)
}
