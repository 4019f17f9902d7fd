package alert_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// alarmCase is a check-in by Beto in group x (escalating to group y) and
// what an alarm for it needs.
type alarmCase struct {
	beto   *crypto.Identity
	x, y   crypto.GroupID
	ci     *alert.CheckIn
	ciID   alert.ID
	signed *alert.SignedCheckIn // for an alarm in x
	keyed  *alert.SignedCheckIn // for an escalation in y
}

func newAlarmCase(t *testing.T) alarmCase {
	t.Helper()
	c := alarmCase{beto: newIdentity(t, "Beto"), x: crypto.GroupID{0x0a}, y: crypto.GroupID{0x0b}}
	c.ci = &alert.CheckIn{From: "Juchitán", To: "Ixtepec", Due: t0.Add(time.Hour), Grace: 5 * time.Minute, EscalateAfter: 10 * time.Minute, EscalateGroup: c.y, Text: "carretera 185"}
	body := encode(t, t0, c.ci)
	inner := c.beto.SignBody(c.x, 4, body)
	c.ciID = alert.ContentID(c.x, c.beto.ID(), body)
	var err error
	if c.signed, err = alert.NewSignedCheckIn(c.x, 4, inner, nil); err != nil {
		t.Fatal(err)
	}
	keys := c.beto.Public()
	if c.keyed, err = alert.NewSignedCheckIn(c.x, 4, inner, &keys); err != nil {
		t.Fatal(err)
	}
	return c
}

// alarm is the alarm an honest node raises, at level, sent to the group
// whose evidence it carries.
func (c alarmCase) alarm(level int, s *alert.SignedCheckIn) *alert.Alert {
	n := &alert.Notice{
		What: alert.NoticeOverdue, Who: c.beto.ID(), WhoName: "Beto", From: c.ci.From, To: c.ci.To,
		Due: c.ci.Due, Since: c.ci.Deadline(), Note: c.ci.Text, CheckIn: s,
	}
	if s.Keys != nil {
		n.Group = "istmo"
	}
	sev := alert.SevUrgent
	if level == 2 {
		sev = alert.SevCritical
	}
	return &alert.Alert{Kind: alert.KindOverdue, Severity: sev, Place: c.ci.To, Expires: t0.Add(7 * 24 * time.Hour), CheckIn: c.ciID, Level: level, Notice: n}
}

func TestNoticeRoundTrip(t *testing.T) {
	t.Parallel()
	c := newAlarmCase(t)
	raiser := newIdentity(t, "Ana")
	for _, tt := range []struct {
		name  string
		group crypto.GroupID
		a     *alert.Alert
	}{
		{"alarm in the check-in's group", c.x, c.alarm(1, c.signed)},
		{"escalation in the check-in's group", c.x, c.alarm(2, c.signed)},
		{"escalation in the other group", c.y, c.alarm(2, c.keyed)},
		{"duress warning", c.x, &alert.Alert{Kind: alert.KindDuress, Severity: alert.SevCritical, Expires: t0.Add(3 * time.Hour),
			Notice: &alert.Notice{What: alert.NoticeDuress, Who: raiser.ID(), WhoName: "Ana", Since: t0}}},
		{"panic sent by mistake", c.x, &alert.Alert{Kind: alert.KindAllClear, Severity: alert.SevInfo, Expires: t0.Add(3 * time.Hour),
			Notice: &alert.Notice{What: alert.NoticeMistake, Who: raiser.ID(), WhoName: "Ana"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := encode(t, t0.Add(time.Hour+20*time.Minute), tt.a)
			m, err := alert.Decode(tt.group, 1, raiser.ID(), body)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Validate(t0.Add(2 * time.Hour)); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got := m.Content.(*alert.Alert).Notice
			want := tt.a.Notice
			if got.What != want.What || got.Who != want.Who || got.WhoName != want.WhoName || got.To != want.To ||
				!got.Due.Equal(want.Due) || !got.Since.Equal(want.Since) || got.Note != want.Note || got.Group != want.Group {
				t.Fatalf("notice %+v, want %+v", got, want)
			}
			if want.CheckIn != nil {
				s := got.CheckIn
				if s.Message().ID != c.ciID || s.CheckIn().To != "Ixtepec" || (s.Keys != nil) != (want.CheckIn.Keys != nil) {
					t.Fatalf("signed check-in %+v", s)
				}
				if err := s.Verify(c.beto.Public()); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestNoticeRejects: an alarm whose notice does not match the check-in it
// carries, or an escalation that a member of the other group could not
// check, is provably its author's fault.
func TestNoticeRejects(t *testing.T) {
	t.Parallel()
	c := newAlarmCase(t)
	mallory := newIdentity(t, "Mallory")
	other := newAlarmCase(t) // another person's check-in
	wrongKeys := mallory.Public()
	forged, err := alert.NewSignedCheckIn(c.x, 4, c.keyed.Inner, &wrongKeys)
	if err != nil {
		t.Fatal(err)
	}
	noEscalation := func() *alert.SignedCheckIn {
		ci := *c.ci
		ci.EscalateGroup = crypto.GroupID{}
		body := encode(t, t0, &ci)
		keys := c.beto.Public()
		s, err := alert.NewSignedCheckIn(c.x, 4, c.beto.SignBody(c.x, 4, body), &keys)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	tests := []struct {
		name  string
		group crypto.GroupID
		edit  func(a *alert.Alert)
	}{
		{"text besides the notice", c.x, func(a *alert.Alert) { a.Text = "all fine, ignore this" }},
		{"unknown notice", c.x, func(a *alert.Alert) { a.Notice.What = 9 }},
		{"overdue notice in a panic", c.x, func(a *alert.Alert) { a.Kind = alert.KindPanic; a.CheckIn = alert.ID{}; a.Level = 0 }},
		{"without its check-in", c.x, func(a *alert.Alert) { a.Notice.CheckIn = nil }},
		{"another check-in than the one named", c.x, func(a *alert.Alert) { a.Notice.CheckIn = other.signed }},
		{"about someone else", c.x, func(a *alert.Alert) { a.Notice.Who = mallory.ID() }},
		{"another destination", c.x, func(a *alert.Alert) { a.Notice.To = "Salina Cruz" }},
		{"another note", c.x, func(a *alert.Alert) { a.Notice.Note = "arrived, all is well" }},
		{"without a due time", c.x, func(a *alert.Alert) { a.Notice.Due = time.Time{} }},
		{"keys in the check-in's own group", c.x, func(a *alert.Alert) { a.Notice.CheckIn = c.keyed }},
		{"level 1 in the other group", c.y, func(a *alert.Alert) { a.Level, a.Severity, a.Notice.CheckIn = 1, alert.SevUrgent, c.keyed }},
		{"escalation to a group the check-in does not name", crypto.GroupID{0x0c}, func(a *alert.Alert) { a.Level, a.Notice.CheckIn = 2, c.keyed }},
		{"escalation when the check-in names no group", c.y, func(a *alert.Alert) { a.Level, a.Notice.CheckIn = 2, noEscalation }},
		{"escalation without the author's keys", c.y, func(a *alert.Alert) { a.Level = 2 }},
		{"escalation with keys that are not the author's", c.y, func(a *alert.Alert) { a.Level, a.Notice.CheckIn = 2, forged }},
		{"duress notice about someone else", c.x, func(a *alert.Alert) {
			*a = alert.Alert{Kind: alert.KindDuress, Severity: alert.SevCritical, Expires: a.Expires, Notice: &alert.Notice{What: alert.NoticeDuress, Who: c.beto.ID()}}
		}},
		{"mistake notice with a destination", c.x, func(a *alert.Alert) {
			*a = alert.Alert{Kind: alert.KindAllClear, Severity: alert.SevInfo, Expires: a.Expires, Notice: &alert.Notice{What: alert.NoticeMistake, Who: mallory.ID(), To: "Ixtepec"}}
		}},
		{"control character in the name", c.x, func(a *alert.Alert) { a.Notice.WhoName = "Beto\x1b[2J" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := c.alarm(2, c.signed)
			tt.edit(a)
			body, err := alert.Encode(t0.Add(2*time.Hour), a)
			if err != nil {
				t.Fatal(err)
			}
			m, err := alert.Decode(tt.group, 1, mallory.ID(), body)
			if err == nil {
				err = m.Validate(t0.Add(2 * time.Hour))
			}
			if !errors.Is(err, alert.ErrInvalid) && !errors.Is(err, alert.ErrMalformed) {
				t.Fatalf("got %v, want ErrInvalid or ErrMalformed", err)
			}
		})
	}
}

// TestOverdueVersion1 keeps the bytes of a version 1 overdue alarm, with
// its text and no notice: version 2 still decodes and validates it.
func TestOverdueVersion1(t *testing.T) {
	t.Parallel()
	const v1 = "0880b883a1f7321288010a076f76657264756510032207497874657065632a47" +
		"4265746f20686173206e6f742061727269766564206174204978746570656320" +
		"28657870656374656420627920313a3030292e204f7665726475652073696e63" +
		"6520313a30352e3080c0b5c1f9323a20c1000000000000000000000000000000" +
		"000000000000000000000000000000004001"
	b, err := hex.DecodeString(v1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := alert.Decode(crypto.GroupID{1}, 1, crypto.MemberID{2}, b)
	if err != nil {
		t.Fatal(err)
	}
	a := m.Content.(*alert.Alert)
	if a.Notice != nil || a.Kind != alert.KindOverdue || a.Level != 1 || !strings.HasPrefix(a.Text, "Beto has not arrived") {
		t.Fatalf("decoded %+v", a)
	}
	if err := m.Validate(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// TestAnchor: times in a body are on its author's clock; a receiver counts
// them from when the message reached it, within MaxClockError of what the
// author claims, so that a wrong clock loses nothing and a replay of an
// old message is still refused.
func TestAnchor(t *testing.T) {
	t.Parallel()
	arrival := t0.Add(25 * time.Hour) // the author's clock is 25 h behind
	m := msg(&alert.Alert{Kind: alert.KindPanic, Severity: alert.SevCritical, Expires: t0.Add(alert.DefaultTTL)})
	if err := m.Validate(arrival); !errors.Is(err, alert.ErrExpired) {
		t.Fatalf("by the author's clock the panic has expired, got %v", err)
	}
	m.Anchor(arrival)
	if err := m.Validate(arrival); err != nil {
		t.Fatalf("counted from its arrival: %v", err)
	}
	if got := m.Local(m.Expires()); !got.Equal(arrival.Add(alert.DefaultTTL)) {
		t.Errorf("local expiry %v, want %v", got, arrival.Add(alert.DefaultTTL))
	}
	if got := m.Local(m.Created); !got.Equal(arrival) {
		t.Errorf("local creation %v", got)
	}

	// A clock 6 minutes ahead: taken, and counted from its arrival.
	ahead := msg(&alert.Alert{Kind: alert.KindPanic, Severity: alert.SevCritical, Expires: t0.Add(time.Hour)})
	if err := ahead.Validate(t0.Add(-6 * time.Minute)); err != nil {
		t.Errorf("six minutes ahead: %v", err)
	}

	// Replayed three days after it was made: the anchor stays within
	// MaxClockError of the claim, so the 24-hour panic has expired.
	replay := msg(&alert.Alert{Kind: alert.KindPanic, Severity: alert.SevCritical, Expires: t0.Add(alert.DefaultTTL)})
	later := t0.Add(72 * time.Hour)
	replay.Anchor(later)
	if !replay.Sent.Equal(t0.Add(alert.MaxClockError)) {
		t.Errorf("anchor %v, want %v", replay.Sent, t0.Add(alert.MaxClockError))
	}
	if err := replay.Validate(later); !errors.Is(err, alert.ErrExpired) {
		t.Errorf("a replay three days later: %v, want ErrExpired", err)
	}
	early := msg(validAlert())
	early.Anchor(t0.Add(-72 * time.Hour))
	if !early.Sent.Equal(t0.Add(-alert.MaxClockError)) {
		t.Errorf("anchor %v, want %v", early.Sent, t0.Add(-alert.MaxClockError))
	}
}
