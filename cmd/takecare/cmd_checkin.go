package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
)

// checkinFlags are the flags of each checkin subcommand; one flag set
// parses them all, then the ones that do not belong are refused.
var checkinFlags = map[string][]string{
	"start": {"home", "to", "from", "due", "grace", "escalate-after", "escalate-to", "text"},
	"done":  {"home", "duress"},
	"list":  {"home", "json"},
}

func cmdCheckin(ctx context.Context, e *env, args []string) error {
	f := newFlags("checkin", e)
	to := f.String("to", "", "where you are going")
	from := f.String("from", "", "where you are leaving from")
	due := f.String("due", "", "when you expect to arrive: a time today or tomorrow (18:00) or a duration (2h, 90s)")
	grace := f.Duration("grace", alert.DefaultGrace, "how long after the due time the alarm waits")
	escAfter := f.Duration("escalate-after", 0, "how long an unanswered alarm waits before escalating (default 10m)")
	escTo := f.String("escalate-to", "", "a second group that receives the escalation")
	text := f.String("text", "", "anything the group should know (vehicle, companions, route)")
	duress := f.Bool("duress", false, "tell the group you are forced to say you arrived; your own screen shows a normal arrival")
	asJSON := f.Bool("json", false, "print JSON Lines, one check-in per line")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("say start, done or list")
	}
	sub := pos[0]
	allowed, ok := checkinFlags[sub]
	if !ok {
		return usagef("unknown checkin command %q (start, done or list)", sub)
	}
	var wrong error
	f.Visit(func(fl *flag.Flag) {
		if wrong == nil && !slices.Contains(allowed, fl.Name) {
			wrong = usagef("--%s does not go with checkin %s", fl.Name, sub)
		}
	})
	if wrong != nil {
		return wrong
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	switch sub {
	case "start":
		if len(pos) != 2 {
			return usagef("checkin start needs one GROUP")
		}
		if strings.TrimSpace(*to) == "" || *due == "" {
			return usagef("--to PLACE and --due TIME are required")
		}
		now := time.Now()
		dueAt, err := parseDue(*due, now)
		if err != nil {
			return usageError{err}
		}
		req := api.CheckInRequest{From: *from, To: *to, Due: dueAt, EscalateAfter: api.Duration(*escAfter), EscalateTo: *escTo, Text: *text}
		if isSet(f, "grace") {
			g := api.Duration(*grace)
			req.Grace = &g
		}
		id, err := c.StartCheckIn(ctx, pos[1], req)
		if err != nil {
			return err
		}
		deadline := dueAt.Add(*grace)
		fmt.Fprintf(e.stderr, "Check-in started: %s, due %s (in %s).\n", route(*from, *to), dateTimeZone(dueAt), words(dueAt.Sub(now)))
		if st, err := c.Status(ctx); err == nil && st.Clock.Off {
			fmt.Fprintln(e.stderr, newSpeaker(e.getenv).clockOff("clock.behind", "clock.ahead", time.Duration(st.Clock.OffsetSeconds)*time.Second))
		}
		fmt.Fprintf(e.stderr, "When you arrive, run: %s. If you have not %s, the group is alerted.\n", f.hint("checkin", "done"), byTime(deadline, now))
		fmt.Fprintln(e.stdout, id)
		return nil
	case "done":
		if len(pos) > 2 {
			return usagef("checkin done takes at most one ID")
		}
		id := ""
		if len(pos) == 2 {
			id = pos[1]
		}
		res, err := c.DoneCheckIn(ctx, id, *duress)
		if err != nil {
			return err
		}
		// The same words with or without --duress: someone may be watching.
		fmt.Fprintf(e.stderr, "Marked safe: %s. The group has been told you arrived.\n", route(res.CheckIn.From, res.CheckIn.To))
		fmt.Fprintln(e.stdout, res.ID)
		return nil
	case "list":
		if len(pos) > 2 {
			return usagef("name at most one GROUP")
		}
		group := ""
		if len(pos) == 2 {
			group = pos[1]
		}
		cs, err := c.CheckIns(ctx, group)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSONLines(e.stdout, cs)
		}
		if len(cs) == 0 {
			fmt.Fprintln(e.stderr, "no open check-ins")
		}
		printCheckIns(e.stdout, cs, time.Now())
		return nil
	}
	return nil
}

func isSet(f *flags, name string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// parseDue reads --due: a duration from now ("2h", "90s", "1h30m"), a time
// of day ("18:00", "6:30", "18:00:30") meaning its next occurrence in the
// zone of now, or a full RFC 3339 time. A time of day may end with a zone
// abbreviation ("01:30 CDT") to say which of two is meant when the clocks
// go back. A time of day that does not exist that day (the clocks jump
// over it) or that exists twice (they go back over it) is refused, saying
// why and what to give instead.
func parseDue(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	clock, zone, _ := strings.Cut(s, " ")
	zone = strings.ToUpper(strings.TrimSpace(zone))
	for _, layout := range []string{"15:04", "15:04:05"} {
		t, err := time.Parse(layout, clock)
		if err != nil {
			continue
		}
		return nextWallTime(s, t.Hour(), t.Minute(), t.Second(), zone, now)
	}
	return time.Time{}, node.Errorf(node.KindInvalid, "--due %q: give a time like 18:00 or a duration like 2h or 90s", s)
}

// nextWallTime is the next moment after now at which the clocks of now's
// zone show h:m:s (in zone, an abbreviation such as CST, if given).
func nextWallTime(s string, h, m, sec int, zone string, now time.Time) (time.Time, error) {
	loc := now.Location()
	for day := 0; day < 2; day++ {
		y, mo, d := now.Date()
		date := time.Date(y, mo, d+day, 12, 0, 0, 0, loc)
		all := wallTimes(date, h, m, sec)
		if len(all) == 0 {
			naive := time.Date(y, mo, d+day, h, m, sec, 0, loc)
			jump := transition(naive.Add(-3*time.Hour), naive.Add(3*time.Hour))
			if !jump.After(now) {
				continue // that day's gap has passed: tomorrow
			}
			_, before := jump.Add(-time.Second).Zone()
			return time.Time{}, node.Errorf(node.KindInvalid, "--due %q: on %s there is no %02d:%02d in %s: the clocks go from %s straight to %s. Give another time, or a duration such as 2h",
				s, date.Format("Mon 2 Jan"), h, m, loc, jump.In(time.FixedZone("", before)).Format("15:04"), jump.Format("15:04"))
		}
		var at []time.Time
		passed := false // the one meant has passed
		for _, t := range all {
			if zone == "" || t.Format("MST") == zone {
				if t.After(now) {
					at = append(at, t)
				} else {
					passed = true
				}
			}
		}
		switch {
		case !all[len(all)-1].After(now), len(at) == 0 && passed:
			continue // passed today: tomorrow
		case len(at) == 0:
			return time.Time{}, node.Errorf(node.KindInvalid, "--due %q: %02d:%02d on %s is %s in %s, not %s", s, h, m, date.Format("Mon 2 Jan"), zoneNames(all), loc, zone)
		case len(at) > 1:
			return time.Time{}, node.Errorf(node.KindInvalid, "--due %q: on %s the clocks in %s go back, and %02d:%02d comes twice: say --due '%02d:%02d %s' for the first, or --due '%02d:%02d %s' for the second, an hour later",
				s, date.Format("Mon 2 Jan"), loc, h, m, h, m, at[0].Format("MST"), h, m, at[1].Format("MST"))
		}
		return at[0], nil
	}
	return time.Time{}, node.Errorf(node.KindInvalid, "--due %q: no such time in the next two days", s)
}

// wallTimes returns the moments of the day of date (in its zone) at which
// the clocks show h:m:s: usually one, none when the clocks jump over it,
// two when they go back over it. Zone changes are taken to be more than
// three hours apart.
func wallTimes(date time.Time, h, m, s int) []time.Time {
	loc := date.Location()
	y, mo, d := date.Date()
	var out []time.Time
	naive := time.Date(y, mo, d, h, m, s, 0, loc)
	for _, probe := range []time.Time{naive.Add(-3 * time.Hour), naive.Add(3 * time.Hour)} {
		_, off := probe.Zone()
		t := time.Date(y, mo, d, h, m, s, 0, time.FixedZone("", off)).In(loc)
		if _, o := t.Zone(); o != off || t.Hour() != h || t.Minute() != m || t.Second() != s {
			continue
		}
		if len(out) == 0 || !out[0].Equal(t) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// transition finds the moment the zone's offset changes between a and b
// (a before b, at most one change between them), to the second; b if
// there is none.
func transition(a, b time.Time) time.Time {
	_, off := a.Zone()
	for b.Sub(a) > time.Second {
		mid := a.Add(b.Sub(a) / 2)
		if _, o := mid.Zone(); o == off {
			a = mid
		} else {
			b = mid
		}
	}
	return b
}

func zoneNames(ts []time.Time) string {
	var names []string
	for _, t := range ts {
		names = append(names, t.Format("MST"))
	}
	return strings.Join(names, " or ")
}

// dateTimeZone is a moment with its date, time and zone, as a check-in's
// preview shows it: "Sun 8 Mar 2026 03:30 CDT".
func dateTimeZone(t time.Time) string { return t.Format("Mon 2 Jan 2006 15:04 MST") }

func route(from, to string) string {
	if from == "" {
		return "to " + to
	}
	return from + " → " + to
}

func printCheckIns(w io.Writer, cs []node.CheckInView, now time.Time) {
	for _, ci := range cs {
		var status string
		switch ci.State {
		case "open":
			status = words(ci.Due.Sub(now)) + " left"
		case "late":
			status = "late by " + words(now.Sub(ci.Due)) + ", alarm " + at(ci.Deadline, now)
		case "overdue":
			status = "OVERDUE since " + clockTime(ci.Deadline, now) + " (" + words(now.Sub(ci.Deadline)) + ")"
			if ci.Alarm != "" {
				status += ", alarm " + ci.Alarm[:12]
			}
		case "escalated":
			status = "OVERDUE since " + clockTime(ci.Deadline, now) + ", ESCALATED, alarm " + ci.Alarm[:12]
		default:
			status = ci.State
		}
		who := orName(ci.AuthorLabel, ci.Author)
		if ci.Mine {
			who += " (you)"
		}
		fmt.Fprintf(w, "%-10s %s  %-14s %s, due %s: %s\n", ci.Group, ci.ID[:12], who, route(ci.From, ci.To), clockTime(ci.Due, now), status)
		if ci.Text != "" {
			fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(ci.Text, "\n", "\n    "))
		}
	}
}

func cmdAck(ctx context.Context, e *env, args []string) error {
	f := newFlags("ack", e)
	status := f.String("status", "seen", "seen, responding or unable")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("give the ID of one message (at least 6 characters of it)")
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	res, err := c.Ack(ctx, pos[0], *status)
	if err != nil {
		return err
	}
	what := strings.ToUpper(res.Entry.Kind) + " from " + orName(res.Entry.AuthorLabel, res.Entry.Author)
	if res.Entry.Subject != "" {
		what = "the OVERDUE alarm about " + orName(res.Entry.SubjectLabel, res.Entry.Subject)
	}
	fmt.Fprintf(e.stderr, "Acknowledged %s (%s) as %s; everyone in %s sees it.\n", what, res.Entry.ID[:12], strings.ToLower(strings.TrimSpace(*status)), res.Entry.Group)
	fmt.Fprintln(e.stdout, res.ID)
	return nil
}
