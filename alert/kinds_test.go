package alert_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/takecare-network/takecare/alert"
)

func TestParseKind(t *testing.T) {
	t.Parallel()
	good := map[string]alert.Kind{
		"danger": alert.KindDanger, "threat": alert.KindThreat, "violence": alert.KindViolence,
		"detention": alert.KindDetention, "disappearance": alert.KindDisappearance,
		"checkpoint": alert.KindCheckpoint, "surveillance": alert.KindSurveillance,
		"medical": alert.KindMedical, "info": alert.KindInfo, "allclear": alert.KindAllClear,
		"panic": alert.KindPanic, "DANGER": alert.KindDanger, "  Medical\n": alert.KindMedical,
	}
	for in, want := range good {
		got, err := alert.ParseKind(in)
		if err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, k := range alert.UserKinds {
		if _, err := alert.ParseKind(string(k)); err != nil || !k.Known() {
			t.Errorf("user kind %q does not parse or is not known", k)
		}
	}
	// overdue and duress are raised by the program, not typed.
	for _, bad := range []string{"", "tsunami", "overdue", "duress", "dangerous", "all clear"} {
		_, err := alert.ParseKind(bad)
		if !errors.Is(err, alert.ErrUnknownKind) {
			t.Errorf("ParseKind(%q): error = %v, want ErrUnknownKind", bad, err)
			continue
		}
		for _, k := range alert.UserKinds {
			if !strings.Contains(err.Error(), string(k)) {
				t.Errorf("ParseKind(%q) error %q does not list %q", bad, err, k)
			}
		}
	}
	for _, k := range []alert.Kind{alert.KindPanic, alert.KindOverdue, alert.KindDuress} {
		if !k.Known() {
			t.Errorf("system kind %q is not Known", k)
		}
	}
	if alert.Kind("tsunami").Known() || alert.Kind("").Known() {
		t.Error("an unknown kind is Known")
	}
}

func TestParseSeverity(t *testing.T) {
	t.Parallel()
	good := map[string]alert.Severity{
		"info": alert.SevInfo, "warning": alert.SevWarning, "urgent": alert.SevUrgent,
		"critical": alert.SevCritical, " Critical ": alert.SevCritical, "URGENT": alert.SevUrgent,
	}
	for in, want := range good {
		got, err := alert.ParseSeverity(in)
		if err != nil || got != want {
			t.Errorf("ParseSeverity(%q) = %v, %v; want %v", in, got, err, want)
		}
		if want.String() != strings.ToLower(strings.TrimSpace(in)) || !want.Valid() {
			t.Errorf("%v.String() = %q", want, want.String())
		}
	}
	if !(alert.SevInfo < alert.SevWarning && alert.SevWarning < alert.SevUrgent && alert.SevUrgent < alert.SevCritical) {
		t.Error("severities are not ordered by urgency")
	}
	for _, bad := range []string{"", "high", "1", "crit"} {
		_, err := alert.ParseSeverity(bad)
		if !errors.Is(err, alert.ErrUnknownSeverity) {
			t.Errorf("ParseSeverity(%q): error = %v, want ErrUnknownSeverity", bad, err)
			continue
		}
		for _, w := range []string{"info", "warning", "urgent", "critical"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseSeverity(%q) error %q does not list %q", bad, err, w)
			}
		}
	}
	if alert.Severity(0).Valid() || alert.Severity(5).Valid() {
		t.Error("an unknown severity is Valid")
	}
	if s := alert.Severity(9).String(); s != "severity(9)" {
		t.Errorf("Severity(9).String() = %q", s)
	}
}

func TestParseAckStatus(t *testing.T) {
	t.Parallel()
	good := map[string]alert.AckStatus{"seen": alert.AckSeen, "responding": alert.AckResponding, "unable": alert.AckUnable, " Seen": alert.AckSeen}
	for in, want := range good {
		got, err := alert.ParseAckStatus(in)
		if err != nil || got != want {
			t.Errorf("ParseAckStatus(%q) = %v, %v; want %v", in, got, err, want)
		}
		if want.String() != strings.ToLower(strings.TrimSpace(in)) {
			t.Errorf("%d.String() = %q", want, want.String())
		}
	}
	for _, bad := range []string{"", "ok", "seen!"} {
		_, err := alert.ParseAckStatus(bad)
		if err == nil {
			t.Errorf("ParseAckStatus(%q) succeeded", bad)
			continue
		}
		for _, w := range []string{"seen", "responding", "unable"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseAckStatus(%q) error %q does not list %q", bad, err, w)
			}
		}
	}
	if s := alert.AckStatus(7).String(); s != "status(7)" {
		t.Errorf("AckStatus(7).String() = %q", s)
	}
}

func TestRoleString(t *testing.T) {
	t.Parallel()
	for r, want := range map[alert.Role]string{alert.RoleMember: "member", alert.RoleAdmin: "admin", 0: "role(0)"} {
		if got := r.String(); got != want {
			t.Errorf("Role(%d).String() = %q, want %q", r, got, want)
		}
	}
}
