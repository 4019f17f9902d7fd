package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
)

// profile returns the home folder that f names, which must hold a profile.
func (f *flags) profile() (home, error) {
	dir, err := f.homeDir()
	if err != nil {
		return home{}, err
	}
	h := home{dir}
	return h, h.mustExist()
}

// client returns an API client for the home folder that f names.
func (f *flags) client() (*api.Client, error) {
	h, err := f.profile()
	if err != nil {
		return nil, err
	}
	return api.NewClient(h.dir), nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printJSONLines prints one JSON object a line.
func printJSONLines[T any](w io.Writer, xs []T) error {
	enc := json.NewEncoder(w)
	for _, x := range xs {
		if err := enc.Encode(x); err != nil {
			return err
		}
	}
	return nil
}

func cmdStatus(ctx context.Context, e *env, args []string) error {
	f := newFlags("status", e)
	asJSON := f.Bool("json", false, "print JSON")
	if _, err := f.parse(args); err != nil {
		return err
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, st)
	}
	w := e.stdout
	fmt.Fprintf(w, "%s (member %s)\n", st.Name, st.MemberID[:12])
	fmt.Fprintf(w, "node   %s, up since %s\n", st.Peer, st.Since.Local().Format("2006-01-02 15:04"))
	fmt.Fprintf(w, "stored %d messages; connected to %d member nodes\n", st.Messages, st.Peers)
	if len(st.Groups) == 0 {
		fmt.Fprintln(w, "no groups yet: create one (takecare group create NAME) or join one (takecare join CODE)")
		return nil
	}
	for _, g := range st.Groups {
		fmt.Fprintf(w, "group %-16s %s, %d members, %d reachable now\n", g.Name, g.Role, g.Members, g.Reachable)
	}
	return nil
}

func cmdGroup(ctx context.Context, e *env, args []string) error {
	f := newFlags("group", e)
	asJSON := f.Bool("json", false, "print JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("say create NAME or list")
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	switch pos[0] {
	case "create":
		if len(pos) != 2 {
			return usagef("group create needs one NAME")
		}
		g, err := c.CreateGroup(ctx, pos[1])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, g)
		}
		fmt.Fprintf(e.stderr, "Created group %q. Invite people with: takecare invite %s\n", g.Name, g.Name)
		fmt.Fprintln(e.stdout, g.ID)
		return nil
	case "list":
		gs, err := c.Groups(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, gs)
		}
		if len(gs) == 0 {
			fmt.Fprintln(e.stderr, "no groups yet")
		}
		for _, g := range gs {
			fmt.Fprintf(e.stdout, "%-16s %s  %-6s %d members, %d reachable\n", g.Name, g.ID[:8], g.Role, g.Members, g.Reachable)
		}
		return nil
	}
	return usagef("unknown group command %q (create or list)", pos[0])
}

func cmdInvite(ctx context.Context, e *env, args []string) error {
	f := newFlags("invite", e)
	uses := f.Int("uses", 1, "how many people may join with this code")
	ttl := f.Duration("ttl", node.DefaultInviteTTL, "how long the code stays valid")
	qr := f.Bool("qr", false, "also show the code as a QR code")
	asJSON := f.Bool("json", false, "print JSON")
	list := f.Bool("list", false, "list the group's invites instead of making one")
	revoke := f.String("revoke", "", "revoke the invite with this id (or a prefix of it)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("name one GROUP")
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	switch {
	case *list:
		invs, err := c.Invites(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, invs)
		}
		if len(invs) == 0 {
			fmt.Fprintln(e.stderr, "no invites")
		}
		for _, inv := range invs {
			state := "open"
			switch {
			case inv.Revoked:
				state = "revoked"
			case inv.Used >= inv.Uses:
				state = "used up"
			case !inv.Open:
				state = "expired"
			}
			fmt.Fprintf(e.stdout, "%s  by %-12s used %d of %d, until %s  %s\n", inv.ID, inv.By, inv.Used, inv.Uses, inv.Expires.Local().Format("2006-01-02 15:04"), state)
		}
		return nil
	case *revoke != "":
		inv, err := c.RevokeInvite(ctx, pos[0], *revoke)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, inv)
		}
		fmt.Fprintf(e.stdout, "revoked invite %s\n", inv.ID)
		return nil
	}
	inv, err := c.Invite(ctx, pos[0], *uses, *ttl)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, inv)
	}
	fmt.Fprintf(e.stderr, "Invite to %q for %d %s, valid until %s. Give the code only to the people you mean; anyone holding it can join.\n",
		inv.Group, inv.Uses, plural(inv.Uses, "person", "people"), inv.Expires.Local().Format("2006-01-02 15:04"))
	if *qr {
		q, err := qrcode.New(inv.Code, qrcode.Low)
		if err != nil {
			return err
		}
		fmt.Fprint(e.stdout, q.ToSmallString(false))
	}
	fmt.Fprintln(e.stdout, inv.Code)
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func cmdJoin(ctx context.Context, e *env, args []string) error {
	f := newFlags("join", e)
	asJSON := f.Bool("json", false, "print JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("give the invite CODE")
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	g, err := c.Join(ctx, strings.Join(pos, ""))
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, g)
	}
	fmt.Fprintf(e.stdout, "joined %s (%d members)\n", g.Name, g.Members)
	return nil
}

func cmdMembers(ctx context.Context, e *env, args []string) error {
	f := newFlags("members", e)
	asJSON := f.Bool("json", false, "print JSON Lines, one member per line")
	promote := f.String("promote", "", "make this member an admin (admins only)")
	demote := f.String("demote", "", "make this admin a plain member (admins only)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("name one GROUP")
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	for _, change := range []struct{ who, role string }{{*promote, "admin"}, {*demote, "member"}} {
		if change.who == "" {
			continue
		}
		m, err := c.SetRole(ctx, pos[0], change.who, change.role)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "%s is now %s of %s\n", m.Name, map[string]string{"admin": "an admin", "member": "a member"}[m.Role], pos[0])
	}
	ms, err := c.Members(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSONLines(e.stdout, ms)
	}
	for _, m := range ms {
		seen := "never seen"
		switch {
		case m.You:
			seen = "you"
		case m.LastSeen != nil:
			seen = "seen " + ago(time.Since(*m.LastSeen))
		}
		v := ""
		if m.Verified {
			v = "verified"
		}
		fmt.Fprintf(e.stdout, "%-20s %s  %-6s %-9s %s\n", m.Name, m.ID[:12], m.Role, v, seen)
	}
	return nil
}

func ago(d time.Duration) string {
	switch {
	case d < 5*time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func cmdAlert(ctx context.Context, e *env, args []string) error {
	f := newFlags("alert", e)
	kind := f.String("kind", "", "what is happening: danger, threat, violence, detention, disappearance, checkpoint, surveillance, medical, info, allclear")
	sev := f.String("severity", "", "info, warning, urgent or critical")
	region := f.String("region", "", "region or community")
	place := f.String("place", "", "place")
	text := f.String("text", "", "what people need to know")
	ttl := f.Duration("ttl", 0, "how long the alert matters (default 24h)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("name one GROUP")
	}
	if *kind == "" || *sev == "" {
		return usagef("--kind and --severity are required")
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	id, err := c.Alert(ctx, pos[0], api.AlertRequest{Kind: *kind, Severity: *sev, Region: *region, Place: *place, Text: *text, TTL: api.Duration(*ttl)})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "alert sent to %s\n", pos[0])
	fmt.Fprintln(e.stdout, id)
	return nil
}

func cmdPanic(ctx context.Context, e *env, args []string) error {
	f := newFlags("panic", e)
	text := f.String("text", "", "optional words")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("name one GROUP")
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	id, err := c.Panic(ctx, pos[0], *text)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "PANIC sent to %s\n", pos[0])
	fmt.Fprintln(e.stdout, id)
	return nil
}

func cmdFeed(ctx context.Context, e *env, args []string) error {
	f := newFlags("feed", e)
	region := f.String("region", "", "only this region")
	follow := f.Bool("follow", false, "keep printing new alerts as they arrive")
	asJSON := f.Bool("json", false, "print JSON Lines, one message per line")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("name at most one GROUP")
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	o := api.FeedOptions{Region: *region, Follow: *follow}
	if len(pos) == 1 {
		o.Group = pos[0]
	}
	enc := json.NewEncoder(e.stdout)
	printed := map[string]bool{}
	err = c.Feed(ctx, o, func(en node.Entry) error {
		if *asJSON {
			return enc.Encode(en)
		}
		if printed[en.ID] {
			printAcks(e.stdout, en)
			return nil
		}
		printed[en.ID] = true
		printEntry(e.stdout, en)
		return nil
	})
	if ctx.Err() != nil {
		return nil // interrupted while following
	}
	return err
}

func printEntry(w io.Writer, en node.Entry) {
	when := en.Created.Local().Format("Jan 02 15:04")
	head := strings.ToUpper(en.Kind)
	if en.Severity != "" && en.Kind != "checkin" && en.Kind != "arrived" {
		head += " (" + en.Severity + ")"
	}
	where := strings.Trim(strings.Join([]string{en.Region, en.Place}, ", "), ", ")
	who := en.Author
	switch en.Kind {
	case "checkin", "overdue", "arrived", "duress":
		if en.Due != nil {
			where = fmt.Sprintf("%s, due %s", route(en.From, en.To), en.Due.Local().Format("15:04"))
		}
		if en.Subject != "" {
			who = en.Subject
		}
	}
	line := fmt.Sprintf("%s  %-8s %s  %s", when, en.Group, head, who)
	if where != "" {
		line += " · " + where
	}
	fmt.Fprintln(w, line)
	if en.Text != "" {
		fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(en.Text, "\n", "\n    "))
	}
	if en.Kind == "duress" {
		fmt.Fprintf(w, "    %s was forced to report arriving: they are not safe.\n", en.Author)
	}
	fmt.Fprintf(w, "    id %s\n", en.ID[:12])
	printAcks(w, en)
}

func printAcks(w io.Writer, en node.Entry) {
	for _, a := range en.Acks {
		fmt.Fprintf(w, "    ↳ %s: %s (%s)\n", a.Author, a.Status, a.Time.Local().Format("15:04"))
	}
}
