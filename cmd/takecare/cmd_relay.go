package main

import (
	"context"
	"fmt"
	"time"

	"github.com/takecare-network/takecare/node/api"
)

const relayUsage = "grant GROUP ADDR --name NAME [--days N] [--json] | list GROUP [--json] | revoke GROUP RELAY [--json] | accept CODE [--json] | codes [--json] | drop LABEL [--json]"

// cmdRelay runs the commands of relays that are not members (PROTOCOL.md,
// "Relays that are not members"; docs/GUIDE.md, section 21): an admin
// grants an organisation's node the right to relay for a group, and that
// node's operator accepts the code.
func cmdRelay(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("say what: grant, list, revoke, accept, codes or drop")
	}
	f := newFlags("relay "+args[0], e)
	switch args[0] {
	case "grant":
		name := f.String("name", "", "what members call the relay, e.g. the organisation's name")
		days := f.Int("days", 90, "how many days the grant lasts (at most 366)")
		asJSON := f.Bool("json", false, "print JSON")
		pos, err := f.parse(args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 2 || *name == "" {
			return usagef("give the GROUP, the relay's ADDR (/ip4/…/tcp/4001/p2p/12D3Koo…, from its operator) and --name")
		}
		if *days < 1 || *days > 366 {
			return usagef("--days must be between 1 and 366")
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		g, err := c.GrantRelay(ctx, pos[0], api.RelayGrantRequest{Addr: pos[1], Name: *name, TTL: api.Duration(time.Duration(*days) * 24 * time.Hour)})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, g)
		}
		fmt.Fprintf(e.stderr, "%s may relay for the member nodes of %s until %s. Give this code to whoever runs it, by a safe way (in person, or a channel you trust): "+
			"they run takecare relay accept CODE on that node. Keep it from others: with it, a node of theirs could take slots on the relay.\n",
			g.Name, pos[0], clockZone(g.Expires, time.Now()))
		if g.Replaces != "" {
			fmt.Fprintf(e.stderr, "It replaces the earlier grant of %s: an hour after the relay takes it, the earlier code (%s) no longer works there.\n", g.Name, g.Replaces)
		}
		fmt.Fprintln(e.stdout, g.Code)
		return nil
	case "list":
		asJSON := f.Bool("json", false, "print JSON Lines, one relay per line")
		pos, err := f.parse(args[1:])
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
		rs, err := c.Relays(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSONLines(e.stdout, rs)
		}
		if len(rs) == 0 {
			fmt.Fprintf(e.stderr, "No relay is granted to %s.\n", pos[0])
		}
		now := time.Now()
		for _, r := range rs {
			state := "until " + clockZone(r.Expires, now)
			switch {
			case r.Revoked:
				state = "revoked"
			case !r.Usable:
				state = "ended " + clockZone(r.Expires, now)
			}
			fmt.Fprintf(e.stdout, "%-20s %s  %s, %s, granted by %s, code %s\n", r.Name, r.Peer[:12], r.Path, state, r.By, r.Label)
		}
		return nil
	case "revoke":
		asJSON := f.Bool("json", false, "print JSON")
		pos, err := f.parse(args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return usagef("give the GROUP and the RELAY (its name or the start of its id)")
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		r, err := c.RevokeRelay(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, r)
		}
		fmt.Fprintf(e.stderr, "%s no longer relays for %s: member nodes leave it. The relay is not told: ask whoever runs it to run takecare relay drop %s there, "+
			"or anyone who still knows the grant (a member removed since) can take a slot on it until %s.\n", r.Name, pos[0], r.Label, clockZone(r.Expires, time.Now()))
		return nil
	case "accept":
		asJSON := f.Bool("json", false, "print JSON")
		pos, err := f.parse(args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("give the relay CODE an admin of the group gave you")
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		v, err := c.AcceptRelayCode(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, v)
		}
		fmt.Fprintf(e.stderr, "This node now relays for the member nodes of the group that gave this code, until %s. It learns nothing of the group but that its nodes use it.\n", clockZone(v.Expires, time.Now()))
		if v.Replaced != "" {
			fmt.Fprintf(e.stderr, "It replaces the code %s, which still works until %s (for the group's nodes to learn of the new one) and is then dropped.\n", v.Replaced, clockZone(v.ReplacedUntil, time.Now()))
		}
		fmt.Fprintln(e.stdout, v.Label)
		return nil
	case "drop":
		asJSON := f.Bool("json", false, "print JSON")
		pos, err := f.parse(args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("give the LABEL of a code (takecare relay codes), at least 8 characters")
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		v, err := c.DropRelayCode(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, v)
		}
		fmt.Fprintf(e.stderr, "Code %s dropped: the nodes that proved it are disconnected and get no slot here any more.\n", v.Label)
		return nil
	case "codes":
		asJSON := f.Bool("json", false, "print JSON Lines, one code per line")
		pos, err := f.parse(args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 0 {
			return usagef("unexpected argument %q", pos[0])
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		vs, err := c.RelayCodes(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSONLines(e.stdout, vs)
		}
		now := time.Now()
		for _, v := range vs {
			fmt.Fprintf(e.stdout, "%s  until %s\n", v.Label, clockZone(v.Expires, now))
		}
		return nil
	}
	return usagef("unknown relay command %q: grant, list, revoke, accept, codes or drop", args[0])
}
