package main

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has
)

// TestParseDueLocalTimes: a due time that the clocks jump over, or that
// comes twice when they go back, is refused in words that say what to give
// instead; a zone abbreviation picks one of the two; the rest is the next
// such time.
func TestParseDueLocalTimes(t *testing.T) {
	t.Parallel()
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	mexico, err := time.LoadLocation("America/Mexico_City")
	if err != nil {
		t.Fatal(err)
	}
	in := func(loc *time.Location, s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	utc := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	for _, c := range []struct {
		name, due string
		now       time.Time
		want      time.Time
		err       []string
	}{
		{"the night the clocks jump", "02:30", in(chicago, "2026-03-07 23:00"), time.Time{},
			[]string{"Sun 8 Mar", "no 02:30 in America/Chicago", "from 02:00 straight to 03:00", "duration"}},
		{"just after the jump", "03:30", in(chicago, "2026-03-07 23:00"), utc("2026-03-08T08:30:00Z"), nil},
		{"the jump has passed today", "02:30", in(chicago, "2026-03-08 10:00"), utc("2026-03-09T07:30:00Z"), nil},
		{"the night the clocks go back", "01:30", in(chicago, "2026-10-31 23:00"), time.Time{},
			[]string{"Sun 1 Nov", "comes twice", "--due '01:30 CDT'", "--due '01:30 CST'"}},
		{"the first of the two", "01:30 CDT", in(chicago, "2026-10-31 23:00"), utc("2026-11-01T06:30:00Z"), nil},
		{"the second of the two", "01:30 cst", in(chicago, "2026-10-31 23:00"), utc("2026-11-01T07:30:00Z"), nil},
		{"a zone that is not there", "01:30 EST", in(chicago, "2026-10-31 23:00"), time.Time{}, []string{"CDT or CST in America/Chicago, not EST"}},
		{"an ordinary evening", "18:00", in(chicago, "2026-11-30 10:00"), utc("2026-12-01T00:00:00Z"), nil},
		{"earlier than now: tomorrow", "09:00", in(chicago, "2026-11-30 10:00"), utc("2026-12-01T15:00:00Z"), nil},
		{"Mexico keeps one time all year", "02:30", in(mexico, "2023-04-01 23:00"), utc("2023-04-02T08:30:00Z"), nil},
		{"a duration", "90m", in(chicago, "2026-03-08 01:00"), utc("2026-03-08T08:30:00Z"), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseDue(c.due, c.now)
			if c.err != nil {
				if err == nil {
					t.Fatalf("--due %s at %s: %s, want an error", c.due, c.now, got)
				}
				for _, s := range c.err {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil || !got.Equal(c.want) {
				t.Fatalf("--due %s at %s: %s, %v; want %s", c.due, c.now, got, err, c.want)
			}
		})
	}
	if got := dateTimeZone(in(chicago, "2026-03-08 03:30")); got != "Sun 8 Mar 2026 03:30 CDT" {
		t.Errorf("preview %q", got)
	}
}
