package transport

import (
	"context"
	"errors"
	"testing"
	"time"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

func peers(t *testing.T, n int) []peer.ID {
	t.Helper()
	out := make([]peer.ID, n)
	for i := range out {
		k, _, err := lcrypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = peer.IDFromPrivateKey(k); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// The gater lets in members, duress nodes (inbound), removed members due
// a notice, and door peers of open doors; it refuses strangers and never
// dials a removed member's node.
func TestGater(t *testing.T) {
	p := peers(t, 6)
	member, removed, duress, door, stranger, closedDoor := p[0], p[1], p[2], p[3], p[4], p[5]
	now := time.Unix(1_000_000, 0)
	adm := NewAdmission()
	g := NewGater(adm, func(q peer.ID) bool { return q == removed }, func() bool { return false }, func() time.Time { return now })
	in, out := network.DirInbound, network.DirOutbound
	if g.InterceptSecured(in, member, nil) {
		t.Fatal("admitted before any snapshot was published")
	}
	a := NewAccess()
	a.Members[member] = true
	a.Removed[removed] = true
	a.Duress[duress] = true
	a.Doors[door] = Door{Until: now.Add(time.Hour)}
	a.Doors[closedDoor] = Door{Until: now.Add(-time.Second)}
	adm.Publish(a)
	for _, c := range []struct {
		name string
		dir  network.Direction
		p    peer.ID
		want bool
	}{
		{"member", in, member, true},
		{"removed, notice due", in, removed, true},
		{"removed, outbound", out, removed, false},
		{"duress node", in, duress, true},
		{"open door", in, door, true},
		{"closed door", in, closedDoor, false},
		{"stranger", in, stranger, false},
		{"stranger, outbound", out, stranger, true},
	} {
		if got := g.InterceptSecured(c.dir, c.p, nil); got != c.want {
			t.Errorf("%s: admitted %v, want %v", c.name, got, c.want)
		}
	}
	if g.InterceptPeerDial(removed) || !g.InterceptPeerDial(member) {
		t.Error("dials a removed member's node, or not a member's")
	}
	codes := NewGater(adm, func(peer.ID) bool { return false }, func() bool { return true }, func() time.Time { return now })
	if !codes.InterceptSecured(in, stranger, nil) {
		t.Error("a relay that serves codes refused a stranger, who could not prove one")
	}
}

// The subscription filter keeps every subscription to our topics and at
// most MaxForeignTopics to others per peer, until the peer is forgotten.
func TestTopicFilter(t *testing.T) {
	p := peers(t, 2)
	adm := NewAdmission()
	a := NewAccess()
	ours := topicName(1 << 20)
	a.ByTopic[ours] = map[peer.ID]bool{p[1]: true}
	adm.Publish(a)
	var foreign ForeignTopics
	f := NewTopicFilter(adm, &foreign)
	sub := func(topic string) *pb.RPC_SubOpts {
		yes := true
		return &pb.RPC_SubOpts{Topicid: &topic, Subscribe: &yes}
	}
	kept := 0
	for i := range MaxForeignTopics + 10 {
		subs, err := f.FilterIncomingSubscriptions(p[0], []*pb.RPC_SubOpts{sub(topicName(i))})
		if err != nil {
			t.Fatal(err)
		}
		kept += len(subs)
	}
	if kept != MaxForeignTopics {
		t.Fatalf("kept %d foreign topics, want %d", kept, MaxForeignTopics)
	}
	if subs, _ := f.FilterIncomingSubscriptions(p[0], []*pb.RPC_SubOpts{sub(ours)}); len(subs) != 1 {
		t.Fatal("refused a subscription to our own topic")
	}
	if subs, _ := f.FilterIncomingSubscriptions(p[0], []*pb.RPC_SubOpts{sub("made/up")}); len(subs) != 0 {
		t.Fatal("kept a topic name not of the form of ours")
	}
	foreign.Forget(p[0])
	if subs, _ := f.FilterIncomingSubscriptions(p[0], []*pb.RPC_SubOpts{sub(topicName(MaxForeignTopics + 10))}); len(subs) != 1 {
		t.Fatal("a forgotten peer is still at its limit")
	}
}

// topicName returns the i-th name of the form of our topics.
func topicName(i int) string {
	const digits = "abcdefghijklmnopqrstuvwxyz234567"
	s := []byte("tc1/aaaaaaaaaaaaaaaaaaaaaaaaaa")
	for j := len(s) - 1; i > 0; j, i = j-1, i/32 {
		s[j] = digits[i%32]
	}
	return string(s)
}

type codes map[peer.ID]bool

func (c codes) Authorized(p peer.ID, _ time.Time) bool  { return c[p] }
func (c codes) Together(p, q peer.ID, _ time.Time) bool { return c[p] && c[q] }

// The relay serves members of one same group, and holders of one same
// code, never a member for a stranger.
func TestRelayACL(t *testing.T) {
	p := peers(t, 5)
	adm := NewAdmission()
	a := NewAccess()
	a.ByTopic["t1"] = map[peer.ID]bool{p[0]: true, p[1]: true}
	a.ByTopic["t2"] = map[peer.ID]bool{p[2]: true}
	for _, q := range p[:3] {
		a.Members[q] = true
	}
	adm.Publish(a)
	acl := NewRelayACL(adm, codes{p[3]: true, p[4]: true}, time.Now)
	if !acl.AllowReserve(p[0], nil) || !acl.AllowReserve(p[3], nil) {
		t.Error("refused a member's or a code holder's reservation")
	}
	if !acl.AllowConnect(p[0], nil, p[1]) || !acl.AllowConnect(p[3], nil, p[4]) {
		t.Error("refused a circuit within a group or between holders of one code")
	}
	if acl.AllowConnect(p[0], nil, p[2]) || acl.AllowConnect(p[0], nil, p[3]) {
		t.Error("relayed between two groups, or between a member and a code holder")
	}
}

// WaitMember returns when a connected peer becomes a member, and fails
// at once for a removed or disconnected one.
func TestWaitMember(t *testing.T) {
	mn := mocknet.New()
	defer mn.Close()
	a, err := mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	b, err := mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	adm := NewAdmission()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := adm.WaitMember(ctx, a.Network(), b.ID()); !errors.Is(err, ErrNotMemberNode) {
		t.Fatalf("waiting for a peer not connected: %v, want ErrNotMemberNode", err)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := mn.ConnectPeers(a.ID(), b.ID()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- adm.WaitMember(ctx, a.Network(), b.ID()) }()
	next := NewAccess()
	next.Members[b.ID()] = true
	adm.Publish(next)
	if err := <-done; err != nil {
		t.Fatalf("waiting for a peer that became a member: %v", err)
	}
	gone := NewAccess()
	gone.Removed[b.ID()] = true
	adm.Publish(gone)
	if err := adm.WaitMember(ctx, a.Network(), b.ID()); !errors.Is(err, ErrNotMemberNode) {
		t.Fatalf("waiting for a removed peer: %v, want ErrNotMemberNode", err)
	}
}
