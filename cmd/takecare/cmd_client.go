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
	// The feed shows fewer messages than the node keeps: answers,
	// membership changes and group keys are stored but are not lines of
	// their own.
	shown := 0
	if err := c.Feed(ctx, api.FeedOptions{}, func(node.Entry) error { shown++; return nil }); err != nil {
		return err
	}
	now := time.Now()
	w := e.stdout
	for _, warn := range st.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn.Text)
	}
	fmt.Fprintf(w, "%s (member %s)\n", st.Name, st.MemberID[:12])
	fmt.Fprintf(w, "node   %s, running since %s\n", st.Peer, clockZone(st.Since, now))
	fmt.Fprintf(w, "feed   %s (the node keeps %s, counting answers and membership changes)\n",
		count(shown, "message", "messages"), count(st.Messages, "record", "records"))
	fmt.Fprintf(w, "peers  connected to %s\n", count(st.Peers, "member node", "member nodes"))
	switch {
	case st.Clock.Off:
		fmt.Fprintf(w, "clock  %s\n", newSpeaker(e.getenv).clockOff("clock.behind", "clock.ahead", time.Duration(st.Clock.OffsetSeconds)*time.Second))
	case st.Clock.Peers > 0:
		fmt.Fprintf(w, "clock  right, by %s\n", count(st.Clock.Peers, "member node", "member nodes"))
	}
	if len(st.Groups) == 0 {
		fmt.Fprintf(w, "no groups yet: create one (%s) or join one (%s)\n", f.hint("group", "create", "NAME"), f.hint("join", "CODE"))
		return nil
	}
	for _, g := range st.Groups {
		fmt.Fprintf(w, "group %-16s %s, %s, %d reachable now\n", g.Name, g.Role, count(g.Members, "member", "members"), g.Reachable)
		warnGroup(w, g)
	}
	printPaths(w, st, now)
	return nil
}

// printPaths writes how each other member's node is reached, and what
// this node relays.
func printPaths(w io.Writer, st api.Status, now time.Time) {
	for _, p := range st.Paths {
		fmt.Fprintf(w, "member %-16s %s  %s\n", p.Name, p.MemberID[:12], pathWords(p.Path, p.Via, p.Since, p.LastSync, now))
	}
	if st.RelaySlots > 0 {
		fmt.Fprintf(w, "relay  reachable through %s\n", count(st.RelaySlots, "relay", "relays"))
	}
	if r := st.Relay; r != nil {
		fmt.Fprintf(w, "relay  relaying for others: %s held, %s open, %s relayed, %s refused\n",
			count(int(r.Reservations), "slot", "slots"), count(int(r.Circuits), "connection", "connections"),
			bytesWords(r.Bytes), count(int(r.Refused), "request", "requests"))
	}
}

// pathWords says how a member's node is reached, for people: "relayed
// through Vol for 5 minutes; last sync 2 minutes ago". Zero times are
// unknown.
func pathWords(path, via string, since, lastSync time.Time, now time.Time) string {
	how := path
	if path == node.PathRelayed {
		how = "relayed through " + via
	}
	if !since.IsZero() {
		how += " for " + words(now.Sub(since).Truncate(time.Second))
	}
	if lastSync.IsZero() {
		return how + "; no sync yet"
	}
	return how + "; last sync " + ago(now.Sub(lastSync))
}

// bytesWords is a byte count for people: "512 B", "3.2 MB".
func bytesWords(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f GB", float64(n)/1e9)
}

// warnGroup prints what the member must know about a group, if anything.
func warnGroup(w io.Writer, g node.GroupInfo) {
	if g.Warning != "" {
		fmt.Fprintf(w, "  WARNING: %s\n", g.Warning)
	}
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
		fmt.Fprintf(e.stderr, "Created group %q. Invite people with: %s\n", g.Name, f.hint("invite", g.Name))
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
			fmt.Fprintf(e.stdout, "%-16s %s  %-6s %s, %d reachable\n", g.Name, g.ID[:8], g.Role, count(g.Members, "member", "members"), g.Reachable)
			warnGroup(e.stderr, g)
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
			fmt.Fprintf(e.stdout, "%s  by %-12s used %d of %d, until %s  %s\n", inv.ID, inv.By, inv.Used, inv.Uses, clockZone(inv.Expires, time.Now()), state)
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
	fmt.Fprintf(e.stderr, "Invite to %q for %s, valid until %s. Give the code only to the people you mean; anyone holding it can join.\n",
		inv.Group, count(inv.Uses, "person", "people"), clockZone(inv.Expires, time.Now()))
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
	warnGroup(e.stderr, g.GroupInfo)
	if *asJSON {
		return printJSON(e.stdout, g)
	}
	if g.Already {
		fmt.Fprintf(e.stdout, "already a member of %s (%s); nothing changed\n", g.Name, count(g.Members, "member", "members"))
		return nil
	}
	fmt.Fprintf(e.stdout, "joined %s (%s)\n", g.Name, count(g.Members, "member", "members"))
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
		if m.Path != "" {
			seen += ", " + pathWords(m.Path, m.Via, deref(m.PathSince), deref(m.LastSync), time.Now())
		}
		fmt.Fprintf(e.stdout, "%-20s %s  %-6s %-9s %s\n", m.Name, m.ID[:12], m.Role, v, seen)
		if m.Label != m.Name && m.Label != "" {
			fmt.Fprintf(e.stdout, "    another member's name can be taken for %s's: check the id and the safety number\n", m.Name)
		}
	}
	return nil
}

// deref is *t, or the zero time for nil.
func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// ago is how long ago something was seen: "now", "5 minutes ago".
func ago(d time.Duration) string {
	switch {
	case d < 5*time.Second:
		return "now"
	case d < time.Minute:
		return words(d.Truncate(time.Second)) + " ago"
	case d < time.Hour:
		return words(d.Truncate(time.Minute)) + " ago"
	}
	return words(d.Truncate(time.Hour)) + " ago"
}

func cmdAlert(ctx context.Context, e *env, args []string) error {
	f := newFlags("alert", e)
	kind := f.String("kind", "", "what is happening: danger, threat, violence, detention, disappearance, checkpoint, surveillance, medical, info, allclear")
	sev := f.String("severity", "", "info, warning, urgent or critical")
	region := f.String("region", "", "region or community")
	place := f.String("place", "", "place")
	text := f.String("text", "", "what people need to know")
	ttl := f.Duration("ttl", 0, "how long the alert matters (default 24h)")
	asJSON := f.Bool("json", false, "print the id and the delivery as JSON")
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
	r, err := c.Alert(ctx, pos[0], api.AlertRequest{Kind: *kind, Severity: *sev, Region: *region, Place: *place, Text: *text, TTL: api.Duration(*ttl)})
	if err != nil {
		return err
	}
	return printSent(e, "Alert", pos[0], r, *asJSON)
}

// cmdPanic sends a panic. In a hurry nobody types quotes or flags:
// `takecare panic juchitan stopped by a patrol` sends "stopped by a patrol"
// to juchitan, and when the profile is in one group only, the group may be
// left out (`takecare panic stopped by a patrol`). --all sends to every
// group.
func cmdPanic(ctx context.Context, e *env, args []string) error {
	f := newFlags("panic", e)
	text := f.String("text", "", "what is happening (the words after the group say the same)")
	all := f.Bool("all", false, "send to every group you are in")
	asJSON := f.Bool("json", false, "print the id and the delivery as JSON, one line a group")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	gs, err := c.Groups(ctx)
	if err != nil {
		return err
	}
	var active []node.GroupInfo
	for _, g := range gs {
		if g.Role != "removed" {
			active = append(active, g)
		}
	}
	targets, rest := active, pos
	// A group this member was removed from would receive nothing: say so
	// rather than pretend, or fall back on another group.
	if len(pos) > 0 && !*all {
		if g := findGroup(gs, pos[0]); g != nil && g.Role == "removed" {
			return node.Errorf(node.KindForbidden, "the panic was not sent: %s", g.Warning)
		}
	}
	switch {
	case len(active) == 0 && len(gs) > 0:
		return node.Errorf(node.KindForbidden, "the panic was not sent: %s", gs[0].Warning)
	case len(active) == 0:
		return node.Errorf(node.KindNotFound, "you are in no group yet: nobody would receive a panic. Create one (%s) or join one (%s)", f.hint("group", "create", "NAME"), f.hint("join", "CODE"))
	case *all:
	case len(pos) > 0 && findGroup(active, pos[0]) != nil:
		targets, rest = []node.GroupInfo{*findGroup(active, pos[0])}, pos[1:]
	case len(active) > 1:
		var names []string
		for _, g := range active {
			names = append(names, g.Name)
		}
		return usagef("you are in %d groups (%s): name one first, as in %s, or send to all of them with --all",
			len(active), strings.Join(names, ", "), f.hint("panic", active[0].Name, "WHAT IS HAPPENING"))
	}
	msg := strings.TrimSpace(strings.Join(append([]string{*text}, rest...), " "))
	var failed []string
	for _, g := range targets {
		r, err := c.Panic(ctx, g.ID, msg)
		if err != nil {
			if len(targets) == 1 {
				return err
			}
			fmt.Fprintf(e.stderr, "PANIC NOT SENT to %s: %s\n", g.Name, oneLine(err))
			failed = append(failed, g.Name)
			continue
		}
		if err := printSent(e, "PANIC", g.Name, r, *asJSON); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return node.Errorf(node.KindUnavailable, "the panic did not reach %s", strings.Join(failed, ", "))
	}
	return nil
}

// findGroup finds a group by its name or a prefix of its id (at least 4
// hex digits), as the daemon resolves a GROUP argument; nil if ref names
// none or several.
func findGroup(gs []node.GroupInfo, ref string) *node.GroupInfo {
	var byName, byID []*node.GroupInfo
	for i := range gs {
		if node.NamesMatch(gs[i].Name, ref) {
			byName = append(byName, &gs[i])
		}
		if len(ref) >= 4 && strings.HasPrefix(gs[i].ID, strings.ToLower(ref)) {
			byID = append(byID, &gs[i])
		}
	}
	if len(byName) == 0 {
		byName = byID
	}
	if len(byName) != 1 {
		return nil
	}
	return byName[0]
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
	p := &feedPrinter{w: e.stdout, sp: newSpeaker(e.getenv), acks: map[string]map[string]bool{}}
	err = c.Feed(ctx, o, func(en node.Entry) error {
		if *asJSON {
			return enc.Encode(en)
		}
		p.print(en, time.Now())
		return nil
	})
	if ctx.Err() != nil {
		return nil // interrupted while following
	}
	return err
}

// feedPrinter prints the feed for people, in their language and time
// zone. A message is printed once, with its answers indented under it. An
// answer that arrives later (with --follow) is printed under its message
// only if that message is the last thing printed; otherwise it gets a line
// of its own that names the message it answers, so that it cannot be read
// as an answer to whatever happens to be above it.
type feedPrinter struct {
	w    io.Writer
	sp   *speaker
	last string                     // id of the message printed last
	acks map[string]map[string]bool // message id → answers already printed
}

func ackKey(a node.AckEntry) string { return a.AuthorID + "/" + a.Status + "/" + a.Time.String() }

func (p *feedPrinter) print(en node.Entry, now time.Time) {
	printed, seen := p.acks[en.ID]
	if !seen {
		printed = map[string]bool{}
		p.acks[en.ID] = printed
		printEntry(p.w, p.sp, en, now)
		for _, a := range en.Acks {
			printed[ackKey(a)] = true
		}
		p.last = en.ID
		return
	}
	for _, a := range en.Acks {
		if printed[ackKey(a)] {
			continue
		}
		printed[ackKey(a)] = true
		if p.last == en.ID {
			printAck(p.w, p.sp, a, now)
			continue
		}
		fmt.Fprintf(p.w, "%s  %-8s %s · id %s\n", p.sp.clock(a.Time, now), en.Group,
			p.sp.t("answer."+a.Status, "name", orName(a.AuthorLabel, a.Author), "what", describe(p.sp, en, now)), en.ID[:12])
	}
}

// describe names a message in a sentence: "the PANIC alert from Ana
// (10:01)", "the OVERDUE alarm about Beto (18:05)".
func describe(sp *speaker, en node.Entry, now time.Time) string {
	when := sp.clock(en.Created, now)
	kind := strings.ToUpper(sp.word("kind.", en.Kind))
	switch {
	case en.Subject != "":
		return sp.t("describe.alarm", "kind", kind, "name", orName(en.SubjectLabel, en.Subject), "time", when)
	case en.Kind == "checkin":
		return sp.t("describe.checkin", "name", author(sp, en), "route", sp.route(en.From, en.To), "time", when)
	}
	return sp.t("describe.alert", "kind", kind, "name", author(sp, en), "time", when)
}

func (sp *speaker) route(from, to string) string {
	if from == "" {
		return sp.t("checkin.route_to", "to", to)
	}
	return sp.t("checkin.route", "from", from, "to", to)
}

func printEntry(w io.Writer, sp *speaker, en node.Entry, now time.Time) {
	head := strings.ToUpper(sp.word("kind.", en.Kind))
	if en.Severity != "" && en.Kind != "checkin" && en.Kind != "arrived" {
		head += " (" + sp.word("severity.", en.Severity) + ")"
	}
	where := strings.Trim(strings.Join([]string{en.Region, en.Place}, ", "), ", ")
	who := author(sp, en)
	switch en.Kind {
	case "checkin", "overdue", "arrived", "duress":
		if en.To != "" {
			where = sp.route(en.From, en.To)
			if en.Due != nil {
				where += " · " + sp.t("checkin.due_at", "at", sp.at(*en.Due, now))
			}
		}
		if en.Subject != "" {
			who = orName(en.SubjectLabel, en.Subject)
		}
	}
	line := fmt.Sprintf("%s  %-8s %s  %s", sp.clock(en.Created, now), en.Group, head, who)
	if where != "" {
		line += " · " + where
	}
	fmt.Fprintln(w, line)
	indent := func(s string) { fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(s, "\n", "\n    ")) }
	if en.Notice != nil {
		for _, s := range noticeLines(sp, en.Notice, now) {
			indent(s)
		}
	} else if en.Text != "" {
		indent(en.Text)
	}
	if en.Kind == "duress" && en.Notice == nil {
		indent(sp.t("feed.duress", "name", orName(en.AuthorLabel, en.Author)))
	}
	if en.Via != nil {
		indent(sp.t("feed.via_sms", "name", en.Author, "bridge", en.Via.Bridge))
	}
	if en.AuthorClock != 0 {
		indent(sp.clockOff("clock.author_behind", "clock.author_ahead", time.Duration(en.AuthorClock)*time.Second))
	}
	fmt.Fprintf(w, "    id %s\n", en.ID[:12])
	for _, a := range en.Acks {
		printAck(w, sp, a, now)
	}
}

// noticeLines words a notice: what a message the program wrote says.
func noticeLines(sp *speaker, no *node.NoticeEntry, now time.Time) []string {
	at := func(t *time.Time) string {
		if t == nil {
			return "?"
		}
		return sp.at(*t, now)
	}
	switch no.What {
	case "overdue":
		var out []string
		if no.Group != "" {
			out = append(out, sp.t("notice.other_group", "group", no.Group))
		}
		if no.Level > 1 {
			out = append(out, sp.t("feed.escalated"))
		}
		key := "notice.overdue"
		if no.From != "" {
			key = "notice.overdue_from"
		}
		out = append(out, sp.t(key, "name", no.Who, "from", no.From, "to", no.To, "due", at(no.Due), "since", at(no.Since)))
		if no.Note != "" {
			out = append(out, sp.t("notice.note", "note", no.Note))
		}
		return out
	case "duress":
		return []string{sp.t("notice.duress", "name", no.Who, "since", at(no.Since))}
	case "mistake":
		return []string{sp.t("notice.mistake", "name", no.Who)}
	}
	return []string{sp.t("notice.unknown")}
}

func printAck(w io.Writer, sp *speaker, a node.AckEntry, now time.Time) {
	fmt.Fprintf(w, "    ↳ %s\n", sp.t("ack.line", "name", orName(a.AuthorLabel, a.Author), "status", sp.word("ack.", a.Status), "time", sp.clock(a.Time, now)))
}

// author is how the CLI names the author of an entry: the label (the name,
// with the short member id when another member's name can be taken for
// it, node/names.go) and the marks, as "Ana [admin, verified]".
func author(sp *speaker, en node.Entry) string {
	who := orName(en.AuthorLabel, en.Author)
	var marks []string
	if en.AuthorAdmin {
		marks = append(marks, sp.t("role.admin"))
	}
	if en.AuthorVerified {
		marks = append(marks, sp.t("members.verified"))
	}
	if len(marks) > 0 {
		who += " [" + strings.Join(marks, ", ") + "]"
	}
	return who
}

// orName is label, or name where an older daemon gave no label.
func orName(label, name string) string {
	if label != "" {
		return label
	}
	return name
}
