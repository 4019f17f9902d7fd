package node

// Check-ins, their endings, overdue alarms and acknowledgements: what a
// member asks for ([Node.StartCheckIn], [Node.DoneCheckIn], [Node.Ack]),
// the index of check-ins the watchdog works from, and the rules the
// pipeline applies to messages that name another message. The watchdog
// itself is in watchdog.go; docs/PROTOCOL.md, "Check-ins" and
// "Acknowledgements", describes the behaviour.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/feed"
	"github.com/takecare-network/takecare/store"
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

// MinIDPrefix is the fewest hex digits of a message id that commands accept.
const MinIDPrefix = 6

// overdueTTL is how long an overdue alarm stays in the feed.
const overdueTTL = 7 * 24 * time.Hour

// alarmEarly is how long before its time, by this node's clock, an overdue
// alarm may arrive and still be accepted. An honest node raises the alarm
// when its own clock passes the deadline; if that clock is fast, its copy
// is ignored here and this node raises its own (same id) on time, so a
// wrong clock changes only what its own node shows, and no member can get
// an alarm accepted earlier than this.
const alarmEarly = 30 * time.Second

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
	// One at a time, so that a repeated request cannot send two.
	n.checkins.doneMu.Lock()
	defer n.checkins.doneMu.Unlock()
	t, err := n.resolveCheckIn(ref)
	if err != nil {
		return DoneResult{}, err
	}
	if t.author != n.me {
		return DoneResult{}, ErrNotYourCheckIn
	}
	if t.done {
		return DoneResult{}, ErrCheckInEnded
	}
	g, err := n.group(t.group)
	if err != nil {
		return DoneResult{}, err
	}
	m, err := n.send(ctx, g, &alert.CheckInDone{CheckIn: t.id, Duress: duress})
	if err != nil {
		return DoneResult{}, err
	}
	// Logged alike with or without duress: logs may be read by whoever
	// holds the device.
	n.log.Info("check-in done", "group", t.group.String()[:8], "msg_id", m.ID.Short())
	t.done = true
	return DoneResult{ID: m.ID.String(), CheckIn: n.checkInView(g, t, n.now())}, nil
}

// resolveCheckIn finds a check-in this node holds by id or unique prefix,
// or, for an empty ref, this member's only open check-in.
func (n *Node) resolveCheckIn(ref string) (tracked, error) {
	ref = strings.ToLower(strings.TrimSpace(ref))
	now := n.now()
	if ref == "" {
		var mine []tracked
		for _, t := range n.checkins.snapshot() {
			if t.author == n.me && !t.done && t.expires.After(now) {
				mine = append(mine, t)
			}
		}
		switch len(mine) {
		case 0:
			return tracked{}, ErrNoOpenCheckIn
		case 1:
			return mine[0], nil
		}
		var c []string
		for _, t := range mine {
			c = append(c, fmt.Sprintf("%s (to %s, due %s)", t.id.Short(), t.ci.To, clock(t.due(), now)))
		}
		return tracked{}, withParams(ErrAmbiguous, []string{"what", "checkin", "candidates", paramList(c)},
			"you have %d open check-ins; give the id of one: %s", len(mine), paramList(c))
	}
	if err := checkIDRef(ref); err != nil {
		return tracked{}, err
	}
	var held []tracked
	for _, t := range n.checkins.snapshot() {
		if _, err := n.group(t.group); err == nil {
			held = append(held, t)
		}
	}
	return checkInRefs.one(held, ref, "")
}

// checkInRefs resolves references to check-ins (resolve.go).
var checkInRefs = resolver[tracked]{
	what: "checkin", word: "check-in", notFound: ErrNoSuchCheckIn, minPrefix: MinIDPrefix,
	id:    func(t tracked) string { return t.id.String() },
	label: func(t tracked) string { return t.id.Short() },
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
	for _, t := range n.checkins.snapshot() {
		if t.done || !t.expires.After(now) || (!gid.IsZero() && t.group != gid) {
			continue
		}
		g, err := n.group(t.group)
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

func (n *Node) checkInView(g *group, t tracked, now time.Time) CheckInView {
	v := CheckInView{
		ID: t.id.String(), Group: g.roster.Name(), GroupID: g.id.String(),
		Author: n.memberName(g, t.author), AuthorID: t.author.String(), AuthorLabel: n.who(g, t.author).Label,
		From: t.ci.From, To: t.ci.To, Text: t.ci.Text,
		Created: t.sent.UTC(), Due: t.due().UTC(), Deadline: t.deadline().UTC(),
		GraceSeconds: int64(t.ci.Grace / time.Second), EscalateAfterSeconds: int64(t.ci.EscalateAfter / time.Second),
		Mine: t.author == n.me,
	}
	if eg := t.ci.EscalateGroup; !eg.IsZero() {
		v.EscalateGroup = eg.String()
		if other, err := n.group(eg); err == nil {
			v.EscalateGroup = other.roster.Name()
		}
	}
	switch {
	case t.done:
		v.State = "arrived"
	case n.store.Has(alert.OverdueID(g.id, t.id, 2)):
		v.State, v.Alarm = "escalated", alert.OverdueID(g.id, t.id, 2).String()
	case n.store.Has(alert.OverdueID(g.id, t.id, 1)):
		v.State, v.Alarm = "overdue", alert.OverdueID(g.id, t.id, 1).String()
	case !now.Before(t.deadline()):
		v.State = "overdue"
	case !now.Before(t.due()):
		v.State = "late"
	default:
		v.State = "open"
	}
	return v
}

// AckResult describes an acknowledgement just sent.
type AckResult struct {
	ID    string `json:"id"`    // the acknowledgement
	Entry Entry  `json:"entry"` // the acknowledged message, with its acks
}

// Ack acknowledges an alert, alarm or check-in. ref is the message's id or
// a unique prefix of it, in any of this node's groups; status is seen (the
// default), responding or unable. The acknowledgement goes to the message's
// group, where everyone, the sender included, sees it on the message.
func (n *Node) Ack(ctx context.Context, ref, status string) (AckResult, error) {
	st := alert.AckSeen
	if strings.TrimSpace(status) != "" {
		var err error
		if st, err = alert.ParseAckStatus(status); err != nil {
			return AckResult{}, fmt.Errorf("%w %q (one of: seen, responding, unable)", ErrBadAckStatus, status)
		}
	}
	id, err := n.ResolveMessage(ref)
	if err != nil {
		return AckResult{}, err
	}
	h, _ := n.store.Header(id)
	g, err := n.group(h.Group)
	if err != nil {
		return AckResult{}, err
	}
	m, err := n.loadMessage(h)
	if err != nil {
		return AckResult{}, fmt.Errorf("reading message %s: %w", id.Short(), err)
	}
	if !ackable(m) {
		return AckResult{}, ErrNotAckable
	}
	sent, err := n.send(ctx, g, &alert.Ack{Ref: id, Status: st})
	if err != nil {
		return AckResult{}, err
	}
	n.log.Info("acknowledged", "group", g.id.String()[:8], "msg_id", sent.ID.Short())
	e, _ := n.entry(g, m)
	return AckResult{ID: sent.ID.String(), Entry: e}, nil
}

func ackable(m *alert.Message) bool {
	switch m.Content.(type) {
	case *alert.Alert, *alert.CheckIn, *alert.CheckInDone:
		return true
	}
	return false
}

// ResolveMessage finds a message of one of this node's groups by its full id
// or a unique prefix of at least [MinIDPrefix] hex digits. If a prefix
// matches several messages but only one of them is shown in the feed, that
// one is meant.
func (n *Node) ResolveMessage(ref string) (alert.ID, error) {
	ref = strings.ToLower(strings.TrimSpace(ref))
	if err := checkIDRef(ref); err != nil {
		return alert.ID{}, err
	}
	mine := func(h store.Header) bool { _, err := n.group(h.Group); return err == nil }
	if len(ref) == 64 {
		var id alert.ID
		hex.Decode(id[:], []byte(ref))
		if h, ok := n.store.Header(id); ok && mine(h) {
			return id, nil
		}
		return alert.ID{}, withParams(ErrNoSuchMessage, []string{"ref", id.Short()}, "%v %s", ErrNoSuchMessage, id.Short())
	}
	hs := n.store.Headers(func(h store.Header) bool { return strings.HasPrefix(h.ID.String(), ref) && mine(h) })
	if len(hs) > 1 {
		var shown []store.Header
		for _, h := range hs {
			if m, err := n.loadMessage(h); err == nil && ackable(m) {
				shown = append(shown, h)
			}
		}
		if len(shown) == 1 {
			hs = shown
		}
	}
	h, err := messageRefs.pick(hs, false, ref, "")
	return h.ID, err
}

// messageRefs resolves references to messages (resolve.go).
var messageRefs = resolver[store.Header]{
	what: "message", word: "message", notFound: ErrNoSuchMessage, minPrefix: MinIDPrefix,
	id:    func(h store.Header) string { return h.ID.String() },
	label: func(h store.Header) string { return h.ID.Short() },
}

// tracked is a check-in as the index holds it. Copies are handed out; the
// index's own copy changes only under its lock.
//
// The check-in's times are on its author's clock; the node counts them from
// when the check-in was made by its own clock (sent), so that a wrong clock
// on the author's phone moves no deadline (docs/PROTOCOL.md, "Time").
type tracked struct {
	id      alert.ID
	group   crypto.GroupID
	author  crypto.MemberID
	created time.Time // the author's clock
	sent    time.Time // this node's clock
	expires time.Time // this node's clock
	ci      alert.CheckIn
	done    bool      // marked done by its author
	doneAt  time.Time // the earliest such done, this node's clock
}

func trackedOf(m *alert.Message, c *alert.CheckIn) tracked {
	return tracked{id: m.ID, group: m.Group, author: m.Author, created: m.Created, sent: m.Sent, expires: m.Local(m.Expires()), ci: *c}
}

// local converts a time of the check-in to this node's clock.
func (t tracked) local(at time.Time) time.Time { return at.Add(t.sent.Sub(t.created)) }

// due is when the author expects to arrive, by this node's clock.
func (t tracked) due() time.Time { return t.local(t.ci.Due) }

// deadline is when the alarm goes off, by this node's clock.
func (t tracked) deadline() time.Time { return t.local(t.ci.Deadline()) }

// alarmTime is the earliest time, by this node's clock, at which the alarm
// of the level may be raised.
func (t tracked) alarmTime(level int) time.Time { return t.local(alarmTime(t.ci, level)) }

// earlyDone is a done that arrived before its check-in.
type earlyDone struct {
	author crypto.MemberID
	sent   time.Time // this node's clock
}

// checkinIndex holds every check-in this node has stored, until it expires,
// and whether its author has marked it done. It is rebuilt from the store
// at start. The zero value is ready to use.
type checkinIndex struct {
	doneMu sync.Mutex // serializes DoneCheckIn

	mu    sync.Mutex
	byID  map[alert.ID]*tracked
	early map[alert.ID][]earlyDone
	wake  chan struct{}
}

func (x *checkinIndex) wakeup() chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.wake == nil {
		x.wake = make(chan struct{}, 1)
	}
	return x.wake
}

// poke wakes the watchdog.
func (x *checkinIndex) poke() {
	select {
	case x.wakeup() <- struct{}{}:
	default:
	}
}

// add records a stored check-in or done.
func (x *checkinIndex) add(m *alert.Message) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.byID == nil {
		x.byID = make(map[alert.ID]*tracked)
		x.early = make(map[alert.ID][]earlyDone)
	}
	switch c := m.Content.(type) {
	case *alert.CheckIn:
		if x.byID[m.ID] != nil {
			return
		}
		t := trackedOf(m, c)
		for _, d := range x.early[m.ID] {
			t.markDone(d)
		}
		delete(x.early, m.ID)
		x.byID[m.ID] = &t
	case *alert.CheckInDone:
		d := earlyDone{author: m.Author, sent: m.Sent}
		if t := x.byID[c.CheckIn]; t != nil {
			t.markDone(d)
			return
		}
		x.early[c.CheckIn] = append(x.early[c.CheckIn], d)
	}
}

// markDone applies a done if it is by the check-in's author; any other
// author's done has no effect.
func (t *tracked) markDone(d earlyDone) {
	if d.author == t.author && (!t.done || d.sent.Before(t.doneAt)) {
		t.done, t.doneAt = true, d.sent
	}
}

func (x *checkinIndex) get(id alert.ID) (tracked, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.byID[id]
	if t == nil {
		return tracked{}, false
	}
	return *t, true
}

func (x *checkinIndex) snapshot() []tracked {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]tracked, 0, len(x.byID))
	for _, t := range x.byID {
		out = append(out, *t)
	}
	return out
}

// prune forgets expired check-ins and dones older than their lifetime, as
// the store deletes them.
func (x *checkinIndex) prune(now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, t := range x.byID {
		if !t.expires.After(now) {
			delete(x.byID, id)
		}
	}
	for id, ds := range x.early {
		ds = slices.DeleteFunc(ds, func(d earlyDone) bool { return !d.sent.Add(alert.MaxTTL).After(now) })
		if len(ds) == 0 {
			delete(x.early, id)
		} else {
			x.early[id] = ds
		}
	}
}

// noteCheckIn updates the check-in index and the acknowledgements with a
// new, stored message, and wakes the watchdog if it may care.
func (n *Node) noteCheckIn(m *alert.Message) {
	switch c := m.Content.(type) {
	case *alert.CheckIn, *alert.CheckInDone:
		n.checkins.add(m)
	case *alert.Ack:
		n.acks.Add(c.Ref, feed.Ack{Author: m.Author, Status: c.Status, At: m.Sent})
	case *alert.Alert:
		if c.Kind != alert.KindOverdue {
			return
		}
	default:
		return
	}
	n.checkins.poke()
}

// lookupCheckIn returns a check-in this node holds. It reports false if the
// node does not hold the message, and an error if the message it holds under
// that id is not a check-in.
func (n *Node) lookupCheckIn(id alert.ID) (tracked, bool, error) {
	if t, ok := n.checkins.get(id); ok {
		return t, true, nil
	}
	h, ok := n.store.Header(id)
	if !ok {
		return tracked{}, false, nil
	}
	m, err := n.loadMessage(h)
	if err != nil {
		return tracked{}, false, nil // cannot tell
	}
	c, ok := m.Content.(*alert.CheckIn)
	if !ok {
		return tracked{}, false, errors.New("not a check-in")
	}
	return trackedOf(m, c), true, nil
}

// checkRefs is the pipeline's step for messages that name another message
// (docs/PROTOCOL.md, "Check-ins"). What it finds wrong with what this node
// holds is ignored, not rejected: a node that does not hold the named
// message cannot tell, accepts, and passes the message on in good faith;
// rejecting it would count against that node (for example end its sync
// sessions) for what this one happens to hold. What the node does not hold
// cannot be checked and passes: sync may deliver a done before its
// check-in, and the index ignores dones by anyone but the check-in's
// author.
func (n *Node) checkRefs(g *group, m *alert.Message) error {
	switch c := m.Content.(type) {
	case *alert.CheckInDone:
		t, held, err := n.lookupCheckIn(c.CheckIn)
		switch {
		case err != nil:
			return ignore("check-in done names a message that is not a check-in")
		case !held:
			return nil
		case t.group != g.id:
			return ignore("check-in done sent to another group than its check-in")
		case t.author != m.Author:
			return ignore("check-in done by %s for a check-in of %s", m.Author.Short(), t.author.Short())
		}
	case *alert.Ack:
		if h, ok := n.store.Header(c.Ref); ok && h.Group != g.id {
			return ignore("acknowledgement sent to another group than its message")
		}
	case *alert.Alert:
		if c.Kind != alert.KindOverdue {
			return nil
		}
		return n.checkAlarm(g, m, c)
	}
	return nil
}

// checkAlarm applies the rules of docs/PROTOCOL.md, "Check-ins", to an
// overdue alarm. The alarm's notice carries the check-in as its author
// signed it, so a node that does not hold the check-in can check the alarm
// too; an alarm of protocol version 1, which does not carry it, is taken
// only once the check-in is held. Whether the alarm comes too early is
// judged by this node's clock: against when the check-in's deadline passes
// here, or when it passes by the author's clock corrected by as much as
// that clock was found off ([clocks]), whichever is sooner, so that no
// member can hold back an alarm by passing on the check-in late. All that
// depends on what this node holds or on its clock is Ignore.
func (n *Node) checkAlarm(g *group, m *alert.Message, c *alert.Alert) error {
	if c.Severity < alarmSeverity(c.Level) {
		return reject("overdue alarm of level %d with severity %s", c.Level, c.Severity)
	}
	t, held, err := n.lookupCheckIn(c.CheckIn)
	switch {
	case err != nil:
		return ignore("overdue alarm names a message that is not a check-in")
	case held && t.group != g.id && !(c.Level == alert.MaxOverdueLevel && t.ci.EscalateGroup == g.id):
		return ignore("overdue alarm in a group its check-in does not name")
	}
	var signed *alert.SignedCheckIn
	if c.Notice != nil {
		signed = c.Notice.CheckIn // alert.Validate: the check-in the alarm names
	}
	if signed != nil && signed.Keys == nil {
		// In the check-in's own group: its roster knows the author.
		keys, known := g.roster.Keys(signed.Inner.Author)
		if !known {
			return ignore("overdue alarm for a check-in by %s, not in the roster yet", signed.Inner.Author.Short())
		}
		// Signed by its author, or by the bridge that sent it (via.go).
		if err := n.checkVia(g, signed.Epoch, signed.Inner, signed.Message(), keys, signed.Verify(keys) == nil); err != nil {
			return fmt.Errorf("overdue alarm's check-in: %w", err)
		}
	}
	var due time.Time
	switch {
	case held:
		due = earlier(t.alarmTime(c.Level), n.claimedTime(t.author, alarmTime(t.ci, c.Level)))
	case signed != nil:
		due = n.claimedTime(signed.Inner.Author, alarmTime(*signed.CheckIn(), c.Level))
	default:
		return ignore("overdue alarm of version 1 for a check-in not held yet")
	}
	if m.Sent.Before(due.Add(-alarmEarly)) {
		return ignore("overdue alarm made before its time by this clock")
	}
	if held && t.done && !t.doneAt.After(m.Sent) {
		return ignore("overdue alarm for a check-in that had ended")
	}
	return nil
}

// endsHeldCheckIn reports whether this node holds the check-in that m, a
// check-in done, names, and m can end it: same group, same author.
func (n *Node) endsHeldCheckIn(g *group, m *alert.Message, c *alert.CheckInDone) bool {
	t, held, err := n.lookupCheckIn(c.CheckIn)
	return err == nil && held && t.group == g.id && t.author == m.Author
}

// alarmSeverity is the severity of an overdue alarm of a level.
func alarmSeverity(level int) alert.Severity {
	if level > 1 {
		return alert.SevCritical
	}
	return alert.SevUrgent
}

// alarmTime is the earliest time, on the check-in author's clock, at which
// an alarm of the level may be raised.
func alarmTime(c alert.CheckIn, level int) time.Time {
	return c.Deadline().Add(time.Duration(level-1) * c.EscalateAfter)
}

// enrich adds what the check-in says to the feed entry of a done or an
// overdue alarm. It returns false for a done by someone other than the
// check-in's author, which is not shown.
func (n *Node) enrich(m *alert.Message, e *Entry) bool {
	var ref alert.ID
	switch c := m.Content.(type) {
	case *alert.CheckInDone:
		ref = c.CheckIn
	case *alert.Alert:
		if c.Kind != alert.KindOverdue {
			return true
		}
		ref = c.CheckIn
	default:
		return true
	}
	t, ok := n.checkins.get(ref)
	if !ok {
		// Not held (an escalation from another group, or not synced
		// yet): what the alarm's notice says.
		if no := e.Notice; no != nil && no.What == alert.NoticeOverdue.String() {
			e.From, e.To, e.Due, e.Subject, e.SubjectID = no.From, no.To, no.Due, no.Who, no.WhoID
		}
		return true
	}
	if _, isDone := m.Content.(*alert.CheckInDone); isDone && t.author != m.Author {
		return false
	}
	e.From, e.To, e.Due = t.ci.From, t.ci.To, utc(t.due())
	if _, isAlarm := m.Content.(*alert.Alert); isAlarm {
		e.SubjectID = t.author.String()
		if cg, err := n.group(t.group); err == nil {
			e.Subject = n.memberName(cg, t.author)
			e.SubjectLabel = n.who(cg, t.author).Label
		}
		if no := e.Notice; no != nil {
			// This node's own view of the check-in.
			no.Due, no.Since = utc(t.due()), utc(t.deadline())
			no.Who = e.Subject
		}
	}
	return true
}

// clock formats a time for messages to people: the time of day, with the
// date when it is not the day of now, in the node's local time.
func clock(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if t.Year() == now.Year() && t.YearDay() == now.YearDay() {
		return t.Format("15:04")
	}
	if t.Year() == now.Year() {
		return t.Format("Jan 2 15:04")
	}
	return t.Format("Jan 2 2006 15:04")
}

// shortDur formats a duration without zero units ("5m", "1h30m", "24h").
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
