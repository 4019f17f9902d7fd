package node

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/feed"
	"github.com/takecare-network/takecare/store"
)

// Entry is one message of the feed, as `takecare feed --json` prints it
// (one per line). The field names are a stable interface; see the user
// guide, "Feed JSON".
//
// Times are this node's: created is when the message was made by this
// node's clock, whatever the author's clock said (docs/PROTOCOL.md,
// "Time"), and so are its expiry and due time.
type Entry struct {
	ID       string    `json:"id"`
	Group    string    `json:"group"`
	GroupID  string    `json:"group_id"`
	Kind     string    `json:"kind"`
	Severity string    `json:"severity"`
	Region   string    `json:"region"`
	Place    string    `json:"place"`
	Text     string    `json:"text"`
	Author   string    `json:"author"`
	AuthorID string    `json:"author_id"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	// Check-ins, their endings and overdue alarms.
	CheckIn string     `json:"checkin,omitempty"`
	From    string     `json:"from,omitempty"`
	To      string     `json:"to,omitempty"`
	Due     *time.Time `json:"due,omitempty"`
	Level   int        `json:"level,omitempty"`
	// Overdue alarms: the person who has not arrived.
	Subject   string `json:"subject,omitempty"`
	SubjectID string `json:"subject_id,omitempty"`
	// Notice is what a message the program wrote says, as fields for the
	// reader to put into words (its text is then empty); nil for messages
	// a person wrote and for alarms of protocol version 1, which have a
	// text.
	Notice *NoticeEntry `json:"notice,omitempty"`
	// AuthorClock is how far ahead of the other members' clocks
	// (negative: behind) the author's clock was when it made the message,
	// in seconds, when that is a minute or more.
	AuthorClock int64 `json:"author_clock,omitempty"`
	// Acks are the acknowledgements of this message, latest per member.
	Acks []AckEntry `json:"acks"`
	// Mine is true for messages this node's member sent.
	Mine bool `json:"mine"`
	// Via is set when a bridge sent the message on its author's behalf
	// (an SMS): the author is the person, and Via names the bridge.
	Via *ViaEntry `json:"via,omitempty"`
	// Delivery, on messages this node's member sent, says whether it is
	// stored, which member nodes it was handed to, and whether it is still
	// queued.
	Delivery *Delivery `json:"delivery,omitempty"`
	// AuthorLabel is the author's name as views show it: with the short
	// member id when another member's name can be taken for it.
	// AuthorAdmin and AuthorVerified are its marks (names.go).
	// SubjectLabel is the same for Subject.
	AuthorLabel    string `json:"author_label"`
	AuthorAdmin    bool   `json:"author_admin"`
	AuthorVerified bool   `json:"author_verified"`
	SubjectLabel   string `json:"subject_label,omitempty"`
}

// NoticeEntry is the notice of an entry (alert.Notice), with names and
// this node's times. Which fields are set depends on What.
type NoticeEntry struct {
	// What is "overdue" (an overdue alarm), "duress" (a member opened
	// takecare with the duress passphrase) or "mistake" (a panic was sent
	// by mistake).
	What  string `json:"what"`
	Who   string `json:"who"` // the person it is about
	WhoID string `json:"who_id"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
	// Due is when the person was expected; Since, when the alarm went off
	// (overdue) or when it happened (duress, mistake).
	Due   *time.Time `json:"due,omitempty"`
	Since *time.Time `json:"since,omitempty"`
	Note  string     `json:"note,omitempty"` // the check-in's text
	Level int        `json:"level,omitempty"`
	// Group is the name of the group the alarm is about, when it reached
	// this one as an escalation from another group.
	Group string `json:"group,omitempty"`
}

// AckEntry is one member's latest acknowledgement of a message.
type AckEntry struct {
	Author   string    `json:"author"`
	AuthorID string    `json:"author_id"`
	Status   string    `json:"status"`
	Time     time.Time `json:"time"`
	// AuthorLabel is as in [Entry].
	AuthorLabel string `json:"author_label"`
}

// FeedQuery selects feed entries. Zero fields select everything.
type FeedQuery struct {
	Group  crypto.GroupID // zero: every group
	Region string         // case-insensitive exact match
	Since  time.Time
}

func (q FeedQuery) match(e Entry) bool {
	if !q.Group.IsZero() && e.GroupID != q.Group.String() {
		return false
	}
	if q.Region != "" && !strings.EqualFold(strings.TrimSpace(q.Region), e.Region) {
		return false
	}
	return q.Since.IsZero() || !e.Created.Before(q.Since)
}

// Feed returns the entries that match q, oldest first by this node's clock.
func (n *Node) Feed(q FeedQuery) ([]Entry, error) {
	hs := n.store.Headers(func(h store.Header) bool { return q.Group.IsZero() || h.Group == q.Group })
	out := make([]Entry, 0, len(hs))
	for _, h := range hs {
		g, err := n.group(h.Group)
		if err != nil {
			continue
		}
		m, err := n.loadMessage(h)
		if err != nil {
			n.log.Warn("reading a stored message", "msg_id", h.ID.Short(), "err", err)
			continue
		}
		e, ok := n.entry(g, m)
		if ok && q.match(e) {
			out = append(out, e)
		}
	}
	// This member's removal from a group is in that group's feed.
	for _, g := range n.removedGroups() {
		if e, ok := n.removalEntry(g); ok && q.match(e) {
			out = append(out, e)
		}
	}
	// By when each was made by this node's clock, which may order them
	// otherwise than their authors' clocks.
	slices.SortStableFunc(out, func(a, b Entry) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// loadMessage opens a stored envelope. Its signature was checked when it
// arrived; the store is sealed, so it is not checked again.
func (n *Node) loadMessage(h store.Header) (*alert.Message, error) {
	ref, inner, err := n.openStored(h.ID)
	if err != nil {
		return nil, err
	}
	m, err := alert.Decode(ref.g.id, ref.keys.Epoch(), inner.Author, inner.Body)
	if err != nil {
		return nil, err
	}
	m.Sent = h.Sent
	return m, nil
}

// openStored opens a stored message: the first envelope held, or a copy in
// a later epoch if the first one's key was erased. It returns the epoch
// and the signed inner message.
func (n *Node) openStored(id alert.ID) (epochRef, crypto.Inner, error) {
	for _, tag := range n.store.Tags(id) {
		ref, ok := n.keys.lookup(tag)
		if !ok {
			continue
		}
		env, err := n.store.EnvelopeIn(id, tag)
		if err != nil {
			return epochRef{}, crypto.Inner{}, err
		}
		inner, err := ref.keys.Open(env)
		return ref, inner, err
	}
	return epochRef{}, crypto.Inner{}, fmt.Errorf("no key for message %s", id.Short())
}

// utc returns t in UTC, or nil for the zero time.
func utc(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// entry turns a message into a feed entry; messages that are not shown in
// the feed (acks, roster changes, rekeys) return false.
func (n *Node) entry(g *group, m *alert.Message) (Entry, bool) {
	e := Entry{
		ID:       m.ID.String(),
		Group:    g.roster.Name(),
		GroupID:  g.id.String(),
		AuthorID: m.Author.String(),
		Author:   n.memberName(g, m.Author),
		Created:  m.Local(m.Created).UTC(),
		Mine:     m.Author == n.me,
		Via:      n.viaEntry(g, m),
	}
	w := n.who(g, m.Author)
	e.AuthorLabel, e.AuthorAdmin, e.AuthorVerified = w.Label, w.Admin, w.Verified
	if exp := m.Local(m.Expires()); !exp.IsZero() {
		e.Expires = exp.UTC()
	}
	if !e.Mine { // status says when this node's own clock is off
		e.AuthorClock = n.authorClock(m)
	}
	if !n.fillEntry(g, m, &e) {
		return Entry{}, false
	}
	if !n.enrich(m, &e) {
		return Entry{}, false
	}
	e.Acks = n.ackEntries(g, m.ID)
	if _, done := m.Content.(*alert.CheckInDone); done && e.Mine {
		// Answers to one's own arrival could give away a done under duress.
		e.Acks = []AckEntry{}
	}
	if e.Mine {
		d := n.delivery(g, m.ID)
		d.Acks = e.Acks
		e.Delivery = &d
	}
	return e, true
}

// authorClock is how far the author's clock was from the other members'
// when it made m, in seconds, when that is a minute or more: as judged
// against this one, corrected by as much as this one is off.
func (n *Node) authorClock(m *alert.Message) int64 {
	if raw := m.Created.Sub(m.Local(m.Created)); raw.Abs() >= time.Minute {
		if off := raw + n.clocks.status(n.now()).offset(); off.Abs() >= time.Minute {
			return int64(off.Round(time.Second) / time.Second)
		}
	}
	return 0
}

// fillEntry sets the fields of e that depend on what m is; it returns
// false for what the feed does not show.
func (n *Node) fillEntry(g *group, m *alert.Message, e *Entry) bool {
	switch c := m.Content.(type) {
	case *alert.Alert:
		e.Kind, e.Severity = string(c.Kind), c.Severity.String()
		e.Region, e.Place, e.Text = c.Region, c.Place, c.Text
		if c.Kind == alert.KindOverdue {
			e.CheckIn, e.Level = c.CheckIn.String(), c.Level
		}
		if c.Notice != nil {
			e.Notice = n.noticeEntry(g, m, c)
		}
		if c.Kind == alert.KindDuress && e.Mine {
			// Only the others learn of duress: a warning sent for this
			// member (by a bridge, for a duress PIN) is not shown here,
			// where whoever forces them may be looking.
			return false
		}
	case *alert.CheckIn:
		e.Kind, e.Severity = "checkin", alert.SevInfo.String()
		e.From, e.To, e.Due, e.Place, e.Text = c.From, c.To, utc(m.Local(c.Due)), c.To, c.Text
		e.CheckIn = m.ID.String()
	case *alert.CheckInDone:
		e.Kind, e.Severity = "arrived", alert.SevInfo.String()
		e.CheckIn = c.CheckIn.String()
		// Only the others learn of duress; the author's screen shows a
		// normal arrival.
		if c.Duress && !e.Mine {
			e.Kind, e.Severity = string(alert.KindDuress), alert.SevCritical.String()
		}
	default:
		return false
	}
	return true
}

// noticeEntry gives a notice's fields, with names and this node's times,
// for the reader to put into words.
func (n *Node) noticeEntry(g *group, m *alert.Message, a *alert.Alert) *NoticeEntry {
	no := a.Notice
	e := &NoticeEntry{
		What: no.What.String(), Who: no.WhoName, WhoID: no.Who.String(), From: no.From, To: no.To,
		Due: utc(m.Local(no.Due)), Since: utc(m.Local(no.Since)), Note: no.Note, Level: a.Level, Group: no.Group,
	}
	// A name this group's roster knows is the one its members know.
	if mi, ok := g.roster.Member(no.Who); ok {
		e.Who = mi.Name
	} else if e.Who == "" {
		e.Who = no.Who.Short()
	}
	return e
}

func (n *Node) memberName(g *group, id crypto.MemberID) string {
	if m, ok := g.roster.Member(id); ok {
		return m.Name
	}
	return id.Short()
}

// ackEntries lists the acknowledgements of message ref in group g.
func (n *Node) ackEntries(g *group, ref alert.ID) []AckEntry {
	acks := n.acks.List(ref)
	out := make([]AckEntry, len(acks))
	for i, a := range acks {
		out[i] = AckEntry{Author: n.memberName(g, a.Author), AuthorID: a.Author.String(), AuthorLabel: n.who(g, a.Author).Label,
			Status: a.Status.String(), Time: a.At.UTC()}
	}
	return out
}

// Follower receives feed entries as they arrive.
type Follower struct {
	// C carries the entries; it is closed when the follower stops, falls
	// more than feed.Buffer (1024) entries behind, or the node closes.
	C   <-chan Entry
	sub *feed.Sub[Entry]
}

// Follow returns a follower of new entries matching q. Call Stop when done.
// If the follower falls far behind, its channel is closed.
func (n *Node) Follow(q FeedQuery) *Follower {
	s := n.feed.Follow(q.match)
	return &Follower{C: s.C, sub: s}
}

// Stop ends the follower and closes its channel.
func (f *Follower) Stop() { f.sub.Stop() }

// showEntry tells followers about a new message. An acknowledgement is
// shown by sending the acknowledged message again with its updated acks.
func (n *Node) showEntry(g *group, m *alert.Message) {
	if ack, ok := m.Content.(*alert.Ack); ok {
		// handle has added it to n.acks already (noteCheckIn).
		h, ok := n.store.Header(ack.Ref)
		if !ok {
			return
		}
		ref, err := n.loadMessage(h)
		if err != nil {
			return
		}
		m = ref
	}
	if e, ok := n.entry(g, m); ok {
		n.feed.Send(e)
	}
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
	t, ok := n.checkins.Get(ref)
	if !ok {
		// Not held (an escalation from another group, or not synced
		// yet): what the alarm's notice says.
		if no := e.Notice; no != nil && no.What == alert.NoticeOverdue.String() {
			e.From, e.To, e.Due, e.Subject, e.SubjectID = no.From, no.To, no.Due, no.Who, no.WhoID
		}
		return true
	}
	if _, isDone := m.Content.(*alert.CheckInDone); isDone && t.Author != m.Author {
		return false
	}
	e.From, e.To, e.Due = t.CheckIn.From, t.CheckIn.To, utc(t.Due())
	if _, isAlarm := m.Content.(*alert.Alert); isAlarm {
		e.SubjectID = t.Author.String()
		if cg, err := n.group(t.Group); err == nil {
			e.Subject = n.memberName(cg, t.Author)
			e.SubjectLabel = n.who(cg, t.Author).Label
		}
		if no := e.Notice; no != nil {
			// This node's own view of the check-in.
			no.Due, no.Since = utc(t.Due()), utc(t.Deadline())
			no.Who = e.Subject
		}
	}
	return true
}
