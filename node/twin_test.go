package node_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

func hasWarning(nd *nodetest.Node, code string) bool {
	return slices.ContainsFunc(nd.Status().Warnings, func(w node.Warning) bool { return w.Code == code })
}

// TestTwinStops: a profile copied to a second device is started while the
// first runs (one member id, one node key, two hosts). The copy finds out
// through the member node both reach, and stops with ErrTwin; the first
// keeps running and warns. Live delivery between the first and the other
// member then works both ways, by gossip, within seconds.
func TestTwinStops(t *testing.T) {
	t.Parallel()
	nt := nodetest.New(t, 2, nodetest.Options{Loopback: true})
	nt.ConnectAll()
	gid := nt.Group("juchitan")
	a, b := nt.Nodes[0], nt.Nodes[1]
	nt.WaitFor(20*time.Second, "both see the other", func() bool { return reachable(a) == 1 && reachable(b) == 1 })

	twin := nt.Twin(0)
	nt.WaitFor(60*time.Second, "the copy stops", func() bool {
		exited, _ := twin.Exited()
		return exited
	})
	_, err := twin.Exited()
	var te *node.TwinError
	if !errors.Is(err, node.ErrTwin) || !errors.As(err, &te) || node.KindOf(err) != node.KindConflict {
		t.Fatalf("the copy stopped with %v (kind %v); want ErrTwin, a conflict", err, node.KindOf(err))
	}
	nt.WaitFor(10*time.Second, "the first device warns", func() bool { return hasWarning(a, node.WarnTwin) })
	if exited, _ := a.Exited(); exited {
		t.Fatal("the first device stopped too")
	}

	// Live delivery works again, both ways, within seconds: an alert each
	// way is handed over by gossip when it is sent (not later, by sync).
	ctx := context.Background()
	for _, dir := range [][2]*nodetest.Node{{b, a}, {a, b}} {
		from, to := dir[0], dir[1]
		nt.WaitFor(30*time.Second, "a live alert is handed over by gossip", func() bool {
			id, err := from.SendAlert(ctx, gid, node.AlertRequest{Kind: "danger", Severity: "urgent", Text: "live"})
			if err != nil {
				t.Fatal(err)
			}
			return waitUntil(3*time.Second, func() bool {
				d, err := from.Delivery(id)
				return err == nil && len(d.HandedTo) == 1 && d.HandedTo[0].By == "gossip" && inFeed(to, id)
			})
		})
	}
}

// waitUntil polls cond until it holds or d has passed.
func waitUntil(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
