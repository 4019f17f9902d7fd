package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

func TestAlertReachesEveryMember(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{Latency: 5 * time.Millisecond})
	gid := net.Group("juchitan")
	id, err := net.Nodes[1].SendAlert(context.Background(), gid, node.AlertRequest{
		Kind: "danger", Severity: "urgent", Region: "istmo", Text: "armed men at the crossroads",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range net.Nodes {
		net.WaitFor(10*time.Second, "alert stored at every node", func() bool { return nd.Store.Has(id) })
		feed, err := nd.Feed(node.FeedQuery{Group: gid})
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, e := range feed {
			if e.ID == id.String() {
				found = true
				if e.Text != "armed men at the crossroads" || e.Author != "member-01" || e.Kind != "danger" || e.Severity != "urgent" || e.Region != "istmo" {
					t.Errorf("node %d: entry %+v", nd.Index, e)
				}
			}
		}
		if !found {
			t.Errorf("node %d: alert not in feed", nd.Index)
		}
	}
}
