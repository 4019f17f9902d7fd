package alert

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/runenames"

	"github.com/takecare-network/takecare/crypto"
)

// Limits of protocol version 1 (PROTOCOL.md, "Limits").
const (
	MaxText   = 1000 // bytes of alert or check-in text
	MaxRegion = 64
	MaxPlace  = 128
	MaxName   = 64 // member and group names

	MaxTTL           = 30 * 24 * time.Hour // longest alert lifetime
	DefaultTTL       = 24 * time.Hour
	MaxCheckInAhead  = 7 * 24 * time.Hour // latest due time, from creation
	MaxGrace         = 24 * time.Hour
	MaxEscalateAfter = 24 * time.Hour
	DefaultGrace     = 5 * time.Minute
	DefaultEscalate  = 10 * time.Minute
	MaxRosterParents = 64
	MaxRekeyKeys     = 400 // members a rekey can seal the secret to one by one
	// MaxRekeyWraps bounds the wraps of a tree rekey: the cover of the
	// positions of a tree with more removed members than this is larger,
	// and such a tree is replaced by a new one.
	MaxRekeyWraps   = 8192
	MaxOverdueLevel = 2
)

// Validate checks the message against the limits and against now, the
// receiver's clock: it may claim to be made at most [MaxClockError] ahead
// of now, and must not have expired, counted from [Message.Sent] when it is
// set. Errors wrap [ErrInvalid], [ErrUnknownKind], [ErrExpired] or
// [ErrFuture]; [IsStale] tells the time-window failures apart.
func (m *Message) Validate(now time.Time) error {
	if m.Group.IsZero() {
		return ErrNoGroup
	}
	if ahead := m.Created.Sub(now); ahead > MaxClockError {
		return fmt.Errorf("%w: made %s ahead of this clock, more than %s", ErrFuture, ahead.Round(time.Second), MaxClockError)
	}
	if exp := m.Local(m.Expires()); !exp.IsZero() && !exp.After(now) {
		return fmt.Errorf("%w %s ago", ErrExpired, now.Sub(exp).Round(time.Second))
	}
	if m.Via != nil {
		if err := m.validateVia(); err != nil {
			return err
		}
	}
	switch c := m.Content.(type) {
	case *Alert:
		if err := c.validate(m.Created); err != nil {
			return err
		}
		if c.Notice != nil {
			return c.Notice.validate(c, m.Group, m.Author)
		}
		return nil
	case *CheckIn:
		return c.validate(m.Created)
	case *CheckInDone:
		if c.CheckIn.IsZero() {
			return fmt.Errorf("%w: check-in done without a check-in id", ErrInvalid)
		}
	case *Ack:
		if c.Ref.IsZero() {
			return fmt.Errorf("%w: acknowledgement without a message id", ErrInvalid)
		}
		if _, ok := ackNames[c.Status]; !ok {
			return fmt.Errorf("%w: unknown acknowledgement status %d", ErrInvalid, c.Status)
		}
	case *RosterOp:
		return c.validate()
	case *Rekey:
		return c.validate()
	default:
		return fmt.Errorf("%w: no content", ErrInvalid)
	}
	return nil
}

// Expires returns when the message stops mattering and may be deleted, or
// the zero time for messages that only the retention window removes.
func (m *Message) Expires() time.Time {
	switch c := m.Content.(type) {
	case *Alert:
		return c.Expires
	case *CheckIn:
		// Keep a check-in a day past its last possible escalation, so that
		// late-syncing members still see how it ended.
		return c.Deadline().Add(c.EscalateAfter).Add(24 * time.Hour)
	case *CheckInDone, *Ack:
		return m.Created.Add(MaxTTL)
	}
	return time.Time{}
}

func (a *Alert) validate(created time.Time) error {
	if !a.Kind.Known() {
		return fmt.Errorf("%w %q", ErrUnknownKind, a.Kind)
	}
	if !a.Severity.Valid() {
		return fmt.Errorf("%w: unknown severity %d", ErrInvalid, a.Severity)
	}
	if err := checkText("region", a.Region, MaxRegion, false); err != nil {
		return err
	}
	if err := checkText("place", a.Place, MaxPlace, false); err != nil {
		return err
	}
	if err := checkText("text", a.Text, MaxText, true); err != nil {
		return err
	}
	if !a.Expires.After(created) {
		return fmt.Errorf("%w: expires before it was created", ErrInvalid)
	}
	if a.Expires.Sub(created) > MaxTTL {
		return fmt.Errorf("%w: lifetime %s exceeds %s", ErrInvalid, a.Expires.Sub(created).Round(time.Minute), MaxTTL)
	}
	if a.Kind == KindDuress && (a.Severity != SevCritical || a.Region != "" || a.Place != "" || a.Text != "") {
		// A duress warning says who and when (its author and creation
		// time), and each reader words it in its own language.
		return fmt.Errorf("%w: a duress warning is critical and carries no region, place or text", ErrInvalid)
	}
	if a.Kind == KindOverdue {
		if a.CheckIn.IsZero() || a.Level < 1 || a.Level > MaxOverdueLevel {
			return fmt.Errorf("%w: overdue alarm needs a check-in and a level of 1 or 2", ErrInvalid)
		}
	} else if !a.CheckIn.IsZero() || a.Level != 0 {
		return fmt.Errorf("%w: only overdue alarms name a check-in", ErrInvalid)
	}
	return nil
}

func (c *CheckIn) validate(created time.Time) error {
	if err := checkText("from", c.From, MaxPlace, false); err != nil {
		return err
	}
	if err := checkText("to", c.To, MaxPlace, false); err != nil {
		return err
	}
	if c.To == "" {
		return fmt.Errorf("%w: check-in without a destination", ErrInvalid)
	}
	if err := checkText("text", c.Text, MaxText, true); err != nil {
		return err
	}
	if !c.Due.After(created) {
		return fmt.Errorf("%w: check-in due before it was made", ErrInvalid)
	}
	if c.Due.Sub(created) > MaxCheckInAhead {
		return fmt.Errorf("%w: check-in due more than %s ahead", ErrInvalid, MaxCheckInAhead)
	}
	if c.Grace < 0 || c.Grace > MaxGrace {
		return fmt.Errorf("%w: grace %s outside 0..%s", ErrInvalid, c.Grace, MaxGrace)
	}
	if c.EscalateAfter <= 0 || c.EscalateAfter > MaxEscalateAfter {
		return fmt.Errorf("%w: escalation delay %s outside 0..%s", ErrInvalid, c.EscalateAfter, MaxEscalateAfter)
	}
	return nil
}

func (op *RosterOp) validate() error {
	if len(op.Parents) > MaxRosterParents {
		return fmt.Errorf("%w: %d parents", ErrInvalid, len(op.Parents))
	}
	_, isCreate := op.Change.(*Create)
	if isCreate != (len(op.Parents) == 0) {
		return fmt.Errorf("%w: only the group's creation has no parents", ErrInvalid)
	}
	switch c := op.Change.(type) {
	case *Create:
		if err := ValidName("group name", c.GroupName); err != nil {
			return err
		}
		if c.Seat != nil && c.Seat.Position >= crypto.TreePositions {
			return fmt.Errorf("%w: tree position %d", ErrInvalid, c.Seat.Position)
		}
		return ValidName("member name", c.Founder.Name)
	case *AddMember:
		if c.Ratchet != nil && c.Ratchet.Epoch == 0 {
			return fmt.Errorf("%w: ratchet to epoch 0", ErrInvalid)
		}
		if c.Seat != nil && c.Seat.Position >= crypto.TreePositions {
			return fmt.Errorf("%w: tree position %d", ErrInvalid, c.Seat.Position)
		}
		return ValidName("member name", c.Member.Name)
	case *SetRole:
		if c.Role != RoleMember && c.Role != RoleAdmin {
			return fmt.Errorf("%w: unknown role %d", ErrInvalid, c.Role)
		}
		if c.Tree != nil && (c.Role != RoleAdmin || len(c.Tree.Sealed) != crypto.SealedTreeSecretSize) {
			return fmt.Errorf("%w: tree secret with a role change", ErrInvalid)
		}
	case *NewInvite:
		if len(c.Key) != 32 || c.Uses < 1 || c.Uses > 1000 {
			return fmt.Errorf("%w: invite", ErrInvalid)
		}
	case *GrantRelay:
		if c.Expires.UnixMilli() <= 0 {
			return fmt.Errorf("%w: relay grant without an end", ErrInvalid)
		}
		return ValidName("relay name", c.Name)
	}
	return nil
}

// validate applies the rules of PROTOCOL.md, "Rekey": a new epoch, the
// secret reaching someone, sealed pieces of their exact sizes, each member
// and each tree node at most once, a new tree giving every member in Keys
// its path keys and nothing else, a hand-over (Origin) to exactly one
// member.
func (c *Rekey) validate() error {
	if c.Epoch == 0 {
		return fmt.Errorf("%w: rekey to epoch 0", ErrInvalid)
	}
	wraps := 0
	if c.Tree != nil {
		wraps = len(c.Tree.Wraps)
	}
	if len(c.Keys) > MaxRekeyKeys || wraps > MaxRekeyWraps || len(c.Keys)+wraps == 0 {
		return fmt.Errorf("%w: rekey for %d members and %d tree nodes", ErrInvalid, len(c.Keys), wraps)
	}
	if !c.Origin.IsZero() && len(c.Keys) != 1 {
		return fmt.Errorf("%w: a hand-over of an epoch's secret to %d members", ErrInvalid, len(c.Keys))
	}
	seen := make(map[crypto.MemberID]bool, len(c.Keys))
	for _, k := range c.Keys {
		if seen[k.Member] {
			return fmt.Errorf("%w: two keys for one member", ErrInvalid)
		}
		seen[k.Member] = true
		if len(k.Sealed) != crypto.SealedSecretSize {
			return fmt.Errorf("%w: sealed key of %d bytes", ErrInvalid, len(k.Sealed))
		}
		if k.Path != nil && (c.Tree == nil || len(k.Path) != crypto.SealedPathKeysSize) {
			return fmt.Errorf("%w: sealed path keys of %d bytes", ErrInvalid, len(k.Path))
		}
		if k.TreeSecret != nil && (c.Tree == nil || !c.Tree.New || len(k.TreeSecret) != crypto.SealedTreeSecretSize) {
			return fmt.Errorf("%w: sealed tree secret of %d bytes", ErrInvalid, len(k.TreeSecret))
		}
		if c.Tree != nil && c.Tree.New && k.Path == nil {
			return fmt.Errorf("%w: a new tree without a member's path keys", ErrInvalid)
		}
	}
	t := c.Tree
	if t == nil {
		return nil
	}
	if t.Upto > crypto.TreePositions || t.New && (wraps > 0 || !c.Origin.IsZero() || int(t.Upto) != len(c.Keys)) {
		return fmt.Errorf("%w: tree rekey up to position %d", ErrInvalid, t.Upto)
	}
	nodes := make(map[crypto.TreeNode]bool, wraps)
	for _, w := range t.Wraps {
		if !w.Node.Valid() || nodes[w.Node] || len(w.Sealed) != crypto.WrapSize {
			return fmt.Errorf("%w: wrap under tree node %d", ErrInvalid, w.Node)
		}
		nodes[w.Node] = true
	}
	return nil
}

// ValidName checks a member or group name: not blank, at most [MaxName]
// bytes, and only visible characters ([checkText], strict).
func ValidName(what, s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	}
	return checkText(what, s, MaxName, false)
}

// checkText checks a string against limit (bytes) and its characters.
// Free text (multiline: alert and check-in text) refuses control
// characters other than the line feed. Everything else (names, regions,
// places) is strict: it also refuses characters that are invisible or
// that change how their neighbours look or read, which would let one name
// pass for another (PROTOCOL.md, "Limits"): Unicode format characters
// (category Cf: bidirectional overrides and isolates, zero-width spaces
// and joiners, the soft hyphen), line and paragraph separators, variation
// selectors and the other default-ignorable code points (Hangul fillers,
// the combining grapheme joiner). The error names the character, as
// "U+202E RIGHT-TO-LEFT OVERRIDE".
func checkText(what, s string, limit int, multiline bool) error {
	if len(s) > limit {
		return fmt.Errorf("%w: %s too long (%d bytes, at most %d)", ErrInvalid, what, len(s), limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r) && !(multiline && r == '\n'):
			return fmt.Errorf("%w: %s contains the control character %s", ErrInvalid, what, RuneName(r))
		case !multiline && Invisible(r):
			return fmt.Errorf("%w: %s contains %s, an invisible character that can make it look like something else", ErrInvalid, what, RuneName(r))
		}
	}
	return nil
}

// Invisible reports whether r is a character that names, regions and
// places refuse: a format character (Cf), a line or paragraph separator,
// a variation selector or another default-ignorable code point.
func Invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// RuneName writes r as "U+202E RIGHT-TO-LEFT OVERRIDE", from the Unicode
// character database (golang.org/x/text/unicode/runenames).
func RuneName(r rune) string {
	if n := runenames.Name(r); n != "" && !strings.HasPrefix(n, "<") {
		return fmt.Sprintf("U+%04X %s", r, n)
	}
	return fmt.Sprintf("U+%04X", r)
}

// validateVia applies the content rules of a message sent through a bridge
// (docs/PROTOCOL.md, "Bridges"): only what a person can ask for by SMS (a
// panic, a duress warning, a check-in without an escalation group, its
// end, an acknowledgement), not through oneself, within the grant.
func (m *Message) validateVia() error {
	v := m.Via
	switch c := m.Content.(type) {
	case *Alert:
		if c.Kind != KindPanic && c.Kind != KindDuress {
			return fmt.Errorf("%w: an alert of kind %s cannot come through a bridge", ErrInvalid, c.Kind)
		}
	case *CheckIn:
		if !c.EscalateGroup.IsZero() {
			return fmt.Errorf("%w: a check-in through a bridge names no escalation group", ErrInvalid)
		}
	case *CheckInDone, *Ack:
	default:
		return fmt.Errorf("%w: a %T cannot come through a bridge", ErrInvalid, c)
	}
	switch {
	case v.Bridge == m.Author:
		return fmt.Errorf("%w: a member is not its own bridge", ErrInvalid)
	case !v.Expires.After(m.Created):
		return fmt.Errorf("%w: sent through a bridge after its grant ended", ErrInvalid)
	case v.Expires.Sub(m.Created) > MaxGrant:
		return fmt.Errorf("%w: a grant to a bridge lasts at most %s", ErrInvalid, MaxGrant)
	}
	return nil
}
