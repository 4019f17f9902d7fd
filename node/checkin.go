package node

// Check-ins: what a member asks for ([Node.StartCheckIn],
// [Node.DoneCheckIn], [Node.CheckIns]). The index of check-ins and the
// watchdog are in node/internal/checkin, the alarms the watchdog raises in
// watchdog.go, the rules the pipeline applies to messages that name
// another message in rules.go; docs/PROTOCOL.md, "Check-ins", describes
// the behaviour.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/checkin"
)

// Errors of check-ins and acknowledgements that the API reports as they are.
var (
	ErrCheckInRefused = NewError(KindInvalid, "check-in refused")
	ErrNoSuchCheckIn  = NewError(KindNotFound, "no such check-in")
	ErrNoOpenCheckIn  = NewError(KindNotFound, "you have no open check-in")
	ErrNotYourCheckIn = NewError(KindForbidden, "only the person who started a check-in can mark it done")
	ErrCheckInEnded   = NewError(KindConflict, "that check-in is already marked arrived")
	ErrBadMessageID   = NewError(KindInvalid, "bad message id")
	ErrNotAckable     = NewError(KindInvalid, "only alerts, alarms and check-ins can be acknowledged")
	ErrBadAckStatus   = NewError(KindInvalid, "unknown status")
)

// CheckInRequest is what a member fills in to start a check-in.
type CheckInRequest struct {
	From string
	To   string // required
	Due  time.Time
	// Grace is how long after Due the alarm waits; nil means
	// alert.DefaultGrace.
	Grace *time.Duration
	// EscalateAfter is how long an unanswered alarm waits before it
	// escalates; zero means alert.DefaultEscalate.
	EscalateAfter time.Duration
	// EscalateTo optionally names a second group that receives the
	// escalation: a name or id prefix of one of this node's groups, or the
	// full id of any group.
	EscalateTo string
	Text       string
}

// StartCheckIn announces to a group that this node's member is on the move
// and expects to reach r.To by r.Due. It returns the check-in's id.
func (n *Node) StartCheckIn(ctx context.Context, gid crypto.GroupID, r CheckInRequest) (alert.ID, error) {
	g, err := n.group(gid)
	if err != nil {
		return alert.ID{}, err
	}
	c := &alert.CheckIn{
		From: strings.TrimSpace(r.From), To: strings.TrimSpace(r.To), Due: r.Due,
		Grace: alert.DefaultGrace, EscalateAfter: alert.DefaultEscalate, Text: r.Text,
	}
	if r.Grace != nil {
		c.Grace = *r.Grace
	}
	if r.EscalateAfter != 0 {
		c.EscalateAfter = r.EscalateAfter
	}
	now := n.now()
	switch {
	case c.To == "":
		return alert.ID{}, refused("no_destination", nil, "say where you are going")
	case c.Due.IsZero():
		return alert.ID{}, refused("no_due", nil, "say by when you expect to arrive")
	case !c.Due.After(now):
		return alert.ID{}, refused("due_passed", []string{"due", paramTime(c.Due), "now", paramTime(now)},
			"the due time %s has already passed (it is %s now)", clock(c.Due, now), clock(now, now))
	case c.Due.Sub(now) > alert.MaxCheckInAhead:
		return alert.ID{}, refused("due_too_far", []string{"due", paramTime(c.Due), "max", paramDur(alert.MaxCheckInAhead)},
			"the due time %s is more than %d days ahead", clock(c.Due, now), int(alert.MaxCheckInAhead/(24*time.Hour)))
	case c.Grace < 0 || c.Grace > alert.MaxGrace:
		return alert.ID{}, refused("bad_grace", []string{"max", paramDur(alert.MaxGrace)}, "the grace period must be between 0 and %s", shortDur(alert.MaxGrace))
	case c.EscalateAfter <= 0 || c.EscalateAfter > alert.MaxEscalateAfter:
		return alert.ID{}, refused("bad_escalate_after", []string{"max", paramDur(alert.MaxEscalateAfter)},
			"the escalation delay must be between 1s and %s", shortDur(alert.MaxEscalateAfter))
	}
	if s := strings.TrimSpace(r.EscalateTo); s != "" {
		other, err := crypto.ParseGroupID(s)
		if err != nil {
			if other, err = n.ResolveGroup(s); err != nil {
				return alert.ID{}, fmt.Errorf("escalation group: %w", err)
			}
		}
		if other == gid {
			return alert.ID{}, refused("escalate_same_group", nil, "the escalation group must be another group")
		}
		c.EscalateGroup = other
	}
	m, err := n.send(ctx, g, c)
	if err != nil {
		return alert.ID{}, err
	}
	n.log.Info("check-in started", "group", gid.String()[:8], "msg_id", m.ID.Short())
	return m.ID, nil
}

// DoneResult says which check-in a [Node.DoneCheckIn] closed.
type DoneResult struct {
	ID      string      `json:"id"` // the "arrived" message
	CheckIn CheckInView `json:"checkin"`
}

// DoneCheckIn marks one of this member's check-ins as arrived safe. ref is
// the check-in's id or a unique prefix of it; empty means the member's only
// open check-in. With duress the group is told that the member is under
// coercion, while everything this node shows (the result, its feed, its
// list of check-ins) looks exactly like a normal arrival.
func (n *Node) DoneCheckIn(ctx context.Context, ref string, duress bool) (DoneResult, error) {
	t, release, err := n.claimCheckIn(ctx, ref)
	if err != nil {
		return DoneResult{}, err
	}
	defer release()
	g, err := n.group(t.Group)
	if err != nil {
		return DoneResult{}, err
	}
	m, err := n.send(ctx, g, &alert.CheckInDone{CheckIn: t.ID, Duress: duress})
	if err != nil {
		return DoneResult{}, err
	}
	// Logged alike with or without duress: logs may be read by whoever
	// holds the device.
	n.log.Info("check-in done", "group", t.Group.String()[:8], "msg_id", m.ID.Short())
	t.Done = true
	return DoneResult{ID: m.ID.String(), CheckIn: n.checkInView(g, t, n.now())}, nil
}

// claimCheckIn finds the check-in that ref names (see resolveCheckIn),
// checks that this member may mark it done, and claims it, so that a
// repeated request cannot send a second done while one is under way: it
// waits for a done under way to be stored or to fail, then looks again.
func (n *Node) claimCheckIn(ctx context.Context, ref string) (checkin.Tracked, func(), error) {
	for {
		t, err := n.resolveCheckIn(ref)
		switch {
		case err != nil:
			return t, nil, err
		case t.Author != n.me:
			return t, nil, ErrNotYourCheckIn
		case t.Done:
			return t, nil, ErrCheckInEnded
		}
		release, busy := n.checkins.Claim(t.ID)
		if release != nil {
			// A done may have been stored between the look above and
			// the claim (its sender released just before): look again.
			if now, ok := n.checkins.Get(t.ID); ok && now.Done {
				release()
				return now, nil, ErrCheckInEnded
			}
			return t, release, nil
		}
		select {
		case <-busy:
		case <-ctx.Done():
			return t, nil, ctx.Err()
		}
	}
}

// resolveCheckIn finds a check-in this node holds by id or unique prefix,
// or, for an empty ref, this member's only open check-in.
func (n *Node) resolveCheckIn(ref string) (checkin.Tracked, error) {
	ref = strings.ToLower(strings.TrimSpace(ref))
	now := n.now()
	if ref == "" {
		var mine []checkin.Tracked
		for _, t := range n.checkins.Snapshot() {
			if t.Author == n.me && !t.Done && t.Expires.After(now) {
				mine = append(mine, t)
			}
		}
		switch len(mine) {
		case 0:
			return checkin.Tracked{}, ErrNoOpenCheckIn
		case 1:
			return mine[0], nil
		}
		var c []string
		for _, t := range mine {
			c = append(c, fmt.Sprintf("%s (to %s, due %s)", t.ID.Short(), t.CheckIn.To, clock(t.Due(), now)))
		}
		return checkin.Tracked{}, withParams(ErrAmbiguous, []string{"what", "checkin", "candidates", paramList(c)},
			"you have %d open check-ins; give the id of one: %s", len(mine), paramList(c))
	}
	if err := checkIDRef(ref); err != nil {
		return checkin.Tracked{}, err
	}
	var held []checkin.Tracked
	for _, t := range n.checkins.Snapshot() {
		if _, err := n.group(t.Group); err == nil {
			held = append(held, t)
		}
	}
	return checkInRefs.one(held, ref, "")
}

// checkInRefs resolves references to check-ins (resolve.go).
var checkInRefs = resolver[checkin.Tracked]{
	what: "checkin", word: "check-in", notFound: ErrNoSuchCheckIn, minPrefix: MinIDPrefix,
	id:    func(t checkin.Tracked) string { return t.ID.String() },
	label: func(t checkin.Tracked) string { return t.ID.Short() },
}

// CheckInView describes an open check-in for `takecare checkin list`.
type CheckInView struct {
	ID       string    `json:"id"`
	Group    string    `json:"group"`
	GroupID  string    `json:"group_id"`
	Author   string    `json:"author"`
	AuthorID string    `json:"author_id"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Text     string    `json:"text"`
	Created  time.Time `json:"created"`
	Due      time.Time `json:"due"`
	// Deadline is Due plus the grace period: when the alarm goes off.
	Deadline             time.Time `json:"deadline"`
	GraceSeconds         int64     `json:"grace_seconds"`
	EscalateAfterSeconds int64     `json:"escalate_after_seconds"`
	// EscalateGroup is the second group named for the escalation: its name
	// if this node is a member, else its id.
	EscalateGroup string `json:"escalate_group,omitempty"`
	// State is "open" (before the due time), "late" (past the due time,
	// within the grace period), "overdue" (past the deadline) or
	// "escalated"; "arrived" only in the answer to a done.
	State string `json:"state"`
	// Alarm is the id of the latest overdue alarm, once one is raised.
	Alarm       string `json:"alarm,omitempty"`
	Mine        bool   `json:"mine"`
	AuthorLabel string `json:"author_label"` // as in [Entry]
}

// CheckIns lists the open check-ins of a group (zero: of every group),
// soonest deadline first. A check-in stays listed until its author marks
// it done or it expires, a day after its last possible escalation.
func (n *Node) CheckIns(gid crypto.GroupID) ([]CheckInView, error) {
	if !gid.IsZero() {
		if _, err := n.group(gid); err != nil {
			return nil, err
		}
	}
	now := n.now()
	out := []CheckInView{}
	for _, t := range n.checkins.Snapshot() {
		if t.Done || !t.Expires.After(now) || (!gid.IsZero() && t.Group != gid) {
			continue
		}
		g, err := n.group(t.Group)
		if err != nil {
			continue
		}
		out = append(out, n.checkInView(g, t, now))
	}
	slices.SortFunc(out, func(a, b CheckInView) int {
		if c := a.Deadline.Compare(b.Deadline); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (n *Node) checkInView(g *group, t checkin.Tracked, now time.Time) CheckInView {
	v := CheckInView{
		ID: t.ID.String(), Group: g.roster.Name(), GroupID: g.id.String(),
		Author: n.memberName(g, t.Author), AuthorID: t.Author.String(), AuthorLabel: n.who(g, t.Author).Label,
		From: t.CheckIn.From, To: t.CheckIn.To, Text: t.CheckIn.Text,
		Created: t.Sent.UTC(), Due: t.Due().UTC(), Deadline: t.Deadline().UTC(),
		GraceSeconds: int64(t.CheckIn.Grace / time.Second), EscalateAfterSeconds: int64(t.CheckIn.EscalateAfter / time.Second),
		Mine: t.Author == n.me,
	}
	if eg := t.CheckIn.EscalateGroup; !eg.IsZero() {
		v.EscalateGroup = eg.String()
		if other, err := n.group(eg); err == nil {
			v.EscalateGroup = other.roster.Name()
		}
	}
	switch {
	case t.Done:
		v.State = "arrived"
	case n.store.Has(alert.OverdueID(g.id, t.ID, 2)):
		v.State, v.Alarm = "escalated", alert.OverdueID(g.id, t.ID, 2).String()
	case n.store.Has(alert.OverdueID(g.id, t.ID, 1)):
		v.State, v.Alarm = "overdue", alert.OverdueID(g.id, t.ID, 1).String()
	case !now.Before(t.Deadline()):
		v.State = "overdue"
	case !now.Before(t.Due()):
		v.State = "late"
	default:
		v.State = "open"
	}
	return v
}
