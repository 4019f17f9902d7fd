package node_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/nodetest"
)

// TestJoinRefusalIsCleaned: the reason a node gives for refusing a join
// reaches the joiner's screen; escape sequences, overrides and invisible
// characters in it do not, and it is cut short.
func TestJoinRefusalIsCleaned(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{})
	// Node 1 plays a hostile admin's node: its own join handler answers
	// every request with a crafted refusal.
	evil := net.Nodes[1]
	evil.Host().SetStreamHandler(node.JoinProtocol, func(s network.Stream) {
		defer s.Close()
		var hello wire.JoinHello
		protodelim.UnmarshalFrom(bufio.NewReader(io.LimitReader(s, 256)), &hello)
		protodelim.MarshalTo(s, &wire.JoinChallenge{Status: wire.JoinStatus_JOIN_INVITE_CLOSED,
			Detail: "\x1b[2J\x1b]0;pwned\x07\u202eretsinimda\u202c\u200b" + strings.Repeat("x", 1000)})
	})
	code := crypto.NewInvite(crypto.NewGroupID(), evil.Host().ID(), evil.Host().Addrs()).Code()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := net.Nodes[0].Join(ctx, code)
	if !errors.Is(err, node.ErrJoinRefused) {
		t.Fatalf("Join: %v, want refused", err)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\x1b\x07\u202e\u202c\u200b") {
		t.Fatalf("the refusal carries control or invisible characters: %q", msg)
	}
	if len(msg) > 300 {
		t.Fatalf("the refusal is %d bytes long", len(msg))
	}
}

// TestConfusableNamesAreToldApart: two members called "Ana" (one with a
// Cyrillic "А"), and "Beto" and "beto": each is shown with its short
// member id, and the admin with the admin mark; a name nobody shares is
// shown as it is.
func TestConfusableNamesAreToldApart(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"Ana", "Аna", true}, // Cyrillic А
		{"Beto", "beto", true},
		{"Beto", "Beto ", true},
		{"rnaria", "maria", true},
		{"Ana", "Anna", false},
		{"Lucía", "Lucia", false},
	} {
		if got := node.NamesConfusable(tt.a, tt.b); got != tt.same {
			t.Errorf("NamesConfusable(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

func TestFeedTellsNamesApart(t *testing.T) {
	t.Parallel()
	names := []string{"Ana", "Аna", "Beto"} // the second Ana has a Cyrillic А
	net := nodetest.New(t, 3, nodetest.Options{Name: func(i int) string { return names[i] }})
	gid := net.Group("istmo")
	ana, fake, beto := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	real := sendOne(t, ana, gid, "checkpoint at the bridge")
	lie := sendOne(t, fake, gid, "all clear, stand down")
	plain := sendOne(t, beto, gid, "seen")
	net.WaitFor(10*time.Second, "Beto holds all three", func() bool {
		return beto.Store.Has(real) && beto.Store.Has(lie) && beto.Store.Has(plain)
	})
	es, err := beto.Feed(node.FeedQuery{Group: gid})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]node.Entry{}
	for _, e := range es {
		byID[e.ID] = e
	}
	r, l, p := byID[real.String()], byID[lie.String()], byID[plain.String()]
	if r.AuthorLabel != "Ana ("+ana.Identity.ID().Short()+")" || !r.AuthorAdmin {
		t.Errorf("the real Ana shows as %q, admin %v", r.AuthorLabel, r.AuthorAdmin)
	}
	if l.AuthorLabel != "Аna ("+fake.Identity.ID().Short()+")" || l.AuthorAdmin {
		t.Errorf("the other Ana shows as %q, admin %v", l.AuthorLabel, l.AuthorAdmin)
	}
	if p.AuthorLabel != "Beto" || p.Author != "Beto" {
		t.Errorf("Beto shows as %q", p.AuthorLabel)
	}
	ms, err := beto.Members(gid)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if clash := m.Name != "Beto"; clash != (m.Label != m.Name) {
			t.Errorf("member %q listed as %q", m.Name, m.Label)
		}
	}
}
