package join

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/transport"
	"github.com/takecare-network/takecare/node/internal/wire"
)

// groups is a Redeemer that knows one invite.
type groups struct {
	inv      alert.InviteState
	redeemer peer.ID
	refuse   error

	mu      sync.Mutex
	answers []alert.MemberInfo
}

func (g *groups) Find(from peer.ID, door bool, gid crypto.GroupID, iid crypto.InviteID) (alert.InviteState, peer.ID, error) {
	if g.refuse != nil {
		return alert.InviteState{}, "", g.refuse
	}
	return g.inv, g.redeemer, nil
}

func (g *groups) Answer(gid crypto.GroupID, inv alert.InviteState, member alert.MemberInfo, check bool) *wire.JoinResponse {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.answers = append(g.answers, member)
	return &wire.JoinResponse{Status: wire.JoinStatus_JOIN_OK}
}

// doorNet is an admin's node serving the door for one invite, and the
// door host of a joiner holding its code, on mocknet.
type doorNet struct {
	inv    crypto.Invite
	groups *groups
	joiner *crypto.Identity
	ask    func(id *crypto.Identity, member alert.MemberInfo) (*wire.JoinResponse, error)
}

func newDoorNet(t *testing.T) *doorNet {
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	admin, err := mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	inv := crypto.NewInvite(crypto.NewGroupID(), admin.ID(), nil)
	door, err := mn.AddPeer(inv.DoorKey(), ma.StringCast("/ip4/127.0.0.1/tcp/4001"))
	if err != nil {
		t.Fatal(err)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	st := alert.InviteState{NewInvite: alert.NewInvite{ID: inv.ID, Key: inv.PublicKey(), Uses: 1, Expires: time.Now().Add(time.Hour)}}
	g := &groups{inv: st, redeemer: admin.ID()}
	d := NewDoor(g, admin, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	admin.SetStreamHandler(Protocol, func(s network.Stream) {
		if err := d.Serve(context.Background(), s, &transport.Door{Group: inv.Group, Invite: inv.ID}); err != nil {
			s.Reset()
			return
		}
		s.Close()
	})
	joiner, err := crypto.NewIdentity("joiner")
	if err != nil {
		t.Fatal(err)
	}
	ai := peer.AddrInfo{ID: admin.ID(), Addrs: admin.Addrs()}
	return &doorNet{inv: inv, groups: g, joiner: joiner, ask: func(id *crypto.Identity, m alert.MemberInfo) (*wire.JoinResponse, error) {
		b, err := alert.EncodeMember(m)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return Ask(ctx, door, ai, inv, id, b, false)
	}}
}

// A joiner who proves it holds the code and its keys reaches the node's
// Answer with its member record; one whose record names keys it does not
// hold, or whose invite the node refuses, gets the refusal and nothing is
// redeemed.
func TestDoor(t *testing.T) {
	n := newDoorNet(t)
	me := alert.MemberInfo{Name: "joiner", Keys: n.joiner.Public(), Peer: n.joiner.PeerID()}
	resp, err := n.ask(n.joiner, me)
	if err != nil || resp.Status != wire.JoinStatus_JOIN_OK {
		t.Fatalf("join with a good proof: %v %v", resp, err)
	}
	if len(n.groups.answers) != 1 || n.groups.answers[0].Name != "joiner" {
		t.Fatalf("the node was asked to redeem %v, want the joiner once", n.groups.answers)
	}

	other, err := crypto.NewIdentity("other")
	if err != nil {
		t.Fatal(err)
	}
	resp, err = n.ask(other, me) // signs for keys it does not hold
	if err != nil || resp.Status != wire.JoinStatus_JOIN_BAD_PROOF {
		t.Fatalf("join with another's member record: %v %v, want JOIN_BAD_PROOF", resp, err)
	}

	n.groups.refuse = Refuse(wire.JoinStatus_JOIN_VOID, "no longer an admin")
	resp, err = n.ask(n.joiner, me)
	if err != nil || resp.Status != wire.JoinStatus_JOIN_VOID || resp.Detail != "no longer an admin" {
		t.Fatalf("join with a refused invite: %v %v, want JOIN_VOID with the reason", resp, err)
	}
	if len(n.groups.answers) != 1 {
		t.Fatalf("the node was asked to redeem %d times, want once", len(n.groups.answers))
	}
}
