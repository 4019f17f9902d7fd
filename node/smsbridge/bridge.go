// Package smsbridge lets a member's node carry alerts both ways between a
// group and people who have SMS but no data (docs/GUIDE.md, "SMS bridge";
// docs/PROTOCOL.md, "Bridges").
//
// Out: panics, duress warnings, escalated overdue alarms and critical
// alerts of a group are sent by SMS to the group's safe lines (numbers of a
// lawyer or an accompaniment organisation, set on the bridge by an admin of
// the group), with as much content as the group chose ([ContentNone],
// [ContentShort] by default, [ContentFull]): the carrier reads every SMS.
//
// In: a member without data sends an SMS (PÁNICO, SALGO Ixtepec 18:00,
// LLEGUÉ, VISTO; or PANIC, LEAVING, ARRIVED, SEEN; see [Parse]) from the
// number enrolled on the bridge, with their code: a TOTP code (RFC 6238,
// six digits every 30 s, from an authenticator app) or a PIN. The bridge
// sends the message on the member's behalf, with the grant the member
// signed ([node.Node.SendVia]), so every feed shows it as the member's,
// "via SMS through" the bridge. A wrong code, an unknown number, a
// replayed SMS and a number over its rate are refused and counted
// ([Stats]). The member's duress PIN does what was asked and warns the
// group, as the duress passphrase does.
//
// The SMS themselves go through a [Backend]: gammu-smsd's files service
// ([Gammu]), or the local HTTP API of the Android app SMS Gateway for
// Android ([Gateway]). The bridge talks to the node only through its
// public methods and feed. Its own state (safe lines, enrolled members,
// codes) is one sealed blob in the node's store.
//
// A Bridge is safe for concurrent use.
package smsbridge

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/internal/persist"
	"github.com/takecare-network/takecare/node/ratelimit"
	"github.com/takecare-network/takecare/store"
)

// How much of an alert a safe line's SMS says (the carrier reads it).
const (
	ContentNone  = "none"  // "takecare: urgent alert in your group, open the app"
	ContentShort = "short" // kind, place, time
	ContentFull  = "full"  // kind, who, place, time, text
)

// Limits of the bridge.
const (
	// MaxLines is how many safe lines a group may have.
	MaxLines = 5
	// MaxMembers is how many members one bridge enrols.
	MaxMembers = 500
	// smsPerHour and smsBurst bound what one number may send.
	smsPerHour = 20
	smsBurst   = 6
	// maxBadCodes wrong codes from one number in badCodeWindow lock it
	// out until the window has passed.
	maxBadCodes   = 5
	badCodeWindow = time.Hour
	// seenFor is how long a PIN-mode SMS is remembered against replay.
	seenFor   = 7 * 24 * time.Hour
	maxSeen   = 10000
	outMaxAge = 6 * time.Hour // older entries are not sent to safe lines
	blobKind  = "smsbridge"
)

// Incoming is one received SMS.
type Incoming struct {
	From string    // the sender's number as the network gives it
	Text string    // the text, UTF-8
	Sent time.Time // when the network says it was sent (zero: unknown)
	// Key identifies this SMS at its backend (a spool file name, a
	// gateway message id): a copy with the same key is a replay.
	Key string
}

// Backend sends and receives SMS.
type Backend interface {
	// Send queues an SMS to number.
	Send(ctx context.Context, number, text string) error
	// Receive delivers received SMS to fn until ctx ends; an SMS is not
	// received again once fn returned for it.
	Receive(ctx context.Context, fn func(Incoming)) error
}

// Config configures a [Bridge].
type Config struct {
	Node    *node.Node
	Store   *store.Store // the node's store: the bridge keeps its state sealed in it
	Backend Backend
	// Location is the zone of the times members write ("18:00");
	// nil: time.Local.
	Location *time.Location
	Logger   *slog.Logger
	Now      func() time.Time // nil: time.Now
}

// Stats counts what the bridge did, since it started.
type Stats struct {
	Accepted     int64 `json:"accepted"`      // SMS carried out
	UnknownFrom  int64 `json:"unknown_from"`  // from a number no member enrolled
	BadCode      int64 `json:"bad_code"`      // wrong or missing code, or locked out
	Replayed     int64 `json:"replayed"`      // a code or an SMS used before
	RateLimited  int64 `json:"rate_limited"`  // over the number's rate
	Unparsed     int64 `json:"unparsed"`      // from an enrolled number, not understood
	Failed       int64 `json:"failed"`        // understood, but the node refused it
	SentLines    int64 `json:"sent_lines"`    // SMS handed to the backend for safe lines
	SendFailures int64 `json:"send_failures"` // SMS the backend refused
}

// Bridge carries alerts between a node's groups and SMS.
type Bridge struct {
	cfg  Config
	log  *slog.Logger
	rate *ratelimit.Limiter[string]

	save *persist.Saver // writes st into the store

	mu  sync.Mutex // guards st and bad
	st  state
	bad map[string][]time.Time // wrong codes by number

	sentMu sync.Mutex
	sent   map[string]bool // entries sent to safe lines

	accepted, unknownFrom, badCode, replayed, rateLimited, unparsed, failed, sentLines, sendFailures atomic.Int64
}

// state is what the bridge keeps, as one sealed blob.
type state struct {
	Groups  map[string]*Lines `json:"groups"` // by group id
	Members []*Enrolment      `json:"members"`
	Seen    map[string]int64  `json:"seen"` // hash of a PIN-mode SMS → Unix ms
}

// Lines are a group's safe lines and what their SMS say.
type Lines struct {
	Numbers []string `json:"numbers"`
	Content string   `json:"content"`
	Lang    string   `json:"lang"` // es or en
	SetBy   string   `json:"set_by"`
}

// Enrolment is a member who may use the bridge by SMS.
type Enrolment struct {
	Group    string    `json:"group"`  // group id
	Member   string    `json:"member"` // member id
	Number   string    `json:"number"`
	Mode     string    `json:"mode"`   // totp or pin
	Secret   string    `json:"secret"` // base32 TOTP secret, or the PIN
	Duress   string    `json:"duress"` // duress PIN
	LastStep int64     `json:"last_step"`
	Via      alert.Via `json:"via"`
}

// New loads the bridge's state from the store.
func New(cfg Config) (*Bridge, error) {
	if cfg.Node == nil || cfg.Store == nil {
		return nil, errors.New("smsbridge: a node and its store are required")
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bridge{cfg: cfg, log: log, rate: ratelimit.New[string](smsPerHour/3600.0, smsBurst, 4096),
		bad: map[string][]time.Time{}, sent: map[string]bool{}}
	blobs, err := cfg.Store.Blobs(blobKind)
	if err != nil {
		return nil, err
	}
	if raw, ok := blobs["state"]; ok {
		if err := json.Unmarshal(raw, &b.st); err != nil {
			return nil, fmt.Errorf("smsbridge: reading its state: %w", err)
		}
	}
	if b.st.Groups == nil {
		b.st.Groups = map[string]*Lines{}
	}
	if b.st.Seen == nil {
		b.st.Seen = map[string]int64{}
	}
	b.save = persist.New(b.snapshot, func(raw []byte) error { return cfg.Store.PutBlob(blobKind, []byte("state"), raw) })
	return b, nil
}

// Stats returns the counts so far.
func (b *Bridge) Stats() Stats {
	return Stats{Accepted: b.accepted.Load(), UnknownFrom: b.unknownFrom.Load(), BadCode: b.badCode.Load(),
		Replayed: b.replayed.Load(), RateLimited: b.rateLimited.Load(), Unparsed: b.unparsed.Load(),
		Failed: b.failed.Load(), SentLines: b.sentLines.Load(), SendFailures: b.sendFailures.Load()}
}

// snapshot is the saved form of the bridge's state.
func (b *Bridge) snapshot() ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return json.Marshal(b.st)
}

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

// Run sends the groups' urgent alerts to their safe lines and carries out
// received SMS, until ctx ends.
func (b *Bridge) Run(ctx context.Context) error {
	f := b.cfg.Node.Follow(node.FeedQuery{})
	defer f.Stop()
	errc := make(chan error, 1)
	go func() { errc <- b.cfg.Backend.Receive(ctx, func(in Incoming) { b.Handle(ctx, in) }) }()
	for {
		select {
		case <-ctx.Done():
			<-errc
			return nil
		case err := <-errc:
			return err
		case e, ok := <-f.C:
			if !ok {
				<-ctx.Done()
				return nil
			}
			b.forward(ctx, e)
		}
	}
}

// hashSMS names an SMS for replay detection.
func hashSMS(in Incoming) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s", in.From, in.Key, in.Sent.UnixMilli(), in.Text)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Handle carries out one received SMS and answers the sender when that
// helps them (never an unknown number). It is what Run calls for each
// SMS; tests call it directly.
func (b *Bridge) Handle(ctx context.Context, in Incoming) {
	now := b.cfg.Now()
	from, err := NormalizeNumber(in.From)
	if err != nil {
		b.unknownFrom.Add(1)
		b.log.Info("sms refused: not a number")
		return
	}
	if !b.rate.Allow(from, now) {
		b.rateLimited.Add(1)
		b.log.Info("sms refused: over the number's rate")
		return
	}
	b.mu.Lock()
	var mine []*Enrolment
	for _, e := range b.st.Members {
		if e.Number == from {
			mine = append(mine, e)
		}
	}
	b.mu.Unlock()
	if len(mine) == 0 {
		b.unknownFrom.Add(1)
		b.log.Info("sms refused: unknown number")
		return
	}
	cmd, err := Parse(in.Text)
	if cmd.Verb == VerbHelp {
		b.reply(ctx, from, cmd.Spanish, "help")
		return
	}
	if errors.Is(err, ErrNoCode) {
		b.badCode.Add(1)
		b.log.Info("sms refused: no code")
		b.reply(ctx, from, cmd.Spanish, "bad_code")
		return
	}
	if err != nil {
		b.unparsed.Add(1)
		b.reply(ctx, from, cmd.Spanish || err == ErrNoCommand, "help")
		return
	}
	e, duress, outcome := b.authenticate(mine, from, cmd.Code, in, now)
	if outcome == "ok" {
		// The code or the SMS is taken: on disk before it is acted on, so
		// that a replay after a restart is refused too.
		if err := b.save.Save(); err != nil {
			b.log.Warn("saving the bridge's state", "err", err)
		}
	}
	switch outcome {
	case "replay":
		b.replayed.Add(1)
		b.log.Info("sms refused: replayed")
		return
	case "locked", "bad":
		b.badCode.Add(1)
		b.log.Info("sms refused: wrong code", "locked", outcome == "locked")
		if outcome == "bad" {
			b.reply(ctx, from, cmd.Spanish, "bad_code")
		}
		return
	}
	answer, err := b.carryOut(ctx, e, cmd, duress, now)
	if err != nil {
		b.failed.Add(1)
		b.log.Warn("sms not carried out", "err", err)
		b.reply(ctx, from, cmd.Spanish, answer)
		return
	}
	b.accepted.Add(1)
	b.log.Info("sms carried out", "group", e.Group[:8])
	b.reply(ctx, from, cmd.Spanish, answer)
}

// authenticate finds the enrolment whose code the SMS carries. It returns
// the outcome "ok", "replay", "bad" or "locked", and whether the code was
// the duress PIN. A TOTP code is taken once per time step, and only for a
// step later than the last one taken (RFC 6238, section 5.2); a PIN-mode
// SMS is taken once. What it takes is in the state; the caller saves it
// ("ok" only) before acting.
func (b *Bridge) authenticate(mine []*Enrolment, from, code string, in Incoming, now time.Time) (*Enrolment, bool, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	recent := slices.DeleteFunc(b.bad[from], func(t time.Time) bool { return now.Sub(t) > badCodeWindow })
	b.bad[from] = recent
	if len(recent) >= maxBadCodes {
		return nil, false, "locked"
	}
	for _, e := range mine {
		if eq(code, e.Duress) {
			return e, true, b.takeOnce(e, in, now)
		}
		switch e.Mode {
		case "pin":
			if eq(code, e.Secret) {
				return e, false, b.takeOnce(e, in, now)
			}
		case "totp":
			for _, skew := range []int64{0, -1, 1} {
				step := now.Unix()/30 + skew
				want, err := totp.GenerateCodeCustom(e.Secret, time.Unix(step*30, 0), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
				if err != nil || !eq(code, want) {
					continue
				}
				if step <= e.LastStep {
					return e, false, "replay"
				}
				e.LastStep = step
				return e, false, "ok"
			}
		}
	}
	b.bad[from] = append(recent, now)
	return nil, false, "bad"
}

// takeOnce refuses an SMS already taken (same sender, text and backend
// key): a PIN does not change, so an SMS replayed as it was is caught by
// its copy.
func (b *Bridge) takeOnce(e *Enrolment, in Incoming, now time.Time) string {
	h := hashSMS(in)
	if _, ok := b.st.Seen[h]; ok {
		return "replay"
	}
	for k, at := range b.st.Seen {
		if now.Sub(time.UnixMilli(at)) > seenFor || len(b.st.Seen) > maxSeen {
			delete(b.st.Seen, k)
		}
	}
	b.st.Seen[h] = now.UnixMilli()
	return "ok"
}

func eq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// carryOut sends what cmd asks for on the member's behalf, and returns the
// key of the answer to send back.
func (b *Bridge) carryOut(ctx context.Context, e *Enrolment, cmd Command, duress bool, now time.Time) (string, error) {
	gid, err1 := crypto.ParseGroupID(e.Group)
	member, err2 := crypto.ParseMemberID(e.Member)
	if err1 != nil || err2 != nil {
		return "failed", errors.New("smsbridge: enrolment with a bad id")
	}
	n := b.cfg.Node
	send := func(c alert.Content) error { _, err := n.SendVia(ctx, gid, member, e.Via, c); return err }
	if duress && cmd.Verb != VerbDone {
		// Do what was asked, and warn the group, as the duress
		// passphrase does; the answer is the usual one.
		if err := send(&alert.Alert{Kind: alert.KindDuress, Severity: alert.SevCritical, Expires: now.Add(alert.DefaultTTL),
			Notice: &alert.Notice{What: alert.NoticeDuress, Who: member, WhoName: b.memberName(gid, member), Since: now}}); err != nil {
			return "failed", err
		}
	}
	switch cmd.Verb {
	case VerbPanic:
		return "panic_sent", send(&alert.Alert{Kind: alert.KindPanic, Severity: alert.SevCritical, Text: truncate(cmd.Text, alert.MaxText), Expires: now.Add(alert.DefaultTTL)})
	case VerbCheckIn:
		due := cmd.due(now, b.cfg.Location)
		if due.Sub(now) > alert.MaxCheckInAhead {
			return "bad_time", errors.New("smsbridge: due too far ahead")
		}
		return "checkin_started", send(&alert.CheckIn{From: truncate(cmd.From, alert.MaxPlace), To: truncate(cmd.To, alert.MaxPlace), Due: due,
			Grace: alert.DefaultGrace, EscalateAfter: alert.DefaultEscalate})
	case VerbDone:
		cs, err := n.CheckIns(gid)
		if err != nil {
			return "failed", err
		}
		var open []node.CheckInView
		for _, c := range cs {
			if c.AuthorID == e.Member {
				open = append(open, c)
			}
		}
		if len(open) == 0 {
			return "no_checkin", errors.New("smsbridge: no open check-in")
		}
		// The one due soonest: CheckIns lists them by deadline.
		id, err := alert.ParseID(open[0].ID)
		if err != nil {
			return "failed", err
		}
		return "arrived", send(&alert.CheckInDone{CheckIn: id, Duress: duress})
	case VerbAck:
		ref, err := b.ackRef(gid, cmd.Ref, now)
		if err != nil {
			return "no_message", err
		}
		st, _ := alert.ParseAckStatus(cmd.Status)
		return "acked", send(&alert.Ack{Ref: ref, Status: st})
	}
	return "help", ErrNoCommand
}

// ackRef finds the message an acknowledgement by SMS answers: the prefix
// given, or the latest panic, alarm or critical alert of the group in the
// last day.
func (b *Bridge) ackRef(gid crypto.GroupID, prefix string, now time.Time) (alert.ID, error) {
	if prefix != "" {
		return b.cfg.Node.ResolveMessage(prefix)
	}
	es, err := b.cfg.Node.Feed(node.FeedQuery{Group: gid, Since: now.Add(-24 * time.Hour)})
	if err != nil {
		return alert.ID{}, err
	}
	for i := len(es) - 1; i >= 0; i-- {
		if urgent(es[i]) {
			return alert.ParseID(es[i].ID)
		}
	}
	return alert.ID{}, node.ErrNoSuchMessage
}

func (b *Bridge) memberName(gid crypto.GroupID, id crypto.MemberID) string {
	ms, _ := b.cfg.Node.Members(gid)
	for _, m := range ms {
		if m.ID == id.String() {
			return m.Name
		}
	}
	return ""
}

func truncate(s string, n int) string {
	for len(s) > n {
		_, size := lastRune(s)
		s = s[:len(s)-size]
	}
	return s
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return rune(s[i]), len(s) - i
		}
	}
	return 0, 1
}

// urgent reports whether an entry goes to safe lines: a panic, a duress
// warning, an escalated overdue alarm, or any critical alert.
func urgent(e node.Entry) bool {
	switch e.Kind {
	case "panic", "duress":
		return true
	case "overdue":
		return e.Level >= alert.MaxOverdueLevel
	}
	return e.Severity == "critical" && e.Kind != "checkin" && e.Kind != "arrived"
}

// forward sends an urgent feed entry to its group's safe lines, once.
func (b *Bridge) forward(ctx context.Context, e node.Entry) {
	if !urgent(e) || b.cfg.Now().Sub(e.Created) > outMaxAge {
		return
	}
	b.mu.Lock()
	l := b.st.Groups[e.GroupID]
	var lines Lines
	if l != nil {
		lines = *l
	}
	b.mu.Unlock()
	if len(lines.Numbers) == 0 {
		return
	}
	b.sentMu.Lock()
	if b.sent[e.ID] {
		b.sentMu.Unlock()
		return
	}
	if len(b.sent) > maxSeen {
		clear(b.sent)
	}
	b.sent[e.ID] = true
	b.sentMu.Unlock()
	text := Compose(e, lines.Content, lines.Lang, b.cfg.Location)
	for _, num := range lines.Numbers {
		if err := b.cfg.Backend.Send(ctx, num, text); err != nil {
			b.sendFailures.Add(1)
			b.log.Warn("sending to a safe line", "err", err)
			continue
		}
		b.sentLines.Add(1)
	}
	b.log.Info("alert sent to safe lines", "msg_id", e.ID[:12], "lines", len(lines.Numbers))
}

// reply answers the sender of an SMS.
func (b *Bridge) reply(ctx context.Context, to string, spanish bool, key string) {
	lang := "en"
	if spanish {
		lang = "es"
	}
	text, ok := replies[lang][key]
	if !ok {
		return
	}
	if err := b.cfg.Backend.Send(ctx, to, text); err != nil {
		b.sendFailures.Add(1)
		b.log.Warn("answering an sms", "err", err)
	}
}
