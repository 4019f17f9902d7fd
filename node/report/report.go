// Package report makes the public counts of a group's alerts: how many of
// each kind, by month and region, that an admin may choose to publish
// (`takecare report`, docs/GUIDE.md, "Public counts"). It reads the feed of
// the node ([node.Node.Feed]) and keeps nothing of its own.
//
// A report holds counts only: no names, member ids, texts, places or
// message ids. Small cells are protected by suppression: a cell that counts
// fewer events than [Options.Threshold] (5 by default) is published as
// "<5", without its number, and the report has no totals from which a
// suppressed cell could be worked out. The guarantee and its limits are in
// docs/THREAT_MODEL.md ("Public counts"): one table hides which small
// cell holds how many; several tables of overlapping data (two breakdowns
// of one period) can be subtracted from each other and may reveal a
// suppressed cell, so publish one breakdown per period.
//
// What counts: every alert the node holds of the group (the retention
// window, 30 days by default), by the time it was made by this node's
// clock; an overdue alarm once per missed check-in, whatever its levels;
// an arrival under duress as a "duress" event. All clears, check-ins and
// ordinary arrivals are not events and are not counted.
package report

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/takecare-network/takecare/node"
)

// Dimensions a report can be broken down by.
const (
	ByMonth  = "month"
	ByKind   = "kind"
	ByRegion = "region"
)

// DefaultThreshold is the smallest count published as a number.
const DefaultThreshold = 5

// MaxThreshold bounds Options.Threshold.
const MaxThreshold = 100

// NoRegion stands for alerts that name no region.
const NoRegion = "-"

// ErrBadOptions is returned (wrapped) for options that make no report.
var ErrBadOptions = errors.New("report: bad options")

// Options choose what a report counts and how.
type Options struct {
	// Since drops what was made before it; zero counts everything held.
	Since time.Time
	// By lists the dimensions, in the order of the columns: ByMonth,
	// ByKind, ByRegion, each at most once. Empty means ByMonth, ByKind.
	By []string
	// Threshold: cells counting fewer events are suppressed. Zero means
	// [DefaultThreshold]; 1 suppresses nothing.
	Threshold int
	// Location is the time zone months are cut in; nil means UTC.
	Location *time.Location
}

// ParseBy parses a comma-separated list of dimensions ("month,kind").
func ParseBy(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		if f != ByMonth && f != ByKind && f != ByRegion {
			return nil, fmt.Errorf("%w: cannot count by %q (month, kind or region)", ErrBadOptions, f)
		}
		if slices.Contains(out, f) {
			return nil, fmt.Errorf("%w: %q is given twice", ErrBadOptions, f)
		}
		out = append(out, f)
	}
	return out, nil
}

// Cell is one line of a report: the values of its dimensions and how many
// events it counts. Values of dimensions not chosen are empty.
type Cell struct {
	Month  string `json:"month,omitempty"` // YYYY-MM
	Kind   string `json:"kind,omitempty"`
	Region string `json:"region,omitempty"` // lower case; NoRegion for none
	// Count is the number of events, or 0 when Suppressed.
	Count int `json:"count"`
	// Suppressed: fewer than the threshold; the number is not published.
	Suppressed bool `json:"suppressed,omitempty"`
}

// Report is a table of counts, ready to publish.
type Report struct {
	Group     string    `json:"group"`
	Since     time.Time `json:"since,omitzero"` // as asked
	Made      time.Time `json:"made"`
	By        []string  `json:"by"`
	Threshold int       `json:"threshold"`
	Cells     []Cell    `json:"cells"`
}

// Make counts the alerts among entries (a group's feed, as
// [node.Node.Feed] returns it) and protects the small cells. group names
// the group in the report's title; now is when the report is made.
func Make(group string, entries []node.Entry, opt Options, now time.Time) (Report, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return Report{}, err
	}
	loc := opt.Location
	counts := make(map[Cell]int)
	alarms := make(map[string]bool) // check-ins whose overdue alarm is counted
	for _, e := range entries {
		kind, ok := eventKind(e)
		if !ok || (!opt.Since.IsZero() && e.Created.Before(opt.Since)) {
			continue
		}
		if kind == "overdue" {
			if alarms[e.GroupID+e.CheckIn] {
				continue
			}
			alarms[e.GroupID+e.CheckIn] = true
		}
		var c Cell
		for _, d := range opt.By {
			switch d {
			case ByMonth:
				c.Month = e.Created.In(loc).Format("2006-01")
			case ByKind:
				c.Kind = kind
			case ByRegion:
				c.Region = region(e.Region)
			}
		}
		counts[c]++
	}
	r := Report{Group: group, Since: opt.Since, Made: now.UTC().Truncate(time.Second), By: opt.By, Threshold: opt.Threshold, Cells: []Cell{}}
	for c, n := range counts {
		if n < opt.Threshold {
			c.Suppressed = true
		} else {
			c.Count = n
		}
		r.Cells = append(r.Cells, c)
	}
	slices.SortFunc(r.Cells, func(a, b Cell) int {
		for _, d := range opt.By {
			if c := strings.Compare(a.value(d), b.value(d)); c != 0 {
				return c
			}
		}
		return 0
	})
	return r, nil
}

// withDefaults returns opt with its zero fields set to the defaults, or
// an error wrapping [ErrBadOptions] for options that cannot be used.
func (opt Options) withDefaults() (Options, error) {
	if opt.By == nil {
		opt.By = []string{ByMonth, ByKind}
	}
	if _, err := ParseBy(strings.Join(opt.By, ",")); err != nil {
		return opt, err
	}
	if len(opt.By) == 0 {
		return opt, fmt.Errorf("%w: give at least one of month, kind, region", ErrBadOptions)
	}
	switch {
	case opt.Threshold == 0:
		opt.Threshold = DefaultThreshold
	case opt.Threshold < 1 || opt.Threshold > MaxThreshold:
		return opt, fmt.Errorf("%w: the threshold must be between 1 and %d", ErrBadOptions, MaxThreshold)
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	return opt, nil
}

// eventKind is the kind an entry counts as, or false if it is no event.
func eventKind(e node.Entry) (string, bool) {
	switch e.Kind {
	case "checkin", "arrived", "allclear", "":
		return "", false
	}
	return e.Kind, true
}

// region normalises a region for counting: trimmed, lower case, one space
// between words.
func region(s string) string {
	s = strings.Join(strings.Fields(strings.ToLower(s)), " ")
	if s == "" {
		return NoRegion
	}
	return s
}

func (c Cell) value(d string) string {
	switch d {
	case ByMonth:
		return c.Month
	case ByKind:
		return c.Kind
	case ByRegion:
		return c.Region
	}
	return ""
}

// Shown is the count as published: the number, or "<N" for a suppressed
// cell.
func (r Report) Shown(c Cell) string {
	if c.Suppressed {
		return "<" + strconv.Itoa(r.Threshold)
	}
	return strconv.Itoa(c.Count)
}

// WriteCSV writes the report as CSV (RFC 4180): a header of the chosen
// dimensions and "count", then one row per cell; a suppressed count reads
// "<N".
func (r Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(append(slices.Clone(r.By), "count")); err != nil {
		return err
	}
	for _, c := range r.Cells {
		row := make([]string, 0, len(r.By)+1)
		for _, d := range r.By {
			row = append(row, c.value(d))
		}
		if err := cw.Write(append(row, r.Shown(c))); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Label is a cell's values joined for a chart or a screen ("2026-11 ·
// danger").
func (r Report) Label(c Cell) string {
	var parts []string
	for _, d := range r.By {
		parts = append(parts, c.value(d))
	}
	return strings.Join(parts, " · ")
}
