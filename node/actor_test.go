package node_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// TestAlertsTakenWhileTheGroupChanges: alerts from a member keep being
// taken, each at once, while the admin's node starts new epochs and adds
// members (roster ops and rekeys) in the same group. The validator reads
// the keys and the roster from what the group last published, without the
// locks those changes take; run under -race, this also checks that the
// group's changes and the validator share nothing unguarded.
func TestAlertsTakenWhileTheGroupChanges(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{})
	gid := net.Group("g")
	ana, ben := net.Nodes[0], net.Nodes[1]
	keys := ana.KeysForTest(gid)
	const alerts, changes = 400, 3
	envs := make([][]byte, alerts)
	for i := range envs {
		envs[i] = seal(t, keys, ben.Identity.SignBody(gid, keys.Epoch(), body(t, time.Now(), fmt.Sprintf("alert %d", i))))
	}
	ctx := context.Background()
	var wg, changing sync.WaitGroup
	changing.Add(2)
	done := make(chan struct{})
	go func() {
		changing.Wait()
		close(done)
	}()
	wg.Go(func() {
		defer changing.Done()
		for range changes {
			if _, err := ana.RekeyNowForTest(ctx, gid); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		defer changing.Done()
		for i := range changes {
			id, err := crypto.NewIdentity(fmt.Sprintf("new-%d", i))
			if err != nil {
				t.Error(err)
				return
			}
			m := alert.MemberInfo{Name: id.Name(), Keys: id.Public(), Peer: id.PeerID()}
			if err := ana.AddMemberForTest(ctx, gid, m); err != nil {
				t.Error(err)
			}
		}
	})
	taken := 0
	wg.Go(func() {
		for i, env := range envs {
			select {
			case <-done:
				return
			default:
			}
			if err := ana.IngestLiveForTest(env); err != nil {
				t.Errorf("alert %d: %v", i, err)
			}
			taken++
		}
	})
	wg.Wait()
	if taken == 0 {
		t.Error("no alert was taken while the group changed")
	}
	t.Logf("%d alerts taken while the group changed", taken)
	if got := ana.EpochTagsForTest(gid); len(got) < 1+2*changes {
		t.Errorf("the group holds %d epochs, want at least %d: the changes did not all happen", len(got), 1+2*changes)
	}
}

// TestRosterOpTakenInTheGroupsTurn: a roster op that reaches a member
// node is applied in its group's turn, the one its node's new epochs and
// redemptions run in, so that those never see the roster change under
// them: while another job holds the turn, the op waits, and it is taken
// once the job ends.
func TestRosterOpTakenInTheGroupsTurn(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{})
	gid := net.Group("g")
	ana, ben := net.Nodes[0], net.Nodes[1]
	release := ben.HoldTurnForTest(gid)
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	if _, err := ana.CreateInvite(context.Background(), gid, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	want := ana.RosterHeadsForTest(gid)
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if slices.Equal(ben.RosterHeadsForTest(gid), want) {
			t.Fatal("the roster changed while another job held the group's turn")
		}
	}
	release()
	released = true
	net.WaitFor(10*time.Second, "ben takes the roster op", func() bool { return slices.Equal(ben.RosterHeadsForTest(gid), want) })
}

// TestReadersDoNotWaitForTheTurn: while a job holds a group's turn (a
// rekey being sealed, a redemption), what reads the group does not wait
// for it: the group's list and epoch, its members, an alert sent by this
// node, and an alert received from a member, which is shown at once.
// Readers load what the turn last published (group.state, the roster's
// view, the keyring, the node's group map) and take no lock of the group.
func TestReadersDoNotWaitForTheTurn(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 2, nodetest.Options{})
	gid := net.Group("g")
	ana, ben := net.Nodes[0], net.Nodes[1]
	release := ana.HoldTurnForTest(gid)
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if gs := ana.Groups(); len(gs) != 1 {
			t.Errorf("groups %v; want the one", gs)
		}
		if _, err := ana.CurrentEpoch(gid); err != nil {
			t.Error(err)
		}
		if ms, err := ana.Members(gid); err != nil || len(ms) != 2 {
			t.Errorf("members %v, %v; want two", ms, err)
		}
		if _, err := ana.SendAlert(ctx, gid, node.AlertRequest{Kind: "danger", Severity: "urgent", Text: "Armed men at the crossroads"}); err != nil {
			t.Error(err)
		}
		id, err := ben.SendAlert(ctx, gid, node.AlertRequest{Kind: "danger", Severity: "urgent", Text: "Road blocked at La Ventosa"})
		if err != nil {
			t.Error(err)
			return
		}
		for end := time.Now().Add(15 * time.Second); !inFeed(ana, id) && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		if !inFeed(ana, id) {
			t.Error("ben's alert is not shown at ana's node")
		}
	}()
	select {
	case <-done:
		release()
	case <-time.After(20 * time.Second):
		release()
		<-done
		t.Fatal("a reader of the group waited for the job holding its turn")
	}
}
