package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/nodetest"
)

// TestMissedJoinsComeInOneSession: epochs are a chain, each join ratcheting
// from the epoch of the join before (PROTOCOL.md, "Joins"), so a node that
// missed k joins reads join i's add only with the key join i−1 started.
// Sync hands over whole every epoch the other node lacks and can take from
// a message it sends (PROTOCOL.md, "Sync"), so Beto, off during six joins,
// catches up on all of them, and on what each joiner and the admin sent in
// them, in one session and the one that follows a new key, not one
// session per join.
func TestMissedJoinsComeInOneSession(t *testing.T) {
	t.Parallel()
	const joins = 6
	net := nodetest.New(t, 2+joins, nodetest.Options{Latency: 2 * time.Millisecond})
	ana, beto, joiners := net.Nodes[0], net.Nodes[1], net.Nodes[2:]
	for _, nd := range joiners {
		nd.Stop()
	}
	gid := net.Group("istmo")
	ctx := context.Background()
	beto.Stop()
	var sent []alert.ID
	for i, nd := range joiners {
		inv, err := ana.CreateInvite(ctx, gid, 1, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		nd.Start()
		if _, err := nd.Join(ctx, inv.Code); err != nil {
			t.Fatal(err)
		}
		id := sendOne(t, nd, gid, fmt.Sprintf("joiner %d", i))
		net.WaitFor(10*time.Second, "Ana holds the joiner's alert", func() bool { return ana.Store.Has(id) })
		nd.Stop()
		sent = append(sent, id)
	}
	sent = append(sent, sendOne(t, ana, gid, "after the joins"))
	want := epochOf(ana, gid)

	if got := catchUpSessions(t, net, beto, gid, want, sent); got > 2 {
		t.Errorf("Beto caught up on %d joins in %d sync sessions, want at most 2 (one, then one for the new keys)", joins, got)
	}
}

// TestMissedRekeysComeInOneSession: the same for rekeys, each sealed in
// the epoch the one before started. Beto, off while Ana removes three
// members one after the other, takes the three new keys and what was sent in
// them in one session and the one that follows.
func TestMissedRekeysComeInOneSession(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 5, nodetest.Options{Latency: 2 * time.Millisecond})
	ana, beto := net.Nodes[0], net.Nodes[1]
	gid := net.Group("istmo")
	ctx := context.Background()
	beto.Stop()
	var sent []alert.ID
	for _, gone := range net.Nodes[2:] {
		r, err := ana.Remove(ctx, gid, gone.Identity.ID().String())
		if err != nil {
			t.Fatal(err)
		}
		gone.Stop()
		net.WaitFor(10*time.Second, "Ana on the new epoch", func() bool { return epochOf(ana, gid) == r.Epoch })
		sent = append(sent, sendOne(t, ana, gid, "after a removal"))
	}
	if got := catchUpSessions(t, net, beto, gid, epochOf(ana, gid), sent); got > 2 {
		t.Errorf("Beto caught up on 3 rekeys in %d sync sessions, want at most 2", got)
	}
}

// catchUpSessions starts nd and waits until it is on epoch want and holds
// sent, then until no session runs any more; it returns how many sessions
// nd took part in meanwhile (a node started anew counts from zero).
func catchUpSessions(t *testing.T, net *nodetest.Net, nd *nodetest.Node, gid crypto.GroupID, want uint64, sent []alert.ID) int64 {
	t.Helper()
	nd.Start()
	net.WaitFor(30*time.Second, "on the latest epoch, holding what was sent in each", func() bool {
		return epochOf(nd, gid) == want && holdsAll(nd, sent)
	})
	last := int64(-1)
	net.WaitFor(10*time.Second, "no more sessions", func() bool {
		now := nd.SyncSessionsForTest()
		quiet := now == last
		last = now
		time.Sleep(500 * time.Millisecond)
		return quiet
	})
	return last
}
