package main

import (
	"context"
	"fmt"
)

func cmdRemove(ctx context.Context, e *env, args []string) error {
	f := newFlags("remove", e)
	asJSON := f.Bool("json", false, "print JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("name a GROUP and a MEMBER")
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	r, err := c.Remove(ctx, pos[0], pos[1])
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, r)
	}
	fmt.Fprintf(e.stdout, "removed %s (%s) from %s; a new group key went to the %d remaining members, and %s cannot read what the group sends from now on\n",
		r.Name, r.ID[:12], pos[0], r.KeptFrom, r.Name)
	return nil
}

func cmdVerify(ctx context.Context, e *env, args []string) error {
	f := newFlags("verify", e)
	confirm := f.Bool("confirm", false, "mark the member verified, once the numbers matched")
	asJSON := f.Bool("json", false, "print JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("name one MEMBER")
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	v, err := c.Verify(ctx, pos[0], *confirm)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, v)
	}
	fmt.Fprintf(e.stderr, "Safety number with %s (%s). Compare it with theirs in person; if it is the same on both screens, each of you holds the other's real keys.\n", v.Name, v.ID[:12])
	fmt.Fprintln(e.stdout, v.SafetyNumber)
	switch {
	case *confirm:
		fmt.Fprintf(e.stderr, "%s is marked verified.\n", v.Name)
	case v.Verified:
		fmt.Fprintf(e.stderr, "%s is already marked verified.\n", v.Name)
	default:
		fmt.Fprintf(e.stderr, "When they match: %s\n", f.hint("verify", pos[0], "--confirm"))
	}
	return nil
}
