package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

func handedNames(d node.Delivery) []string {
	var out []string
	for _, h := range d.HandedTo {
		out = append(out, h.Name)
	}
	slices.Sort(out)
	return out
}

// TestDeliveryIsHonest: the sender of an alert is told where it went. With
// both members reachable it is handed to both; over a link that died
// without a word it is not counted as handed; with nobody reachable it is
// queued, and says so in the feed, until sync hands it over; an
// acknowledgement shows who saw it; in a group with nobody else it is
// shown but reaches nobody, and says so.
func TestDeliveryIsHonest(t *testing.T) {
	// Pings only when an alert is sent: the dead link below is found by
	// the sender's check, not by the periodic one.
	nt := nodetest.New(t, 3, nodetest.Options{Config: func(_ int, c *node.Config) {
		c.PingInterval, c.PingTimeout = time.Hour, 300*time.Millisecond
	}})
	nt.ConnectAll()
	gid := nt.Group("juchitan")
	a, b := nt.Nodes[0], nt.Nodes[1]
	ctx := context.Background()
	send := func(text string) (alert.ID, node.Delivery) {
		t.Helper()
		id, err := a.SendAlert(ctx, gid, node.AlertRequest{Kind: "danger", Severity: "urgent", Text: text})
		if err != nil {
			t.Fatal(err)
		}
		d, err := a.Delivery(id)
		if err != nil {
			t.Fatal(err)
		}
		return id, d
	}

	// Everyone reachable: handed to both, by gossip, at once.
	var d node.Delivery
	nt.WaitFor(20*time.Second, "an alert is handed to both other members", func() bool {
		_, d = send("Armed men at the crossroads")
		return len(d.HandedTo) == 2
	})
	if got := handedNames(d); !slices.Equal(got, []string{"member-01", "member-02"}) || d.Queued || !d.Stored || !d.Tracked || d.Members != 2 {
		t.Fatalf("delivery %+v; want handed to member-01 and member-02, stored, not queued", d)
	}
	if d.HandedTo[0].By != "gossip" {
		t.Errorf("handed over by %q; want gossip", d.HandedTo[0].By)
	}

	// The link to node 2 dies without a word: the alert is not counted
	// as handed to it.
	nt.KillLink(0, 2)
	_, d = send("Checkpoint at km 12")
	if got := handedNames(d); !slices.Equal(got, []string{"member-01"}) {
		t.Fatalf("with the link to member-02 dead, the alert was handed to %v; want member-01 only", got)
	}

	// Nobody reachable: queued, in the reply and in the feed.
	nt.Disconnect(0)
	nt.WaitFor(10*time.Second, "node 0 is alone", func() bool { return a.Status().Peers == 0 })
	follow := a.Follow(node.FeedQuery{})
	defer follow.Stop()
	qid, d := send("Road blocked at La Ventosa")
	if !d.Queued || len(d.HandedTo) != 0 {
		t.Fatalf("delivery with nobody reachable: %+v; want queued", d)
	}
	es, _ := a.Feed(node.FeedQuery{})
	i := slices.IndexFunc(es, func(e node.Entry) bool { return e.ID == qid.String() })
	if i < 0 || es[i].Delivery == nil || !es[i].Delivery.Queued {
		t.Fatal("the feed does not show the alert as queued")
	}

	// A member comes back: sync hands it over (or GossipSub, when the
	// member asks for it after hearing of it: IHAVE, IWANT), and the feed
	// says so.
	nt.Reconnect(0)
	nt.WaitFor(20*time.Second, "the queued alert is handed over", func() bool {
		d, _ = a.Delivery(qid)
		return !d.Queued && len(d.HandedTo) > 0
	})
	if by := d.HandedTo[0].By; by != "sync" && by != "gossip" {
		t.Errorf("the queued alert was handed over by %q; want sync or gossip", by)
	}
	nt.WaitFor(5*time.Second, "the feed follower sees it leave the queue", func() bool {
		for {
			select {
			case e := <-follow.C:
				if e.ID == qid.String() && e.Delivery != nil && !e.Delivery.Queued {
					return true
				}
			default:
				return false
			}
		}
	})

	// An acknowledgement says who saw it.
	nt.WaitFor(10*time.Second, "node 1 holds the alert", func() bool { return inFeed(b, qid) })
	if _, err := b.Ack(ctx, qid.String(), "responding"); err != nil {
		t.Fatal(err)
	}
	nt.WaitFor(10*time.Second, "node 0 sees the acknowledgement", func() bool {
		d, _ = a.Delivery(qid)
		return len(d.Acks) == 1 && d.Acks[0].Author == "member-01" && d.Acks[0].Status == "responding"
	})

	// Nobody else in the group: nobody can ever receive it, and the
	// delivery says so (not queued, handed to nobody, no members).
	info, err := a.CreateGroup(ctx, "alone")
	if err != nil {
		t.Fatal(err)
	}
	solo, _ := crypto.ParseGroupID(info.ID)
	sid, err := a.Panic(ctx, solo, "help")
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := a.Delivery(sid); d.Members != 0 || d.Queued || len(d.HandedTo) != 0 || !d.Tracked {
		t.Fatalf("delivery of a panic in a group of one: %+v", d)
	}
}
