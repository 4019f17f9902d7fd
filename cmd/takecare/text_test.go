package main

import (
	"testing"
	"time"
)

// TestWords: durations in words, to the precision a person needs.
func TestWords(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second:                "45 seconds",
		time.Second:                     "1 second",
		12 * time.Minute:                "12 minutes",
		time.Hour:                       "1 hour",
		90 * time.Minute:                "1 hour 30 minutes",
		26*time.Hour + 5*time.Minute:    "26 hours 5 minutes",
		3*24*time.Hour + 2*time.Hour:    "3 days 2 hours",
		7 * 24 * time.Hour:              "1 week",
		30 * 24 * time.Hour:             "30 days",
		-(2*time.Hour + 10*time.Minute): "2 hours 10 minutes",
	} {
		if got := words(d); got != want {
			t.Errorf("words(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestTimes: one format for times, with the date when not today, and
// sentences that read right.
func TestTimes(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.Local)
	for _, tc := range []struct {
		t          time.Time
		clock, at  string
		by, inZone string
	}{
		{now.Add(8 * time.Hour), "18:00", "at 18:00", "by 18:00", "18:00"},
		{now.Add(20 * time.Hour), "Dec 1 06:00", "tomorrow at 06:00", "by tomorrow at 06:00", "Dec 1 06:00"},
		{now.Add(-20 * time.Hour), "Nov 29 14:00", "yesterday at 14:00", "by yesterday at 14:00", "Nov 29 14:00"},
		{now.AddDate(0, 0, 5), "Dec 5 10:00", "on Dec 5 at 10:00", "by Dec 5 at 10:00", "Dec 5 10:00"},
		{now.AddDate(1, 0, 0), "Nov 30 2027 10:00", "on Nov 30 2027 at 10:00", "by Nov 30 2027 at 10:00", "Nov 30 2027 10:00"},
	} {
		if got := clockTime(tc.t, now); got != tc.clock {
			t.Errorf("clockTime(%v) = %q, want %q", tc.t, got, tc.clock)
		}
		if got := at(tc.t, now); got != tc.at {
			t.Errorf("at(%v) = %q, want %q", tc.t, got, tc.at)
		}
		if got := byTime(tc.t, now); got != tc.by {
			t.Errorf("byTime(%v) = %q, want %q", tc.t, got, tc.by)
		}
		if got := clockZone(tc.t, now); got != tc.inZone+" "+tc.t.Format("MST") {
			t.Errorf("clockZone(%v) = %q", tc.t, got)
		}
	}
}
