package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/takecare-network/takecare/node/api"
)

// What the feed shows is worded for its reader: in the reader's language,
// from the one catalogue per language that the web UI uses too
// (node/api/web/i18n.json), and in the reader's time zone (the TZ the
// command runs with). Messages the program wrote (overdue alarms, warnings)
// travel as fields, not as text in their sender's language
// (docs/PROTOCOL.md, "Notices").

// speaker words things in one language.
type speaker struct {
	lang string
	s    map[string]string
}

// newSpeaker speaks the reader's language: TAKECARE_LANG, else the POSIX
// locale (LC_ALL, LC_MESSAGES, LANG, in that order); Spanish for any "es"
// locale, English otherwise.
func newSpeaker(getenv func(string) string) *speaker {
	lang := "en"
	for _, v := range []string{"TAKECARE_LANG", "LC_ALL", "LC_MESSAGES", "LANG"} {
		if s := strings.ToLower(strings.TrimSpace(getenv(v))); s != "" {
			if strings.HasPrefix(s, "es") {
				lang = "es"
			}
			break
		}
	}
	return &speaker{lang: lang, s: api.Strings(lang)}
}

// t returns the string of key with its {placeholders} filled from kv,
// pairs of name and value. A key with "_one" after it is used for a count
// ("n") of 1 where there is one.
func (sp *speaker) t(key string, kv ...string) string {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "n" && kv[i+1] == "1" {
			if _, ok := sp.s[key+"_one"]; ok {
				key += "_one"
			}
		}
	}
	s, ok := sp.s[key]
	if !ok {
		return key
	}
	pairs := make([]string, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, "{"+kv[i]+"}", kv[i+1])
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// word is the string of prefix+w, or w itself if the catalogue has none.
func (sp *speaker) word(prefix, w string) string {
	if s, ok := sp.s[prefix+w]; ok {
		return s
	}
	return w
}

var months = map[string][12]string{
	"en": {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
	"es": {"ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"},
}

// date is a day: "1 Dec" ("1 dic"), with the year when it is not now's.
func (sp *speaker) date(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	s := fmt.Sprintf("%d %s", t.Day(), months[sp.lang][t.Month()-1])
	if t.Year() != now.Year() {
		s += fmt.Sprintf(" %d", t.Year())
	}
	return s
}

// clock is a time on its own, as the feed's first column shows it: "15:04"
// today, "1 Dec 15:04" on another day.
func (sp *speaker) clock(t, now time.Time) string {
	t = t.Local()
	if sameDay(t, now.Local()) {
		return t.Format("15:04")
	}
	return sp.date(t, now) + " " + t.Format("15:04")
}

// at is a time inside a sentence, in local time with its zone: "at 15:04
// CST", "tomorrow at 15:04 CST", "on 1 Dec at 15:04 CST" ("a las 15:04
// CST", "mañana a las…", "el 1 dic a las…"; Spanish says "a la" for one
// o'clock).
func (sp *speaker) at(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	key := "time.on_date"
	switch {
	case sameDay(t, now):
		key = "time.today"
	case sameDay(t, now.AddDate(0, 0, 1)):
		key = "time.tomorrow"
	case sameDay(t, now.AddDate(0, 0, -1)):
		key = "time.yesterday"
	}
	if _, ok := sp.s[key+"_h1"]; ok && t.Hour() == 1 {
		key += "_h1"
	}
	return sp.t(key, "time", t.Format("15:04 MST"), "date", sp.date(t, now))
}

// dur words a duration as the web UI does: "45 minutes", "1 hour and 30
// minutes", "3 days", "1 week"; minutes are left out from a day on.
func (sp *speaker) dur(d time.Duration) string {
	m := int(d.Abs().Round(time.Minute) / time.Minute)
	n := func(key string, v int) string { return sp.t(key, "n", fmt.Sprint(v)) }
	if m < 1 {
		return sp.t("time.under_minute")
	}
	if m%(7*24*60) == 0 {
		return n("time.weeks", m/(7*24*60))
	}
	days, hours, mins := m/(24*60), m%(24*60)/60, m%60
	var parts []string
	if days > 0 {
		parts = append(parts, n("time.days", days))
	}
	if hours > 0 {
		parts = append(parts, n("time.hours", hours))
	}
	if mins > 0 && days == 0 {
		parts = append(parts, n("time.minutes", mins))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return sp.t("time.and", "a", parts[0], "b", parts[1])
}

// clockOff words how far a clock is off: the behind key when off is
// negative, the ahead key otherwise.
func (sp *speaker) clockOff(behind, ahead string, off time.Duration) string {
	if off < 0 {
		return sp.t(behind, "d", sp.dur(off))
	}
	return sp.t(ahead, "d", sp.dur(off))
}
