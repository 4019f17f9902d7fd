package node_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
	"github.com/takecare-network/takecare/store"
)

func epochOf(nd *nodetest.Node, gid crypto.GroupID) uint64 { return nd.KeysForTest(gid).Epoch() }

func roles(t *testing.T, nd *nodetest.Node, gid crypto.GroupID) map[string]string {
	t.Helper()
	ms, err := nd.Members(gid)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.Name] = m.Role
	}
	return out
}

func sendOne(t *testing.T, nd *nodetest.Node, gid crypto.GroupID, text string) alert.ID {
	t.Helper()
	id, err := nd.SendAlert(context.Background(), gid, node.AlertRequest{Kind: "danger", Severity: "urgent", Text: text})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRemovedMemberCannotReadOrWrite: once removed, a member's node gets no
// key for what the group sends next, and nothing it writes is accepted.
func TestRemovedMemberCannotReadOrWrite(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{Latency: 2 * time.Millisecond})
	gid := net.Group("istmo")
	ana, beto, carmen := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	history := sendOne(t, beto, gid, "before the removal")
	net.WaitFor(10*time.Second, "Carmen has it", func() bool { return carmen.Store.Has(history) })
	before := ana.KeysForTest(gid)
	r, err := ana.Remove(context.Background(), gid, "member-02")
	if err != nil {
		t.Fatal(err)
	}
	if r.Epoch <= before.Epoch() || r.KeptFrom != 2 {
		t.Fatalf("removal: %+v", r)
	}
	net.WaitFor(10*time.Second, "Beto on the new epoch", func() bool { return epochOf(beto, gid) == r.Epoch })
	newKeys := beto.KeysForTest(gid)
	if carmen.HasKeyForTest(newKeys.Tag()) {
		t.Fatal("the removed member holds the new key")
	}

	// What the group sends now does not reach her, and would not open.
	id := sendOne(t, beto, gid, "after the removal")
	net.WaitFor(10*time.Second, "Ana receives", func() bool { return ana.Store.Has(id) })
	time.Sleep(300 * time.Millisecond)
	if carmen.Store.Has(id) {
		t.Error("the removed member stored a message sent after the removal")
	}
	env, err := beto.Store.Envelope(id)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := crypto.EnvelopeTag(env)
	if tag != newKeys.Tag() || carmen.HasKeyForTest(tag) {
		t.Error("the message after the removal is readable with a key the removed member holds")
	}

	// Her node learns of the removal and refuses to send for her.
	net.WaitFor(5*time.Second, "Carmen's node knows", func() bool { return carmen.Groups()[0].Role == "removed" })
	if _, err := carmen.SendAlert(context.Background(), gid, node.AlertRequest{Kind: "danger", Severity: "urgent", Text: "x"}); !errors.Is(err, node.ErrRemovedFromGroup) {
		t.Errorf("removed member sending: %v", err)
	}
	// And what she forges with the old key, even through a member's node,
	// is rejected.
	att := newAttacker(t, net, gid, ana)
	dropped := ana.Status().Received.Ignored
	forged := seal(t, before, carmen.Identity.SignBody(gid, before.Epoch(), body(t, time.Now(), "forged by the removed member")))
	att.publish(t, forged)
	net.WaitFor(5*time.Second, "Ana drops the removed member's message", func() bool { return ana.Status().Received.Ignored > dropped })
	if ana.Store.Has(alert.ContentID(gid, carmen.Identity.ID(), body(t, time.Now(), "forged by the removed member"))) {
		t.Error("stored a message from the removed member")
	}
	for _, g := range carmen.Groups() {
		if g.Role != "removed" {
			t.Errorf("the removed member's node shows role %q", g.Role)
		}
	}
	// Sync between the others goes on working.
	// (A session either side started at the same moment makes one wait
	// or be refused; it is tried again.)
	net.WaitFor(10*time.Second, "a sync between the others", func() bool {
		_, err := ana.SyncWith(context.Background(), beto.Host().ID())
		return err == nil
	})

	// Invited again, she is told she was removed, and gets nothing: a
	// removed profile cannot join again. What she held stays readable.
	inv, err := ana.CreateInvite(context.Background(), gid, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carmen.Join(context.Background(), inv.Code); !errors.Is(err, node.ErrRemovedFromGroup) {
		t.Fatalf("a removed member joining again: %v", err)
	}
	feed, _ := carmen.Feed(node.FeedQuery{Group: gid})
	kept := false
	for _, e := range feed {
		kept = kept || e.ID == history.String()
	}
	if !kept {
		t.Error("Carmen's history did not survive")
	}
}

// TestOfflineMemberCatchesUpOnRekey: a member whose node was off during a
// removal gets the new epoch's key from the first member it meets, then the
// messages sent in it.
func TestOfflineMemberCatchesUpOnRekey(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 4, nodetest.Options{Latency: 2 * time.Millisecond})
	gid := net.Group("istmo")
	ana, beto, carmen := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	beto.Stop()
	r, err := ana.Remove(context.Background(), gid, "member-03")
	if err != nil {
		t.Fatal(err)
	}
	id := sendOne(t, ana, gid, "sent while Beto was away")
	net.WaitFor(10*time.Second, "Carmen has it", func() bool { return carmen.Store.Has(id) })
	ana.Stop() // Beto must learn it all from Carmen
	beto.Start()
	net.WaitFor(20*time.Second, "Beto on the new epoch", func() bool { return epochOf(beto, gid) == r.Epoch })
	net.WaitFor(20*time.Second, "Beto has the message", func() bool { return beto.Store.Has(id) })
	if got := roles(t, beto, gid); len(got) != 3 || got["member-03"] != "" {
		t.Errorf("Beto's roster: %v", got)
	}
	// And Beto is heard in the new epoch.
	back := sendOne(t, beto, gid, "back")
	net.WaitFor(10*time.Second, "Carmen hears Beto", func() bool { return carmen.Store.Has(back) })
}

// TestConcurrentAdminOpsConverge: two admins act on a split network; when it
// heals, every node computes the same roster. The removal of an admin wins
// over what that admin did without knowing of it.
func TestConcurrentAdminOpsConverge(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 4, nodetest.Options{Latency: 2 * time.Millisecond})
	gid := net.Group("istmo")
	ana, beto := net.Nodes[0], net.Nodes[1]
	ctx := context.Background()
	if _, err := ana.SetRole(ctx, gid, "member-01", alert.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "everyone sees two admins", func() bool {
		for _, nd := range net.Nodes {
			if roles(t, nd, gid)["member-01"] != "admin" {
				return false
			}
		}
		return true
	})
	net.Partition([]int{0, 2}, []int{1, 3})
	if _, err := ana.Remove(ctx, gid, "member-01"); err != nil {
		t.Fatal(err)
	}
	// Beto, not knowing, promotes Dani and removes Carmen.
	if _, err := beto.SetRole(ctx, gid, "member-03", alert.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := beto.Remove(ctx, gid, "member-02"); err != nil {
		t.Fatal(err)
	}
	net.Heal()
	want := map[string]string{"member-00": "admin", "member-02": "member", "member-03": "member"}
	for _, i := range []int{0, 2, 3} {
		nd := net.Nodes[i]
		net.WaitFor(20*time.Second, "the roster converges", func() bool { return reflect.DeepEqual(roles(t, nd, gid), want) })
	}
	// The surviving members end on one epoch that the removed admin lacks.
	net.WaitFor(20*time.Second, "one epoch", func() bool {
		e := epochOf(ana, gid)
		return epochOf(net.Nodes[2], gid) == e && epochOf(net.Nodes[3], gid) == e
	})
	if beto.HasKeyForTest(ana.KeysForTest(gid).Tag()) {
		t.Error("the removed admin holds the current key")
	}
}

// TestJoinsOnBothSidesOfASplit: two admins each let someone join while the
// network is split. Each newcomer holds only the epoch its admin started for
// it, and the other newcomer's addition is sealed in an epoch it never gets:
// it learns of it only through the epoch that repairs the fork. Every node
// ends knowing all four members, on one epoch, and the newcomers hear each
// other.
func TestJoinsOnBothSidesOfASplit(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 4, nodetest.Options{Latency: 2 * time.Millisecond})
	ana, beto, yola, zoe := net.Nodes[0], net.Nodes[1], net.Nodes[2], net.Nodes[3]
	yola.Stop()
	zoe.Stop()
	gid := net.Group("istmo")
	ctx := context.Background()
	if _, err := ana.SetRole(ctx, gid, "member-01", alert.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "Beto is an admin", func() bool { return roles(t, beto, gid)["member-01"] == "admin" })
	net.Partition([]int{0, 3}, []int{1, 2})
	yola.Start()
	zoe.Start()
	join := func(admin, nd *nodetest.Node) {
		inv, err := admin.CreateInvite(ctx, gid, 1, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nd.Join(ctx, inv.Code); err != nil {
			t.Fatalf("node %d joining: %v", nd.Index, err)
		}
	}
	join(beto, yola)
	join(ana, zoe)
	net.Heal()
	for _, nd := range net.Nodes {
		net.WaitFor(30*time.Second, fmt.Sprintf("node %d knows all four members", nd.Index), func() bool {
			return len(roles(t, nd, gid)) == 4
		})
	}
	net.WaitFor(30*time.Second, "one epoch", func() bool {
		e := epochOf(ana, gid)
		for _, nd := range net.Nodes[1:] {
			if epochOf(nd, gid) != e {
				return false
			}
		}
		return true
	})
	y, z := sendOne(t, yola, gid, "from yola"), sendOne(t, zoe, gid, "from zoe")
	net.WaitFor(10*time.Second, "the newcomers hear each other", func() bool { return zoe.Store.Has(y) && yola.Store.Has(z) })
}

// TestNonAdminRosterOpRejected: a member who never was an admin cannot
// change the roster.
func TestNonAdminRosterOpRejected(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{Latency: 2 * time.Millisecond})
	gid := net.Group("istmo")
	ana, beto := net.Nodes[0], net.Nodes[1]
	att := newAttacker(t, net, gid, ana)
	keys := ana.KeysForTest(gid)
	// Beto, a plain member, signs the removal of the admin: on the roster
	// Ana holds, which never made him an admin, it is provably not his to
	// make; on a roster op Ana lacks, his promotion may be what she lacks.
	removal := func(parents []alert.ID) []byte {
		op := &alert.RosterOp{Parents: parents, Change: &alert.RemoveMember{Member: ana.Identity.ID()}}
		b, err := alert.Encode(time.Now(), op)
		if err != nil {
			t.Fatal(err)
		}
		return seal(t, keys, beto.Identity.SignBody(gid, keys.Epoch(), b))
	}
	rejected, ignored := ana.Status().Received.Rejected, ana.Status().Received.Ignored
	att.publish(t, removal([]alert.ID{{1}}))
	net.WaitFor(5*time.Second, "ignored", func() bool { return ana.Status().Received.Ignored > ignored })
	att.publish(t, removal(ana.RosterHeadsForTest(gid)))
	net.WaitFor(5*time.Second, "rejected", func() bool { return ana.Status().Received.Rejected > rejected })
	if n := ana.Status().Received.Rejected - rejected; n != 1 {
		t.Errorf("%d rejected, want 1", n)
	}
	if got := roles(t, ana, gid); got["member-00"] != "admin" || len(got) != 3 {
		t.Errorf("roster changed: %v", got)
	}
	// Through the API, too.
	if _, err := beto.Remove(context.Background(), gid, "member-00"); !errors.Is(err, node.ErrNotAdmin) {
		t.Errorf("a member removing the admin: %v", err)
	}
}

// TestInvites: an invite is refused once expired, used up or revoked, and
// any admin's node can redeem it.
func TestInvites(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 6, nodetest.Options{Latency: 2 * time.Millisecond})
	ana, beto := net.Nodes[0], net.Nodes[1]
	for _, nd := range net.Nodes[2:] {
		nd.Stop()
	}
	gid := net.Group("istmo") // Ana and Beto only: the others are off
	ctx := context.Background()
	join := func(nd *nodetest.Node, code string) error {
		_, err := nd.Join(ctx, code)
		return err
	}

	short, err := ana.CreateInvite(ctx, gid, 1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	one, err := ana.CreateInvite(ctx, gid, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := ana.CreateInvite(ctx, gid, 5, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ana.RevokeInvite(ctx, gid, revoked.ID[:6]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)

	joiners := net.Nodes[2:4]
	for _, nd := range joiners {
		nd.Start()
	}
	for _, c := range []struct {
		name, code, want string
		nd               *nodetest.Node
	}{
		{"expired", short.Code, "expired", joiners[0]},
		{"revoked", revoked.Code, "revoked", joiners[0]},
	} {
		err := join(c.nd, c.code)
		if !errors.Is(err, node.ErrJoinRefused) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s invite: %v", c.name, err)
		}
	}
	if err := join(joiners[0], one.Code); err != nil {
		t.Fatalf("a fresh invite: %v", err)
	}
	if err := join(joiners[1], one.Code); !errors.Is(err, node.ErrJoinRefused) || !strings.Contains(err.Error(), "already used 1 of 1") {
		t.Errorf("an invite used up: %v", err)
	}

	// Only the node that made an invite redeems it, so that its uses are
	// counted in one place. The code names Beto's node too, which passes
	// joiners on; with Ana's node off, Beto's says that it cannot now.
	if _, err := ana.SetRole(ctx, gid, "member-01", alert.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "Beto is an admin", func() bool { return roles(t, beto, gid)["member-01"] == "admin" })
	inv, err := ana.CreateInvite(ctx, gid, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := crypto.ParseInviteCode(inv.Code)
	if err != nil || len(parsed.Also) == 0 || parsed.Also[0].ID != beto.Host().ID() {
		t.Fatalf("the code does not name Beto's node: %+v %v", parsed.Also, err)
	}
	net.WaitFor(10*time.Second, "Beto knows the invite", func() bool {
		invs, _ := beto.Invites(gid)
		for _, i := range invs {
			if i.ID == inv.ID {
				return true
			}
		}
		return false
	})
	ana.Stop()
	if err := join(joiners[1], inv.Code); !errors.Is(err, node.ErrRedeemerOffline) {
		t.Fatalf("redeeming while the node that made the invite is off: %v", err)
	}
	if got := roles(t, beto, gid); len(got) != 3 {
		t.Errorf("Beto's roster after refusing: %v", got)
	}
	ana.Start()
	if err := join(joiners[1], inv.Code); err != nil {
		t.Fatalf("redeeming once the node that made it is back: %v", err)
	}
	net.WaitFor(10*time.Second, "Beto knows the new member", func() bool { return len(roles(t, beto, gid)) == 4 })
}

// TestGroupsAreIsolated: a volunteer in two groups keeps their traffic,
// keys and rosters apart.
func TestGroupsAreIsolated(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{Latency: 2 * time.Millisecond})
	vol, ana, beto := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	ctx := context.Background()
	join := func(nd *nodetest.Node, gid crypto.GroupID) {
		inv, err := vol.CreateInvite(ctx, gid, 1, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nd.Join(ctx, inv.Code); err != nil {
			t.Fatal(err)
		}
	}
	g1info, _ := vol.CreateGroup(ctx, "juchitan")
	g2info, _ := vol.CreateGroup(ctx, "ixtepec")
	g1, _ := crypto.ParseGroupID(g1info.ID)
	g2, _ := crypto.ParseGroupID(g2info.ID)
	join(ana, g1)
	join(beto, g2)
	id1 := sendOne(t, ana, g1, "only for juchitan")
	id2 := sendOne(t, beto, g2, "only for ixtepec")
	net.WaitFor(10*time.Second, "the volunteer has both", func() bool { return vol.Store.Has(id1) && vol.Store.Has(id2) })
	time.Sleep(300 * time.Millisecond)
	if beto.Store.Has(id1) || ana.Store.Has(id2) {
		t.Error("a message crossed into the other group")
	}
	if beto.HasKeyForTest(vol.KeysForTest(g1).Tag()) || ana.HasKeyForTest(vol.KeysForTest(g2).Tag()) {
		t.Error("a member holds the other group's key")
	}
	feed1, _ := vol.Feed(node.FeedQuery{Group: g1})
	feed2, _ := vol.Feed(node.FeedQuery{Group: g2})
	all, _ := vol.Feed(node.FeedQuery{})
	if len(feed1) != 1 || feed1[0].ID != id1.String() || len(feed2) != 1 || feed2[0].ID != id2.String() || len(all) != 2 {
		t.Errorf("feeds: %d in juchitan, %d in ixtepec, %d merged", len(feed1), len(feed2), len(all))
	}
	if _, err := ana.Members(g2); !errors.Is(err, node.ErrNoSuchGroup) {
		t.Errorf("a member of one group sees the other's roster: %v", err)
	}
}

// TestEpochsRotateAndOldKeysAreErased: an admin's node starts a new epoch
// on schedule; keys of epochs retired longer than the retention window are
// erased, so a seized device cannot open old traffic.
func TestEpochsRotateAndOldKeysAreErased(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	net := nodetest.New(t, 2, nodetest.Options{Config: func(i int, c *node.Config) {
		c.Now = clock
		c.RotateEvery = time.Hour
		c.Retention = 2 * time.Hour
	}})
	gid := net.Group("istmo")
	ana, beto := net.Nodes[0], net.Nodes[1]
	old := ana.KeysForTest(gid)
	id := sendOne(t, ana, gid, "in the old epoch")
	net.WaitFor(10*time.Second, "Beto has it", func() bool { return beto.Store.Has(id) })

	skew.Store(int64(90 * time.Minute))
	ana.MaintainForTest()
	net.WaitFor(10*time.Second, "both on a new epoch", func() bool {
		return epochOf(ana, gid) > old.Epoch() && epochOf(beto, gid) == epochOf(ana, gid)
	})
	if !beto.HasKeyForTest(old.Tag()) {
		t.Fatal("the old key went before the retention window")
	}
	skew.Store(int64(90*time.Minute + 3*time.Hour))
	for _, nd := range net.Nodes {
		nd.PruneForTest()
		nd.MaintainForTest()
		if nd.HasKeyForTest(old.Tag()) {
			t.Errorf("node %d still holds a key retired longer than the retention window", nd.Index)
		}
		if nd.Store.Has(id) {
			t.Errorf("node %d still holds a message older than the retention window", nd.Index)
		}
	}
	// The keep file, which takes each change at its end, holds no earlier
	// state with the secret either: no frame of it opens to anything that
	// holds it.
	keep, err := os.ReadFile(beto.StorePath() + ".keep")
	if err != nil {
		t.Fatal(err)
	}
	seal := crypto.NewAtRest(beto.StorageKey())
	frame := func(b []byte) ([]byte, []byte, bool) {
		if len(b) < 4 || uint64(len(b)-4) < uint64(binary.BigEndian.Uint32(b)) {
			return nil, nil, false // cut short: the end
		}
		n := 4 + binary.BigEndian.Uint32(b)
		return b[4:n], b[n:], true
	}
	for frames := keep[len("takecare-keep v1\n"):]; ; {
		k, rest, ok := frame(frames)
		if !ok {
			break
		}
		v, rest, ok := frame(rest)
		if !ok {
			break
		}
		frames = rest
		if pt, err := seal.Open(k, v); err == nil && bytes.Contains(pt, []byte(base64.StdEncoding.EncodeToString(old.Secret().Bytes()))) {
			t.Fatal("the keep file still holds the erased secret")
		}
	}
	// The erasure survives a restart.
	beto.Stop()
	beto.Start()
	if beto.HasKeyForTest(old.Tag()) {
		t.Error("the erased key came back after a restart")
	}
	// A store repaired from the keep file (its store file lost) does not
	// get it back either.
	beto.Stop()
	if err := os.Remove(beto.StorePath()); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Repair(beto.StorePath(), beto.StorageKey(), store.Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	beto.Start()
	if _, err := beto.CurrentEpoch(gid); err != nil {
		t.Fatalf("the repaired store lost the group: %v", err)
	}
	if beto.HasKeyForTest(old.Tag()) {
		t.Error("the erased key came back from the keep file")
	}
}

// TestSafetyNumbers: both sides see the same number; confirming marks the
// member verified in the members list.
func TestSafetyNumbers(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{})
	gid := net.Group("istmo")
	ana, beto := net.Nodes[0], net.Nodes[1]
	a, err := ana.Verify("member-01", false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := beto.Verify(ana.Identity.ID().String()[:8], false)
	if err != nil {
		t.Fatal(err)
	}
	if a.SafetyNumber != b.SafetyNumber || a.Verified {
		t.Fatalf("safety numbers %q and %q (verified %v)", a.SafetyNumber, b.SafetyNumber, a.Verified)
	}
	if _, err := ana.Verify("member-01", true); err != nil {
		t.Fatal(err)
	}
	ms, _ := ana.Members(gid)
	for _, m := range ms {
		if m.Name == "member-01" && !m.Verified {
			t.Error("not marked verified")
		}
	}
	if _, err := ana.Verify("nobody", false); !errors.Is(err, node.ErrNoSuchMember) {
		t.Errorf("unknown member: %v", err)
	}
}
