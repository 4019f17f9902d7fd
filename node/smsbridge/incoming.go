package smsbridge

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
)

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
	from, mine := b.sender(in, now)
	if len(mine) == 0 {
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

// sender returns the SMS's number, normalised, and the enrolments made
// for it; none when the number is not one, is over its rate, or is not
// enrolled (each counted and logged, never answered).
func (b *Bridge) sender(in Incoming, now time.Time) (string, []*Enrolment) {
	from, err := NormalizeNumber(in.From)
	if err != nil {
		b.unknownFrom.Add(1)
		b.log.Info("sms refused: not a number")
		return "", nil
	}
	if !b.rate.Allow(from, now) {
		b.rateLimited.Add(1)
		b.log.Info("sms refused: over the number's rate")
		return "", nil
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
	}
	return from, mine
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
