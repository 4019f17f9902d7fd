package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// checkinNet builds a mocknet network whose watchdogs wait at most jitter
// before raising an alarm (negative: not at all) and give a restarted node
// catchUp before raising what it missed.
func checkinNet(t *testing.T, n int, jitter time.Duration, catchUp *time.Duration) *nodetest.Net {
	t.Helper()
	return nodetest.New(t, n, nodetest.Options{Latency: 2 * time.Millisecond, Config: func(i int, c *node.Config) {
		c.AlarmJitter = jitter
		c.CatchUp = 100 * time.Millisecond
		if catchUp != nil {
			c.CatchUp = *catchUp
		}
	}})
}

func ptr[T any](v T) *T { return &v }

// entries returns the entries of a node's feed with the given kind.
func entries(t *testing.T, nd *nodetest.Node, kind string) []node.Entry {
	t.Helper()
	feed, err := nd.Feed(node.FeedQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var out []node.Entry
	for _, e := range feed {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// startCheckIn has nd start a check-in due in due, with the grace given,
// and waits until every running node of the group holds it.
func startCheckIn(t *testing.T, net *nodetest.Net, nd *nodetest.Node, gid crypto.GroupID, due, grace time.Duration, r node.CheckInRequest) alert.ID {
	t.Helper()
	r.Due, r.Grace = time.Now().Add(due), &grace
	if r.To == "" {
		r.From, r.To = "Juchitán", "Ixtepec"
	}
	// GossipSub hands a message to the peers it knows are on the topic;
	// one connected a moment ago may not have said so yet, and then only
	// the periodic sync (a minute) would bring it the check-in.
	topic := nd.KeysForTest(gid).Topic()
	net.WaitFor(10*time.Second, "pubsub counts every connected member node on the topic", func() bool {
		on := nd.TopicPeersForTest(topic)
		for _, other := range net.Nodes {
			if other != nd && other.Running() && nd.Host().Network().Connectedness(other.Host().ID()) == network.Connected {
				if _, err := other.Members(gid); err == nil && other.KeysForTest(gid).Topic() == topic && !slices.Contains(on, other.Host().ID()) {
					return false
				}
			}
		}
		return true
	})
	id, err := nd.StartCheckIn(context.Background(), gid, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range net.Nodes {
		if other.Running() {
			if ms, err := other.Members(gid); err == nil && len(ms) > 0 {
				net.WaitFor(5*time.Second, "every member holds the check-in", func() bool { return other.Store.Has(id) })
			}
		}
	}
	return id
}

// subgroup founds a group at founder with the given other members.
func subgroup(t *testing.T, net *nodetest.Net, name string, founder int, members ...int) crypto.GroupID {
	t.Helper()
	ctx := context.Background()
	info, err := net.Nodes[founder].CreateGroup(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := crypto.ParseGroupID(info.ID)
	for _, i := range members {
		inv, err := net.Nodes[founder].CreateInvite(ctx, gid, 1, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := net.Nodes[i].Join(ctx, inv.Code); err != nil {
			t.Fatal(err)
		}
	}
	all := append([]int{founder}, members...)
	net.WaitFor(10*time.Second, "every member of "+name+" knows every other", func() bool {
		for _, i := range all {
			ms, err := net.Nodes[i].Members(gid)
			if err != nil || len(ms) != len(all) {
				return false
			}
		}
		return true
	})
	return gid
}

func TestCheckInDoneInTimeRaisesNoAlarm(t *testing.T) {
	t.Parallel()
	net := checkinNet(t, 3, 100*time.Millisecond, nil)
	gid := net.Group("istmo")
	net.ConnectAll()
	beto := net.Nodes[1]
	deadline := time.Now().Add(1500 * time.Millisecond)
	id := startCheckIn(t, net, beto, gid, 1200*time.Millisecond, 300*time.Millisecond, node.CheckInRequest{})

	res, err := beto.DoneCheckIn(context.Background(), id.String()[:8], false)
	if err != nil {
		t.Fatal(err)
	}
	if res.CheckIn.ID != id.String() || res.CheckIn.State != "arrived" || res.CheckIn.To != "Ixtepec" {
		t.Errorf("done result %+v", res)
	}
	for _, nd := range net.Nodes {
		net.WaitFor(5*time.Second, "the arrival reaches every member", func() bool { return len(entries(t, nd, "arrived")) == 1 })
	}
	time.Sleep(time.Until(deadline.Add(time.Second)))
	for _, nd := range net.Nodes {
		if got := entries(t, nd, "overdue"); len(got) != 0 {
			t.Errorf("node %d: overdue alarm after a done in time: %+v", nd.Index, got)
		}
		a := entries(t, nd, "arrived")[0]
		if a.CheckIn != id.String() || a.From != "Juchitán" || a.To != "Ixtepec" || a.Author != "member-01" || a.Severity != "info" {
			t.Errorf("node %d: arrival entry %+v", nd.Index, a)
		}
		if open, _ := nd.CheckIns(crypto.GroupID{}); len(open) != 0 {
			t.Errorf("node %d: still lists %d open check-ins", nd.Index, len(open))
		}
	}
}

// TestMissedCheckInRaisesOneAlarmEverywhere has four watchdogs with no
// random wait, so that every node raises the alarm at the same moment;
// every feed still shows exactly one alarm, with the same id.
func TestMissedCheckInRaisesOneAlarmEverywhere(t *testing.T) {
	t.Parallel()
	net := checkinNet(t, 4, -1, nil)
	gid := net.Group("istmo")
	net.ConnectAll()
	beto := net.Nodes[1]
	id := startCheckIn(t, net, beto, gid, 800*time.Millisecond, 200*time.Millisecond, node.CheckInRequest{Text: "taking the coast road"})
	want := alert.OverdueID(gid, id, 1).String()
	for _, nd := range net.Nodes {
		net.WaitFor(8*time.Second, "the alarm in every feed", func() bool { return len(entries(t, nd, "overdue")) > 0 })
	}
	time.Sleep(500 * time.Millisecond) // room for stray copies to land
	raisers := map[string]bool{}
	for _, nd := range net.Nodes {
		got := entries(t, nd, "overdue")
		if len(got) != 1 {
			t.Fatalf("node %d: %d overdue alarms, want 1", nd.Index, len(got))
		}
		e := got[0]
		raisers[e.Author] = true
		if e.ID != want || e.CheckIn != id.String() || e.Level != 1 || e.Severity != "urgent" {
			t.Errorf("node %d: alarm %+v", nd.Index, e)
		}
		if e.Subject != "member-01" || e.SubjectID != beto.Identity.ID().String() || e.From != "Juchitán" || e.To != "Ixtepec" || e.Due == nil {
			t.Errorf("node %d: alarm does not say who and where: %+v", nd.Index, e)
		}
		// What it says is in fields, for each reader to word in its own
		// language and time zone.
		if no := e.Notice; e.Text != "" || no == nil || no.What != "overdue" || no.Who != "member-01" || no.WhoID != e.SubjectID ||
			no.From != "Juchitán" || no.To != "Ixtepec" || no.Note != "taking the coast road" || no.Level != 1 ||
			no.Due == nil || no.Since == nil || !no.Since.After(*no.Due) || no.Group != "" {
			t.Errorf("node %d: alarm text %q, notice %+v", nd.Index, e.Text, e.Notice)
		}
		open, err := nd.CheckIns(gid)
		if err != nil || len(open) != 1 || open[0].State != "overdue" || open[0].Alarm != want {
			t.Errorf("node %d: check-ins %+v, %v", nd.Index, open, err)
		}
	}
	t.Logf("alarm kept from %d different raisers across the 4 feeds", len(raisers))
}

func TestUnansweredAlarmEscalatesToSecondGroup(t *testing.T) {
	t.Parallel()
	// 0 Ana, 1 Beto (travels), 2 Carmen (in both groups), 3 Gabi (only in
	// the accompaniment group, never sees the check-in itself).
	net := checkinNet(t, 4, 200*time.Millisecond, nil)
	x := subgroup(t, net, "istmo", 0, 1, 2)
	y := subgroup(t, net, "acompanamiento", 2, 3)
	net.ConnectAll()
	id := startCheckIn(t, net, net.Nodes[1], x, 700*time.Millisecond, 200*time.Millisecond, node.CheckInRequest{
		EscalateAfter: time.Second, EscalateTo: y.String(),
	})
	x2, y2 := alert.OverdueID(x, id, 2).String(), alert.OverdueID(y, id, 2).String()
	for _, i := range []int{0, 1, 2} {
		nd := net.Nodes[i]
		net.WaitFor(8*time.Second, "the escalation in the group", func() bool {
			for _, e := range entries(t, nd, "overdue") {
				if e.ID == x2 {
					return true
				}
			}
			return false
		})
	}
	for _, i := range []int{2, 3} {
		nd := net.Nodes[i]
		net.WaitFor(5*time.Second, "the escalation in the second group", func() bool {
			f, _ := nd.Feed(node.FeedQuery{Group: y})
			return len(f) > 0 && f[len(f)-1].ID == y2
		})
	}
	for _, i := range []int{0, 1, 2} {
		var got []node.Entry
		for _, e := range entries(t, net.Nodes[i], "overdue") {
			if e.GroupID == x.String() {
				got = append(got, e)
			}
		}
		if len(got) != 2 || got[0].Level != 1 || got[1].Level != 2 || got[1].Severity != "critical" {
			t.Errorf("node %d: want a level-1 and a critical level-2 alarm, got %+v", i, got)
		}
	}
	f, _ := net.Nodes[3].Feed(node.FeedQuery{})
	if len(f) != 1 || f[0].Kind != "overdue" || f[0].Severity != "critical" || f[0].CheckIn != id.String() {
		t.Fatalf("the second group's member sees %+v", f)
	}
	// Gabi does not hold the check-in: what she sees comes from the alarm,
	// which carries it as Beto signed it.
	if no := f[0].Notice; no == nil || no.What != "overdue" || no.Level != 2 || no.Group != "istmo" || no.Who != "member-01" ||
		no.To != "Ixtepec" || f[0].Subject != "member-01" || f[0].To != "Ixtepec" || f[0].Due == nil {
		t.Errorf("the escalation in the second group: %+v, notice %+v", f[0], f[0].Notice)
	}
}

func TestAcknowledgedAlarmDoesNotEscalate(t *testing.T) {
	t.Parallel()
	net := checkinNet(t, 3, 200*time.Millisecond, nil)
	gid := net.Group("istmo")
	net.ConnectAll()
	// The escalation waits 3 s: time for the ack to reach every node even
	// on a loaded machine (an ack that arrives after it rightly does not
	// stop the escalation, so the test checks the ack is everywhere first).
	const escalate = 3 * time.Second
	id := startCheckIn(t, net, net.Nodes[1], gid, 700*time.Millisecond, 200*time.Millisecond, node.CheckInRequest{EscalateAfter: escalate})
	alarm := alert.OverdueID(gid, id, 1)
	ana := net.Nodes[0]
	net.WaitFor(8*time.Second, "the alarm at Ana's", func() bool { return ana.Store.Has(alarm) })
	ack, err := ana.Ack(context.Background(), alarm.String()[:10], "responding")
	if err != nil {
		t.Fatal(err)
	}
	ackID, err := alert.ParseID(ack.ID)
	if err != nil {
		t.Fatal(err)
	}
	acked := time.Now()
	net.WaitFor(escalate, "the ack at every node before the escalation time", func() bool {
		for _, nd := range net.Nodes {
			if !nd.Store.Has(ackID) {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Until(acked.Add(escalate + 800*time.Millisecond))) // past the escalation time and its random wait
	for _, nd := range net.Nodes {
		got := entries(t, nd, "overdue")
		if len(got) != 1 || got[0].Level != 1 {
			t.Errorf("node %d: want only the level-1 alarm, got %+v", nd.Index, got)
			continue
		}
		if len(got[0].Acks) != 1 || got[0].Acks[0].Author != "member-00" || got[0].Acks[0].Status != "responding" {
			t.Errorf("node %d: acks %+v", nd.Index, got[0].Acks)
		}
	}
}

// TestNodeOfflineAtDeadline: a node that was off when the deadline passed
// raises the alarm from its stored check-in when it comes back, if nobody
// else did; or receives the alarm the others raised.
func TestNodeOfflineAtDeadline(t *testing.T) {
	t.Parallel()
	catchUp := 100 * time.Millisecond
	net := checkinNet(t, 3, 100*time.Millisecond, &catchUp)
	gid := net.Group("istmo")
	net.ConnectAll()
	ana, beto, carmen := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	id := startCheckIn(t, net, beto, gid, 600*time.Millisecond, 100*time.Millisecond, node.CheckInRequest{})
	want := alert.OverdueID(gid, id, 1)

	// Everyone is off at the deadline: Beto's phone died, Ana and Carmen
	// were out of coverage.
	beto.Stop()
	ana.Stop()
	carmen.Stop()
	time.Sleep(time.Second)
	ana.Start()
	net.WaitFor(5*time.Second, "Ana raises the alarm herself", func() bool { return ana.Store.Has(want) })
	if got := entries(t, ana, "overdue"); len(got) != 1 || got[0].Author != "member-00" || got[0].Subject != "member-01" {
		t.Errorf("Ana's alarms: %+v", got)
	}

	// Carmen comes back later, and gives her peers time to tell her what
	// she missed: she receives Ana's alarm rather than raising her own.
	catchUp = 5 * time.Second
	carmen.Start()
	if err := net.Connect(2, 0); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(4*time.Second, "Carmen receives the alarm", func() bool { return carmen.Store.Has(want) })
	if got := entries(t, carmen, "overdue"); len(got) != 1 || got[0].ID != want.String() || got[0].Author != "member-00" {
		t.Errorf("Carmen's alarms: %+v", got)
	}
}

func TestDuressLooksLikeArrivalToTheTraveller(t *testing.T) {
	t.Parallel()
	net := checkinNet(t, 3, 100*time.Millisecond, nil)
	gid := net.Group("istmo")
	net.ConnectAll()
	beto := net.Nodes[1]
	id := startCheckIn(t, net, beto, gid, 800*time.Millisecond, 200*time.Millisecond, node.CheckInRequest{})
	res, err := beto.DoneCheckIn(context.Background(), "", true)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	if strings.Contains(strings.ToLower(string(b)), "duress") || res.CheckIn.State != "arrived" {
		t.Errorf("the answer to a duress done gives it away: %s", b)
	}
	for _, nd := range []*nodetest.Node{net.Nodes[0], net.Nodes[2]} {
		net.WaitFor(5*time.Second, "the others learn of the duress", func() bool { return len(entries(t, nd, "duress")) == 1 })
		e := entries(t, nd, "duress")[0]
		if e.Severity != "critical" || e.CheckIn != id.String() || e.Author != "member-01" || e.To != "Ixtepec" {
			t.Errorf("node %d: duress entry %+v", nd.Index, e)
		}
	}
	// Ana answers the duress. Her answer must not show on Beto's screen.
	duressEntry := entries(t, net.Nodes[0], "duress")[0]
	if _, err := net.Nodes[0].Ack(context.Background(), duressEntry.ID, "responding"); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(5*time.Second, "Carmen sees Ana responding", func() bool {
		e := entries(t, net.Nodes[2], "duress")[0]
		return len(e.Acks) == 1 && e.Acks[0].Author == "member-00"
	})
	time.Sleep(time.Second) // past the deadline: no alarm either
	mine := entries(t, beto, "arrived")
	if len(mine) != 1 || mine[0].Severity != "info" || len(mine[0].Acks) != 0 || len(entries(t, beto, "duress")) != 0 {
		t.Errorf("the traveller's feed shows %+v", mine)
	}
	for _, nd := range net.Nodes {
		if got := entries(t, nd, "overdue"); len(got) != 0 {
			t.Errorf("node %d: overdue alarm after a duress done: %+v", nd.Index, got)
		}
	}
}

func TestAcksVisibleToSender(t *testing.T) {
	t.Parallel()
	net := checkinNet(t, 3, 0, nil)
	gid := net.Group("istmo")
	net.ConnectAll()
	ctx := context.Background()
	ana := net.Nodes[0]
	id, err := ana.SendAlert(ctx, gid, node.AlertRequest{Kind: "checkpoint", Severity: "warning", Text: "checkpoint at km 12"})
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range net.Nodes {
		net.WaitFor(5*time.Second, "the alert everywhere", func() bool { return nd.Store.Has(id) })
	}
	f := ana.Follow(node.FeedQuery{})
	defer f.Stop()
	acks := []struct {
		who    int
		status string
	}{{1, "seen"}, {2, "responding"}, {1, "unable"}}
	for _, a := range acks {
		if _, err := net.Nodes[a.who].Ack(ctx, id.String()[:7], a.status); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // distinct creation times
	}
	want := "member-02:responding member-01:unable" // latest per member, oldest first
	got := func(e node.Entry) string {
		var s []string
		for _, a := range e.Acks {
			s = append(s, a.Author+":"+a.Status)
		}
		return strings.Join(s, " ")
	}
	net.WaitFor(5*time.Second, "Ana sees who has seen her alert and who responds", func() bool {
		fs, _ := ana.Feed(node.FeedQuery{})
		return len(fs) == 1 && got(fs[0]) == want
	})
	// A follower of the feed gets the alert again each time its acks change.
	var last string
	timeout := time.After(5 * time.Second)
	for last != want {
		select {
		case e := <-f.C:
			if e.ID != id.String() {
				t.Fatalf("follower got %+v", e)
			}
			last = got(e)
		case <-timeout:
			t.Fatalf("follower's last entry has acks %q, want %q", last, want)
		}
	}

	for _, c := range []struct{ ref, status, want string }{
		{strings.Repeat("f", 12), "seen", "no such message"},
		{id.String()[:4], "seen", "at least 6"},
		{"zzzzzzzz", "seen", "hexadecimal"},
		{id.String(), "maybe", `unknown status "maybe"`},
	} {
		_, err := net.Nodes[1].Ack(ctx, c.ref, c.status)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ack %s %s: %v, want %q", c.ref, c.status, err, c.want)
		}
	}
}

// TestForeignDoneHasNoEffect: only a check-in's author can end it. A done
// by another member is dropped (ignored: a node that does not hold the
// check-in cannot tell, and passes it on in good faith) when the node holds
// the check-in, and has no effect when it arrives first. An alarm below the
// severity of its level is bad for every receiver and rejected; one that
// arrives before the deadline by the receiver's clock is ignored, so that
// no member can pre-empt the real alarm.
func TestForeignDoneHasNoEffect(t *testing.T) {
	t.Parallel()
	net := checkinNet(t, 3, 100*time.Millisecond, nil)
	gid := net.Group("istmo")
	victim, beto, mallory := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	att := newAttacker(t, net, gid, victim)
	keys := victim.KeysForTest(gid)
	now := time.Now()

	signed := func(id *crypto.Identity, created time.Time, c alert.Content) ([]byte, alert.ID) {
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
	// Beto's check-in, not yet sent.
	ciEnv, ci := signed(beto.Identity, now, &alert.CheckIn{To: "Ixtepec", Due: now.Add(time.Hour), Grace: time.Minute, EscalateAfter: time.Minute})

	// Mallory's done arrives before the check-in: it cannot be judged yet.
	earlyEnv, early := signed(mallory.Identity, now, &alert.CheckInDone{CheckIn: ci})
	att.publish(t, earlyEnv)
	net.WaitFor(5*time.Second, "the early done is kept", func() bool { return victim.Store.Has(early) })
	att.publish(t, ciEnv)
	net.WaitFor(5*time.Second, "the check-in arrives", func() bool { return victim.Store.Has(ci) })

	rejected, ignored := victim.Status().Received.Rejected, victim.Status().Received.Ignored
	lateEnv, late := signed(mallory.Identity, now.Add(time.Millisecond), &alert.CheckInDone{CheckIn: ci})
	att.publish(t, lateEnv)
	alarmEnv, alarm := signed(mallory.Identity, now, &alert.Alert{
		Kind: alert.KindOverdue, Severity: alert.SevUrgent, Text: "false alarm", Expires: now.Add(time.Hour), CheckIn: ci, Level: 1,
	})
	att.publish(t, alarmEnv)
	mildEnv, mild := signed(mallory.Identity, now, &alert.Alert{
		Kind: alert.KindOverdue, Severity: alert.SevInfo, Text: "all fine", Expires: now.Add(time.Hour), CheckIn: alert.ID{1}, Level: 1,
	})
	att.publish(t, mildEnv)
	net.WaitFor(5*time.Second, "two are ignored and one rejected", func() bool {
		st := victim.Status().Received
		return st.Ignored-ignored >= 2 && st.Rejected-rejected >= 1
	})
	if st := victim.Status().Received; st.Rejected-rejected != 1 {
		t.Errorf("%d rejected, want only the alarm below its level's severity", st.Rejected-rejected)
	}
	if victim.Store.Has(late) || victim.Store.Has(alarm) || victim.Store.Has(mild) {
		t.Error("a dropped message was stored")
	}

	// A check-in due in two minutes, and an alarm for it dated at its
	// deadline but sent now: ignored, and the real one can still come.
	soon := now.Add(2 * time.Minute)
	soonEnv, soonID := signed(beto.Identity, now, &alert.CheckIn{To: "Espinal", Due: soon, EscalateAfter: time.Minute})
	att.publish(t, soonEnv)
	net.WaitFor(5*time.Second, "the second check-in arrives", func() bool { return victim.Store.Has(soonID) })
	ignored = victim.Status().Received.Ignored
	earlyEnv2, early2 := signed(mallory.Identity, soon, &alert.Alert{
		Kind: alert.KindOverdue, Severity: alert.SevUrgent, Text: "arrived, all fine", Expires: soon.Add(time.Hour), CheckIn: soonID, Level: 1,
	})
	att.publish(t, earlyEnv2)
	net.WaitFor(5*time.Second, "the early alarm is ignored", func() bool { return victim.Status().Received.Ignored > ignored })
	if victim.Store.Has(early2) {
		t.Error("an alarm two minutes early was kept")
	}
	open, err := victim.CheckIns(gid)
	if err != nil || len(open) != 2 || open[1].ID != ci.String() || open[1].State != "open" {
		t.Errorf("Beto's check-in should still be open: %+v, %v", open, err)
	}
	if got := entries(t, victim, "arrived"); len(got) != 0 {
		t.Errorf("a done by someone else is shown: %+v", got)
	}
	// Nor can Mallory end it through her own node.
	if _, err := mallory.DoneCheckIn(context.Background(), ci.String(), false); err == nil {
		t.Error("Mallory's node did not refuse to end Beto's check-in (it may not hold it yet)")
	}
}

func TestCheckInRefusals(t *testing.T) {
	t.Parallel()
	net := checkinNet(t, 2, 0, nil)
	gid := net.Group("istmo")
	other := subgroup(t, net, "radio", 0)
	ctx := context.Background()
	ana, beto := net.Nodes[0], net.Nodes[1]
	now := time.Now()
	for _, c := range []struct {
		name string
		r    node.CheckInRequest
		want string
	}{
		{"due in the past", node.CheckInRequest{To: "Ixtepec", Due: now.Add(-time.Minute)}, "has already passed"},
		{"due in a year", node.CheckInRequest{To: "Ixtepec", Due: now.AddDate(1, 0, 0)}, "more than 7 days ahead"},
		{"no destination", node.CheckInRequest{To: "  ", Due: now.Add(time.Hour)}, "say where you are going"},
		{"no due time", node.CheckInRequest{To: "Ixtepec"}, "say by when"},
		{"grace too long", node.CheckInRequest{To: "Ixtepec", Due: now.Add(time.Hour), Grace: ptr(25 * time.Hour)}, "grace period must be between 0 and 24h"},
		{"negative grace", node.CheckInRequest{To: "Ixtepec", Due: now.Add(time.Hour), Grace: ptr(-time.Minute)}, "grace period"},
		{"escalation too late", node.CheckInRequest{To: "Ixtepec", Due: now.Add(time.Hour), EscalateAfter: 48 * time.Hour}, "escalation delay"},
		{"escalate to the same group", node.CheckInRequest{To: "Ixtepec", Due: now.Add(time.Hour), EscalateTo: "istmo"}, "must be another group"},
		{"escalate to an unknown group", node.CheckInRequest{To: "Ixtepec", Due: now.Add(time.Hour), EscalateTo: "nowhere"}, `no such group "nowhere"`},
		{"place too long", node.CheckInRequest{To: strings.Repeat("x", 200), Due: now.Add(time.Hour)}, "too long"},
	} {
		_, err := ana.StartCheckIn(ctx, gid, c.r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := ana.DoneCheckIn(ctx, "", false); !errors.Is(err, node.ErrNoOpenCheckIn) {
		t.Errorf("done with no open check-in: %v", err)
	}
	a, err := ana.StartCheckIn(ctx, gid, node.CheckInRequest{To: "Ixtepec", Due: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ana.StartCheckIn(ctx, gid, node.CheckInRequest{To: "Espinal", Due: now.Add(2 * time.Hour), EscalateTo: "radio"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ana.DoneCheckIn(ctx, "", false); !errors.Is(err, node.ErrAmbiguous) || !strings.Contains(err.Error(), "2 open check-ins") {
		t.Errorf("done with two open check-ins: %v", err)
	}
	open, _ := ana.CheckIns(gid)
	if len(open) != 2 || open[0].To != "Ixtepec" || open[0].GraceSeconds != 300 || open[0].EscalateAfterSeconds != 600 || open[1].EscalateGroup != "radio" {
		t.Errorf("check-ins %+v", open)
	}
	net.WaitFor(5*time.Second, "Beto holds Ana's check-in", func() bool { return beto.Store.Has(a) })
	if _, err := beto.DoneCheckIn(ctx, a.String()[:6], false); !errors.Is(err, node.ErrNotYourCheckIn) {
		t.Errorf("done by someone else: %v", err)
	}
	if _, err := ana.DoneCheckIn(ctx, a.String(), false); err != nil {
		t.Fatal(err)
	}
	if _, err := ana.DoneCheckIn(ctx, a.String(), false); !errors.Is(err, node.ErrCheckInEnded) {
		t.Errorf("done twice: %v", err)
	}
	if _, err := beto.CheckIns(other); !errors.Is(err, node.ErrNoSuchGroup) {
		t.Errorf("check-ins of a group Beto is not in: %v", err)
	}
}

// TestDoneCheckInOnce: requests to mark the same check-in done at the same
// moment send one done, and the others are told it already ended; a done
// of another check-in meanwhile is not held up by them.
func TestDoneCheckInOnce(t *testing.T) {
	t.Parallel()
	net := checkinNet(t, 2, -1, nil)
	gid := net.Group("istmo")
	net.ConnectAll()
	ana := net.Nodes[0]
	ctx := context.Background()
	var ids []alert.ID
	for _, to := range []string{"Ixtepec", "Matías Romero"} {
		id, err := ana.StartCheckIn(ctx, gid, node.CheckInRequest{To: to, Due: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ref := ids[0] // the last request ends the other check-in
		if i == n-1 {
			ref = ids[1]
		}
		wg.Go(func() {
			<-start
			_, errs[i] = ana.DoneCheckIn(ctx, ref.String(), false)
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs[:n-1] {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, node.ErrCheckInEnded):
			t.Errorf("request %d: %v", i, err)
		}
	}
	if ok != 1 || errs[n-1] != nil {
		t.Fatalf("%d requests for one check-in succeeded (want 1); the other check-in's: %v", ok, errs[n-1])
	}
	if got := len(entries(t, ana, "arrived")); got != 2 {
		t.Fatalf("%d arrivals in the feed, want 2", got)
	}
}
