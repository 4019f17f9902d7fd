package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// signedFor has author sign c, created at created, in a group, sealed in
// nd's current epoch of it, and returns the envelope and the message id.
func signedFor(t *testing.T, nd *nodetest.Node, gid crypto.GroupID, author *crypto.Identity, created time.Time, c alert.Content) ([]byte, alert.ID) {
	t.Helper()
	keys := nd.KeysForTest(gid)
	b, err := alert.Encode(created, c)
	if err != nil {
		t.Fatal(err)
	}
	m, err := alert.Decode(gid, keys.Epoch(), author.ID(), b)
	if err != nil {
		t.Fatal(err)
	}
	return seal(t, keys, author.SignBody(gid, keys.Epoch(), b)), m.ID
}

// TestWhatOneNodeHoldsDoesNotCutItOff is the attack of a member who gives
// an alert X to one member, B, alone, and sends the others 65 "arrived,
// under duress" check-in ends naming X (dated a little ahead, as a clock
// may be). Nodes without X cannot tell and take them; B holds X, which is
// not a check-in. Before, B rejected them, they were the first thing every
// other node sent B by sync (duress ends had the priority of alarms, and
// were the newest), and a session ends after 64 rejections: no sync with B
// ever again brought it a panic or a new group key. Now B ignores them, and
// they do not jump the queue: B gets the panic and the key sent while it
// was away.
func TestWhatOneNodeHoldsDoesNotCutItOff(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 4, nodetest.Options{Latency: 2 * time.Millisecond})
	gid := net.Group("istmo")
	ana, b, mallory := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	net.Partition([]int{0, 2, 3}, []int{1})

	now := time.Now()
	xEnv, x := signedFor(t, b, gid, mallory.Identity, now, &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevInfo, Text: "for B only", Expires: now.Add(time.Hour)})
	// Everyone but B takes the ends (from the test or from each other);
	// then B gets X.
	others := []*nodetest.Node{ana, mallory, net.Nodes[3]}
	var ends []alert.ID
	for i := range 65 {
		var id alert.ID
		for _, nd := range others {
			var env []byte
			env, id = signedFor(t, nd, gid, mallory.Identity, now.Add(4*time.Minute+time.Duration(i)*time.Millisecond), &alert.CheckInDone{CheckIn: x, Duress: true})
			if err := nd.IngestForTest(env); node.Rejected(err) {
				t.Fatalf("node %d, which does not hold X, rejected end %d: %v", nd.Index, i, err)
			}
		}
		ends = append(ends, id)
	}
	net.WaitFor(10*time.Second, "the others hold every end", func() bool {
		return holdsAll(ana, ends) && holdsAll(mallory, ends) && holdsAll(net.Nodes[3], ends)
	})
	if err := b.IngestForTest(xEnv); err != nil {
		t.Fatal(err)
	}
	for _, id := range ends {
		if h, _ := ana.Store.Header(id); h.Priority >= 4 {
			t.Fatalf("a duress end naming a check-in nobody holds has priority %d", h.Priority)
		}
	}
	panic, err := ana.SendAlert(context.Background(), gid, node.AlertRequest{Kind: "panic", Severity: "critical", Text: "help"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ana.Remove(context.Background(), gid, "member-03"); err != nil {
		t.Fatal(err)
	}
	key := ana.KeysForTest(gid).Tag()
	// Past GossipSub's window of recent messages it tells new peers
	// about: what B gets, it gets by sync.
	time.Sleep(3500 * time.Millisecond)
	net.Heal()
	net.WaitFor(30*time.Second, "B gets the panic and the new key by sync", func() bool {
		return b.Store.Has(panic) && b.HasKeyForTest(key)
	})
	if n := b.Status().Received.Rejected; n != 0 {
		t.Errorf("B rejected %d messages", n)
	}
}

// TestLocalStateIsIgnored: every check that depends on what the receiver
// holds is ignored, never rejected, when it fails, and a node that does not
// hold what is named cannot tell: it takes the message, or, for an overdue
// alarm that does not carry its check-in (protocol version 1), ignores it
// until it holds the check-in. Holder holds a check-in Y and an alert X of
// group one; other holds neither.
func TestLocalStateIsIgnored(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{Static: true})
	g1 := net.FormGroup("one")
	g2 := net.FormGroup("two")
	holder, other := net.Nodes[1], net.Nodes[2]
	m, someoneElse := net.Nodes[0].Identity, net.Nodes[2].Identity
	now := time.Now()

	xEnv, x := signedFor(t, holder, g1, m, now, &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevInfo, Text: "x", Expires: now.Add(time.Hour)})
	yEnv, y := signedFor(t, holder, g1, m, now, &alert.CheckIn{To: "Ixtepec", Due: now.Add(time.Hour), Grace: time.Minute, EscalateAfter: time.Minute})
	for _, env := range [][]byte{xEnv, yEnv} {
		if err := holder.IngestForTest(env); err != nil {
			t.Fatal(err)
		}
	}
	overdue := func(ref alert.ID) *alert.Alert {
		return &alert.Alert{Kind: alert.KindOverdue, Severity: alert.SevUrgent, Text: "overdue", Expires: now.Add(time.Hour), CheckIn: ref, Level: 1}
	}
	cases := []struct {
		name         string
		group        crypto.GroupID
		author       *crypto.Identity
		c            alert.Content
		otherAccepts bool
	}{
		{"check-in end naming an alert", g1, m, &alert.CheckInDone{CheckIn: x, Duress: true}, true},
		{"check-in end in another group than its check-in", g2, m, &alert.CheckInDone{CheckIn: y}, true},
		{"check-in end by someone else", g1, someoneElse, &alert.CheckInDone{CheckIn: y}, true},
		{"acknowledgement in another group than its message", g2, m, &alert.Ack{Ref: x, Status: alert.AckSeen}, true},
		{"overdue alarm naming an alert", g1, m, overdue(x), false},
		{"overdue alarm in a group its check-in does not name", g2, m, overdue(y), false},
	}
	for i, c := range cases {
		created := now.Add(time.Duration(i) * time.Millisecond)
		env, id := signedFor(t, holder, c.group, c.author, created, c.c)
		err := holder.IngestForTest(env)
		if node.Rejected(err) || err == nil {
			t.Errorf("%s: the node holding what it names: %v, want ignored", c.name, err)
		}
		env, _ = signedFor(t, other, c.group, c.author, created, c.c)
		switch err := other.IngestForTest(env); {
		case node.Rejected(err):
			t.Errorf("%s: a node holding nothing it names: %v", c.name, err)
		case c.otherAccepts && err != nil:
			t.Errorf("%s: a node holding nothing it names: %v, want accepted", c.name, err)
		}
		if h, ok := other.Store.Header(id); ok && h.Priority >= 4 {
			t.Errorf("%s: stored with priority %d by a node that cannot check it", c.name, h.Priority)
		}
	}

	// What the holder can check keeps its priority: Y's author ends it
	// under duress.
	env, id := signedFor(t, holder, g1, m, now.Add(time.Second), &alert.CheckInDone{CheckIn: y, Duress: true})
	if err := holder.IngestForTest(env); err != nil {
		t.Fatal(err)
	}
	if h, _ := holder.Store.Header(id); h.Priority != 4 {
		t.Errorf("a duress end of a check-in held has priority %d, want 4", h.Priority)
	}
}
