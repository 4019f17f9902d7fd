package natlab

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
)

// Trio is the lab's usual scene: a volunteer's node on a host with a
// public address, and two members each behind their own home router, all
// three in one group that the volunteer founded.
type Trio struct {
	Lab              *Lab
	Server           *Host
	RouterA, RouterB *Router
	HostA, HostB     *Host
	Vol, Ana, Beto   *Daemon
	Group            string
}

// NewTrio builds the scene with routers of the given kinds, starts the
// volunteer's daemon with volArgs (e.g. "--relay") and the members', and
// forms the group.
func NewTrio(t TB, ctx context.Context, natA, natB NAT, volArgs ...string) *Trio {
	t.Helper()
	lab := New(t)
	tr := &Trio{Lab: lab, Server: lab.Public("vol"), RouterA: lab.Router("ra", natA), RouterB: lab.Router("rb", natB), Group: "istmo"}
	tr.HostA, tr.HostB = tr.RouterA.Host("a"), tr.RouterB.Host("b")
	tr.Vol, tr.Ana, tr.Beto = lab.Daemon("Vol"), lab.Daemon("Ana"), lab.Daemon("Beto")
	tr.Vol.Start(tr.Server, volArgs...)
	tr.Ana.Start(tr.HostA)
	tr.Beto.Start(tr.HostB)
	if err := FormGroup(ctx, tr.Group, tr.Vol, tr.Ana, tr.Beto); err != nil {
		t.Fatalf("natlab: %v", err)
	}
	return tr
}

// FormGroup has founder (running) create a group and the others (running)
// join it with one invite code.
func FormGroup(ctx context.Context, name string, founder *Daemon, others ...*Daemon) error {
	if _, err := founder.API.CreateGroup(ctx, name); err != nil {
		return fmt.Errorf("create group: %w", err)
	}
	inv, err := founder.API.Invite(ctx, name, len(others), time.Hour)
	if err != nil {
		return fmt.Errorf("invite: %w", err)
	}
	for _, d := range others {
		if _, err := d.API.Join(ctx, inv.Code); err != nil {
			return fmt.Errorf("%s joining: %w\n%s", d.Name, err, d.Log())
		}
	}
	return nil
}

// Send has from send an alert (or, if panic, a panic) to group and
// returns its id.
func Send(ctx context.Context, from *Daemon, group string, panic bool) (string, error) {
	var r api.SentResponse
	var err error
	if panic {
		r, err = from.API.Panic(ctx, group, "stopped at a checkpoint")
	} else {
		r, err = from.API.Alert(ctx, group, api.AlertRequest{Kind: "danger", Severity: "urgent", Text: "armed men at the crossroads"})
	}
	if err != nil {
		return "", fmt.Errorf("%s sending: %w", from.Name, err)
	}
	return r.ID, nil
}

// WaitPath waits until d's status shows the member named name reached by
// path (node.PathDirect, node.PathRelayed, node.PathUnreachable), and
// returns that view.
func WaitPath(ctx context.Context, d *Daemon, name, path string) (node.PathView, error) {
	var got node.PathView
	err := Wait(ctx, func() error {
		st, err := d.API.Status(ctx)
		if err != nil {
			return err
		}
		for _, p := range st.Paths {
			if p.Name == name {
				got = p
				if p.Path == path {
					return nil
				}
				return fmt.Errorf("%s reaches %s %s (via %q), not %s", d.Name, name, p.Path, p.Via, path)
			}
		}
		return fmt.Errorf("%s does not list %s", d.Name, name)
	})
	return got, err
}

// Latency has from send an alert to group and returns how long it took,
// from the send call to the entry in to's followed feed. to's feed must
// already hold at least one entry (it signals that following began).
func Latency(ctx context.Context, from, to *Daemon, group string) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan struct{})
	type arrival struct {
		id string
		at time.Time
	}
	arrived := make(chan arrival, 64)
	var once sync.Once
	go to.API.Feed(ctx, api.FeedOptions{Follow: true}, func(e node.Entry) error {
		once.Do(func() { close(ready) })
		select {
		case arrived <- arrival{e.ID, time.Now()}:
		default:
		}
		return nil
	})
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	start := time.Now()
	id, err := Send(ctx, from, group, false)
	if err != nil {
		return 0, err
	}
	for {
		select {
		case a := <-arrived:
			if a.id == id {
				return a.at.Sub(start), nil
			}
		case <-ctx.Done():
			return 0, fmt.Errorf("%s never received %s: %v", to.Name, id, ctx.Err())
		}
	}
}

// Try is what one hole punching try in a [Trio] gave.
type Try struct {
	// FirstAlert is the time from Beto's daemon starting (unlocking
	// his keys included) to the alert Ana sent while he was off being
	// in his feed.
	FirstAlert time.Duration
	// Relayed is the time from Beto's start until Ana and Beto are
	// connected, through the relay or directly (0: never).
	Relayed time.Duration
	// Attempts counts the hole punches (DCUtR exchanges) either side
	// made; Punched is whether one succeeded.
	Attempts int64
	Punched  bool
	// Direct is the time from Beto's start until Ana reaches him
	// directly (0: not within the try).
	Direct time.Duration
	// Path is how Ana reached Beto when the alert of Latency was sent,
	// and Latency how long that alert took.
	Path    string
	Latency time.Duration
}

// Try has Ana and Beto start afresh on port, so that their routers hold
// no translation of earlier tries: Ana starts and alerts while Beto is
// off, Beto starts and catches up, the two meet through the volunteer's
// relay and try to punch a hole (waiting up to punchWait for the
// outcome), then Ana alerts Beto once more. An error means an alert did
// not arrive.
func (tr *Trio) Try(ctx context.Context, port int, punchWait time.Duration) (Try, error) {
	var r Try
	tr.Ana.Stop()
	tr.Beto.Stop()
	tr.Ana.Port, tr.Beto.Port = port, port
	tr.Ana.Start(tr.HostA)
	id, err := Send(ctx, tr.Ana, tr.Group, false)
	if err != nil {
		return r, err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if _, err := tr.Vol.WaitFeed(wctx, id); err != nil {
		return r, err
	}
	start := time.Now()
	tr.Beto.Start(tr.HostB)
	if _, err := tr.Beto.WaitFeed(wctx, id); err != nil {
		return r, err
	}
	r.FirstAlert = time.Since(start)

	// The outcome of hole punching: wait until either side counts an
	// attempt, or punchWait passes (no attempt: neither side learnt a
	// public address of its own, or they never met).
	deadline := time.Now().Add(punchWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		path, punch, err := tr.look()
		if err != nil {
			return r, err
		}
		if path != node.PathUnreachable && r.Relayed == 0 {
			r.Relayed = time.Since(start)
		}
		if path == node.PathDirect && r.Direct == 0 {
			r.Direct = time.Since(start)
		}
		r.Attempts, r.Punched = punch.Succeeded+punch.Failed, punch.Succeeded > 0
		if r.Attempts > 0 && (!r.Punched || r.Direct > 0) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.Direct > 0 {
		// Once the relayed connection is closed, what follows goes
		// directly.
		settle, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		Wait(settle, func() error {
			st, err := tr.Vol.API.Status(settle)
			if err == nil && st.Relay != nil && st.Relay.Circuits > 0 {
				err = errors.New("still relayed")
			}
			return err
		})
	}
	r.Path, _, _ = tr.look()
	lctx, lcancel := context.WithTimeout(ctx, 90*time.Second)
	defer lcancel()
	if r.Latency, err = Latency(lctx, tr.Ana, tr.Beto, tr.Group); err != nil {
		return r, err
	}
	return r, nil
}

// look returns how Ana reaches Beto, and the hole punches both counted.
func (tr *Trio) look() (string, node.PunchStats, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var sum node.PunchStats
	path := node.PathUnreachable
	for _, d := range []*Daemon{tr.Ana, tr.Beto} {
		st, err := d.API.Status(ctx)
		if err != nil {
			return "", sum, err
		}
		sum.Succeeded += st.HolePunch.Succeeded
		sum.Failed += st.HolePunch.Failed
		if d == tr.Ana {
			for _, p := range st.Paths {
				if p.Name == tr.Beto.Name {
					path = p.Path
				}
			}
		}
	}
	return path, sum, nil
}
