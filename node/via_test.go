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

func findEntry(n *nodetest.Node, gid crypto.GroupID, id alert.ID) (node.Entry, bool) {
	f, _ := n.Feed(node.FeedQuery{Group: gid})
	for _, e := range f {
		if e.ID == id.String() {
			return e, true
		}
	}
	return node.Entry{}, false
}

// A bridge sends a panic and ends a check-in on a member's behalf: every
// member, the member included, sees them as the member's, marked as sent
// through the bridge; the member's own check-in, started from the app, is
// ended by the arrival the bridge sent.
func TestViaBridge(t *testing.T) {
	t.Parallel()
	nt := nodetest.New(t, 3, nodetest.Options{})
	gid := nt.Group("juchitan")
	ana, beto, carmen := nt.Nodes[0], nt.Nodes[1], nt.Nodes[2]
	ctx := context.Background()

	grant, err := ana.Grant(gid, beto.Identity.ID(), time.Now().Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := beto.CheckGrant(gid, ana.Identity.ID(), grant); err != nil {
		t.Fatalf("the bridge refuses a good grant: %v", err)
	}
	panicID, err := beto.SendVia(ctx, gid, ana.Identity.ID(), grant, &alert.Alert{
		Kind: alert.KindPanic, Severity: alert.SevCritical, Text: "by SMS", Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*nodetest.Node{ana, beto, carmen} {
		nt.WaitFor(30*time.Second, "the panic at "+n.Identity.Name(), func() bool { _, ok := findEntry(n, gid, panicID); return ok })
		e, _ := findEntry(n, gid, panicID)
		if e.Author != ana.Identity.Name() || e.AuthorID != ana.Identity.ID().String() || e.Via == nil || e.Via.BridgeID != beto.Identity.ID().String() || e.Via.Channel != "sms" {
			t.Fatalf("%s sees %+v via %+v", n.Identity.Name(), e, e.Via)
		}
		if e.Mine != (n == ana) {
			t.Fatalf("%s: mine = %v", n.Identity.Name(), e.Mine)
		}
	}

	ci, err := ana.StartCheckIn(ctx, gid, node.CheckInRequest{To: "Ixtepec", Due: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	nt.WaitFor(30*time.Second, "the check-in at the bridge", func() bool { _, ok := findEntry(beto, gid, ci); return ok })
	if _, err := beto.SendVia(ctx, gid, ana.Identity.ID(), grant, &alert.CheckInDone{CheckIn: ci}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*nodetest.Node{ana, carmen} {
		nt.WaitFor(30*time.Second, "the arrival at "+n.Identity.Name(), func() bool {
			cs, _ := n.CheckIns(gid)
			return len(cs) == 0
		})
	}
}

// What a bridge cannot do: send for a member without their grant (a grant
// for another bridge, or made up), send what a person cannot ask for by
// SMS, or let the member sign a message that claims a bridge. Each is
// refused by every receiver as provably bad.
func TestViaForgeriesRejected(t *testing.T) {
	t.Parallel()
	nt := nodetest.New(t, 3, nodetest.Options{})
	gid := nt.Group("juchitan")
	ana, beto, carmen := nt.Nodes[0], nt.Nodes[1], nt.Nodes[2]
	keys := carmen.KeysForTest(gid)
	now := time.Now()
	panicAlert := &alert.Alert{Kind: alert.KindPanic, Severity: alert.SevCritical, Expires: now.Add(time.Hour)}

	seal := func(signer *crypto.Identity, author crypto.MemberID, c alert.Content, v *alert.Via) []byte {
		t.Helper()
		body, err := alert.EncodeVia(now, c, v)
		if err != nil {
			t.Fatal(err)
		}
		env, err := keys.Seal(signer.SignBodyFor(author, gid, keys.Epoch(), body))
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	exp := now.Add(24 * time.Hour)
	good := alert.Via{Bridge: beto.Identity.ID(), Expires: exp, Grant: ana.Identity.SignGrant(gid, beto.Identity.ID(), exp.UnixMilli())}
	forCarmen := alert.Via{Bridge: carmen.Identity.ID(), Expires: exp, Grant: ana.Identity.SignGrant(gid, carmen.Identity.ID(), exp.UnixMilli())}
	byBeto := alert.Via{Bridge: beto.Identity.ID(), Expires: exp, Grant: beto.Identity.SignGrant(gid, beto.Identity.ID(), exp.UnixMilli())}
	later := alert.Via{Bridge: beto.Identity.ID(), Expires: exp.Add(time.Hour), Grant: good.Grant}

	for name, env := range map[string][]byte{
		"grant for another bridge":   seal(beto.Identity, ana.Identity.ID(), panicAlert, &forCarmen),
		"grant signed by the bridge": seal(beto.Identity, ana.Identity.ID(), panicAlert, &byBeto),
		"grant's end moved":          seal(beto.Identity, ana.Identity.ID(), panicAlert, &later),
		"signed by the member":       seal(ana.Identity, ana.Identity.ID(), panicAlert, &good),
		"signed by someone else":     seal(carmen.Identity, ana.Identity.ID(), panicAlert, &good),
		"no grant, bridge signature": seal(beto.Identity, ana.Identity.ID(), panicAlert, nil),
		"not for SMS": seal(beto.Identity, ana.Identity.ID(), &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevUrgent,
			Expires: now.Add(time.Hour)}, &good),
	} {
		if err := carmen.IngestForTest(env); !node.Rejected(err) {
			t.Errorf("%s: %v, want rejected", name, err)
		}
	}
	// The real thing passes the same path.
	if err := carmen.IngestForTest(seal(beto.Identity, ana.Identity.ID(), panicAlert, &good)); err != nil {
		t.Fatalf("a good message through the bridge: %v", err)
	}
	if _, err := beto.SendVia(context.Background(), gid, ana.Identity.ID(), forCarmen, panicAlert); err == nil {
		t.Fatal("the bridge sent with a grant for another bridge")
	}
}
