package node_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// skewed is a clock that is off by a settable amount.
type skewed struct{ off atomic.Int64 }

func newSkewed(d time.Duration) *skewed {
	s := &skewed{}
	s.off.Store(int64(d))
	return s
}

func (s *skewed) now() time.Time      { return time.Now().Add(time.Duration(s.off.Load())) }
func (s *skewed) add(d time.Duration) { s.off.Add(int64(d)) }

// clockNet builds a mocknet network in which node i's clock is off by
// offs[i]. Periodic sync is rare, so that what arrives promptly came by
// gossip.
func clockNet(t *testing.T, offs ...time.Duration) (*nodetest.Net, []*skewed) {
	t.Helper()
	clocks := make([]*skewed, len(offs))
	for i, d := range offs {
		clocks[i] = newSkewed(d)
	}
	net := nodetest.New(t, len(offs), nodetest.Options{Latency: 2 * time.Millisecond, Config: func(i int, c *node.Config) {
		c.Now = clocks[i].now
		c.AlarmJitter = 100 * time.Millisecond
		c.CatchUp = 100 * time.Millisecond
		c.SyncInterval = time.Hour
	}})
	return net, clocks
}

// feedEntry waits until nd's feed holds id, and returns it.
func feedEntry(t *testing.T, net *nodetest.Net, nd *nodetest.Node, id alert.ID, within time.Duration) node.Entry {
	t.Helper()
	var got node.Entry
	net.WaitFor(within, fmt.Sprintf("the message in node %d's feed", nd.Index), func() bool {
		f, _ := nd.Feed(node.FeedQuery{})
		for _, e := range f {
			if e.ID == id.String() {
				got = e
				return true
			}
		}
		return false
	})
	return got
}

// TestWrongClockPanicArrives: a panic from a phone whose clock is 25 hours
// behind, or 6 minutes ahead, reaches every member at once (by gossip,
// with no periodic sync to fall back on), shown as made now, with the
// author's clock error; and the owner of the wrong clock is told.
func TestWrongClockPanicArrives(t *testing.T) {
	t.Parallel()
	net, _ := clockNet(t, 0, 0, -25*time.Hour, 6*time.Minute)
	gid := net.Group("istmo")
	net.ConnectAll()
	for _, c := range []struct {
		from int
		off  time.Duration
	}{{2, -25 * time.Hour}, {3, 6 * time.Minute}} {
		id, err := net.Nodes[c.from].Panic(context.Background(), gid, "stopped by a patrol")
		if err != nil {
			t.Fatal(err)
		}
		sent := time.Now()
		for _, i := range []int{0, 1} {
			e := feedEntry(t, net, net.Nodes[i], id, 5*time.Second)
			t.Logf("panic from a clock %s off: in node %d's feed %s after it was sent", c.off, i, time.Since(sent).Round(time.Millisecond))
			if d := e.Created.Sub(sent); d < -5*time.Second || d > 5*time.Second {
				t.Errorf("node %d shows the panic from the clock %s off as made %s from now", i, c.off, d)
			}
			if want := int64(c.off / time.Second); e.AuthorClock < want-5 || e.AuthorClock > want+5 {
				t.Errorf("node %d: author_clock %d, want about %d", i, e.AuthorClock, want)
			}
			if !e.Expires.After(time.Now().Add(23 * time.Hour)) {
				t.Errorf("node %d: the panic expires %s", i, e.Expires)
			}
		}
	}
	// Everyone has met everyone (a sync on every new connection).
	for _, c := range []struct {
		i   int
		off time.Duration
	}{{0, 0}, {1, 0}, {2, -25 * time.Hour}, {3, 6 * time.Minute}} {
		nd := net.Nodes[c.i]
		net.WaitFor(10*time.Second, "the node compared its clock with the three others", func() bool { return nd.Status().Clock.Peers == 3 })
		st := nd.Status().Clock
		if st.Off != (c.off != 0) {
			t.Errorf("node %d (clock %s off): status %+v", c.i, c.off, st)
		}
		if want := int64(c.off / time.Second); c.off != 0 && (st.OffsetSeconds < want-5 || st.OffsetSeconds > want+5) {
			t.Errorf("node %d: offset %d s, want about %d", c.i, st.OffsetSeconds, want)
		}
	}
}

// TestWrongClockSyncedLater: a member who was offline receives, by sync
// from a third node, a panic from a phone 25 hours behind, and still shows
// it as made when it was, not as expired.
func TestWrongClockSyncedLater(t *testing.T) {
	t.Parallel()
	net, _ := clockNet(t, 0, -25*time.Hour, 0)
	gid := net.Group("istmo")
	net.ConnectAll()
	carmen := net.Nodes[2]
	carmen.Stop()
	id, err := net.Nodes[1].Panic(context.Background(), gid, "")
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	feedEntry(t, net, net.Nodes[0], id, 5*time.Second)
	net.Nodes[1].Stop()
	time.Sleep(time.Second)
	carmen.Start()
	if err := net.Connect(2, 0); err != nil {
		t.Fatal(err)
	}
	e := feedEntry(t, net, carmen, id, 10*time.Second)
	if d := e.Created.Sub(sent); d < -5*time.Second || d > 5*time.Second {
		t.Errorf("Carmen shows the panic as made %s from when it was", d)
	}
}

// TestTravellerClockBehind: a traveller whose phone is 2 hours behind
// starts a check-in due "in 3 seconds" by that phone. Nobody raises an
// alarm before then, and the alarm comes when it is due, with the due time
// as each node's clock has it.
func TestTravellerClockBehind(t *testing.T) {
	t.Parallel()
	net, clocks := clockNet(t, 0, -2*time.Hour, 0)
	gid := net.Group("istmo")
	net.ConnectAll()
	beto := net.Nodes[1]
	grace := 200 * time.Millisecond
	start := time.Now()
	id, err := beto.StartCheckIn(context.Background(), gid, node.CheckInRequest{To: "Ixtepec", Due: clocks[1].now().Add(3 * time.Second), Grace: &grace})
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range net.Nodes {
		net.WaitFor(5*time.Second, "every member holds the check-in", func() bool { return nd.Store.Has(id) })
	}
	time.Sleep(time.Until(start.Add(2 * time.Second)))
	for _, nd := range net.Nodes {
		if got := entries(t, nd, "overdue"); len(got) != 0 {
			t.Fatalf("node %d: an alarm before the traveller is due: %+v", nd.Index, got)
		}
		open, err := nd.CheckIns(gid)
		if err != nil || len(open) != 1 || open[0].State != "open" {
			t.Errorf("node %d: check-ins %+v, %v", nd.Index, open, err)
		}
	}
	alarm := alert.OverdueID(gid, id, 1)
	for _, nd := range net.Nodes {
		net.WaitFor(8*time.Second, "the alarm when it is due", func() bool { return nd.Store.Has(alarm) })
	}
	if since := time.Since(start); since < 3*time.Second {
		t.Errorf("alarm %s after the start, before the due time", since)
	}
	for _, nd := range []*nodetest.Node{net.Nodes[0], net.Nodes[2]} {
		e := entries(t, nd, "overdue")[0]
		if e.Due == nil || e.Due.Sub(start) < 2*time.Second || e.Due.Sub(start) > 5*time.Second {
			t.Errorf("node %d shows the due time %v, %s after the start", nd.Index, e.Due, e.Due.Sub(start))
		}
	}
}

// TestReplayWithUntrustedClocks: counting lifetimes from arrival must not
// let an old message in again. A member replays an envelope made three
// days ago with a lifetime of a day: it is refused as expired. A message
// held, expired and deleted is refused when replayed after its deletion,
// and is a duplicate while it is still held.
func TestReplayWithUntrustedClocks(t *testing.T) {
	t.Parallel()
	net, clocks := clockNet(t, 0, 0)
	gid := net.Group("istmo")
	net.ConnectAll()
	victim, mallory := net.Nodes[0], net.Nodes[1]
	keys := victim.KeysForTest(gid)
	signed := func(created time.Time, ttl time.Duration) ([]byte, alert.ID) {
		b, err := alert.Encode(created, &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevUrgent, Text: "old news", Expires: created.Add(ttl)})
		if err != nil {
			t.Fatal(err)
		}
		m, err := alert.Decode(gid, keys.Epoch(), mallory.Identity.ID(), b)
		if err != nil {
			t.Fatal(err)
		}
		return seal(t, keys, mallory.Identity.SignBody(gid, keys.Epoch(), b)), m.ID
	}
	old, oldID := signed(time.Now().Add(-72*time.Hour), 24*time.Hour)
	for name, ingest := range map[string]func([]byte) error{
		"live":   victim.IngestLiveForTest,
		"synced": func(env []byte) error { return victim.IngestSyncedForTest([][]byte{env})[0] },
	} {
		if err := ingest(old); err == nil || node.Rejected(err) || victim.Store.Has(oldID) {
			t.Errorf("%s: a three-day-old alert of one day replayed: %v", name, err)
		}
	}

	// An alert of one hour, taken, then deleted once it can no longer
	// look alive again.
	env, id := signed(time.Now(), time.Hour)
	if err := victim.IngestLiveForTest(env); err != nil {
		t.Fatal(err)
	}
	clocks[0].add(2 * time.Hour)
	victim.PruneForTest()
	if !victim.Store.Has(id) {
		t.Fatal("deleted while a replay could still be counted as alive")
	}
	if err := victim.IngestLiveForTest(env); err == nil || node.Rejected(err) {
		t.Errorf("replayed while held: %v", err)
	}
	clocks[0].add(alert.MaxClockError)
	victim.PruneForTest()
	if victim.Store.Has(id) {
		t.Fatal("still held long after it expired")
	}
	if err := victim.IngestLiveForTest(env); err == nil || node.Rejected(err) || victim.Store.Has(id) {
		t.Errorf("replayed after it was deleted: %v", err)
	}
	if f, _ := victim.Feed(node.FeedQuery{Group: gid}); len(f) != 0 {
		t.Errorf("the feed shows %+v", f)
	}
}

// escalationNet: 0 Ana and 1 Beto (the traveller) in istmo; 2 Mallory in
// istmo and in acompanamiento; 3 Gabi only in acompanamiento.
func escalationNet(t *testing.T) (*nodetest.Net, crypto.GroupID, crypto.GroupID) {
	t.Helper()
	net := checkinNet(t, 4, 100*time.Millisecond, nil)
	x := subgroup(t, net, "istmo", 0, 1, 2)
	y := subgroup(t, net, "acompanamiento", 2, 3)
	net.ConnectAll()
	return net, x, y
}

// signedBy signs a body as id in a group's current epoch, sealed.
func signedBy(t *testing.T, nd *nodetest.Node, gid crypto.GroupID, id *crypto.Identity, created time.Time, c alert.Content) ([]byte, alert.ID) {
	t.Helper()
	keys := nd.KeysForTest(gid)
	b, err := alert.Encode(created, c)
	if err != nil {
		t.Fatal(err)
	}
	m, err := alert.Decode(gid, keys.Epoch(), id.ID(), b)
	if err != nil {
		t.Fatal(err)
	}
	return seal(t, keys, id.SignBody(gid, keys.Epoch(), b)), m.ID
}

// TestFakeEarlyEscalation: Mallory, in both groups, sends the escalation
// of Beto's check-in into the second group before it is due: as a
// version-1 alarm (text only), which Gabi, who holds nothing of the first
// group, cannot check; and carrying Beto's signed check-in, an hour before
// its time. Gabi takes neither, so when the real escalation comes it is
// not a duplicate: she keeps it.
func TestFakeEarlyEscalation(t *testing.T) {
	t.Parallel()
	net, x, y := escalationNet(t)
	beto, mallory, gabi := net.Nodes[1], net.Nodes[2], net.Nodes[3]
	escalateAfter := time.Second
	start := time.Now()
	soon := startCheckIn(t, net, beto, x, 1500*time.Millisecond, 200*time.Millisecond, node.CheckInRequest{
		EscalateAfter: escalateAfter, EscalateTo: y.String(),
	})
	later := startCheckIn(t, net, beto, x, time.Hour, 200*time.Millisecond, node.CheckInRequest{
		To: "Salina Cruz", EscalateAfter: escalateAfter, EscalateTo: y.String(),
	})
	expires := start.Add(24 * time.Hour)
	fake, fakeID := signedBy(t, gabi, y, mallory.Identity, start.Add(3*time.Second), &alert.Alert{
		Kind: alert.KindOverdue, Severity: alert.SevCritical, Text: "member-01 arrived; ignore the alarm", Expires: expires, CheckIn: soon, Level: 2,
	})
	if err := gabi.IngestLiveForTest(fake); err == nil || node.Rejected(err) || gabi.Store.Has(fakeID) {
		t.Fatalf("a version-1 escalation for a check-in Gabi cannot check: %v", err)
	}
	signed := mallory.SignedCheckInForTest(later, y)
	ci := signed.CheckIn()
	early, earlyID := signedBy(t, gabi, y, mallory.Identity, start, &alert.Alert{
		Kind: alert.KindOverdue, Severity: alert.SevCritical, Place: ci.To, Expires: expires, CheckIn: later, Level: 2,
		Notice: &alert.Notice{
			What: alert.NoticeOverdue, Who: beto.Identity.ID(), WhoName: "member-01", From: ci.From, To: ci.To,
			Due: ci.Due, Since: ci.Deadline(), Note: ci.Text, Group: "istmo", CheckIn: signed,
		},
	})
	if err := gabi.IngestLiveForTest(early); err == nil || node.Rejected(err) || gabi.Store.Has(earlyID) {
		t.Fatalf("an escalation an hour before its time: %v", err)
	}
	due := start.Add(1500*time.Millisecond + 200*time.Millisecond + escalateAfter)
	net.WaitFor(10*time.Second, "the real escalation reaches Gabi", func() bool { return gabi.Store.Has(fakeID) })
	e := feedEntry(t, net, gabi, fakeID, time.Second)
	if e.Created.Before(due.Add(-time.Second)) || e.Notice == nil || e.Notice.Who != "member-01" || e.Text != "" {
		t.Errorf("Gabi keeps an escalation made at %s (due %s): %+v", e.Created, due, e)
	}
}

// TestAckBeforeAlarm: Mallory acknowledges the alarm of Beto's check-in
// before it exists (its id can be computed in advance). Her answer answers
// nothing: the alarm still escalates when nobody answers it.
func TestAckBeforeAlarm(t *testing.T) {
	t.Parallel()
	net, x, y := escalationNet(t)
	mallory := net.Nodes[2]
	id := startCheckIn(t, net, net.Nodes[1], x, 1500*time.Millisecond, 200*time.Millisecond, node.CheckInRequest{
		EscalateAfter: time.Second, EscalateTo: y.String(),
	})
	alarm := alert.OverdueID(x, id, 1)
	env, ack := signedBy(t, mallory, x, mallory.Identity, time.Now(), &alert.Ack{Ref: alarm, Status: alert.AckResponding})
	for _, nd := range net.Nodes[:3] {
		if err := nd.IngestLiveForTest(env); err != nil && !nd.Store.Has(ack) {
			t.Fatalf("node %d: %v", nd.Index, err)
		}
	}
	for _, nd := range net.Nodes[:3] {
		net.WaitFor(10*time.Second, "the escalation", func() bool { return nd.Store.Has(alert.OverdueID(x, id, 2)) })
	}
	net.WaitFor(5*time.Second, "the escalation in the second group", func() bool { return net.Nodes[3].Store.Has(alert.OverdueID(y, id, 2)) })
}
