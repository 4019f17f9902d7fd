package node_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// TestRemovedWhileOffline, over loopback with the real connection gater: a
// member removed while its node was off comes back when the admin who
// removed it is off, and meets another member. That member's node lets it
// in only to tell it, with the signed removal: from then on its node says
// it was removed (group list, feed) and refuses to send, instead of
// reporting a panic as sent that nobody can read.
func TestRemovedWhileOffline(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{Loopback: true})
	gid := net.Group("juchitan")
	ana, beto, carmen := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	ctx := context.Background()
	carmen.Stop()
	if _, err := ana.Remove(ctx, gid, "member-02"); err != nil {
		t.Fatal(err)
	}
	net.WaitFor(10*time.Second, "Beto knows of the removal", func() bool { return len(roles(t, beto, gid)) == 2 })
	ana.Stop()

	carmen.Start()
	f := carmen.Follow(node.FeedQuery{})
	defer f.Stop()
	early := carmen.Groups()[0].Role == "removed" // too early to follow: rare
	net.WaitFor(20*time.Second, "Carmen's node learns it was removed", func() bool {
		gs := carmen.Groups()
		return len(gs) == 1 && gs[0].Role == "removed"
	})
	g := carmen.Groups()[0]
	if !strings.Contains(g.Warning, "removed") || !strings.Contains(g.Warning, "member-00") {
		t.Errorf("group list warning: %q", g.Warning)
	}
	if _, err := carmen.Panic(ctx, gid, "help"); !errors.Is(err, node.ErrRemovedFromGroup) {
		t.Errorf("a removed member's panic: %v", err)
	}
	if got := entries(t, carmen, node.KindRemoved); len(got) != 1 || got[0].Author != "member-00" {
		t.Errorf("feed entries of kind %q: %+v", node.KindRemoved, got)
	}
	if !early {
		select {
		case e := <-f.C:
			if e.Kind != node.KindRemoved {
				t.Errorf("a follower of the feed got %+v", e)
			}
		case <-time.After(5 * time.Second):
			t.Error("a follower of the feed was not told of the removal")
		}
	}
	// Beto's node told her and let her go; it does not take her back.
	net.WaitFor(10*time.Second, "Beto's node closes the connection", func() bool {
		return len(beto.Host().Network().ConnsToPeer(carmen.Host().ID())) == 0
	})
	if st := carmen.Status(); st.Peers != 0 {
		t.Errorf("the removed member's node counts %d member nodes reachable", st.Peers)
	}
}
