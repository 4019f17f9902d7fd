package alert

import (
	"fmt"
	"time"

	"github.com/takecare-network/takecare/alert/internal/wire"
	"github.com/takecare-network/takecare/crypto"
)

// Notice is what a message the program writes says (an overdue alarm, a
// warning), as fields that each reader puts into words in its own language
// and time zone, instead of a text written in the sender's
// (docs/PROTOCOL.md, "Notices"). It travels in an [Alert]; an alert with a
// notice has no Text.
//
// Times are on the sender's clock, like every time in a body; a receiver
// reads them with [Message.Local].
type Notice struct {
	What    NoticeKind
	Who     crypto.MemberID // the person it is about
	WhoName string          // their display name, as the sender's roster has it
	From    string
	To      string
	Due     time.Time // zero: not given
	Since   time.Time // zero: not given
	Note    string
	Group   string // name of the group it is about, when sent to another group
	// CheckIn is the missed check-in of an overdue alarm, as signed.
	CheckIn *SignedCheckIn
}

// NoticeKind says which notice it is, and so which words a reader uses.
type NoticeKind uint8

// Notice kinds.
const (
	// NoticeOverdue: Who has not arrived at To (from From), was due at
	// Due, and the alarm went off at Since; Note is the check-in's text.
	// The alert's Level says whether it is the escalation; Group names the
	// check-in's group when the escalation goes to another group. Kind
	// overdue only, with CheckIn.
	NoticeOverdue NoticeKind = 1
	// NoticeDuress: Who (the author) opened takecare with the duress
	// passphrase at Since. Kind duress only.
	NoticeDuress NoticeKind = 2
	// NoticeMistake: Who (the author) sent a panic by mistake, at Since;
	// all is well. Kind allclear only.
	NoticeMistake NoticeKind = 3
)

var noticeNames = map[NoticeKind]string{NoticeOverdue: "overdue", NoticeDuress: "duress", NoticeMistake: "mistake"}

// String returns the notice kind's word, as the feed shows it.
func (k NoticeKind) String() string {
	if s, ok := noticeNames[k]; ok {
		return s
	}
	return fmt.Sprintf("notice(%d)", uint8(k))
}

// noticeFor is the alert kind each notice goes with.
var noticeFor = map[NoticeKind]Kind{NoticeOverdue: KindOverdue, NoticeDuress: KindDuress, NoticeMistake: KindAllClear}

// SignedCheckIn is a check-in exactly as its author signed it, carried in
// an overdue alarm so that a member who does not hold the check-in (a
// member of the escalation group, or one whose node has not received it
// yet) can check who it is about, where they were going and by when.
type SignedCheckIn struct {
	Group crypto.GroupID // the group it was sent to
	Epoch uint64         // the epoch it was signed in
	Inner crypto.Inner
	// Keys are the author's keys. They are carried only when the alarm
	// goes to another group than the check-in's, whose members may not
	// know the author; in the check-in's own group the roster has them.
	Keys *crypto.MemberKeys

	msg *Message // the decoded check-in
}

// NewSignedCheckIn wraps a check-in as signed (its inner message, the group
// and epoch it was signed for) for an alarm; keys are the author's, or nil
// for an alarm in the check-in's own group.
func NewSignedCheckIn(group crypto.GroupID, epoch uint64, inner crypto.Inner, keys *crypto.MemberKeys) (*SignedCheckIn, error) {
	s := &SignedCheckIn{Group: group, Epoch: epoch, Inner: inner, Keys: keys}
	if err := s.decode(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *SignedCheckIn) decode() error {
	m, err := Decode(s.Group, s.Epoch, s.Inner.Author, s.Inner.Body)
	if err != nil {
		return fmt.Errorf("%w: signed check-in: %v", ErrMalformed, err)
	}
	if _, ok := m.Content.(*CheckIn); !ok {
		return fmt.Errorf("%w: signed check-in is not a check-in", ErrMalformed)
	}
	s.msg = m
	return nil
}

// Message returns the check-in as decoded: its id, author, creation time
// and content (a *CheckIn). Its signature is checked by [Message.Validate]
// when Keys are carried, and otherwise by whoever holds the group's roster
// ([SignedCheckIn.Verify]).
func (s *SignedCheckIn) Message() *Message { return s.msg }

// CheckIn returns the check-in's content.
func (s *SignedCheckIn) CheckIn() *CheckIn { return s.msg.Content.(*CheckIn) }

// Verify checks the author's signature with keys. A check-in sent through
// a bridge (Message().Via) carries the bridge's signature instead, which
// the holder of the roster checks.
func (s *SignedCheckIn) Verify(keys crypto.MemberKeys) error {
	return s.Inner.Verify(keys, s.Group, s.Epoch)
}

func noticeToWire(n *Notice) *wire.Notice {
	if n == nil {
		return nil
	}
	w := &wire.Notice{
		What: uint32(n.What), Who: optMember(n.Who), WhoName: n.WhoName, From: n.From, To: n.To,
		Due: optMilli(n.Due), Since: optMilli(n.Since), Note: n.Note, Group: n.Group,
	}
	if s := n.CheckIn; s != nil {
		w.Checkin = &wire.SignedCheckIn{Group: s.Group[:], Epoch: s.Epoch, Inner: s.Inner.Marshal()}
		if s.Keys != nil {
			w.Checkin.SignKey, w.Checkin.KemKey = s.Keys.SignKey(), s.Keys.KEMKey()
		}
	}
	return w
}

func noticeFromWire(w *wire.Notice) (*Notice, error) {
	if w == nil {
		return nil, nil
	}
	n := &Notice{
		What: NoticeKind(w.What), WhoName: w.WhoName, From: w.From, To: w.To,
		Due: fromMilli(w.Due), Since: fromMilli(w.Since), Note: w.Note, Group: w.Group,
	}
	if w.Who != nil {
		id, err := memberIDFromBytes(w.Who)
		if err != nil {
			return nil, err
		}
		n.Who = id
	}
	if c := w.Checkin; c != nil {
		g, err := crypto.GroupIDFromBytes(c.Group)
		if err != nil {
			return nil, fmt.Errorf("%w: signed check-in: %v", ErrMalformed, err)
		}
		inner, err := crypto.ParseInner(c.Inner)
		if err != nil {
			return nil, fmt.Errorf("%w: signed check-in: %v", ErrMalformed, err)
		}
		s := &SignedCheckIn{Group: g, Epoch: c.Epoch, Inner: inner}
		if c.SignKey != nil || c.KemKey != nil {
			keys, err := crypto.NewMemberKeys(c.SignKey, c.KemKey)
			if err != nil {
				return nil, fmt.Errorf("%w: signed check-in: %v", ErrMalformed, err)
			}
			s.Keys = &keys
		}
		if err := s.decode(); err != nil {
			return nil, err
		}
		n.CheckIn = s
	}
	return n, nil
}

func optMember(id crypto.MemberID) []byte {
	if id.IsZero() {
		return nil
	}
	return append([]byte(nil), id[:]...)
}

func optMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// validate checks a notice against the alert that carries it and the
// message's group and author: every rule here is about content alone, so a
// failure is provably the author's fault.
func (n *Notice) validate(a *Alert, group crypto.GroupID, author crypto.MemberID) error {
	kind, ok := noticeFor[n.What]
	if !ok {
		return fmt.Errorf("%w: unknown notice %d", ErrInvalid, n.What)
	}
	if a.Kind != kind {
		return fmt.Errorf("%w: a %s notice in a %s alert", ErrInvalid, n.What, a.Kind)
	}
	if a.Text != "" {
		return fmt.Errorf("%w: an alert with a notice has no text", ErrInvalid)
	}
	for _, f := range []struct {
		what, s   string
		limit     int
		multiline bool
	}{
		{"notice name", n.WhoName, MaxName, false}, {"notice from", n.From, MaxPlace, false},
		{"notice to", n.To, MaxPlace, false}, {"notice note", n.Note, MaxText, true},
		{"notice group", n.Group, MaxName, false},
	} {
		if err := checkText(f.what, f.s, f.limit, f.multiline); err != nil {
			return err
		}
	}
	if n.Who.IsZero() {
		return fmt.Errorf("%w: notice about nobody", ErrInvalid)
	}
	if n.What != NoticeOverdue {
		if n.Who != author {
			return fmt.Errorf("%w: a %s notice is about its author", ErrInvalid, n.What)
		}
		if n.CheckIn != nil || n.From != "" || n.To != "" || !n.Due.IsZero() || n.Group != "" {
			return fmt.Errorf("%w: fields a %s notice does not have", ErrInvalid, n.What)
		}
		return nil
	}
	return n.validateOverdue(a, group)
}

// validateOverdue checks an overdue alarm's notice against the check-in it
// carries: the alarm names that check-in, goes to its group (or, at level
// 2, to its escalation group), and says what the check-in says.
func (n *Notice) validateOverdue(a *Alert, group crypto.GroupID) error {
	s := n.CheckIn
	if s == nil {
		return fmt.Errorf("%w: overdue notice without its check-in", ErrInvalid)
	}
	ci, cm := s.CheckIn(), s.Message()
	if err := ci.validate(cm.Created); err != nil {
		return fmt.Errorf("signed check-in: %w", err)
	}
	switch {
	case cm.ID != a.CheckIn:
		return fmt.Errorf("%w: the signed check-in is not the one the alarm names", ErrInvalid)
	case n.Who != cm.Author || n.From != ci.From || n.To != ci.To || n.Note != ci.Text:
		return fmt.Errorf("%w: the notice does not say what its check-in says", ErrInvalid)
	case n.Due.IsZero() || n.Since.IsZero():
		return fmt.Errorf("%w: overdue notice without its times", ErrInvalid)
	}
	if s.Group == group {
		if s.Keys != nil || n.Group != "" {
			return fmt.Errorf("%w: an alarm in the check-in's own group carries no keys and no group name", ErrInvalid)
		}
		return nil
	}
	if a.Level != MaxOverdueLevel || ci.EscalateGroup != group {
		return fmt.Errorf("%w: an alarm sent to a group its check-in does not name", ErrInvalid)
	}
	if s.Keys == nil {
		return fmt.Errorf("%w: an escalation to another group without the author's keys", ErrInvalid)
	}
	if err := s.Verify(*s.Keys); err != nil {
		return fmt.Errorf("%w: signed check-in: %v", ErrInvalid, err)
	}
	return nil
}
