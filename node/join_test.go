package node_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/nodetest"
)

// rawJoiner speaks the join protocol by hand, as someone who holds a code
// and builds whatever request it likes.
type rawJoiner struct {
	t    *testing.T
	inv  crypto.Invite
	door host.Host
}

func newRawJoiner(t *testing.T, net *nodetest.Net, code string) *rawJoiner {
	t.Helper()
	inv, err := crypto.ParseInviteCode(code)
	if err != nil {
		t.Fatal(err)
	}
	h, err := net.Mock.AddPeer(inv.DoorKey(), ma.StringCast("/ip4/10.253.0.1/tcp/4001"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if err := net.Mock.LinkAll(); err != nil {
		t.Fatal(err)
	}
	return &rawJoiner{t: t, inv: inv, door: h}
}

// ask runs one session with the node that made the invite; sign builds the
// request from the challenge. It returns the challenge's refusal or the
// response.
func (r *rawJoiner) ask(to peer.ID, sign func(nonce []byte) *wire.JoinRequest) *wire.JoinResponse {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := r.door.NewStream(ctx, to, node.JoinProtocol)
	if err != nil {
		r.t.Fatal(err)
	}
	defer s.Close()
	br := bufio.NewReader(s)
	if _, err := protodelim.MarshalTo(s, &wire.JoinHello{Version: 2, Group: r.inv.Group[:], Invite: r.inv.ID[:]}); err != nil {
		r.t.Fatal(err)
	}
	var ch wire.JoinChallenge
	if err := (protodelim.UnmarshalOptions{MaxSize: 1 << 10}).UnmarshalFrom(br, &ch); err != nil {
		r.t.Fatalf("reading the challenge: %v", err)
	}
	if ch.Status != wire.JoinStatus_JOIN_OK {
		return &wire.JoinResponse{Status: ch.Status, Detail: ch.Detail}
	}
	if _, err := protodelim.MarshalTo(s, sign(ch.Nonce)); err != nil {
		r.t.Fatal(err)
	}
	s.CloseWrite()
	var resp wire.JoinResponse
	if err := (protodelim.UnmarshalOptions{MaxSize: 32 << 20}).UnmarshalFrom(br, &resp); err != nil {
		r.t.Fatalf("reading the response: %v", err)
	}
	return &resp
}

// request signs a join request for a member record with the three keys of
// signer (its member keys and node key): a real joiner signs with the keys
// the record names.
func (r *rawJoiner) request(signer *crypto.Identity, rec alert.MemberInfo, nonce []byte) *wire.JoinRequest {
	r.t.Helper()
	b, err := alert.EncodeMember(rec)
	if err != nil {
		r.t.Fatal(err)
	}
	p, err := r.inv.ProveJoin(signer, nonce, b)
	if err != nil {
		r.t.Fatal(err)
	}
	return &wire.JoinRequest{Member: b, InviteSig: p.Invite, MemberSig: p.Member, NodeSig: p.Node}
}

// inviteOf returns a node's view of an invite, or nil.
func inviteOf(nd *nodetest.Node, gid crypto.GroupID, id string) *node.InviteView {
	invs, _ := nd.Invites(gid)
	for _, i := range invs {
		if i.ID == id {
			return &i
		}
	}
	return nil
}

func record(id *crypto.Identity) alert.MemberInfo {
	return alert.MemberInfo{Name: id.Name(), Keys: id.Public(), Peer: id.PeerID()}
}

// gotNothing fails unless a response carries nothing of the group.
func gotNothing(t *testing.T, what string, resp *wire.JoinResponse) {
	t.Helper()
	if len(resp.Roster) > 0 || len(resp.Peers) > 0 || resp.Rekey != nil {
		t.Errorf("%s: got %d roster ops, %d node addresses and a key: %v", what, len(resp.Roster), len(resp.Peers), resp.Rekey != nil)
	}
}

// TestJoinProvesWhoYouAre: holding a code is not enough to be let in as
// someone else. A request that names a current member, or a removed one,
// without that member's keys, or a request captured from an earlier
// session, gets nothing (no roster, no addresses, no key) and starts no
// epoch. A removed member with its own keys is told it was removed, and
// gets nothing either.
func TestJoinProvesWhoYouAre(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{Latency: 2 * time.Millisecond})
	gid := net.Group("juchitan")
	ana, beto, carmen := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	ctx := context.Background()
	inv, err := ana.CreateInvite(ctx, gid, 5, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := crypto.NewIdentity("mallory")
	if err != nil {
		t.Fatal(err)
	}
	carmenKeys := carmen.Identity
	carmen.Stop()
	if _, err := ana.Remove(ctx, gid, "member-02"); err != nil {
		t.Fatal(err)
	}
	epoch := epochOf(ana, gid)
	rj := newRawJoiner(t, net, inv.Code)
	to := ana.Host().ID()

	// Mallory, with the code, names Beto (a current member) with her own
	// node, or with Beto's: she cannot sign for his keys.
	for _, rec := range []alert.MemberInfo{
		{Name: "member-01", Keys: beto.Identity.Public(), Peer: mallory.PeerID()},
		record(beto.Identity),
	} {
		resp := rj.ask(to, func(nonce []byte) *wire.JoinRequest { return rj.request(mallory, rec, nonce) })
		if resp.Status != wire.JoinStatus_JOIN_BAD_PROOF {
			t.Errorf("naming Beto without his keys: %v %q", resp.Status, resp.Detail)
		}
		gotNothing(t, "naming Beto", resp)
	}
	// Beto's own request, taken from one session and sent in another,
	// does not verify: the challenge changed.
	var captured *wire.JoinRequest
	resp := rj.ask(to, func(nonce []byte) *wire.JoinRequest {
		captured = rj.request(beto.Identity, record(beto.Identity), nonce)
		return captured
	})
	if resp.Status != wire.JoinStatus_JOIN_ALREADY_MEMBER {
		t.Fatalf("Beto asking again: %v %q", resp.Status, resp.Detail)
	}
	resp = rj.ask(to, func([]byte) *wire.JoinRequest { return captured })
	if resp.Status != wire.JoinStatus_JOIN_BAD_PROOF {
		t.Errorf("a replayed request: %v %q", resp.Status, resp.Detail)
	}
	gotNothing(t, "a replayed request", resp)

	// Carmen, removed, with her own keys, from a node the group never saw.
	fresh, err := crypto.NewIdentity("member-02")
	if err != nil {
		t.Fatal(err)
	}
	resp = rj.ask(to, func(nonce []byte) *wire.JoinRequest {
		b, _ := alert.EncodeMember(alert.MemberInfo{Name: "member-02", Keys: carmenKeys.Public(), Peer: fresh.PeerID()})
		// Her member keys, the fresh node's key.
		p1, _ := rj.inv.ProveJoin(carmenKeys, nonce, b)
		p2, _ := rj.inv.ProveJoin(fresh, nonce, b)
		return &wire.JoinRequest{Member: b, InviteSig: p1.Invite, MemberSig: p1.Member, NodeSig: p2.Node}
	})
	if resp.Status != wire.JoinStatus_JOIN_REMOVED {
		t.Errorf("the removed member: %v %q", resp.Status, resp.Detail)
	}
	gotNothing(t, "the removed member", resp)

	if got := epochOf(ana, gid); got != epoch {
		t.Errorf("the attempts started epoch %d (was %d)", got, epoch)
	}
	if got := roles(t, ana, gid); len(got) != 2 {
		t.Errorf("roster after the attempts: %v", got)
	}

	// Through the node itself, the removed member is told in words.
	carmen.Start()
	_, err = carmen.Join(ctx, inv.Code)
	if !errors.Is(err, node.ErrRemovedFromGroup) || !strings.Contains(err.Error(), "(juchitan)") {
		t.Errorf("the removed member joining: %v", err)
	}
}

// TestJoiningAgainChangesNothing: a member who joins again with its code
// (its answer was lost, or it ran the command twice) is told it already is
// a member; no new epoch starts, and asking over and over is soon refused
// for a while rather than answered with the whole roster each time.
func TestJoiningAgainChangesNothing(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{Latency: 2 * time.Millisecond})
	ana, beto := net.Nodes[0], net.Nodes[1]
	ctx := context.Background()
	info, err := ana.CreateGroup(ctx, "juchitan")
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := crypto.ParseGroupID(info.ID)
	inv, err := ana.CreateInvite(ctx, gid, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	first, err := beto.Join(ctx, inv.Code)
	if err != nil || first.Already {
		t.Fatalf("joining: %+v, %v", first, err)
	}
	epoch := epochOf(ana, gid)
	busy := 0
	for range 10 {
		again, err := beto.Join(ctx, inv.Code)
		switch {
		case err == nil:
			if !again.Already || again.Name != "juchitan" || again.Members != 2 {
				t.Errorf("joining again: %+v", again)
			}
		case errors.Is(err, node.ErrJoinRefused) && strings.Contains(err.Error(), "try again in a minute"):
			busy++
		default:
			t.Fatalf("joining again: %v", err)
		}
	}
	if busy == 0 {
		t.Error("ten joins in a row were all answered")
	}
	if got := epochOf(ana, gid); got != epoch {
		t.Errorf("joining again started epoch %d (was %d)", got, epoch)
	}
	if got := epochOf(beto, gid); got != epoch {
		t.Errorf("Beto is on epoch %d, the group on %d", got, epoch)
	}
	id := sendOne(t, beto, gid, "still here")
	net.WaitFor(10*time.Second, "Ana hears Beto", func() bool { return ana.Store.Has(id) })

	// A member whose node lost the group (its store and the store's keep
	// file are gone; the keystore is not) gets it back the same way, with
	// the current key and no new epoch.
	beto.Stop()
	for _, p := range []string{beto.StorePath(), beto.StorePath() + ".keep"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	beto.Start()
	if gs := beto.Groups(); len(gs) != 0 {
		t.Fatalf("a new store holds %d groups", len(gs))
	}
	var back node.JoinResult
	net.WaitFor(30*time.Second, "Beto gets the group back", func() bool {
		back, err = beto.Join(ctx, inv.Code)
		return err == nil
	})
	if !back.Already || back.Epoch != epoch || epochOf(ana, gid) != epoch {
		t.Errorf("joining again with a lost store: %+v; the group is on epoch %d, was %d", back, epochOf(ana, gid), epoch)
	}
	id = sendOne(t, ana, gid, "welcome back")
	net.WaitFor(10*time.Second, "Beto reads the group again", func() bool { return beto.Store.Has(id) })
}

// TestSingleUseInviteAdmitsOnePerson: a code for one person, passed to two,
// while the admins' nodes that can redeem it cannot reach each other. Only
// the node that made the invite redeems it; the other admin's node, which
// the code also names, cannot pass the second joiner on and says so. Once
// the network heals the invite is used once, everywhere.
func TestSingleUseInviteAdmitsOnePerson(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 4, nodetest.Options{Latency: 2 * time.Millisecond})
	ana, beto, yola, zoe := net.Nodes[0], net.Nodes[1], net.Nodes[2], net.Nodes[3]
	yola.Stop()
	zoe.Stop()
	gid := net.Group("juchitan")
	ctx := context.Background()
	if _, err := ana.SetRole(ctx, gid, "member-01", alert.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "Beto is an admin", func() bool { return roles(t, beto, gid)["member-01"] == "admin" })
	inv, err := ana.CreateInvite(ctx, gid, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "Beto knows the invite", func() bool { return inviteOf(beto, gid, inv.ID) != nil })
	net.Partition([]int{0, 2}, []int{1, 3})
	yola.Start()
	zoe.Start()
	if _, err := yola.Join(ctx, inv.Code); err != nil {
		t.Fatalf("the first joiner: %v", err)
	}
	if _, err := zoe.Join(ctx, inv.Code); !errors.Is(err, node.ErrRedeemerOffline) {
		t.Fatalf("the second joiner, who reaches only the other admin: %v", err)
	}
	net.Heal()
	for _, nd := range []*nodetest.Node{ana, beto} {
		net.WaitFor(20*time.Second, "the admins agree", func() bool {
			i := inviteOf(nd, gid, inv.ID)
			return i != nil && i.Used == 1 && len(roles(t, nd, gid)) == 3
		})
	}
	if _, err := zoe.Join(ctx, inv.Code); !errors.Is(err, node.ErrJoinRefused) || !strings.Contains(err.Error(), "already used 1 of 1") {
		t.Fatalf("the second joiner after the heal: %v", err)
	}
	if got := roles(t, ana, gid); len(got) != 3 || got["member-03"] != "" {
		t.Errorf("roster: %v", got)
	}
}

// TestRemovedAdminsInviteIsVoid: an admin is removed while its node is cut
// off, and that node, not knowing, redeems a code it made before. The
// joiner asks the other admin's node the code names, learns that the group
// does not count it, and is warned loudly (in what Join returns and in the
// group list). The group never counts it.
func TestRemovedAdminsInviteIsVoid(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 4, nodetest.Options{Latency: 2 * time.Millisecond})
	ana, beto, zoe := net.Nodes[0], net.Nodes[1], net.Nodes[3]
	zoe.Stop()
	gid := net.Group("juchitan")
	ctx := context.Background()
	if _, err := ana.SetRole(ctx, gid, "member-01", alert.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "Beto is an admin", func() bool { return roles(t, beto, gid)["member-01"] == "admin" })
	inv, err := beto.CreateInvite(ctx, gid, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := crypto.ParseInviteCode(inv.Code)
	if len(parsed.Also) != 1 || parsed.Also[0].ID != ana.Host().ID() {
		t.Fatalf("the code does not name Ana's node: %+v", parsed.Also)
	}
	net.WaitFor(10*time.Second, "Ana knows the invite", func() bool { return inviteOf(ana, gid, inv.ID) != nil })
	net.Partition([]int{1}, []int{0, 2})
	if _, err := ana.Remove(ctx, gid, "member-01"); err != nil {
		t.Fatal(err)
	}
	zoe.Start() // in no side of the split: it reaches both
	res, err := zoe.Join(ctx, inv.Code)
	if err != nil {
		t.Fatalf("joining through the removed admin's node: %v", err)
	}
	if res.ConfirmedBy != 0 || !strings.Contains(res.Warning, "does not count you") {
		t.Errorf("no loud warning: %+v", res)
	}
	if gs := zoe.Groups(); len(gs) != 1 || gs[0].Warning == "" {
		t.Errorf("the group list does not warn: %+v", gs)
	}
	if got := roles(t, ana, gid); len(got) != 2 {
		t.Errorf("the group counts the joiner: %v", got)
	}
}

// TestNewcomerReadsNothingFromBefore: a member sends an alert; a minute's
// worth of clock error on the admin's node later, someone joins. However
// the clocks stand, the newcomer never reads the alert (not even re-sent in
// its new epoch), while a member whose node was off receives it, and the
// newcomer reads what is sent after it joined.
func TestNewcomerReadsNothingFromBefore(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 4, nodetest.Options{Latency: 2 * time.Millisecond, Config: func(i int, c *node.Config) {
		if i == 0 {
			c.Now = func() time.Time { return time.Now().Add(-2 * time.Minute) } // the admin's clock is slow
		}
	}})
	ana, beto, carmen, dani := net.Nodes[0], net.Nodes[1], net.Nodes[2], net.Nodes[3]
	carmen.Stop()
	gid := net.Group("juchitan")
	ctx := context.Background()
	dani.Stop()
	before := sendOne(t, beto, gid, "sent before Carmen joins")
	net.WaitFor(10*time.Second, "Ana has it", func() bool { return ana.Store.Has(before) })
	inv, err := ana.CreateInvite(ctx, gid, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	carmen.Start()
	if _, err := carmen.Join(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "Beto on the new epoch", func() bool { return epochOf(beto, gid) == epochOf(carmen, gid) })
	dani.Start()
	net.WaitFor(20*time.Second, "Dani, who was off, receives it", func() bool { return dani.Store.Has(before) })
	after := sendOne(t, beto, gid, "sent after Carmen joined")
	net.WaitFor(10*time.Second, "Carmen reads what is sent after", func() bool { return carmen.Store.Has(after) })
	// A full sync with a member who holds it gives it no more.
	net.WaitFor(10*time.Second, "a sync with Beto", func() bool {
		_, err := carmen.SyncWith(ctx, beto.Host().ID())
		return err == nil
	})
	if carmen.Store.Has(before) {
		t.Error("the newcomer holds a message sent before it joined")
	}
	feed, _ := carmen.Feed(node.FeedQuery{Group: gid})
	for _, e := range feed {
		if e.ID == before.String() {
			t.Error("the newcomer's feed shows a message sent before it joined")
		}
	}
}
