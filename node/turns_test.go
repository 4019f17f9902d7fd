package node_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/takecare-network/takecare/node/nodetest"
)

// TestGroupTurns: rekeys asked of one admin's node at the same moment
// start epochs one after the other (never two from one epoch, which would
// fork the group for nothing), and topic updates asked at the same moment
// leave the node subscribed to the topics of its epochs, each joined once.
// Neither holds a lock while it seals, sends, writes or joins a topic: a
// rekey runs in the group's turn (turns.go), topics are joined by the
// node's one topic goroutine (topics.go).
func TestGroupTurns(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{})
	gid := net.Group("g")
	ana := net.Nodes[0]
	ctx := context.Background()
	const rekeys = 6
	nums := make([]uint64, rekeys)
	var wg sync.WaitGroup
	for i := range rekeys {
		wg.Go(func() {
			num, err := ana.RekeyNowForTest(ctx, gid)
			if err != nil {
				t.Error(err)
			}
			nums[i] = num
		})
		wg.Go(func() {
			if err := ana.UpdateTopicsForTest(gid); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	slices.Sort(nums)
	for i := 1; i < rekeys; i++ {
		if nums[i] != nums[i-1]+1 {
			t.Fatalf("epochs started: %v; want %d consecutive numbers, one from the other", nums, rekeys)
		}
	}
	if err := ana.UpdateTopicsForTest(gid); err != nil {
		t.Fatal(err)
	}
	group, joined := ana.TopicsForTest(gid)
	if len(group) == 0 {
		t.Fatal("the node holds no topic of the group")
	}
	for _, name := range group {
		if !slices.Contains(joined, name) {
			t.Errorf("topic %s held for the group but not joined in pubsub", name)
		}
	}
	for _, name := range joined {
		if !slices.Contains(group, name) {
			t.Errorf("pubsub joined %s, which the group does not hold", name)
		}
	}
}
