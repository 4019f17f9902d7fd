package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
	"github.com/takecare-network/takecare/node/smsbridge"
)

const smsUsage = "grant GROUP BRIDGE [--days N] | enrol CODE --number N [--pin] [--json] | lines GROUP [NUMBER...] [--content none|short|full] [--lang es|en] [--clear] | members [--json] | remove GROUP MEMBER | status [--json]"

// cmdSMS runs the SMS bridge's commands (node/smsbridge; docs/GUIDE.md,
// "SMS bridge").
func cmdSMS(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("say what: grant, enrol, lines, members, remove or status")
	}
	f := newFlags("sms "+args[0], e)
	switch args[0] {
	case "grant":
		days := f.Int("days", 90, "how many days the bridge may send for you (at most 366)")
		pos, err := f.parse(args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return usagef("give the GROUP and the BRIDGE (the member whose node sends your SMS)")
		}
		if *days < 1 || *days > 366 {
			return usagef("--days must be between 1 and 366")
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		g, err := c.SMSGrant(ctx, pos[0], pos[1], *days)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "This lets %s's node send, until %s, your panics, check-ins, arrivals and answers that you send it by SMS. "+
			"Give the code to %s (it is not secret: only that node can use it), who enrols your phone number and gives you your code.\n",
			g.Bridge, clockZone(g.Expires, time.Now()), g.Bridge)
		fmt.Fprintln(e.stdout, g.Code)
		return nil
	case "enrol", "enroll":
		number := f.String("number", "", "the member's phone number, with country code (+52 ...)")
		pin := f.Bool("pin", false, "a 6-digit PIN instead of a code from an authenticator app (for phones without apps; weaker)")
		asJSON := f.Bool("json", false, "print JSON")
		pos, err := f.parse(args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 || *number == "" {
			return usagef("give the member's grant CODE and --number")
		}
		mode := "totp"
		if *pin {
			mode = "pin"
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		out, err := c.SMSEnrol(ctx, pos[0], *number, mode)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, out)
		}
		w := e.stdout
		fmt.Fprintf(w, "Enrolled %s from %s until %s. Show this to the member now: it is not shown again.\n\n", out.Member[:12], out.Number, clockZone(out.Ends, time.Now()))
		if out.Mode == "totp" {
			fmt.Fprintln(w, "Add it to an authenticator app (scan the QR code, or type the key):")
			if q, err := qrcode.New(out.URL, qrcode.Low); err == nil {
				fmt.Fprint(w, q.ToSmallString(false))
			}
			fmt.Fprintf(w, "  key        %s\n", out.Secret)
			fmt.Fprintln(w, "  code       the 6 digits the app shows, at the end of each SMS")
		} else {
			fmt.Fprintf(w, "  PIN        %s   (at the end of each SMS)\n", out.Secret)
		}
		fmt.Fprintf(w, "  duress PIN %s   (does what the SMS asks, and warns the group that you are forced)\n", out.Duress)
		return nil
	case "lines":
		content := f.String("content", "", "what the SMS say: none, short (kind, place, time; the default) or full")
		lang := f.String("lang", "", "language of the SMS: es (default) or en")
		clearAll := f.Bool("clear", false, "remove every safe line of the group")
		pos, err := f.parse(args[1:])
		if err != nil {
			return err
		}
		if len(pos) == 0 {
			return usagef("give the GROUP")
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		var l smsbridge.Lines
		if len(pos) == 1 && !*clearAll && *content == "" && *lang == "" {
			l, err = c.SMSLines(ctx, pos[0], nil)
		} else {
			if *clearAll && len(pos) > 1 {
				return usagef("--clear takes no numbers")
			}
			l, err = c.SMSLines(ctx, pos[0], &api.LinesRequest{Numbers: pos[1:], Content: *content, Lang: *lang})
		}
		if err != nil {
			return err
		}
		if len(l.Numbers) == 0 {
			fmt.Fprintln(e.stdout, "No safe lines: urgent alerts of this group are not sent by SMS.")
			return nil
		}
		fmt.Fprintf(e.stdout, "Safe lines (content %s, language %s): %s\n", l.Content, l.Lang, strings.Join(l.Numbers, ", "))
		return nil
	case "members":
		asJSON := f.Bool("json", false, "print JSON Lines")
		if _, err := f.parse(args[1:]); err != nil {
			return err
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		ms, err := c.SMSMembers(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSONLines(e.stdout, ms)
		}
		for _, m := range ms {
			fmt.Fprintf(e.stdout, "%s  %s  %s  %-4s  until %s\n", m.Group[:8], m.Member[:12], m.Number, m.Mode, clockZone(m.Ends, time.Now()))
		}
		return nil
	case "remove":
		pos, err := f.parse(args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return usagef("give the GROUP and the MEMBER")
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		removed, err := c.SMSRemove(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		if !removed {
			return node.Errorf(node.KindNotFound, "%s was not enrolled on this bridge for %s", pos[1], pos[0])
		}
		fmt.Fprintln(e.stderr, "Removed: SMS from that member's number are refused from now on.")
		return nil
	case "status":
		asJSON := f.Bool("json", false, "print JSON")
		if _, err := f.parse(args[1:]); err != nil {
			return err
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		st, err := c.SMSStatus(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, st)
		}
		fmt.Fprintf(e.stdout, "carried out %d; refused: unknown number %d, wrong code %d, replayed %d, over the rate %d, not understood %d; failed %d\n",
			st.Accepted, st.UnknownFrom, st.BadCode, st.Replayed, st.RateLimited, st.Unparsed, st.Failed)
		fmt.Fprintf(e.stdout, "sent to safe lines %d, not sent %d\n", st.SentLines, st.SendFailures)
		return nil
	}
	return usagef("unknown sms command %q", args[0])
}
