package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node/nodetest"
)

// TestRendezvousSkipsRemovedMembersKeys: a node leaves its rendezvous
// record only under points of epochs whose secret went to current
// members: once a member is removed, no point it can name (it keeps the
// keys it held) carries where the others are now. It still looks up the
// older points, where nodes that have not yet heard of the removal leave
// theirs.
func TestRendezvousSkipsRemovedMembersKeys(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{})
	net.ConnectAll()
	gid := net.Group("g")
	ana, beto, mallory := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	_, malloryCan := mallory.RendezvousPointsForTest(beto.Host().ID())
	before, _ := ana.RendezvousPointsForTest(beto.Host().ID())
	if !overlaps(before, malloryCan) {
		t.Fatal("before the removal, Ana registers nowhere Mallory can look: the test proves nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := ana.Remove(ctx, gid, "member-02"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*nodetest.Node{ana, beto} {
		net.WaitFor(30*time.Second, "a new epoch without Mallory", func() bool {
			reg, _ := n.RendezvousPointsForTest(ana.Host().ID())
			if n == ana {
				reg, _ = n.RendezvousPointsForTest(beto.Host().ID())
			}
			return len(reg) > 0 && !overlaps(reg, malloryCan)
		})
	}
	_, look := ana.RendezvousPointsForTest(beto.Host().ID())
	if !overlaps(look, malloryCan) {
		t.Error("Ana no longer looks up the older points")
	}
}

func overlaps(a, b [][32]byte) bool {
	return slices.ContainsFunc(a, func(p [32]byte) bool { return slices.Contains(b, p) })
}
