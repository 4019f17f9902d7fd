package alert_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// now is the receiver's clock in these tests; messages are created a minute
// before it.
var now = t0.Add(time.Minute)

func msg(c alert.Content) *alert.Message {
	return &alert.Message{ID: alert.ID{1}, Group: crypto.GroupID{1}, Epoch: 1, Author: crypto.MemberID{2}, Created: t0, Content: c}
}

func validAlert() *alert.Alert {
	return &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevWarning, Region: "Istmo", Place: "Juchitán", Text: "línea 1\nlínea 2", Expires: t0.Add(alert.DefaultTTL)}
}

func validOverdue() *alert.Alert {
	return &alert.Alert{Kind: alert.KindOverdue, Severity: alert.SevCritical, Expires: t0.Add(alert.DefaultTTL), CheckIn: alert.ID{5}, Level: 1}
}

func validCheckIn() *alert.CheckIn {
	return &alert.CheckIn{From: "Juchitán", To: "Ixtepec", Due: t0.Add(2 * time.Hour), Grace: alert.DefaultGrace, EscalateAfter: alert.DefaultEscalate}
}

func validRekey() *alert.Rekey {
	return &alert.Rekey{Epoch: 2, Keys: []alert.SealedKey{{Member: crypto.MemberID{3}, Sealed: make([]byte, crypto.SealedSecretSize)}}}
}

func op(parents int, c alert.RosterChange) *alert.RosterOp {
	o := &alert.RosterOp{Change: c}
	for i := range parents {
		o.Parents = append(o.Parents, alert.ID{byte(i), 1})
	}
	return o
}

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	ana := newIdentity(t, "ana")
	tests := []struct {
		name string
		m    *alert.Message
	}{
		{"alert", msg(validAlert())},
		{"tree rekey with no key sealed one by one", msg(&alert.Rekey{Epoch: 3, Tree: &alert.TreeRekey{Tree: crypto.TreeID{1}, Upto: 1000,
			Wraps: []alert.Wrap{{Node: 2, Sealed: make([]byte, crypto.WrapSize)}}}})},
		{"new tree", msg(&alert.Rekey{Epoch: 3, Tree: &alert.TreeRekey{Tree: crypto.TreeID{1}, Upto: 1, New: true},
			Keys: []alert.SealedKey{{Member: crypto.MemberID{3}, Sealed: make([]byte, crypto.SealedSecretSize),
				Path: make([]byte, crypto.SealedPathKeysSize), TreeSecret: make([]byte, crypto.SealedTreeSecretSize)}}})},
		{"hand-over to a joiner", msg(&alert.Rekey{Epoch: 3, Origin: alert.ID{1}, Tree: &alert.TreeRekey{Tree: crypto.TreeID{1}},
			Keys: []alert.SealedKey{{Member: crypto.MemberID{3}, Sealed: make([]byte, crypto.SealedSecretSize), Path: make([]byte, crypto.SealedPathKeysSize)}}})},
		{"every user kind", nil},
		{"every system kind", nil},
		{"every severity", nil},
		{"alert of the longest text", msg(func() *alert.Alert { a := validAlert(); a.Text = strings.Repeat("a", alert.MaxText); return a }())},
		{"text with accents and punctuation", msg(func() *alert.Alert { a := validAlert(); a.Text = "¡Cuidado! Señor Núñez — 5 km"; return a }())},
		{"alert of the longest lifetime", msg(func() *alert.Alert { a := validAlert(); a.Expires = t0.Add(alert.MaxTTL); return a }())},
		{"created at the skew limit", func() *alert.Message {
			m := msg(validAlert())
			m.Created = now.Add(alert.MaxClockError)
			m.Content.(*alert.Alert).Expires = m.Created.Add(time.Hour)
			return m
		}()},
		{"overdue level 1", msg(validOverdue())},
		{"overdue level 2", msg(func() *alert.Alert { a := validOverdue(); a.Level = 2; return a }())},
		{"check-in", msg(validCheckIn())},
		{"check-in without grace", msg(func() *alert.CheckIn { c := validCheckIn(); c.Grace = 0; return c }())},
		{"check-in at the longest", msg(func() *alert.CheckIn {
			c := validCheckIn()
			c.Due, c.Grace, c.EscalateAfter = t0.Add(alert.MaxCheckInAhead), alert.MaxGrace, alert.MaxEscalateAfter
			return c
		}())},
		{"check-in done", msg(&alert.CheckInDone{CheckIn: alert.ID{1}})},
		{"ack", msg(&alert.Ack{Ref: alert.ID{1}, Status: alert.AckResponding})},
		{"rekey", msg(validRekey())},
		{"roster create", msg(op(0, &alert.Create{GroupName: "Red Istmo", Founder: info(ana)}))},
		{"roster add", msg(op(1, &alert.AddMember{Member: info(ana)}))},
		{"roster remove", msg(op(2, &alert.RemoveMember{Member: ana.ID()}))},
		{"roster promote", msg(op(alert.MaxRosterParents, &alert.SetRole{Member: ana.ID(), Role: alert.RoleAdmin}))},
		{"roster invite", msg(op(1, &alert.NewInvite{Key: make([]byte, 32), Uses: 1000, Expires: t0.Add(time.Hour)}))},
		{"roster revoke", msg(op(1, &alert.RevokeInvite{}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ms []*alert.Message
			switch tt.name {
			case "every user kind":
				for _, k := range alert.UserKinds {
					a := validAlert()
					a.Kind = k
					ms = append(ms, msg(a))
				}
			case "every system kind":
				a := validAlert()
				a.Kind = alert.KindPanic
				ms = append(ms, msg(a))
				d := validAlert()
				d.Kind, d.Severity, d.Region, d.Place, d.Text = alert.KindDuress, alert.SevCritical, "", "", ""
				ms = append(ms, msg(d))
			case "every severity":
				for _, s := range []alert.Severity{alert.SevInfo, alert.SevWarning, alert.SevUrgent, alert.SevCritical} {
					a := validAlert()
					a.Severity = s
					ms = append(ms, msg(a))
				}
			default:
				ms = []*alert.Message{tt.m}
			}
			for _, m := range ms {
				if err := m.Validate(now); err != nil {
					t.Fatalf("Validate: %v", err)
				}
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	ana := newIdentity(t, "ana")
	withAlert := func(f func(a *alert.Alert)) *alert.Message { a := validAlert(); f(a); return msg(a) }
	withOverdue := func(f func(a *alert.Alert)) *alert.Message { a := validOverdue(); f(a); return msg(a) }
	withCheckIn := func(f func(c *alert.CheckIn)) *alert.Message { c := validCheckIn(); f(c); return msg(c) }
	withRekey := func(f func(r *alert.Rekey)) *alert.Message { r := validRekey(); f(r); return msg(r) }
	withMsg := func(m *alert.Message, f func(m *alert.Message)) *alert.Message { f(m); return m }
	manyKeys := make([]alert.SealedKey, alert.MaxRekeyKeys+1)
	for i := range manyKeys {
		manyKeys[i] = alert.SealedKey{Member: crypto.MemberID{byte(i), byte(i >> 8)}, Sealed: make([]byte, crypto.SealedSecretSize)}
	}
	longName := info(ana)
	longName.Name = strings.Repeat("n", alert.MaxName+1)
	blankName := info(ana)
	blankName.Name = "  "

	tests := []struct {
		name string
		m    *alert.Message
		want error
	}{
		{"zero group", withMsg(msg(validAlert()), func(m *alert.Message) { m.Group = crypto.GroupID{} }), alert.ErrNoGroup},
		{"no content", msg(nil), alert.ErrInvalid},
		{"unknown kind", withAlert(func(a *alert.Alert) { a.Kind = "tsunami" }), alert.ErrUnknownKind},
		{"empty kind", withAlert(func(a *alert.Alert) { a.Kind = "" }), alert.ErrUnknownKind},
		{"upper-case kind", withAlert(func(a *alert.Alert) { a.Kind = "DANGER" }), alert.ErrUnknownKind},
		{"severity 0", withAlert(func(a *alert.Alert) { a.Severity = 0 }), alert.ErrInvalid},
		{"severity 5", withAlert(func(a *alert.Alert) { a.Severity = 5 }), alert.ErrInvalid},
		{"text too long", withAlert(func(a *alert.Alert) { a.Text = strings.Repeat("a", alert.MaxText+1) }), alert.ErrInvalid},
		{"text too long in bytes", withAlert(func(a *alert.Alert) { a.Text = strings.Repeat("ñ", alert.MaxText/2+1) }), alert.ErrInvalid},
		{"region too long", withAlert(func(a *alert.Alert) { a.Region = strings.Repeat("r", alert.MaxRegion+1) }), alert.ErrInvalid},
		{"place too long", withAlert(func(a *alert.Alert) { a.Place = strings.Repeat("p", alert.MaxPlace+1) }), alert.ErrInvalid},
		{"bell in region", withAlert(func(a *alert.Alert) { a.Region = "Istmo\a" }), alert.ErrInvalid},
		{"newline in place", withAlert(func(a *alert.Alert) { a.Place = "Juchitán\nIxtepec" }), alert.ErrInvalid},
		{"escape in text", withAlert(func(a *alert.Alert) { a.Text = "\x1b[31mrojo" }), alert.ErrInvalid},
		{"carriage return in text", withAlert(func(a *alert.Alert) { a.Text = "a\rb" }), alert.ErrInvalid},
		{"NUL in text", withAlert(func(a *alert.Alert) { a.Text = "a\x00b" }), alert.ErrInvalid},
		{"C1 control in text", withAlert(func(a *alert.Alert) { a.Text = "a\u0085b" }), alert.ErrInvalid},
		{"invalid UTF-8 in text", withAlert(func(a *alert.Alert) { a.Text = "caf\xe9" }), alert.ErrInvalid},
		{"expired", withAlert(func(a *alert.Alert) { a.Expires = now.Add(-time.Second) }), alert.ErrExpired},
		{"expires now", withAlert(func(a *alert.Alert) { a.Expires = now }), alert.ErrExpired},
		{"created too far ahead", withMsg(msg(validAlert()), func(m *alert.Message) {
			m.Created = now.Add(alert.MaxClockError + time.Millisecond)
			m.Content.(*alert.Alert).Expires = m.Created.Add(time.Hour)
		}), alert.ErrFuture},
		{"expires before it was created", withMsg(msg(validAlert()), func(m *alert.Message) {
			m.Created = now.Add(4 * time.Minute)
			m.Content.(*alert.Alert).Expires = now.Add(2 * time.Minute)
		}), alert.ErrInvalid},
		{"lifetime too long", withAlert(func(a *alert.Alert) { a.Expires = t0.Add(alert.MaxTTL + time.Millisecond) }), alert.ErrInvalid},
		{"duress warning with text", withAlert(func(a *alert.Alert) { a.Kind, a.Severity = alert.KindDuress, alert.SevCritical }), alert.ErrInvalid},
		{"duress warning not critical", withAlert(func(a *alert.Alert) {
			a.Kind, a.Severity, a.Region, a.Place, a.Text = alert.KindDuress, alert.SevUrgent, "", "", ""
		}), alert.ErrInvalid},
		{"overdue without check-in", withOverdue(func(a *alert.Alert) { a.CheckIn = alert.ID{} }), alert.ErrInvalid},
		{"overdue level 0", withOverdue(func(a *alert.Alert) { a.Level = 0 }), alert.ErrInvalid},
		{"overdue level 3", withOverdue(func(a *alert.Alert) { a.Level = 3 }), alert.ErrInvalid},
		{"overdue level 257", withOverdue(func(a *alert.Alert) { a.Level = 257 }), alert.ErrInvalid},
		{"danger naming a check-in", withAlert(func(a *alert.Alert) { a.CheckIn = alert.ID{5} }), alert.ErrInvalid},
		{"danger with a level", withAlert(func(a *alert.Alert) { a.Level = 1 }), alert.ErrInvalid},
		{"check-in due before creation", withCheckIn(func(c *alert.CheckIn) { c.Due = t0.Add(-time.Minute) }), alert.ErrInvalid},
		{"check-in due at creation", withCheckIn(func(c *alert.CheckIn) { c.Due = t0 }), alert.ErrInvalid},
		{"check-in due more than 7 days ahead", withCheckIn(func(c *alert.CheckIn) { c.Due = t0.Add(alert.MaxCheckInAhead + time.Millisecond) }), alert.ErrInvalid},
		{"check-in without destination", withCheckIn(func(c *alert.CheckIn) { c.To = "" }), alert.ErrInvalid},
		{"check-in destination too long", withCheckIn(func(c *alert.CheckIn) { c.To = strings.Repeat("t", alert.MaxPlace+1) }), alert.ErrInvalid},
		{"check-in origin with a tab", withCheckIn(func(c *alert.CheckIn) { c.From = "a\tb" }), alert.ErrInvalid},
		{"check-in text too long", withCheckIn(func(c *alert.CheckIn) { c.Text = strings.Repeat("x", alert.MaxText+1) }), alert.ErrInvalid},
		{"negative grace", withCheckIn(func(c *alert.CheckIn) { c.Grace = -time.Millisecond }), alert.ErrInvalid},
		{"grace too long", withCheckIn(func(c *alert.CheckIn) { c.Grace = alert.MaxGrace + time.Millisecond }), alert.ErrInvalid},
		{"no escalation delay", withCheckIn(func(c *alert.CheckIn) { c.EscalateAfter = 0 }), alert.ErrInvalid},
		{"negative escalation delay", withCheckIn(func(c *alert.CheckIn) { c.EscalateAfter = -time.Minute }), alert.ErrInvalid},
		{"escalation delay too long", withCheckIn(func(c *alert.CheckIn) { c.EscalateAfter = alert.MaxEscalateAfter + time.Millisecond }), alert.ErrInvalid},
		{"check-in long over", withMsg(msg(validCheckIn()), func(m *alert.Message) {
			m.Created = now.Add(-72 * time.Hour)
			m.Content.(*alert.CheckIn).Due = m.Created.Add(time.Hour)
		}), alert.ErrExpired},
		{"check-in done without id", msg(&alert.CheckInDone{}), alert.ErrInvalid},
		{"ack without id", msg(&alert.Ack{Status: alert.AckSeen}), alert.ErrInvalid},
		{"ack status 0", msg(&alert.Ack{Ref: alert.ID{1}}), alert.ErrInvalid},
		{"ack status 4", msg(&alert.Ack{Ref: alert.ID{1}, Status: 4}), alert.ErrInvalid},
		{"ack older than the longest lifetime", withMsg(msg(&alert.Ack{Ref: alert.ID{1}, Status: alert.AckSeen}), func(m *alert.Message) {
			m.Created = now.Add(-alert.MaxTTL)
		}), alert.ErrExpired},
		{"rekey to epoch 0", withRekey(func(r *alert.Rekey) { r.Epoch = 0 }), alert.ErrInvalid},
		{"rekey for nobody", withRekey(func(r *alert.Rekey) { r.Keys = nil }), alert.ErrInvalid},
		{"rekey for too many", withRekey(func(r *alert.Rekey) { r.Keys = manyKeys }), alert.ErrInvalid},
		{"rekey key too short", withRekey(func(r *alert.Rekey) { r.Keys[0].Sealed = r.Keys[0].Sealed[1:] }), alert.ErrInvalid},
		{"rekey key too long", withRekey(func(r *alert.Rekey) { r.Keys[0].Sealed = append(r.Keys[0].Sealed, 0) }), alert.ErrInvalid},
		{"rekey with two keys for one member", withRekey(func(r *alert.Rekey) { r.Keys = append(r.Keys, r.Keys[0]) }), alert.ErrInvalid},
		{"rekey path keys without a tree", withRekey(func(r *alert.Rekey) { r.Keys[0].Path = make([]byte, crypto.SealedPathKeysSize) }), alert.ErrInvalid},
		{"rekey path keys too short", withRekey(func(r *alert.Rekey) {
			r.Tree = &alert.TreeRekey{Tree: crypto.TreeID{1}, Upto: 1, New: true}
			r.Keys = r.Keys[:1]
			r.Keys[0].Path = make([]byte, crypto.SealedPathKeysSize-1)
		}), alert.ErrInvalid},
		{"new tree without path keys", withRekey(func(r *alert.Rekey) {
			r.Tree = &alert.TreeRekey{Tree: crypto.TreeID{1}, Upto: uint32(len(r.Keys)), New: true}
		}), alert.ErrInvalid},
		{"new tree with positions nobody sits at", withRekey(func(r *alert.Rekey) {
			r.Tree = &alert.TreeRekey{Tree: crypto.TreeID{1}, Upto: 5, New: true}
			r.Keys = r.Keys[:1]
			r.Keys[0].Path = make([]byte, crypto.SealedPathKeysSize)
		}), alert.ErrInvalid},
		{"new tree with wraps", withRekey(func(r *alert.Rekey) {
			r.Tree = &alert.TreeRekey{Tree: crypto.TreeID{1}, Upto: 1, New: true, Wraps: []alert.Wrap{{Node: 1, Sealed: make([]byte, crypto.WrapSize)}}}
			r.Keys = r.Keys[:1]
			r.Keys[0].Path = make([]byte, crypto.SealedPathKeysSize)
		}), alert.ErrInvalid},
		{"tree secret in a rekey of an old tree", withRekey(func(r *alert.Rekey) {
			r.Tree = &alert.TreeRekey{Tree: crypto.TreeID{1}, Upto: 9}
			r.Keys[0].TreeSecret = make([]byte, crypto.SealedTreeSecretSize)
		}), alert.ErrInvalid},
		{"tree rekey under node 0", withRekey(func(r *alert.Rekey) {
			r.Tree = &alert.TreeRekey{Tree: crypto.TreeID{1}, Upto: 9, Wraps: []alert.Wrap{{Node: 0, Sealed: make([]byte, crypto.WrapSize)}}}
		}), alert.ErrInvalid},
		{"tree rekey under one node twice", withRekey(func(r *alert.Rekey) {
			w := alert.Wrap{Node: 3, Sealed: make([]byte, crypto.WrapSize)}
			r.Tree = &alert.TreeRekey{Tree: crypto.TreeID{1}, Upto: 9, Wraps: []alert.Wrap{w, w}}
		}), alert.ErrInvalid},
		{"tree rekey wrap too short", withRekey(func(r *alert.Rekey) {
			r.Tree = &alert.TreeRekey{Tree: crypto.TreeID{1}, Upto: 9, Wraps: []alert.Wrap{{Node: 3, Sealed: make([]byte, crypto.WrapSize-1)}}}
		}), alert.ErrInvalid},
		{"tree rekey beyond the tree", withRekey(func(r *alert.Rekey) {
			r.Tree = &alert.TreeRekey{Tree: crypto.TreeID{1}, Upto: crypto.TreePositions + 1, Wraps: []alert.Wrap{{Node: 3, Sealed: make([]byte, crypto.WrapSize)}}}
		}), alert.ErrInvalid},
		{"hand-over to two members", withRekey(func(r *alert.Rekey) {
			r.Origin = alert.ID{1}
			r.Keys = append(r.Keys, alert.SealedKey{Member: crypto.MemberID{4}, Sealed: r.Keys[0].Sealed})
		}), alert.ErrInvalid},
		{"create with parents", msg(op(1, &alert.Create{GroupName: "g", Founder: info(ana)})), alert.ErrInvalid},
		{"founder seated beyond the tree", msg(op(0, &alert.Create{GroupName: "g", Founder: info(ana), Seat: &alert.Seat{Position: crypto.TreePositions}})), alert.ErrInvalid},
		{"joiner seated beyond the tree", msg(op(1, &alert.AddMember{Member: info(ana), Seat: &alert.Seat{Position: crypto.TreePositions}})), alert.ErrInvalid},
		{"ratchet to epoch 0", msg(op(1, &alert.AddMember{Member: info(ana), Ratchet: &alert.Ratchet{}})), alert.ErrInvalid},
		{"tree secret with a demotion", msg(op(1, &alert.SetRole{Role: alert.RoleMember, Tree: &alert.TreeGrant{Sealed: make([]byte, crypto.SealedTreeSecretSize)}})), alert.ErrInvalid},
		{"tree secret too short", msg(op(1, &alert.SetRole{Role: alert.RoleAdmin, Tree: &alert.TreeGrant{Sealed: make([]byte, 3)}})), alert.ErrInvalid},
		{"add without parents", msg(op(0, &alert.AddMember{Member: info(ana)})), alert.ErrInvalid},
		{"too many parents", msg(op(alert.MaxRosterParents+1, &alert.RemoveMember{})), alert.ErrInvalid},
		{"empty group name", msg(op(0, &alert.Create{GroupName: "", Founder: info(ana)})), alert.ErrInvalid},
		{"blank group name", msg(op(0, &alert.Create{GroupName: " \u00a0 ", Founder: info(ana)})), alert.ErrInvalid},
		{"group name too long", msg(op(0, &alert.Create{GroupName: strings.Repeat("g", alert.MaxName+1), Founder: info(ana)})), alert.ErrInvalid},
		{"group name with newline", msg(op(0, &alert.Create{GroupName: "a\nb", Founder: info(ana)})), alert.ErrInvalid},
		{"founder name too long", msg(op(0, &alert.Create{GroupName: "g", Founder: longName})), alert.ErrInvalid},
		{"added member without name", msg(op(1, &alert.AddMember{Member: blankName})), alert.ErrInvalid},
		{"unknown role", msg(op(1, &alert.SetRole{Role: 3})), alert.ErrInvalid},
		{"role 0", msg(op(1, &alert.SetRole{Role: 0})), alert.ErrInvalid},
		{"invite key short", msg(op(1, &alert.NewInvite{Key: make([]byte, 31), Uses: 1})), alert.ErrInvalid},
		{"invite without uses", msg(op(1, &alert.NewInvite{Key: make([]byte, 32)})), alert.ErrInvalid},
		{"invite for too many", msg(op(1, &alert.NewInvite{Key: make([]byte, 32), Uses: 1001})), alert.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.m.Validate(now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate: error = %v, want %v", err, tt.want)
			}
			stale := tt.want == alert.ErrExpired || tt.want == alert.ErrFuture
			if alert.IsStale(err) != stale {
				t.Fatalf("IsStale(%v) = %v, want %v", err, !stale, stale)
			}
		})
	}
}

func TestIsStale(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]bool{
		alert.ErrExpired: true,
		alert.ErrFuture:  true,
		errors.Join(errors.New("x"), alert.ErrFuture): true,
		alert.ErrInvalid:     false,
		alert.ErrMalformed:   false,
		alert.ErrUnknownKind: false,
		nil:                  false,
	} {
		if got := alert.IsStale(err); got != want {
			t.Errorf("IsStale(%v) = %v, want %v", err, got, want)
		}
	}
}

func TestExpires(t *testing.T) {
	t.Parallel()
	ci := validCheckIn()
	tests := []struct {
		name string
		c    alert.Content
		want time.Time
	}{
		{"alert", validAlert(), t0.Add(alert.DefaultTTL)},
		{"check-in", ci, ci.Due.Add(ci.Grace).Add(ci.EscalateAfter).Add(24 * time.Hour)},
		{"check-in done", &alert.CheckInDone{CheckIn: alert.ID{1}}, t0.Add(alert.MaxTTL)},
		{"ack", &alert.Ack{Ref: alert.ID{1}, Status: alert.AckSeen}, t0.Add(alert.MaxTTL)},
		{"roster op", op(1, &alert.RevokeInvite{}), time.Time{}},
		{"rekey", validRekey(), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := msg(tt.c).Expires(); !got.Equal(tt.want) {
				t.Fatalf("Expires = %v, want %v", got, tt.want)
			}
		})
	}
	if d := ci.Deadline(); !d.Equal(ci.Due.Add(ci.Grace)) {
		t.Fatalf("Deadline = %v", d)
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"ana", "Doña Lucía", strings.Repeat("x", alert.MaxName), "李"} {
		if err := alert.ValidName("name", ok); err != nil {
			t.Errorf("ValidName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", " ", "\t", strings.Repeat("x", alert.MaxName+1), "a\nb", "a\x7fb", "\xff"} {
		if err := alert.ValidName("name", bad); !errors.Is(err, alert.ErrInvalid) {
			t.Errorf("ValidName(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestNamesRefuseInvisibleCharacters: names, regions and places refuse
// characters that would let one pass for another, and the error names the
// character; free text keeps what writing needs (line feeds, joined emoji).
func TestNamesRefuseInvisibleCharacters(t *testing.T) {
	t.Parallel()
	ana := newIdentity(t, "ana")
	named := func(name string) *alert.Message {
		m := info(ana)
		m.Name = name
		return msg(op(1, &alert.AddMember{Member: m}))
	}
	for _, tt := range []struct {
		name string
		m    *alert.Message
		want string
	}{
		{"reversed admin", named("\u202eanA nimda"), "U+202E RIGHT-TO-LEFT OVERRIDE"},
		{"zero-width space", named("An\u200ba"), "U+200B ZERO WIDTH SPACE"},
		{"zero-width joiner", named("Ana\u200d"), "U+200D ZERO WIDTH JOINER"},
		{"isolate", named("Ana \u2067admin\u2069"), "U+2067 RIGHT-TO-LEFT ISOLATE"},
		{"Hangul filler", named("Ana\u3164"), "U+3164 HANGUL FILLER"},
		{"variation selector", named("Ana\ufe00"), "U+FE00 VARIATION SELECTOR-1"},
		{"soft hyphen", named("A\u00adna"), "U+00AD SOFT HYPHEN"},
		{"line separator", named("Ana\u2028admin"), "U+2028 LINE SEPARATOR"},
		{"escape in a name", named("Ana\x1b[2J"), "control character U+001B"},
		{"override in a region", msg(&alert.Alert{Kind: alert.KindDanger, Severity: alert.SevInfo, Region: "Istmo\u202e", Expires: t0.Add(time.Hour)}), "region contains U+202E"},
		{"zero-width space in a place", msg(&alert.Alert{Kind: alert.KindDanger, Severity: alert.SevInfo, Place: "Juchi\u200btán", Expires: t0.Add(time.Hour)}), "place contains U+200B"},
		{"mark in a check-in's destination", msg(&alert.CheckIn{From: "Juchitán", To: "Ixtepec\u200e", Due: t0.Add(time.Hour), EscalateAfter: alert.DefaultEscalate}), "to contains U+200E LEFT-TO-RIGHT MARK"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Validate(now)
			if !errors.Is(err, alert.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrInvalid naming %q", err, tt.want)
			}
		})
	}
	for _, text := range []string{"two\nlines", "familia 👩\u200d👩\u200d👧", "مرحبا \u200fسلام", "Ana 🌻"} {
		if err := msg(&alert.Alert{Kind: alert.KindInfo, Severity: alert.SevInfo, Text: text, Expires: t0.Add(time.Hour)}).Validate(now); err != nil {
			t.Errorf("text %q: %v", text, err)
		}
	}
	if err := named("Ana 🌻 Pérez-Núñez").Validate(now); err != nil {
		t.Errorf("a name with an accent and an emoji: %v", err)
	}
}
