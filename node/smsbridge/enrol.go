package smsbridge

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
)

// NormalizeNumber keeps the digits of a phone number and a leading "+",
// and writes Mexican mobile numbers without the old "1" after +52, as
// networks give them either way. It returns an error for what is not a
// number.
func NormalizeNumber(s string) (string, error) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			return "", fmt.Errorf("smsbridge: %q is not a phone number", s)
		}
	}
	n := b.String()
	if d := strings.TrimPrefix(n, "+"); len(d) < 6 || len(d) > 15 {
		return "", fmt.Errorf("smsbridge: %q is not a phone number (6 to 15 digits)", s)
	}
	if strings.HasPrefix(n, "+521") && len(n) == 14 {
		n = "+52" + n[4:]
	}
	return n, nil
}

// errNotAdmin: only an admin of a group sets its safe lines.
var errNotAdmin = fmt.Errorf("%w: only an admin of the group sets its safe lines", node.ErrNotAdmin)

func (b *Bridge) isAdmin(gid crypto.GroupID) bool {
	for _, g := range b.cfg.Node.Groups() {
		if g.ID == gid.String() {
			return g.Role == "admin"
		}
	}
	return false
}

// SetLines sets a group's safe lines and how much their SMS say. Only an
// admin of the group may, on this node: the numbers stay on this node,
// sealed in its store, and are shown to its member while an admin.
func (b *Bridge) SetLines(gid crypto.GroupID, numbers []string, content, lang string) (Lines, error) {
	if !b.isAdmin(gid) {
		return Lines{}, errNotAdmin
	}
	if len(numbers) > MaxLines {
		return Lines{}, fmt.Errorf("%w: at most %d safe lines", node.ErrOutOfRange, MaxLines)
	}
	l := Lines{Content: content, Lang: lang, SetBy: b.cfg.Node.Identity().ID().String()}
	switch l.Content {
	case "":
		l.Content = ContentShort
	case ContentNone, ContentShort, ContentFull:
	default:
		return Lines{}, fmt.Errorf("%w: content is none, short or full", alert.ErrInvalid)
	}
	switch l.Lang {
	case "":
		l.Lang = "es"
	case "es", "en":
	default:
		return Lines{}, fmt.Errorf("%w: language is es or en", alert.ErrInvalid)
	}
	for _, s := range numbers {
		n, err := NormalizeNumber(s)
		if err != nil {
			return Lines{}, fmt.Errorf("%w: %v", alert.ErrInvalid, err)
		}
		if !slices.Contains(l.Numbers, n) {
			l.Numbers = append(l.Numbers, n)
		}
	}
	b.mu.Lock()
	if len(l.Numbers) == 0 {
		delete(b.st.Groups, gid.String())
	} else {
		b.st.Groups[gid.String()] = &l
	}
	b.mu.Unlock()
	return l, b.save.Save()
}

// LinesOf returns a group's safe lines, to an admin of the group.
func (b *Bridge) LinesOf(gid crypto.GroupID) (Lines, error) {
	if !b.isAdmin(gid) {
		return Lines{}, errNotAdmin
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if l := b.st.Groups[gid.String()]; l != nil {
		return *l, nil
	}
	return Lines{Numbers: []string{}, Content: ContentShort, Lang: "es"}, nil
}

// Enrolled is what [Bridge.Enrol] returns once: the member's codes, to be
// shown to them and then forgotten.
type Enrolled struct {
	Member string `json:"member"`
	Number string `json:"number"`
	Mode   string `json:"mode"`
	// Secret is the TOTP secret (base32) for an authenticator app, and
	// URL the same as an otpauth:// address (for a QR code); or, in PIN
	// mode, the PIN.
	Secret string    `json:"secret"`
	URL    string    `json:"url,omitempty"`
	Duress string    `json:"duress"` // the duress PIN
	Ends   time.Time `json:"ends"`
}

// Enrol lets member (who gave this bridge the grant v) use the bridge by
// SMS from number, with a new code: a TOTP secret (mode "totp", the
// default) or a 6-digit PIN ("pin"), and a 6-digit duress PIN. A member
// enrolled again in a group gets new codes; the old ones stop working.
func (b *Bridge) Enrol(gid crypto.GroupID, member crypto.MemberID, v alert.Via, number, mode string) (Enrolled, error) {
	if err := b.cfg.Node.CheckGrant(gid, member, v); err != nil {
		return Enrolled{}, err
	}
	num, err := NormalizeNumber(number)
	if err != nil {
		return Enrolled{}, fmt.Errorf("%w: %v", alert.ErrInvalid, err)
	}
	e := &Enrolment{Group: gid.String(), Member: member.String(), Number: num, Mode: mode, Via: v, Duress: randomPIN()}
	out := Enrolled{Member: member.String(), Number: num, Duress: e.Duress, Ends: v.Expires}
	switch mode {
	case "", "totp":
		e.Mode = "totp"
		key, err := totp.Generate(totp.GenerateOpts{Issuer: "takecare", AccountName: member.Short(), Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return Enrolled{}, err
		}
		e.Secret, out.Secret, out.URL = key.Secret(), key.Secret(), key.URL()
	case "pin":
		e.Secret = randomPIN()
		for e.Secret == e.Duress {
			e.Secret = randomPIN()
		}
		out.Secret = e.Secret
	default:
		return Enrolled{}, fmt.Errorf("%w: the code is totp or pin", alert.ErrInvalid)
	}
	out.Mode = e.Mode
	b.mu.Lock()
	b.st.Members = slices.DeleteFunc(b.st.Members, func(o *Enrolment) bool { return o.Group == e.Group && o.Member == e.Member })
	full := len(b.st.Members) >= MaxMembers
	if !full {
		b.st.Members = append(b.st.Members, e)
	}
	b.mu.Unlock()
	if full {
		return Enrolled{}, fmt.Errorf("%w: this bridge has %d members already", node.ErrOutOfRange, MaxMembers)
	}
	return out, b.save.Save()
}

// Unenrol forgets a member's enrolment in a group. It reports whether
// there was one.
func (b *Bridge) Unenrol(gid crypto.GroupID, member crypto.MemberID) (bool, error) {
	b.mu.Lock()
	n := len(b.st.Members)
	b.st.Members = slices.DeleteFunc(b.st.Members, func(o *Enrolment) bool { return o.Group == gid.String() && o.Member == member.String() })
	removed := len(b.st.Members) != n
	b.mu.Unlock()
	if !removed {
		return false, nil
	}
	return true, b.save.Save()
}

// EnrolledMember is an enrolment as listed: no codes.
type EnrolledMember struct {
	Group  string    `json:"group"`
	Member string    `json:"member"`
	Number string    `json:"number"`
	Mode   string    `json:"mode"`
	Ends   time.Time `json:"ends"`
}

// Members lists the enrolled members (whose numbers the bridge's operator
// typed in when enrolling them), without their codes.
func (b *Bridge) Members() []EnrolledMember {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []EnrolledMember{}
	for _, e := range b.st.Members {
		out = append(out, EnrolledMember{Group: e.Group, Member: e.Member, Number: e.Number, Mode: e.Mode, Ends: e.Via.Expires.UTC()})
	}
	return out
}

func randomPIN() string {
	var b [4]byte
	for {
		rand.Read(b[:])
		n := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) & 0x7fffffff
		if n < 2000000000 { // no modulo bias
			return fmt.Sprintf("%06d", n%1000000)
		}
	}
}
