package smsbridge

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Verb is what an SMS asks for.
type Verb int

// Verbs.
const (
	VerbHelp    Verb = iota + 1 // AYUDA, HELP
	VerbPanic                   // PANICO, AUXILIO, SOS, PANIC
	VerbCheckIn                 // SALGO [de FROM] [a] TO TIME, LEAVING [from FROM] [to] TO TIME
	VerbDone                    // LLEGUE, LLEGAMOS, ARRIVED, SAFE
	VerbAck                     // VISTO|ENTERADO|SEEN, VOY|ATIENDO|COMING|RESPONDING, NO PUEDO|UNABLE [ID]
)

// Command is a parsed SMS.
type Command struct {
	Verb     Verb
	Spanish  bool   // the words were Spanish: answer in Spanish
	Code     string // the member's code (TOTP or PIN), digits
	Text     string // panic: the words after the verb
	From, To string // check-in
	// Due is the check-in's time of day ("18:00": At set) or how long
	// from now ("2h": In set).
	At     *clockTime
	In     time.Duration
	Ref    string // ack: a message id prefix, or empty for the latest alarm
	Status string // ack: seen, responding or unable
}

type clockTime struct{ h, m int }

// Errors of parsing, which the bridge answers with the help text.
var (
	ErrNoCommand = errors.New("smsbridge: no command understood")
	ErrNoCode    = errors.New("smsbridge: no code")
	ErrNoTime    = errors.New("smsbridge: a check-in needs a place and a time")
)

// fold lower-cases s and removes accents ("LLEGUÉ" → "llegue"), with the
// Unicode normalisation of golang.org/x/text (NFD, drop combining marks,
// NFC).
func fold(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	return strings.ToLower(out)
}

// words of each verb, folded; the bool says Spanish.
var verbs = map[string]struct {
	v  Verb
	es bool
}{
	"ayuda": {VerbHelp, true}, "help": {VerbHelp, false}, "?": {VerbHelp, false},
	"panico": {VerbPanic, true}, "auxilio": {VerbPanic, true}, "sos": {VerbPanic, true}, "panic": {VerbPanic, false},
	"salgo": {VerbCheckIn, true}, "saliendo": {VerbCheckIn, true}, "leaving": {VerbCheckIn, false}, "checkin": {VerbCheckIn, false},
	"llegue": {VerbDone, true}, "llegamos": {VerbDone, true}, "arrived": {VerbDone, false}, "safe": {VerbDone, false},
	"visto": {VerbAck, true}, "enterado": {VerbAck, true}, "seen": {VerbAck, false},
	"voy": {VerbAck, true}, "atiendo": {VerbAck, true}, "coming": {VerbAck, false}, "responding": {VerbAck, false},
	"unable": {VerbAck, false},
}

var ackStatus = map[string]string{
	"visto": "seen", "enterado": "seen", "seen": "seen",
	"voy": "responding", "atiendo": "responding", "coming": "responding", "responding": "responding",
	"unable": "unable", "no puedo": "unable",
}

// Parse reads an SMS: a verb first (after an optional code), the member's
// code as the last or the first word (4 to 8 digits), and what the verb
// takes. Words are matched without case or accents, in Spanish or
// English; places keep what was typed.
func Parse(text string) (Command, error) {
	raw := strings.Fields(text)
	var c Command
	if n := len(raw); n > 0 && isCode(raw[n-1]) {
		c.Code, raw = raw[n-1], raw[:n-1]
	} else if n > 0 && isCode(raw[0]) {
		c.Code, raw = raw[0], raw[1:]
	}
	if len(raw) == 0 {
		return c, ErrNoCommand
	}
	first := fold(strings.Trim(raw[0], ".,;:!¡¿"))
	rest := raw[1:]
	if first == "no" && len(rest) > 0 && fold(rest[0]) == "puedo" {
		first, rest = "no puedo", rest[1:]
		c.Verb, c.Spanish = VerbAck, true
	} else if first == "ya" && len(rest) > 0 && fold(rest[0]) == "llegue" { // "ya llegué"
		first, rest = "llegue", rest[1:]
	}
	if c.Verb == 0 {
		w, ok := verbs[first]
		if !ok {
			return c, ErrNoCommand
		}
		c.Verb, c.Spanish = w.v, w.es
	}
	if c.Verb != VerbHelp && c.Code == "" {
		return c, ErrNoCode
	}
	switch c.Verb {
	case VerbPanic:
		c.Text = strings.Join(rest, " ")
	case VerbAck:
		c.Status = ackStatus[first]
		if len(rest) > 0 && isHexRef(rest[0]) {
			c.Ref = strings.ToLower(rest[0])
		}
	case VerbCheckIn:
		return c, c.parseTrip(rest)
	}
	return c, nil
}

// parseTrip reads "[de|from FROM] [a|hacia|para|to] TO TIME".
func (c *Command) parseTrip(words []string) error {
	if len(words) < 2 {
		return ErrNoTime
	}
	last := fold(words[len(words)-1])
	if at, ok := parseClock(last); ok {
		c.At = &at
	} else if d, ok := parseDur(last); ok {
		c.In = d
	} else {
		return ErrNoTime
	}
	words = words[:len(words)-1]
	// "a las 18:00", "para las 18:00", "at 6pm", "en 2h", "in 2h", "by 6pm".
	for n := len(words); n > 1; n-- {
		switch fold(words[n-1]) {
		case "las", "a", "at", "en", "in", "by", "para":
			words = words[:n-1]
			continue
		}
		break
	}
	var from, to []string
	cur := &to
	for i, w := range words {
		switch f := fold(w); {
		case i == 0 && (f == "de" || f == "desde" || f == "from"):
			cur = &from
		case f == "a" || f == "hacia" || f == "para" || f == "to":
			if cur == &from || len(*cur) == 0 {
				cur = &to
				continue
			}
			*cur = append(*cur, w)
		default:
			*cur = append(*cur, w)
		}
	}
	c.From, c.To = strings.Join(from, " "), strings.Join(to, " ")
	if c.To == "" {
		return ErrNoTime
	}
	return nil
}

func isCode(w string) bool {
	if len(w) < 4 || len(w) > 8 {
		return false
	}
	for _, r := range w {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isHexRef(w string) bool {
	if len(w) < 6 || len(w) > 64 {
		return false
	}
	return strings.Trim(strings.ToLower(w), "0123456789abcdef") == ""
}

// parseClock reads "18:00", "18h", "18h30", "6pm", "6:30pm".
func parseClock(s string) (clockTime, bool) {
	pm, am := strings.HasSuffix(s, "pm"), strings.HasSuffix(s, "am")
	s = strings.TrimSuffix(strings.TrimSuffix(s, "pm"), "am")
	var hs, ms string
	switch {
	case strings.Contains(s, ":"):
		hs, ms, _ = strings.Cut(s, ":")
	case strings.Contains(s, "h") && !strings.HasSuffix(s, "h") || strings.HasSuffix(s, "h") && (pm || am):
		return clockTime{}, false
	case strings.HasSuffix(s, "hrs"), strings.HasSuffix(s, "hr"):
		return clockTime{}, false
	case pm || am:
		hs, ms = s, "0"
	default:
		return clockTime{}, false
	}
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if err1 != nil || err2 != nil || m < 0 || m > 59 || h < 0 || h > 23 || ((pm || am) && (h < 1 || h > 12)) {
		return clockTime{}, false
	}
	if pm && h != 12 {
		h += 12
	}
	if am && h == 12 {
		h = 0
	}
	return clockTime{h, m}, true
}

// parseDur reads "2h", "90m", "1h30", "1h30m".
func parseDur(s string) (time.Duration, bool) {
	if strings.HasSuffix(s, "h") || strings.HasSuffix(s, "m") {
		d, err := time.ParseDuration(s)
		return d, err == nil && d > 0
	}
	if h, m, ok := strings.Cut(s, "h"); ok {
		d, err := time.ParseDuration(h + "h" + m + "m")
		return d, err == nil && d > 0
	}
	return 0, false
}

// due turns a check-in's time into a time: today at that time in loc, or
// tomorrow if it has passed; or now plus the duration.
func (c *Command) due(now time.Time, loc *time.Location) time.Time {
	if c.At == nil {
		return now.Add(c.In)
	}
	n := now.In(loc)
	t := time.Date(n.Year(), n.Month(), n.Day(), c.At.h, c.At.m, 0, 0, loc)
	if !t.After(now) {
		t = t.AddDate(0, 0, 1)
	}
	return t
}
