package main

import (
	"fmt"
	"strings"
	"time"
)

// How the command line writes times, durations and counts for people: one
// format everywhere, in local time; the zone is added where a reader may
// be elsewhere (when a daemon started, until when an invite is valid).
// RFC 3339 is for --json only.

// clockTime is a time on its own: "15:04" today, "Dec 1 15:04" on another
// day of this year, "Dec 1 2027 15:04" otherwise (the node writes times in
// its messages the same way). Within the hour
// around now it shows seconds too, if it has any.
func clockTime(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	switch {
	case sameDay(t, now):
		if t.Second() != 0 && t.Sub(now) < time.Hour && now.Sub(t) < time.Hour {
			return t.Format("15:04:05")
		}
		return t.Format("15:04")
	case t.Year() == now.Year():
		return t.Format("Jan 2 15:04")
	}
	return t.Format("Jan 2 2006 15:04")
}

// clockZone is clockTime to the minute, with the zone: "15:04 CST".
func clockZone(t, now time.Time) string {
	return clockTime(t.Truncate(time.Minute), now) + " " + t.Local().Format("MST")
}

// at is a time inside a sentence: "at 15:04", "tomorrow at 15:04",
// "on Dec 1 at 15:04".
func at(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	clock := clockTime(t, t) // the time of day alone
	switch {
	case sameDay(t, now):
		return "at " + clock
	case sameDay(t, now.AddDate(0, 0, 1)):
		return "tomorrow at " + clock
	case sameDay(t, now.AddDate(0, 0, -1)):
		return "yesterday at " + clock
	case t.Year() == now.Year():
		return "on " + t.Format("Jan 2") + " at " + clock
	}
	return "on " + t.Format("Jan 2 2006") + " at " + clock
}

// byTime is "by 15:04", "by tomorrow at 15:04", "by Dec 1 at 15:04".
func byTime(t, now time.Time) string {
	s := at(t, now)
	if rest, ok := strings.CutPrefix(s, "at "); ok {
		return "by " + rest
	}
	return "by " + strings.TrimPrefix(s, "on ")
}

func sameDay(a, b time.Time) bool {
	return a.Year() == b.Year() && a.YearDay() == b.YearDay()
}

// words writes a duration in words, to the precision a person needs:
// "45 seconds", "12 minutes", "1 hour 5 minutes", "2 days 3 hours",
// "1 week". Negative durations are written as their size.
func words(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	d = d.Round(time.Second)
	const day, week = 24 * time.Hour, 7 * 24 * time.Hour
	switch {
	case d < time.Minute:
		return count(int(d/time.Second), "second", "seconds")
	case d < time.Hour:
		return count(int(d/time.Minute), "minute", "minutes")
	case d < 2*day:
		return join(count(int(d/time.Hour), "hour", "hours"), int(d%time.Hour/time.Minute), "minute", "minutes")
	case d%week == 0:
		return count(int(d/week), "week", "weeks")
	}
	return join(count(int(d/day), "day", "days"), int(d%day/time.Hour), "hour", "hours")
}

func join(big string, n int, one, many string) string {
	if n == 0 {
		return big
	}
	return big + " " + count(n, one, many)
}

// count is "1 member", "2 members".
func count(n int, one, many string) string {
	return fmt.Sprintf("%d %s", n, plural(n, one, many))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
