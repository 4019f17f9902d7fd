package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
	"unicode/utf8"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// Defaults of the watchdog's settings in [Config].
const (
	DefaultAlarmJitter = 3 * time.Second
	DefaultCatchUp     = 15 * time.Second
)

const (
	// watchdogNap bounds how long the watchdog sleeps, so that it also
	// notices when the wall clock is set forward.
	watchdogNap = 15 * time.Second
	// raiseRetry is how long the watchdog waits after failing to raise an
	// alarm (store full, disk full) before trying again.
	raiseRetry = 10 * time.Second
)

// watchdog raises overdue alarms. Every node that holds an open check-in
// runs one; they need not agree on anything, because the alarm's id is
// derived from the check-in and the level, so that whichever node raises
// it first, every other node keeps that one and drops its own as a
// duplicate (docs/PROTOCOL.md, "Check-ins").
//
// For each check-in that its author has not marked done:
//
//   - When the deadline (due + grace, the author's times) passes on this
//     node's clock and the node does not hold the level-1 alarm, it waits a
//     random moment (up to Config.AlarmJitter), so that usually one node
//     raises and the others receive, then raises it unless it arrived
//     meanwhile.
//   - A node that starts after a deadline first gives its peers
//     Config.CatchUp to deliver the done or the alarm it missed.
//   - When the check-in's EscalateAfter has passed since the node first held
//     the level-1 alarm (not before the deadline), and nobody but the
//     traveller has acknowledged it as seen or responding, the node raises
//     level 2 in the group, and in the check-in's escalation group if it is
//     a member there too.
//
// It works from the store and the check-in index, which are rebuilt at
// start, so a node that was off at the deadline raises the alarm when it
// comes back.
type watchdog struct {
	n     *Node
	plans map[alert.ID]time.Time // alarm id → when to raise it
}

// runWatchdog runs the watchdog until ctx is done.
func (n *Node) runWatchdog(ctx context.Context) {
	w := &watchdog{n: n, plans: make(map[alert.ID]time.Time)}
	wake := n.checkins.wakeup()
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
		nap := watchdogNap
		if !next.IsZero() {
			nap = min(max(next.Sub(n.now()), 5*time.Millisecond), watchdogNap)
		}
		timer.Reset(nap)
	}
}

// pass looks at every open check-in once, raises the alarms that are due,
// and returns when it next needs to look (zero: nothing planned).
func (w *watchdog) pass(ctx context.Context) time.Time {
	n := w.n
	now := n.now()
	n.checkins.prune(now)
	var next time.Time
	soon := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	live := make(map[alert.ID]bool)
	// due plans to raise alarm id at or after at, plus a random wait, and
	// reports whether the time has come.
	due := func(id alert.ID, at time.Time) bool {
		if now.Before(at) {
			soon(at)
			return false
		}
		live[id] = true
		p, ok := w.plans[id]
		if !ok {
			p = now.Add(w.jitter())
			w.plans[id] = p
		}
		if now.Before(p) {
			soon(p)
			return false
		}
		return true
	}
	raise := func(g *group, t tracked, level int) {
		id := alert.OverdueID(g.id, t.id, level)
		if err := w.raise(ctx, g, t, level); err != nil {
			w.plans[id] = now.Add(raiseRetry)
			soon(w.plans[id])
			return
		}
		delete(w.plans, id)
	}
	for _, t := range n.checkins.snapshot() {
		if t.done || !t.expires.After(now) {
			continue
		}
		g, ok := n.standing(t.group)
		if !ok {
			continue
		}
		deadline := t.deadline()
		id1 := alert.OverdueID(g.id, t.id, 1)
		h1, held := n.store.Header(id1)
		if !held {
			at := deadline
			if deadline.Before(n.started) {
				at = later(deadline, n.started.Add(n.cfg.CatchUp))
			}
			if due(id1, at) {
				raise(g, t, 1)
			}
			continue
		}
		escalate := later(h1.Received, deadline).Add(t.ci.EscalateAfter)
		if now.Before(escalate) {
			soon(escalate)
			continue
		}
		if n.acks.Answered(id1, t.author, h1.Sent) {
			continue
		}
		targets := []*group{g}
		if eg, ok := n.standing(t.ci.EscalateGroup); ok && eg.id != g.id {
			targets = append(targets, eg)
		}
		for _, tg := range targets {
			if n.store.Has(alert.OverdueID(tg.id, t.id, 2)) {
				continue
			}
			if due(alert.OverdueID(tg.id, t.id, 2), escalate) {
				raise(tg, t, 2)
			}
		}
	}
	for id := range w.plans {
		if !live[id] {
			delete(w.plans, id)
		}
	}
	return next
}

func (w *watchdog) jitter() time.Duration {
	if j := w.n.cfg.AlarmJitter; j > 0 {
		return rand.N(j)
	}
	return 0
}

// raise sends the overdue alarm of a level for a check-in to group g (the
// check-in's group, or its escalation group).
func (w *watchdog) raise(ctx context.Context, g *group, t tracked, level int) error {
	n := w.n
	if cur, ok := n.checkins.get(t.id); ok && cur.done {
		return nil
	}
	if n.store.Has(alert.OverdueID(g.id, t.id, level)) {
		return nil
	}
	notice, err := n.overdueNotice(g, t)
	if err != nil {
		n.log.Error("raising an overdue alarm", "group", g.id.String()[:8], "err", err)
		return err
	}
	a := &alert.Alert{
		Kind: alert.KindOverdue, Severity: alarmSeverity(level), Place: t.ci.To,
		Expires: n.now().Add(overdueTTL), CheckIn: t.id, Level: level, Notice: notice,
	}
	m, err := n.send(ctx, g, a)
	if err != nil {
		n.log.Error("raising an overdue alarm", "group", g.id.String()[:8], "err", err)
		return err
	}
	n.log.Info("overdue alarm raised", "group", g.id.String()[:8], "msg_id", m.ID.Short(), "level", level)
	return nil
}

// overdueNotice says who is overdue, from where, to where, by when and
// since when (this node's clock), for each reader to put into words, and
// carries the check-in as its author signed it, with the author's keys
// when the alarm goes to another group, whose members may know neither
// the check-in nor its author.
func (n *Node) overdueNotice(g *group, t tracked) (*alert.Notice, error) {
	ref, inner, err := n.openStored(t.id)
	if err != nil {
		return nil, fmt.Errorf("reading the check-in: %w", err)
	}
	cg := ref.g
	var keys *crypto.MemberKeys
	if g.id != cg.id {
		k, ok := cg.roster.Keys(t.author)
		if !ok {
			return nil, errors.New("the check-in's author is not in its group's roster")
		}
		keys = &k
	}
	signed, err := alert.NewSignedCheckIn(cg.id, ref.keys.Epoch(), inner, keys)
	if err != nil {
		return nil, err
	}
	no := &alert.Notice{
		What: alert.NoticeOverdue, Who: t.author, WhoName: truncate(n.memberName(cg, t.author), alert.MaxName),
		From: t.ci.From, To: t.ci.To, Due: t.due(), Since: t.deadline(), Note: t.ci.Text, CheckIn: signed,
	}
	if g.id != cg.id {
		no.Group = truncate(cg.roster.Name(), alert.MaxName)
	}
	return no, nil
}

// truncate cuts s to at most max bytes without splitting a character.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max-len("…")]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// standing returns a group in which this node's member is a current member.
func (n *Node) standing(gid crypto.GroupID) (*group, bool) {
	if gid.IsZero() {
		return nil, false
	}
	g, err := n.group(gid)
	if err != nil {
		return nil, false
	}
	me, ok := g.roster.Member(n.me)
	return g, ok && !me.Removed
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
