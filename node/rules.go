package node

// The rules the pipeline applies to messages that name another message
// (check-in ends, acknowledgements, overdue alarms), and the index of
// what they name (docs/PROTOCOL.md, "Check-ins", "Acknowledgements").

import (
	"errors"
	"fmt"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/node/internal/checkin"
	"github.com/takecare-network/takecare/node/internal/feed"
)

// alarmEarly is how long before its time, by this node's clock, an overdue
// alarm may arrive and still be accepted. An honest node raises the alarm
// when its own clock passes the deadline; if that clock is fast, its copy
// is ignored here and this node raises its own (same id) on time, so a
// wrong clock changes only what its own node shows, and no member can get
// an alarm accepted earlier than this.
const alarmEarly = 30 * time.Second

// noteCheckIn updates the check-in index and the acknowledgements with a
// new, stored message, and wakes the watchdog if it may care.
func (n *Node) noteCheckIn(m *alert.Message) {
	switch c := m.Content.(type) {
	case *alert.CheckIn, *alert.CheckInDone:
		n.checkins.Add(m)
	case *alert.Ack:
		n.acks.Add(c.Ref, feed.Ack{Author: m.Author, Status: c.Status, At: m.Sent})
	case *alert.Alert:
		if c.Kind != alert.KindOverdue {
			return
		}
	default:
		return
	}
	n.checkins.Poke()
}

// lookupCheckIn returns a check-in this node holds. It reports false if the
// node does not hold the message, and an error if the message it holds under
// that id is not a check-in.
func (n *Node) lookupCheckIn(id alert.ID) (checkin.Tracked, bool, error) {
	if t, ok := n.checkins.Get(id); ok {
		return t, true, nil
	}
	h, ok := n.store.Header(id)
	if !ok {
		return checkin.Tracked{}, false, nil
	}
	m, err := n.loadMessage(h)
	if err != nil {
		return checkin.Tracked{}, false, nil // cannot tell
	}
	c, ok := m.Content.(*alert.CheckIn)
	if !ok {
		return checkin.Tracked{}, false, errors.New("not a check-in")
	}
	return checkin.TrackedOf(m, c), true, nil
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
		case t.Group != g.id:
			return ignore("check-in done sent to another group than its check-in")
		case t.Author != m.Author:
			return ignore("check-in done by %s for a check-in of %s", m.Author.Short(), t.Author.Short())
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
	if c.Severity < checkin.AlarmSeverity(c.Level) {
		return reject("overdue alarm of level %d with severity %s", c.Level, c.Severity)
	}
	t, held, err := n.lookupCheckIn(c.CheckIn)
	switch {
	case err != nil:
		return ignore("overdue alarm names a message that is not a check-in")
	case held && t.Group != g.id && !(c.Level == alert.MaxOverdueLevel && t.CheckIn.EscalateGroup == g.id):
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
		due = earlier(t.AlarmTime(c.Level), n.claimedTime(t.Author, checkin.AlarmTime(t.CheckIn, c.Level)))
	case signed != nil:
		due = n.claimedTime(signed.Inner.Author, checkin.AlarmTime(*signed.CheckIn(), c.Level))
	default:
		return ignore("overdue alarm of version 1 for a check-in not held yet")
	}
	if m.Sent.Before(due.Add(-alarmEarly)) {
		return ignore("overdue alarm made before its time by this clock")
	}
	if held && t.Done && !t.DoneAt.After(m.Sent) {
		return ignore("overdue alarm for a check-in that had ended")
	}
	return nil
}

// endsHeldCheckIn reports whether this node holds the check-in that m, a
// check-in done, names, and m can end it: same group, same author.
func (n *Node) endsHeldCheckIn(g *group, m *alert.Message, c *alert.CheckInDone) bool {
	t, held, err := n.lookupCheckIn(c.CheckIn)
	return err == nil && held && t.Group == g.id && t.Author == m.Author
}
