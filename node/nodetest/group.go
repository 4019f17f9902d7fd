package nodetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
)

// formParallel is how many nodes join, or catch up, at once in FormGroup.
const formParallel = 8

// invitePeople is how many nodes FormGroup lets in with one invite: fewer
// than the 64 attempts a node answers at once for one invite.
const invitePeople = 48

// formWait is how long FormGroup waits for every node to catch up, unless
// Options.FormWait says otherwise.
const formWait = 2 * time.Minute

// FormGroup founds a group named name at node 0 and has every other running
// node join it through one invite, several at a time. It returns once every
// node knows every member and holds every roster change the founder holds.
// It does what [Net.Group] does, in far less time on large networks.
//
// Joining connects each node to node 0. On a [Options.Static] network those
// connections are closed once the group is formed and every node is
// restarted, leaving no connection and no trace of the formation in the
// routers (node 0 had pruned most of its joiners from its GossipSub mesh,
// and pruned peers refuse to mesh again for a minute): call FormGroup
// first, then connect the nodes (for example with [Net.ConnectRandom]).
// [Net.Formed] is then how long forming took, restarts left out.
func (nt *Net) FormGroup(name string) crypto.GroupID {
	nt.t.Helper()
	began := time.Now()
	_, gid := nt.found(name)
	nt.joinRunning(gid, began)
	return gid
}

// JoinGroup has every running node that is not in group gid (founded by
// node 0) join it through one invite, several at a time, as [Net.FormGroup]
// does after founding it: members added before, whose nodes are stopped
// now, stay members.
func (nt *Net) JoinGroup(gid crypto.GroupID) {
	nt.t.Helper()
	nt.joinRunning(gid, time.Now())
}

func (nt *Net) joinRunning(gid crypto.GroupID, began time.Time) {
	nt.t.Helper()
	ctx := context.Background()
	founder := nt.Nodes[0]
	running := nt.running()
	var joiners []*Node
	for _, nd := range running[1:] {
		if _, err := nd.CurrentEpoch(gid); err != nil {
			joiners = append(joiners, nd)
		}
	}
	// One invite per invitePeople joiners: a node answers the holders of
	// one invite 64 times at once, then 4 times a second (PROTOCOL.md,
	// "Join"), and a group this size is let in by several invites.
	for len(joiners) > 0 {
		batch := joiners[:min(len(joiners), invitePeople)]
		joiners = joiners[len(batch):]
		inv, err := founder.CreateInvite(ctx, gid, len(batch), time.Hour)
		if err != nil {
			nt.t.Fatal(err)
		}
		errs := parallel(batch, func(nd *Node) error {
			if _, err := nd.Join(ctx, inv.Code); err != nil {
				return fmt.Errorf("node %d joining: %w", nd.Index, err)
			}
			return nil
		})
		if len(errs) > 0 {
			nt.t.Fatal(errs[0])
		}
	}
	all := nt.catchUp(gid, running)
	nt.Formed = time.Since(began)
	if nt.opts.Static {
		nt.DisconnectAll()
		for _, nd := range running {
			nd.Stop()
			nd.Start()
			if ms, err := nd.Members(gid); err != nil || len(ms) != len(all) {
				nt.t.Fatalf("after a restart node %d knows %d of %d members (%v)", nd.Index, len(ms), len(all), err)
			}
		}
	}
}

// JoinStopped has each of nodes, which must be stopped, join group gid
// (founded by node 0) through one invite, each through a node started for
// its join and stopped right after, several at a time. The nodes that run
// meanwhile then do not each process hundreds of joins within minutes (a
// phone would over months), and a large group forms in far less time than
// with [Net.JoinGroup]. The nodes stay stopped: start them and call
// [Net.JoinGroup], which then has them catch up. progress, if not nil, is
// called after every 100th join with the joins so far.
func (nt *Net) JoinStopped(gid crypto.GroupID, nodes []*Node, progress func(joined int)) {
	nt.t.Helper()
	if len(nodes) == 0 {
		return
	}
	ctx := context.Background()
	inv, err := nt.Nodes[0].CreateInvite(ctx, gid, len(nodes), 24*time.Hour)
	if err != nil {
		nt.t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		joined int
		failed bool // once a join failed, the others are not tried
	)
	errs := parallel(nodes, func(nd *Node) error {
		mu.Lock()
		stop := failed
		mu.Unlock()
		if stop {
			return nil
		}
		nd.Start()
		defer nd.Stop()
		_, err := nd.Join(ctx, inv.Code)
		// A join slowed by a loaded machine retries within the call, and
		// the founder allows a node only so many attempts a minute: wait
		// that minute, as a person would.
		for try := 0; err != nil && strings.Contains(err.Error(), "try again in a minute") && try < 3; try++ {
			time.Sleep(time.Minute)
			_, err = nd.Join(ctx, inv.Code)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed = true
			return fmt.Errorf("node %d joining: %w", nd.Index, err)
		}
		joined++
		if progress != nil && joined%100 == 0 {
			progress(joined)
		}
		return nil
	})
	if len(errs) > 0 {
		nt.t.Fatal(errs[0])
	}
}

// catchUp has every running node but the founder sync with the founder
// until each knows every member and a sync moves nothing; it returns the
// members.
func (nt *Net) catchUp(gid crypto.GroupID, running []*Node) []node.MemberView {
	nt.t.Helper()
	ctx := context.Background()
	founder := nt.Nodes[0]
	all, err := founder.Members(gid)
	if err != nil {
		nt.t.Fatal(err)
	}
	// Gossip reaches a node only once it has joined the topic; whatever it
	// missed while joining comes by sync. Help it along rather than wait for
	// the periodic sync: a node has caught up once it knows every member
	// and a sync with the founder moves nothing either way. (It never holds
	// everything the founder holds: messages sealed in epochs before it
	// joined, such as the adds of earlier joiners, stay out of its reach.)
	wait := formWait
	if nt.opts.FormWait > 0 {
		wait = nt.opts.FormWait
	}
	// A pass that still moved messages is progress: a large group's first
	// pass (every node receiving the epochs it missed) may itself take
	// longer than wait, so the run gives up only once a pass past wait
	// moved nothing, or past twice wait.
	started := time.Now()
	behind := running[1:]
	for len(behind) > 0 {
		var (
			mu    sync.Mutex
			still []*Node
			moved bool
			why   string
		)
		parallel(behind, func(nd *Node) error {
			st, err := nd.SyncWith(ctx, founder.Host().ID())
			ms, merr := nd.Members(gid)
			if err == nil && merr == nil && len(ms) == len(all) && st.Sent == 0 && st.Received == 0 {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			still = append(still, nd)
			moved = moved || st.Received > 0
			why = fmt.Sprintf("node %d knows %d of %d members; its last sync with the founder sent %d and received %d messages (%v)",
				nd.Index, len(ms), len(all), st.Sent, st.Received, errors.Join(err, merr))
			return nil
		})
		if took := time.Since(started); len(still) > 0 && (took > wait && !moved || took > 2*wait) {
			nt.t.Fatalf("forming the group: %d of %d nodes still behind after %v; %s", len(still), len(running), took.Round(time.Second), why)
		}
		behind = still
		if len(behind) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return all
}

// DisconnectAll closes every connection between nodes (links stay) and
// waits until none is left. On a [Options.Static] network nothing
// reconnects by itself.
func (nt *Net) DisconnectAll() {
	nt.t.Helper()
	nt.mu.Lock()
	clear(nt.edges)
	nt.mu.Unlock()
	nt.WaitFor(30*time.Second, "no connection left", func() bool {
		left := false
		for _, nd := range nt.running() {
			for _, p := range nd.Host().Network().Peers() {
				left = true
				nd.Host().Network().ClosePeer(p)
			}
		}
		return !left
	})
}

func (nt *Net) running() []*Node {
	var out []*Node
	for _, nd := range nt.Nodes {
		if nd.Running() {
			out = append(out, nd)
		}
	}
	return out
}

// parallel runs f on every node, formParallel at a time, and returns the
// errors. A failure inside f (a TB's Fatal, which panics in simbench) is
// raised again on the caller's goroutine once all are done.
func parallel(nodes []*Node, f func(*Node) error) []error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		fault any
		sem   = make(chan struct{}, formParallel)
	)
	for _, nd := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					if fault == nil {
						fault = r
					}
					mu.Unlock()
				}
			}()
			if err := f(nd); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if fault != nil {
		panic(fault)
	}
	return errs
}

func sortedEdges(m map[[2]int]bool) [][2]int {
	out := make([][2]int, 0, len(m))
	for e := range m {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	})
	return out
}

// Group founds a group named name at node 0 and has every other running
// node join it with a fresh invite, one after the other. It waits until every
// node knows every member and is on the epoch started for the last join.
func (nt *Net) Group(name string) crypto.GroupID {
	nt.t.Helper()
	ctx := context.Background()
	founder, gid := nt.found(name)
	running := nt.running()
	for _, nd := range running[1:] {
		inv, err := founder.CreateInvite(ctx, gid, 1, time.Hour)
		if err != nil {
			nt.t.Fatal(err)
		}
		if _, err := nd.Join(ctx, inv.Code); err != nil {
			nt.t.Fatalf("node %d joining: %v", nd.Index, err)
		}
	}
	// And every node is on the last join's epoch: a message sent in an
	// earlier one does not reach the members who joined after it.
	nt.WaitFor(30*time.Second, "every node knows every member, on one epoch", func() bool {
		epoch := uint64(0)
		for i, nd := range running {
			ms, err := nd.Members(gid)
			if err != nil || len(ms) != len(running) {
				return false
			}
			e := groupEpoch(nd, gid)
			if i > 0 && e != epoch {
				return false
			}
			epoch = e
		}
		return true
	})
	return gid
}

// groupEpoch is the number of a node's current epoch in a group.
func groupEpoch(nd *Node, gid crypto.GroupID) uint64 {
	for _, g := range nd.Groups() {
		if g.ID == gid.String() {
			return g.Epoch
		}
	}
	return 0
}

// found has node 0 found a group named name.
func (nt *Net) found(name string) (*Node, crypto.GroupID) {
	nt.t.Helper()
	founder := nt.Nodes[0]
	info, err := founder.CreateGroup(context.Background(), name)
	if err != nil {
		nt.t.Fatal(err)
	}
	gid, err := crypto.ParseGroupID(info.ID)
	if err != nil {
		nt.t.Fatal(err)
	}
	return founder, gid
}
