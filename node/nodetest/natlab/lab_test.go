package natlab_test

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest/natlab"
)

// sendAndWait has from send an alert (or a panic) and waits until every
// daemon in to shows it.
func sendAndWait(t *testing.T, ctx context.Context, tr *natlab.Trio, panic bool, from *natlab.Daemon, to ...*natlab.Daemon) string {
	t.Helper()
	id, err := natlab.Send(ctx, from, tr.Group, panic)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range to {
		wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		e, err := d.WaitFeed(wctx, id)
		cancel()
		if err != nil {
			t.Fatalf("%v\n--- %s's log:\n%s\n--- %s's log:\n%s", err, from.Name, from.Log(), d.Name, d.Log())
		}
		if want := map[bool]string{true: "panic", false: "danger"}[panic]; e.Kind != want {
			t.Fatalf("%s shows kind %q, want %q", d.Name, e.Kind, want)
		}
	}
	return id
}

// sendAndWaitIn has from send an alert to group and waits until every
// daemon in to shows it.
func sendAndWaitIn(t *testing.T, ctx context.Context, group string, from *natlab.Daemon, to ...*natlab.Daemon) {
	t.Helper()
	sendAndWait(t, ctx, &natlab.Trio{Group: group}, false, from, to...)
}

// waitPath waits until d reaches the member named name by path.
func waitPath(t *testing.T, ctx context.Context, d *natlab.Daemon, name, path string) node.PathView {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	v, err := natlab.WaitPath(wctx, d, name, path)
	if err != nil {
		t.Fatalf("%v\n--- %s's log:\n%s", err, d.Name, d.Log())
	}
	return v
}

// TestNATVolunteerMember: two members behind different home routers (one
// of them randomising ports) cannot reach each other, but both reach a
// volunteer member's node with a public address. Alerts and panics flow
// both ways through it, and a member that was off receives what it missed
// from the volunteer by sync.
func TestNATVolunteerMember(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tr := natlab.NewTrio(t, ctx, natlab.Masquerade, natlab.RandomPorts)
	vol, ana, beto := tr.Vol, tr.Ana, tr.Beto

	sendAndWait(t, ctx, tr, false, ana, beto, vol)
	sendAndWait(t, ctx, tr, true, beto, ana, vol)

	// Store and forward: Beto is off while Ana alerts; the volunteer holds
	// it and Beto gets it when he is back.
	beto.Stop()
	id := sendAndWait(t, ctx, tr, false, ana, vol)
	beto.Start(tr.HostB)
	wctx, wcancel := context.WithTimeout(ctx, 90*time.Second)
	defer wcancel()
	if _, err := beto.WaitFeed(wctx, id); err != nil {
		t.Fatalf("after coming back: %v\n%s", err, beto.Log())
	}
	// What reached them went through the volunteer: with no relay, the
	// two members behind NAT never connect to each other, and each says
	// so.
	waitPath(t, ctx, ana, "Beto", node.PathUnreachable)
	waitPath(t, ctx, ana, "Vol", node.PathDirect)
	// And the routers did translate their traffic.
	for _, r := range []*natlab.Router{tr.RouterA, tr.RouterB} {
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

// TestNATRelayHolePunch: a volunteer member node relays (circuit relay v2)
// for two members behind different MASQUERADE routers; they reach each
// other through it, hole punching replaces the relayed connection with a
// direct one, and the relayed one is closed: the relay carries nothing of
// the next alert. Started afresh on other ports (a new try, with nothing
// left in the routers), they punch a hole again. Once the volunteer is
// stopped they still exchange alerts both ways. Each status says what it
// sees.
func TestNATRelayHolePunch(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	tr := natlab.NewTrio(t, ctx, natlab.Masquerade, natlab.Masquerade, "--relay")
	vol, ana, beto := tr.Vol, tr.Ana, tr.Beto

	waitPath(t, ctx, ana, "Beto", node.PathDirect)
	waitPath(t, ctx, beto, "Ana", node.PathDirect)
	st := waitRelay(t, ctx, vol, func(r node.RelayStats) bool { return r.Circuits == 0 })
	if st.Bytes == 0 {
		t.Fatalf("the volunteer relayed nothing: %+v", st)
	}
	out, err := vol.CLI("status")
	if err != nil || !strings.Contains(out, "relaying for others: 2 slots held") {
		t.Fatalf("the volunteer's status does not say what it relays (%v):\n%s", err, out)
	}
	out, err = ana.CLI("status")
	if err != nil || !regexp.MustCompile(`member Beto +[0-9a-f]{12}  direct for .*; last sync`).MatchString(out) {
		t.Fatalf("Ana's status does not show Beto direct (%v):\n%s", err, out)
	}
	sendAndWait(t, ctx, tr, false, ana, beto)
	if after := relayStats(t, ctx, vol); after.Bytes != st.Bytes {
		t.Fatalf("after the hole punch the relay still carried %d bytes", after.Bytes-st.Bytes)
	}

	try := runTry(t, ctx, tr, 4101)
	if !try.Punched || try.Path != node.PathDirect {
		t.Fatalf("the second try did not punch a hole: %+v", try)
	}

	vol.Stop()
	sendAndWait(t, ctx, tr, false, ana, beto)
	sendAndWait(t, ctx, tr, true, beto, ana)
}

// TestNATRelayFallback: behind two routers that randomise ports, hole
// punching fails and the two members stay connected through the
// volunteer's relay, which carries their alerts; so it is on a second try
// from other ports.
func TestNATRelayFallback(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	tr := natlab.NewTrio(t, ctx, natlab.RandomPorts, natlab.RandomPorts, "--relay")
	v := waitPath(t, ctx, tr.Ana, "Beto", node.PathRelayed)
	if v.Via != "Vol" {
		t.Fatalf("Ana reaches Beto through %q, want Vol", v.Via)
	}
	sendAndWait(t, ctx, tr, true, tr.Beto, tr.Ana)
	out, err := tr.Ana.CLI("status")
	if err != nil || !strings.Contains(out, "relayed through Vol") {
		t.Fatalf("Ana's status does not show the relay (%v):\n%s", err, out)
	}
	try := runTry(t, ctx, tr, 4101)
	if try.Punched || try.Path != node.PathRelayed {
		t.Fatalf("behind two port-randomising routers: %+v, want relayed", try)
	}
}

// TestNATRelayMixed: one member behind MASQUERADE, the other behind a
// router that randomises ports. Whether or not the hole punch succeeds,
// alerts arrive, and Ana's status says which path they took.
func TestNATRelayMixed(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	tr := natlab.NewTrio(t, ctx, natlab.Masquerade, natlab.RandomPorts, "--relay")
	try := runTry(t, ctx, tr, 4101)
	want := map[bool]string{true: node.PathDirect, false: node.PathRelayed}[try.Punched]
	if try.Path != want {
		t.Fatalf("punched %v but Ana reaches Beto %s: %+v", try.Punched, try.Path, try)
	}
}

// runTry runs one try (natlab.Trio.Try) from port and logs what it gave.
func runTry(t *testing.T, ctx context.Context, tr *natlab.Trio, port int) natlab.Try {
	t.Helper()
	try, err := tr.Try(ctx, port, 90*time.Second)
	if err != nil {
		t.Fatalf("%v\n--- Ana's log:\n%s\n--- Beto's log:\n%s", err, tr.Ana.Log(), tr.Beto.Log())
	}
	t.Logf("%s/%s: %+v", tr.RouterA.NAT, tr.RouterB.NAT, try)
	return try
}

// relayStats returns what d relays now.
func relayStats(t *testing.T, ctx context.Context, d *natlab.Daemon) node.RelayStats {
	t.Helper()
	st, err := d.API.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Relay == nil {
		t.Fatalf("%s is not a relay", d.Name)
	}
	return *st.Relay
}

// waitRelay waits until what d relays meets cond, and returns it.
func waitRelay(t *testing.T, ctx context.Context, d *natlab.Daemon, cond func(node.RelayStats) bool) node.RelayStats {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last node.RelayStats
	err := natlab.Wait(wctx, func() error {
		last = relayStats(t, wctx, d)
		if cond(last) {
			return nil
		}
		return fmt.Errorf("%s relays %+v", d.Name, last)
	})
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// TestNATRendezvous: a group of two volunteers' relays, a member behind a
// home router and a member with a public address (an office). While they
// are all off, every address changes but one: a volunteer's server and
// the office member move to other public addresses, and the member at
// home is behind another router. Back on, the group finds itself again
// without a new invite, through the one relay that stayed where it was:
// each node leaves its address there and reads the others'
// (rendezvous). The two public nodes hold no relay slot, so nothing but
// rendezvous tells one where the other went; they reach each other
// directly, and alerts flow.
func TestNATRendezvous(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	lab := natlab.New(t)
	v1, v2, office := lab.Public("v1"), lab.Public("v2"), lab.Public("office")
	ra := lab.Router("ra", natlab.Masquerade)
	vol1, vol2, ana, beto := lab.Daemon("Vol1"), lab.Daemon("Vol2"), lab.Daemon("Ana"), lab.Daemon("Beto")
	vol1.Start(v1, "--relay")
	vol2.Start(v2, "--relay")
	ana.Start(ra.Host("a"))
	beto.Start(office)
	if err := natlab.FormGroup(ctx, "istmo", vol1, vol2, ana, beto); err != nil {
		t.Fatal(err)
	}
	waitPath(t, ctx, beto, "Vol1", node.PathDirect)
	waitPath(t, ctx, ana, "Vol1", node.PathDirect)

	for _, d := range []*natlab.Daemon{vol1, vol2, ana, beto} {
		d.Stop()
	}
	v1b, office2 := lab.Public("v1b"), lab.Public("office2")
	ra2 := lab.Router("ra2", natlab.RandomPorts)
	vol2.Start(v2, "--relay")
	vol1.Start(v1b, "--relay")
	beto.Start(office2)
	ana.Start(ra2.Host("a2"))

	waitPath(t, ctx, beto, "Vol1", node.PathDirect)
	waitPath(t, ctx, vol1, "Beto", node.PathDirect)
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	for _, d := range []*natlab.Daemon{vol1, vol2, ana, beto} {
		if err := natlab.Wait(wctx, func() error {
			st, err := d.API.Status(wctx)
			if err != nil {
				return err
			}
			for _, p := range st.Paths {
				if p.Path == node.PathUnreachable {
					return fmt.Errorf("%s does not reach %s", d.Name, p.Name)
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("%v\n--- %s's log:\n%s", err, d.Name, d.Log())
		}
	}
	id, err := natlab.Send(ctx, ana, "istmo", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*natlab.Daemon{beto, vol1, vol2} {
		if _, err := d.WaitFeed(wctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNATOutsiderRelay: an organisation's always-on node that is in no
// group relays for one. Ana founds the group from an office with a public
// address, Beto joins from behind a port-randomising router; Ana grants
// the organisation's node (takecare relay grant) and its operator accepts
// the code (takecare relay accept). Then Ana goes home, behind another
// such router: no member can reach another, and no hole can be punched,
// yet alerts flow both ways through the organisation's relay, which holds
// no group and no message.
func TestNATOutsiderRelay(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	lab := natlab.New(t)
	office, orgHost := lab.Public("office"), lab.Public("org")
	ra, rb := lab.Router("ra", natlab.RandomPorts), lab.Router("rb", natlab.RandomPorts)
	ana, beto, org := lab.Daemon("Ana"), lab.Daemon("Beto"), lab.Daemon("Org")
	ana.Start(office)
	beto.Start(rb.Host("b"))
	org.Start(orgHost, "--relay")
	if err := natlab.FormGroup(ctx, "istmo", ana, beto); err != nil {
		t.Fatal(err)
	}
	orgAddr, err := org.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ana.CLI("relay", "grant", "istmo", orgAddr, "--name", "Org")
	if err != nil {
		t.Fatalf("relay grant: %v\n%s", err, out)
	}
	if out, err := org.CLI("relay", "accept", natlab.LastLine(out)); err != nil {
		t.Fatalf("relay accept: %v\n%s", err, out)
	}
	waitPath(t, ctx, beto, "Ana", node.PathDirect)

	ana.Stop()
	ana.Start(ra.Host("a"))
	v := waitPath(t, ctx, ana, "Beto", node.PathRelayed)
	if v.Via != "Org" {
		t.Fatalf("Ana reaches Beto through %q, want Org", v.Via)
	}
	sendAndWait(t, ctx, &natlab.Trio{Group: "istmo"}, true, ana, beto)
	sendAndWait(t, ctx, &natlab.Trio{Group: "istmo"}, false, beto, ana)
	st, err := org.API.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Groups) != 0 || st.Messages != 0 || st.Relay == nil || st.Relay.Codes != 1 || st.Relay.Bytes == 0 {
		t.Fatalf("the organisation's node: %d groups, %d messages, relay %+v", len(st.Groups), st.Messages, st.Relay)
	}
}

// TestNATAddressChange: while the daemons run, Ana's phone leaves her
// home Wi-Fi for mobile data (behind another router, with a new address)
// and Beto's office loses its link. Each end of each link finds out by
// itself within seconds: Ana and the volunteer keep or redial their
// link, so a panic Ana sends just after the move reaches the volunteer
// promptly, one the volunteer sends then reaches Ana, and both say the
// other is reachable; the volunteer stops saying Beto is reachable
// (pinged when quiet, he does not answer), and Beto stops saying it is.
// Without the pings the volunteer counts Beto as reachable until QUIC's
// idle timeout, 30 s after his last packet. (Ana's own node learns of
// the move at once, pings or not: sends from her old address fail.)
func TestNATAddressChange(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	lab := natlab.New(t)
	server, office := lab.Public("vol"), lab.Public("office")
	home, mobile := lab.Router("home", natlab.Masquerade), lab.Router("mobile", natlab.RandomPorts)
	phone := home.Host("phone")
	vol, ana, beto := lab.Daemon("Vol"), lab.Daemon("Ana"), lab.Daemon("Beto")
	vol.Start(server)
	ana.Start(phone)
	beto.Start(office)
	if err := natlab.FormGroup(ctx, "istmo", vol, ana, beto); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]*natlab.Daemon{{vol, ana}, {ana, vol}, {vol, beto}, {beto, vol}} {
		waitPath(t, ctx, p[0], p[1].Name, node.PathDirect)
	}

	// Beto's last alert: the link to him carried traffic (and his node's
	// check that the volunteer got it, a ping) just before it dies, as
	// when someone walks out of coverage right after writing. From then
	// on the transports' idle timeouts run their full 30 s.
	sendAndWaitIn(t, ctx, "istmo", beto, vol)

	start := time.Now()
	phone.MoveTo(mobile)
	office.LinkDown()
	t.Logf("Ana moved to %s behind %s, Beto's link is down", phone.IP, mobile.IP)
	id, err := natlab.Send(ctx, ana, "istmo", true)
	if err != nil {
		t.Fatal(err)
	}
	// direct: d's status says it reaches name directly. After the move
	// that is so either over a connection made since or over one that
	// survived it (QUIC follows a client to its new address); the panics
	// sent each way after the move show which links work.
	direct := func(d *natlab.Daemon, name string) func() error {
		return func() error {
			v, err := pathOf(ctx, d, name)
			if err == nil && v.Path != node.PathDirect {
				err = fmt.Errorf("%s reaches %s %s", d.Name, name, v.Path)
			}
			return err
		}
	}
	lost := func(d *natlab.Daemon, name string) func() error {
		return func() error {
			v, err := pathOf(ctx, d, name)
			if err == nil && v.Path != node.PathUnreachable {
				err = fmt.Errorf("%s still reaches %s %s", d.Name, name, v.Path)
			}
			return err
		}
	}
	checks := []struct {
		what string
		cond func() error
	}{
		{"the panic Ana sent after moving is in the volunteer's feed", func() error {
			wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			_, err := vol.WaitFeed(wctx, id)
			return err
		}},
		{"the volunteer says it reaches Ana directly", direct(vol, "Ana")},
		{"Ana says she reaches the volunteer directly", direct(ana, "Vol")},
		{"the volunteer says Beto is unreachable", lost(vol, "Beto")},
		{"Beto says the volunteer is unreachable", lost(beto, "Vol")},
	}
	// Within seconds: a member node quiet for 15 s is pinged within 5 s
	// more and has 5 s to answer (25 s at most after the last ping, in
	// Beto's case); redialling takes a second. Without the
	// pings, the volunteer holds the dead link to Beto until QUIC's idle
	// timeout, 30 s after his last packet.
	const bound = 28 * time.Second
	took := make([]time.Duration, len(checks))
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
			defer cancel()
			errs[i] = natlab.Wait(wctx, c.cond)
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, c := range checks {
		t.Logf("%5.1f s  %s", took[i].Seconds(), c.what)
	}
	for i, c := range checks {
		switch {
		case errs[i] != nil:
			t.Errorf("%s: %v", c.what, errs[i])
		case took[i] > bound:
			t.Errorf("%s only after %s (want within %s)", c.what, took[i].Round(100*time.Millisecond), bound)
		}
	}
	// And the other way: a panic the volunteer sends now reaches Ana at
	// her new place, live.
	sent := time.Now()
	id, err = natlab.Send(ctx, vol, "istmo", true)
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		_, err = ana.WaitFeed(wctx, id)
		cancel()
	}
	t.Logf("%5.1f s  the volunteer's panic is in Ana's feed", time.Since(sent).Seconds())
	if err != nil || time.Since(sent) > bound {
		t.Errorf("the volunteer's panic to Ana at her new place: %v, after %s", err, time.Since(sent).Round(100*time.Millisecond))
	}
	if t.Failed() {
		t.Logf("--- Ana's log:\n%s\n--- the volunteer's log:\n%s\n--- Beto's log:\n%s", ana.Log(), vol.Log(), beto.Log())
	}
	// What a person sees: the CLI's status.
	out, err := vol.CLI("status")
	if err != nil {
		t.Fatalf("status: %v: %s", err, out)
	}
	for _, want := range []*regexp.Regexp{regexp.MustCompile(`member Ana .*direct`), regexp.MustCompile(`member Beto .*unreachable`)} {
		if !want.MatchString(out) {
			t.Errorf("the volunteer's status does not match %q:\n%s", want, out)
		}
	}
}

// pathOf returns how d's status says the member named name is reached.
func pathOf(ctx context.Context, d *natlab.Daemon, name string) (node.PathView, error) {
	st, err := d.API.Status(ctx)
	if err != nil {
		return node.PathView{}, err
	}
	for _, p := range st.Paths {
		if p.Name == name {
			return p, nil
		}
	}
	return node.PathView{}, fmt.Errorf("%s does not list %s", d.Name, name)
}
