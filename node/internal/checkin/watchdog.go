package checkin

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/store"
)

const (
	// nap bounds how long the watchdog sleeps, so that it also notices
	// when the wall clock is set forward.
	nap = 15 * time.Second
	// raiseRetry is how long the watchdog waits after failing to raise an
	// alarm (store full, disk full) before trying again.
	raiseRetry = 10 * time.Second
)

// Store is what the watchdog reads of the store: whether an alarm is
// held, and when it arrived. *store.Store implements it.
type Store interface {
	Header(id alert.ID) (store.Header, bool)
}

// Answers tells whether an alarm was answered (feed.Acks implements it).
type Answers interface {
	Answered(ref alert.ID, subject crypto.MemberID, since time.Time) bool
}

// Config is what a [Watchdog] works with. Every field is required but
// Jitter and CatchUp.
type Config struct {
	Index   *Index
	Store   Store
	Answers Answers
	// Standing reports whether this node's member is a current member of
	// a group (false for the zero id).
	Standing func(crypto.GroupID) bool
	// Raise sends the overdue alarm of a level for a check-in to a group
	// (the check-in's, or its escalation group).
	Raise func(ctx context.Context, gid crypto.GroupID, t Tracked, level int) error
	// Now is this node's clock; Started is when the node started.
	Now     func() time.Time
	Started time.Time
	// Jitter bounds the random wait before raising (so that usually one
	// node raises and the others receive); CatchUp is how long a node
	// that starts after a deadline gives its peers to deliver what it
	// missed.
	Jitter, CatchUp time.Duration
}

// Watchdog raises overdue alarms. Every node that holds an open check-in
// runs one; they need not agree on anything, because the alarm's id is
// derived from the check-in and the level, so that whichever node raises
// it first, every other node keeps that one and drops its own as a
// duplicate (docs/PROTOCOL.md, "Check-ins").
//
// For each check-in that its author has not marked done:
//
//   - When the deadline (due + grace, the author's times) passes on this
//     node's clock and the node does not hold the level-1 alarm, it waits a
//     random moment (up to Config.Jitter), so that usually one node raises
//     and the others receive, then raises it unless it arrived meanwhile.
//   - A node that starts after a deadline first gives its peers
//     Config.CatchUp to deliver the done or the alarm it missed.
//   - When the check-in's EscalateAfter has passed since the node first held
//     the level-1 alarm (not before the deadline), and nobody but the
//     traveller has acknowledged it as seen or responding, the node raises
//     level 2 in the group, and in the check-in's escalation group if it is
//     a member there too.
//
// It works from the store and the index, which are rebuilt at start, so a
// node that was off at the deadline raises the alarm when it comes back.
type Watchdog struct {
	cfg   Config
	plans map[alert.ID]time.Time // alarm id → when to raise it
}

// NewWatchdog returns a watchdog; [Watchdog.Run] runs it.
func NewWatchdog(cfg Config) *Watchdog {
	return &Watchdog{cfg: cfg, plans: make(map[alert.ID]time.Time)}
}

// Run looks at the check-ins whenever the index is poked or a plan is due,
// until ctx is done.
func (w *Watchdog) Run(ctx context.Context) {
	wake := w.cfg.Index.Wake()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-wake:
		}
		next := w.pass(ctx)
		sleep := nap
		if !next.IsZero() {
			sleep = min(max(next.Sub(w.cfg.Now()), 5*time.Millisecond), nap)
		}
		timer.Reset(sleep)
	}
}

// pass is one look at every open check-in.
type pass struct {
	w    *Watchdog
	ctx  context.Context
	now  time.Time
	next time.Time         // when to look again (zero: nothing planned)
	live map[alert.ID]bool // alarms planned in this pass
}

// pass looks at every open check-in once, raises the alarms that are due,
// and returns when it next needs to look (zero: nothing planned).
func (w *Watchdog) pass(ctx context.Context) time.Time {
	p := &pass{w: w, ctx: ctx, now: w.cfg.Now(), live: make(map[alert.ID]bool)}
	w.cfg.Index.Prune(p.now)
	for _, t := range w.cfg.Index.Snapshot() {
		if t.Done || !t.Expires.After(p.now) || !w.cfg.Standing(t.Group) {
			continue
		}
		p.checkIn(t)
	}
	for id := range w.plans {
		if !p.live[id] {
			delete(w.plans, id)
		}
	}
	return p.next
}

// checkIn plans or raises the alarm of one check-in.
func (p *pass) checkIn(t Tracked) {
	cfg := p.w.cfg
	deadline := t.Deadline()
	id1 := alert.OverdueID(t.Group, t.ID, 1)
	h1, held := cfg.Store.Header(id1)
	if held {
		p.escalate(t, id1, h1, deadline)
		return
	}
	at := deadline
	if deadline.Before(cfg.Started) {
		at = later(deadline, cfg.Started.Add(cfg.CatchUp))
	}
	if p.due(id1, at) {
		p.raise(t.Group, t, 1)
	}
}

// escalate plans or raises level 2 of an alarm held (id1, h1) that nobody
// answered.
func (p *pass) escalate(t Tracked, id1 alert.ID, h1 store.Header, deadline time.Time) {
	cfg := p.w.cfg
	at := later(h1.Received, deadline).Add(t.CheckIn.EscalateAfter)
	if p.now.Before(at) {
		p.soon(at)
		return
	}
	if cfg.Answers.Answered(id1, t.Author, h1.Sent) {
		return
	}
	targets := []crypto.GroupID{t.Group}
	if eg := t.CheckIn.EscalateGroup; eg != t.Group && cfg.Standing(eg) {
		targets = append(targets, eg)
	}
	for _, gid := range targets {
		id2 := alert.OverdueID(gid, t.ID, 2)
		if _, held := cfg.Store.Header(id2); held {
			continue
		}
		if p.due(id2, at) {
			p.raise(gid, t, 2)
		}
	}
}

// soon notes that the watchdog must look again at t.
func (p *pass) soon(t time.Time) {
	if p.next.IsZero() || t.Before(p.next) {
		p.next = t
	}
}

// due plans to raise alarm id at or after at, plus a random wait, and
// reports whether the time has come.
func (p *pass) due(id alert.ID, at time.Time) bool {
	if p.now.Before(at) {
		p.soon(at)
		return false
	}
	p.live[id] = true
	plan, ok := p.w.plans[id]
	if !ok {
		plan = p.now.Add(p.w.jitter())
		p.w.plans[id] = plan
	}
	if p.now.Before(plan) {
		p.soon(plan)
		return false
	}
	return true
}

// raise raises the alarm of a level for check-in t in group gid, unless
// the check-in ended or the alarm arrived meanwhile; after a failure it
// tries again raiseRetry later.
func (p *pass) raise(gid crypto.GroupID, t Tracked, level int) {
	cfg := p.w.cfg
	id := alert.OverdueID(gid, t.ID, level)
	cur, ok := cfg.Index.Get(t.ID)
	_, held := cfg.Store.Header(id)
	if !(ok && cur.Done) && !held {
		if err := cfg.Raise(p.ctx, gid, t, level); err != nil {
			p.w.plans[id] = p.now.Add(raiseRetry)
			p.soon(p.w.plans[id])
			return
		}
	}
	delete(p.w.plans, id)
}

func (w *Watchdog) jitter() time.Duration {
	if w.cfg.Jitter > 0 {
		return rand.N(w.cfg.Jitter)
	}
	return 0
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
