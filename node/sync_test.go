package node_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/nodetest"
)

func sendAlerts(t testing.TB, nd *nodetest.Node, gid crypto.GroupID, n int, prefix string) []alert.ID {
	t.Helper()
	ids := make([]alert.ID, 0, n)
	for i := range n {
		req := node.AlertRequest{Kind: "danger", Severity: "warning", Region: "istmo", Text: fmt.Sprintf("%s %d", prefix, i)}
		if i%50 == 7 {
			req.Kind, req.Severity = "panic", "critical"
		}
		id, err := nd.SendAlert(context.Background(), gid, req)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func holdsAll(nd *nodetest.Node, ids []alert.ID) bool {
	for _, id := range ids {
		if !nd.Store.Has(id) {
			return false
		}
	}
	return true
}

// TestOfflineNodeCatchesUpFromAnyMember is the heart of store and forward:
// C is stopped, A sends 200 alerts, A is stopped, C comes back and, meeting
// only B, receives all 200, in order of creation, none twice.
func TestOfflineNodeCatchesUpFromAnyMember(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{Latency: 5 * time.Millisecond})
	gid := net.Group("juchitan")
	a, b, c := net.Nodes[0], net.Nodes[1], net.Nodes[2]

	c.Stop()
	ids := sendAlerts(t, a, gid, 200, "alert")
	net.WaitFor(20*time.Second, "B holds all 200", func() bool { return holdsAll(b, ids) })
	a.Stop()

	c.Start() // reconnects by itself, from the addresses it saved
	net.WaitFor(20*time.Second, "C holds all 200", func() bool { return holdsAll(c, ids) })

	feed, err := c.Feed(node.FeedQuery{Group: gid})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range feed {
		got = append(got, e.ID)
	}
	want := make([]string, len(ids))
	for i, id := range ids {
		want[i] = id.String()
	}
	if !slices.IsSortedFunc(feed, func(x, y node.Entry) int { return x.Created.Compare(y.Created) }) {
		t.Error("feed not in order of creation")
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("feed has %d entries, want exactly the 200 alerts", len(got))
	}
}

// TestSplitAndHeal splits six nodes into two halves that each send alerts,
// then heals the network: every node ends with the union.
func TestSplitAndHeal(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 6, nodetest.Options{Latency: 5 * time.Millisecond})
	gid := net.Group("istmo")
	left, right := net.Nodes[:3], net.Nodes[3:]
	net.Partition([]int{0, 1, 2}, []int{3, 4, 5})
	var all []alert.ID
	all = append(all, sendAlerts(t, left[0], gid, 20, "left")...)
	all = append(all, sendAlerts(t, right[1], gid, 20, "right")...)
	time.Sleep(300 * time.Millisecond)
	// Count what each node lacks before healing. (On mocknet a stream
	// opened at the moment of the cut can outlive it and leak a few
	// messages; what matters is that the halves diverged.)
	missing := 0
	for _, nd := range net.Nodes {
		for _, id := range all {
			if !nd.Store.Has(id) {
				missing++
			}
		}
	}
	if missing < len(all) {
		t.Fatalf("the split did not split: only %d node-alert pairs missing", missing)
	}
	healed := time.Now()
	net.Heal()
	for _, nd := range net.Nodes {
		net.WaitFor(20*time.Second, "every node holds the union", func() bool { return holdsAll(nd, all) })
	}
	t.Logf("%d missing node-alert pairs filled in %s after healing", missing, time.Since(healed).Round(time.Millisecond))
}

// TestSyncCrossesHops: in a line A - B - C, alerts A wrote while alone
// reach C through B by sync alone, without waiting for the periodic sync
// (an hour here).
func TestSyncCrossesHops(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{Latency: 5 * time.Millisecond, Static: true,
		Config: func(_ int, c *node.Config) { c.SyncInterval = time.Hour }})
	gid := net.FormGroup("line")
	a, c := net.Nodes[0], net.Nodes[2]
	// FormGroup restarted the nodes. Let them start their background work
	// before connecting, or both ends of a connection may start a session
	// and the one refused is retried a second later, carrying what the
	// test wants to see carried without it.
	time.Sleep(100 * time.Millisecond)
	if err := net.Connect(1, 2); err != nil {
		t.Fatal(err)
	}
	ids := sendAlerts(t, a, gid, 5, "alone")
	// A restart empties A's gossip history, which would otherwise offer
	// the alerts to B once they connect.
	a.Stop()
	a.Start()
	if err := net.Connect(0, 1); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "C holds what A wrote", func() bool { return holdsAll(c, ids) })
}

// TestSyncRefusesNonMembers: a node outside the group that opens a sync
// stream gets nothing, not even a hello.
func TestSyncRefusesNonMembers(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{})
	gid := net.Group("g")
	sendAlerts(t, net.Nodes[0], gid, 3, "secret")
	h, err := net.Mock.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	net.Mock.LinkAll()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Connect(ctx, net.Nodes[0].AddrInfo()); err != nil {
		t.Fatal(err)
	}
	s, err := h.NewStream(ctx, net.Nodes[0].Host().ID(), node.SyncProtocol)
	if err != nil {
		return // refused outright: fine
	}
	protodelim.MarshalTo(s, helloForTest())
	buf := make([]byte, 1)
	n, _ := s.Read(buf)
	if n != 0 {
		t.Errorf("a non-member got %d bytes back", n)
	}
}

// TestSyncSurvivesGarbage: a member node that sends garbage on the sync
// stream has its stream closed, and the node keeps working.
func TestSyncSurvivesGarbage(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{})
	gid := net.Group("g")
	victim, liar := net.Nodes[0], net.Nodes[2]
	ctx := context.Background()
	for _, junk := range [][]byte{
		{0xff, 0xff, 0xff, 0xff, 0x0f},                                // a length far over the cap
		{0x05, 1, 2, 3, 4, 5},                                         // not a hello
		append(protoBytes(t, helloForTest()), 0x03, 0xff, 0xff, 0xff), // hello, then junk
	} {
		s, err := liar.Host().NewStream(ctx, victim.Host().ID(), node.SyncProtocol)
		if err != nil {
			t.Fatal(err)
		}
		s.Write(junk)
		s.CloseWrite()
		r := bufio.NewReader(s)
		_, err = r.ReadByte()
		for err == nil {
			_, err = r.ReadByte()
		}
		s.Close()
	}
	// Still fine: an alert crosses, and a real sync works.
	id, err := net.Nodes[1].SendAlert(ctx, gid, node.AlertRequest{Kind: "info", Severity: "info", Text: "still here"})
	if err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "victim still receives", func() bool { return victim.Store.Has(id) })
	// A session the nodes started by themselves may be running: the liar
	// is then told it is busy, or the victim, already answering one,
	// resets the stream. Either way a later try must succeed.
	var serr error
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, serr = liar.SyncWith(ctx, victim.Host().ID())
		if serr == nil || (!errors.Is(serr, node.ErrSyncBusy) && !errors.Is(serr, network.ErrReset)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if serr != nil {
		t.Errorf("a real sync after the garbage: %v", serr)
	}
}

// TestSyncSendsUrgentFirst: with little time, what matters arrives first.
func TestSyncSendsUrgentFirst(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{})
	gid := net.Group("g")
	a, b := net.Nodes[0], net.Nodes[1]
	net.Disconnect(1)
	ids := sendAlerts(t, a, gid, 100, "mixed") // every 50th from index 7 is a panic
	// GossipSub advertises what it sent in the last 3 heartbeats (3 s) to
	// peers that connect, which would race the sync; this test is about
	// sync alone.
	time.Sleep(3500 * time.Millisecond)
	var order []node.Entry
	f := b.Follow(node.FeedQuery{})
	defer f.Stop()
	net.Reconnect(1)
	net.WaitFor(10*time.Second, "B holds all", func() bool { return holdsAll(b, ids) })
	for len(order) < 100 {
		select {
		case e := <-f.C:
			order = append(order, e)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d entries followed", len(order))
		}
	}
	panics := map[string]bool{ids[7].String(): true, ids[57].String(): true}
	for i, e := range order[:2] {
		if !panics[e.ID] {
			t.Errorf("entry %d to arrive was not a panic", i)
		}
	}
	// After the panics, newest first. Alerts sent in the same millisecond
	// are equally new.
	for _, e := range order[3:] {
		if e.Created.After(order[2].Created) {
			t.Errorf("the third entry to arrive is not the newest alert")
			break
		}
	}
}

// TestRetentionDeletesAndDoesNotOffer: an alert past its expiry is deleted
// from disk and a node that joins later never receives it.
func TestRetentionDeletesAndDoesNotOffer(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	net := nodetest.New(t, 3, nodetest.Options{Config: func(i int, c *node.Config) { c.Now = clock }})
	gid := net.Group("g")
	a, b, c := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	c.Stop()
	short, err := a.SendAlert(context.Background(), gid, node.AlertRequest{Kind: "info", Severity: "info", Text: "brief", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	long, err := a.SendAlert(context.Background(), gid, node.AlertRequest{Kind: "info", Severity: "info", Text: "lasting", TTL: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "B holds both", func() bool { return b.Store.Has(short) && b.Store.Has(long) })
	skew.Store(int64(2 * time.Hour))
	c.Start()
	net.WaitFor(10*time.Second, "C receives the lasting alert", func() bool { return c.Store.Has(long) })
	if c.Store.Has(short) {
		t.Error("expired alert was offered")
	}
	// Kept a while past its expiry, as long as a copy replayed later could
	// be counted as younger (PROTOCOL.md, "Time"), then deleted.
	skew.Store(int64(2*time.Hour + alert.MaxClockError))
	a.PruneForTest()
	b.PruneForTest()
	if a.Store.Has(short) || b.Store.Has(short) {
		t.Fatal("expired alert still on disk")
	}
}

// TestRestartReconnectsWithoutInvite: a restarted node finds its group from
// the addresses it saved.
func TestRestartReconnectsWithoutInvite(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{})
	gid := net.Group("g")
	c := net.Nodes[2]
	net.WaitFor(10*time.Second, "C connected to both", func() bool {
		return c.Status().Peers == 2
	})
	c.Stop()
	c.Start()
	net.WaitFor(15*time.Second, "C reconnects to both", func() bool { return c.Status().Peers == 2 })
	id, err := net.Nodes[0].SendAlert(context.Background(), gid, node.AlertRequest{Kind: "info", Severity: "info", Text: "welcome back"})
	if err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "C receives", func() bool { return c.Store.Has(id) })
}

func helloForTest() *wire.SyncHello { return &wire.SyncHello{Version: 1, Nonce: make([]byte, 32)} }

func protoBytes(t *testing.T, m proto.Message) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := protodelim.MarshalTo(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestIdleSyncBacksOff: between two nodes that agree, periodic sessions
// come further and further apart (each that moves nothing doubles the
// wait, up to Config.IdleSyncInterval): an idle node does not pay for a
// session with every peer every interval. A message missed by gossip still
// arrives, by the sessions a new connection starts.
func TestIdleSyncBacksOff(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{Latency: time.Millisecond, Config: func(i int, c *node.Config) {
		c.SyncInterval = 100 * time.Millisecond
		c.IdleSyncInterval = 800 * time.Millisecond
	}})
	gid := net.Group("istmo")
	a, b := net.Nodes[0], net.Nodes[1]
	net.Settle()
	time.Sleep(time.Second)
	start := a.SyncSessionsForTest() + b.SyncSessionsForTest()
	time.Sleep(3 * time.Second)
	// Without backing off: a session every 100 ms from each side, about
	// 60. Backing off: 0.1, 0.2, 0.4, 0.8 s, then every 0.8 s.
	if got := a.SyncSessionsForTest() + b.SyncSessionsForTest() - start; got > 16 {
		t.Errorf("%d sync sessions in 3 s between two idle nodes, want at most 16", got)
	}
	// B goes away; A sends; B comes back and has it.
	net.Disconnect(1)
	id := sendOne(t, a, gid, "while you were away")
	net.Reconnect(1)
	net.WaitFor(10*time.Second, "B catches up", func() bool { return b.Store.Has(id) })
}

// TestSyncAfterBackOffWhenANewMessageIsHeld: periodic sessions between two
// connected nodes have backed off, and one of them takes a message that
// gossip never handed to the other (here it came by sync from a third
// member). The next session with the other comes one SyncInterval after
// the last, not when the backed-off interval ends (an hour by default):
// an alert GossipSub fails to hand over still arrives within about a
// SyncInterval.
func TestSyncAfterBackOffWhenANewMessageIsHeld(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{Latency: time.Millisecond, Config: func(i int, c *node.Config) {
		c.SyncInterval = 20 * time.Millisecond
		c.IdleSyncInterval = time.Hour
	}})
	gid := net.Group("istmo")
	a, b, c := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	net.ConnectAll()
	net.Partition([]int{0, 1}, []int{2})
	id := sendOne(t, c, gid, "gossip never carried this")
	env, err := c.Store.Envelope(id)
	if err != nil {
		t.Fatal(err)
	}
	// Both sides far from their next periodic session with the other, and
	// no session under way (one side's periodic session may have collided
	// with the other's and be retried in a moment).
	net.WaitFor(60*time.Second, "periodic sessions between A and B have backed off", func() bool {
		far := func() bool {
			return a.SyncDueForTest(b.Host().ID()) > 4*time.Second && b.SyncDueForTest(a.Host().ID()) > 4*time.Second
		}
		sessions := a.SyncSessionsForTest() + b.SyncSessionsForTest()
		if !far() {
			return false
		}
		time.Sleep(300 * time.Millisecond)
		return far() && a.SyncSessionsForTest()+b.SyncSessionsForTest() == sessions
	})
	if err := a.IngestForTest(env); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(3*time.Second, "B gets the message from A by sync", func() bool { return b.Store.Has(id) })
}
