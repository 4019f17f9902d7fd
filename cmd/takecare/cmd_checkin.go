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
		fmt.Fprintf(e.stderr, "Check-in started: %s, due %s (in %s).\n", route(*from, *to), at(dueAt, now), words(dueAt.Sub(now)))
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
// of day ("18:00", "6:30", "18:00:30") meaning its next occurrence in local
// time, or a full RFC 3339 time.
func parseDue(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	for _, layout := range []string{"15:04", "15:04:05"} {
		t, err := time.ParseInLocation(layout, s, time.Local)
		if err != nil {
			continue
		}
		y, m, d := now.Date()
		at := time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), 0, time.Local)
		if !at.After(now) {
			at = time.Date(y, m, d+1, t.Hour(), t.Minute(), t.Second(), 0, time.Local)
		}
		return at, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--due %q: give a time like 18:00 or a duration like 2h or 90s", s)
}

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
		who := ci.Author
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
	what := strings.ToUpper(res.Entry.Kind) + " from " + res.Entry.Author
	if res.Entry.Subject != "" {
		what = "the OVERDUE alarm about " + res.Entry.Subject
	}
	fmt.Fprintf(e.stderr, "Acknowledged %s (%s) as %s; everyone in %s sees it.\n", what, res.Entry.ID[:12], strings.ToLower(strings.TrimSpace(*status)), res.Entry.Group)
	fmt.Fprintln(e.stdout, res.ID)
	return nil
}
