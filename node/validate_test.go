package node_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// attacker is a member's node gone rogue: a raw libp2p host with
// GossipSub configured like a node's, publishing hand-made envelopes on a
// group's topic. (Pubsub reaches member nodes only, so a peer that is not
// one cannot publish at all.)
type attacker struct {
	topic *pubsub.Topic
}

// newAttacker makes a new member of the group, added by target (an
// admin's node), whose node is the attacker, subscribed to the group's
// current topic and connected to target. Adding it starts a new epoch.
func newAttacker(t *testing.T, net *nodetest.Net, gid crypto.GroupID, target *nodetest.Node) *attacker {
	t.Helper()
	id, err := crypto.NewIdentity("attacker")
	if err != nil {
		t.Fatal(err)
	}
	h, err := net.Mock.AddPeer(id.NodeKey(), ma.StringCast("/ip4/10.254.0.1/tcp/4001"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithNoAuthor(), pubsub.WithFloodPublish(true),
		pubsub.WithMessageIdFn(func(m *pb.Message) string { s := sha256.Sum256(m.Data); return string(s[:]) }))
	if err != nil {
		t.Fatal(err)
	}
	if err := target.AddMemberForTest(ctx, gid, alert.MemberInfo{Name: "attacker", Keys: id.Public(), Peer: id.PeerID()}); err != nil {
		t.Fatal(err)
	}
	// Every member's node takes the new epoch before anything else happens.
	epoch := target.KeysForTest(gid)
	net.WaitFor(10*time.Second, "every member on the new epoch", func() bool {
		for _, nd := range net.Nodes {
			if !nd.Running() || nd == target {
				continue
			}
			for _, g := range nd.Groups() {
				if g.ID == gid.String() && g.Role != "removed" && nd.KeysForTest(gid).Tag() != epoch.Tag() {
					return false
				}
			}
		}
		return true
	})
	tp, err := ps.Join(epoch.Topic())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Subscribe(); err != nil {
		t.Fatal(err)
	}
	// Linked only now that pubsub runs: member nodes dial it at once, and
	// pubsub would miss a connection made while it starts.
	if err := net.Mock.LinkAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Mock.ConnectPeers(h.ID(), target.Host().ID()); err != nil {
		t.Fatal(err)
	}
	// Ready once the attacker knows the target is subscribed and its own
	// pubsub stream to the target is open (before that, what it publishes
	// is dropped).
	net.WaitFor(10*time.Second, "the attacker is in the target's pubsub", func() bool {
		return slices.Contains(tp.ListPeers(), target.Host().ID()) && pubsubStreamFrom(target, h.ID())
	})
	return &attacker{topic: tp}
}

// pubsubStreamFrom reports whether nd has a pubsub stream that p opened.
func pubsubStreamFrom(nd *nodetest.Node, p peer.ID) bool {
	for _, c := range nd.Host().Network().ConnsToPeer(p) {
		for _, s := range c.GetStreams() {
			if s.Stat().Direction == network.DirInbound && strings.HasPrefix(string(s.Protocol()), "/meshsub/") {
				return true
			}
		}
	}
	return false
}

func (a *attacker) publish(t *testing.T, env []byte) {
	t.Helper()
	if err := a.topic.Publish(context.Background(), env); err != nil {
		t.Fatal(err)
	}
}

func seal(t *testing.T, keys *crypto.EpochKeys, in crypto.Inner) []byte {
	t.Helper()
	env, err := keys.Seal(in)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func body(t *testing.T, created time.Time, text string) []byte {
	t.Helper()
	b, err := alert.Encode(created, &alert.Alert{
		Kind: alert.KindDanger, Severity: alert.SevUrgent, Text: text, Expires: created.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRejectsWhatIsNotAMembersMessage sends, from a peer outside the group,
// envelopes that must never be stored or shown: garbage, a forged
// signature, an author outside the roster, a malformed body, and a replay
// of a real message in a new envelope. Then one valid message from a member,
// as a control that the path works.
func TestRejectsWhatIsNotAMembersMessage(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{Latency: 2 * time.Millisecond})
	gid := net.Group("istmo")
	victim, member := net.Nodes[0], net.Nodes[1]
	att := newAttacker(t, net, gid, victim)
	keys := victim.KeysForTest(gid)
	now := time.Now()
	before := victim.Status().Received

	// A real message by a member, delivered normally.
	realID, err := member.SendAlert(context.Background(), gid, node.AlertRequest{Kind: "danger", Severity: "urgent", Text: "real"})
	if err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "the real alert arrives", func() bool { return victim.Store.Has(realID) })

	outsider, err := crypto.NewIdentity("outsider")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		env    []byte
		id     alert.ID // must not be stored; zero if not computable
		reject bool     // Reject (provably bad) rather than Ignore
	}{
		{
			name: "random bytes with the group's key tag (no key)", reject: true,
			env: func() []byte {
				env := make([]byte, crypto.EnvelopeSizes[0])
				rand.Read(env)
				env[0] = crypto.EnvelopeVersion
				tag := keys.Tag()
				copy(env[1:9], tag[:])
				return env
			}(),
		},
		{
			name: "wrong size", reject: true,
			env: make([]byte, 1000),
		},
		{
			name: "forged signature: the member's id, someone else's signature", reject: true,
			env: func() []byte {
				b := body(t, now, "forged")
				in := outsider.SignBody(gid, keys.Epoch(), b)
				in.Author = member.Identity.ID()
				return seal(t, keys, in)
			}(),
			id: alert.ContentID(gid, member.Identity.ID(), body(t, now, "forged")),
		},
		{
			name: "author outside the roster, with the stolen group key", reject: false,
			env: seal(t, keys, outsider.SignBody(gid, keys.Epoch(), body(t, now, "stolen key"))),
			id:  alert.ContentID(gid, outsider.ID(), body(t, now, "stolen key")),
		},
		{
			name: "malformed body, validly signed by a member", reject: true,
			env: seal(t, keys, member.Identity.SignBody(gid, keys.Epoch(), []byte{0xff, 0xff, 0xff})),
		},
		{
			name: "signed for another epoch", reject: true,
			env: func() []byte {
				b := body(t, now, "other epoch")
				return seal(t, keys, member.Identity.SignBody(gid, keys.Epoch()+1, b))
			}(),
			id: alert.ContentID(gid, member.Identity.ID(), body(t, now, "other epoch")),
		},
		{
			// An hour's alert made three days ago: even counted from its
			// arrival (its author's clock may be wrong by up to two days),
			// it has expired.
			name: "expired", reject: false,
			env: func() []byte {
				b := body(t, now.Add(-72*time.Hour), "old news")
				return seal(t, keys, member.Identity.SignBody(gid, keys.Epoch(), b))
			}(),
			id: alert.ContentID(gid, member.Identity.ID(), body(t, now.Add(-72*time.Hour), "old news")),
		},
		{
			name: "replay of the real message in a fresh envelope", reject: false,
			env: func() []byte {
				env, err := member.Store.Envelope(realID)
				if err != nil {
					t.Fatal(err)
				}
				in, err := keys.Open(env)
				if err != nil {
					t.Fatal(err)
				}
				return seal(t, keys, in) // new nonce: a new pubsub message id
			}(),
		},
	}
	wantRejected, wantIgnored := int64(0), int64(0)
	for _, c := range cases {
		att.publish(t, c.env)
		if c.reject {
			wantRejected++
		} else {
			wantIgnored++
		}
	}
	net.WaitFor(10*time.Second, "the victim validated every envelope", func() bool {
		r := victim.Status().Received
		return r.Rejected-before.Rejected >= wantRejected && r.Ignored-before.Ignored >= wantIgnored
	})
	got := victim.Status().Received
	if got.Rejected-before.Rejected != wantRejected {
		t.Errorf("rejected %d, want %d", got.Rejected-before.Rejected, wantRejected)
	}
	for _, c := range cases {
		if !c.id.IsZero() && victim.Store.Has(c.id) {
			t.Errorf("%s: stored", c.name)
		}
	}
	feed, err := victim.Feed(node.FeedQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(feed) != 1 || feed[0].ID != realID.String() {
		t.Errorf("feed has %d entries, want only the real alert: %+v", len(feed), feed)
	}
}

// TestAlertOverLoopback runs three nodes on real TCP and QUIC over loopback,
// with the security handshakes that mocknet skips.
func TestAlertOverLoopback(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{Loopback: true})
	net.ConnectAll()
	gid := net.Group("ixtepec")
	id, err := net.Nodes[2].Panic(context.Background(), gid, "help")
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range net.Nodes {
		net.WaitFor(10*time.Second, "panic stored everywhere", func() bool { return nd.Store.Has(id) })
	}
}
