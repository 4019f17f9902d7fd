package alert

import (
	"fmt"
	"slices"
	"strings"
)

// Kind says what an alert is about. Kinds are lower-case words.
type Kind string

// Kinds a member can send with `takecare alert`.
const (
	KindDanger        Kind = "danger"        // danger in an area, unspecified
	KindThreat        Kind = "threat"        // a threat against a person or group
	KindViolence      Kind = "violence"      // violence happening now
	KindDetention     Kind = "detention"     // someone detained
	KindDisappearance Kind = "disappearance" // someone missing
	KindCheckpoint    Kind = "checkpoint"    // armed checkpoint or roadblock
	KindSurveillance  Kind = "surveillance"  // being followed or watched
	KindMedical       Kind = "medical"       // medical emergency
	KindInfo          Kind = "info"          // information, no immediate danger
	KindAllClear      Kind = "allclear"      // a danger is over
)

// Kinds the program itself sends.
const (
	KindPanic   Kind = "panic"   // `takecare panic`
	KindOverdue Kind = "overdue" // raised when a check-in is missed
	KindDuress  Kind = "duress"  // a member's profile was opened with the duress passphrase; signed with the duress key
)

// UserKinds lists the kinds `takecare alert --kind` accepts, in help order.
var UserKinds = []Kind{
	KindDanger, KindThreat, KindViolence, KindDetention, KindDisappearance,
	KindCheckpoint, KindSurveillance, KindMedical, KindInfo, KindAllClear,
}

var systemKinds = []Kind{KindPanic, KindOverdue, KindDuress}

// Known reports whether k is a kind of this protocol version.
func (k Kind) Known() bool { return slices.Contains(UserKinds, k) || slices.Contains(systemKinds, k) }

// ParseKind parses a kind a user typed for `takecare alert`.
func ParseKind(s string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(s)))
	if k == KindPanic {
		return k, nil
	}
	if !slices.Contains(UserKinds, k) {
		return "", fmt.Errorf("%w %q (one of: %s)", ErrUnknownKind, s, kindList(UserKinds))
	}
	return k, nil
}

func kindList(ks []Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// Severity orders alerts by urgency.
type Severity uint8

// Severities, least urgent first.
const (
	SevInfo     Severity = 1
	SevWarning  Severity = 2
	SevUrgent   Severity = 3
	SevCritical Severity = 4
)

var severityNames = map[Severity]string{SevInfo: "info", SevWarning: "warning", SevUrgent: "urgent", SevCritical: "critical"}

// String returns the severity's word.
func (s Severity) String() string {
	if n, ok := severityNames[s]; ok {
		return n
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool { _, ok := severityNames[s]; return ok }

// ParseSeverity parses a severity word.
func ParseSeverity(s string) (Severity, error) {
	w := strings.ToLower(strings.TrimSpace(s))
	for v, n := range severityNames {
		if n == w {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w %q (one of: info, warning, urgent, critical)", ErrUnknownSeverity, s)
}

// AckStatus is what an acknowledgement says.
type AckStatus uint8

// Acknowledgement statuses.
const (
	AckSeen       AckStatus = 1 // I have seen it
	AckResponding AckStatus = 2 // I am responding
	AckUnable     AckStatus = 3 // I have seen it and cannot help
)

var ackNames = map[AckStatus]string{AckSeen: "seen", AckResponding: "responding", AckUnable: "unable"}

// String returns the status word.
func (a AckStatus) String() string {
	if n, ok := ackNames[a]; ok {
		return n
	}
	return fmt.Sprintf("status(%d)", uint8(a))
}

// ParseAckStatus parses seen, responding or unable.
func ParseAckStatus(s string) (AckStatus, error) {
	w := strings.ToLower(strings.TrimSpace(s))
	for v, n := range ackNames {
		if n == w {
			return v, nil
		}
	}
	return 0, fmt.Errorf("alert: unknown status %q (one of: seen, responding, unable)", s)
}

// Role is a member's role in a group.
type Role uint8

// Roles.
const (
	RoleMember Role = 1
	RoleAdmin  Role = 2
)

// String returns "member" or "admin".
func (r Role) String() string {
	switch r {
	case RoleMember:
		return "member"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}
