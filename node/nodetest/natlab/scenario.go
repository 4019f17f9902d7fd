package natlab

import (
	"context"
	"fmt"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
)

// Trio is the lab's usual scene: a volunteer's node on a host with a
// public address, and two members each behind their own home router, all
// three in one group that the volunteer founded.
type Trio struct {
	Lab              *Lab
	Server           *Host
	RouterA, RouterB *Router
	HostA, HostB     *Host
	Vol, Ana, Beto   *Daemon
	Group            string
}

// NewTrio builds the scene with routers of the given kinds, starts the
// volunteer's daemon with volArgs (e.g. "--relay") and the members', and
// forms the group.
func NewTrio(t TB, ctx context.Context, natA, natB NAT, volArgs ...string) *Trio {
	t.Helper()
	lab := New(t)
	tr := &Trio{Lab: lab, Server: lab.Public("vol"), RouterA: lab.Router("ra", natA), RouterB: lab.Router("rb", natB), Group: "istmo"}
	tr.HostA, tr.HostB = tr.RouterA.Host("a"), tr.RouterB.Host("b")
	tr.Vol, tr.Ana, tr.Beto = lab.Daemon("Vol"), lab.Daemon("Ana"), lab.Daemon("Beto")
	tr.Vol.Start(tr.Server, volArgs...)
	tr.Ana.Start(tr.HostA)
	tr.Beto.Start(tr.HostB)
	if err := FormGroup(ctx, tr.Group, tr.Vol, tr.Ana, tr.Beto); err != nil {
		t.Fatalf("natlab: %v", err)
	}
	return tr
}

// FormGroup has founder (running) create a group and the others (running)
// join it with one invite code.
func FormGroup(ctx context.Context, name string, founder *Daemon, others ...*Daemon) error {
	if _, err := founder.API.CreateGroup(ctx, name); err != nil {
		return fmt.Errorf("create group: %w", err)
	}
	inv, err := founder.API.Invite(ctx, name, len(others), time.Hour)
	if err != nil {
		return fmt.Errorf("invite: %w", err)
	}
	for _, d := range others {
		if _, err := d.API.Join(ctx, inv.Code); err != nil {
			return fmt.Errorf("%s joining: %w\n%s", d.Name, err, d.Log())
		}
	}
	return nil
}

// Send has from send an alert (or, if panic, a panic) to group and
// returns its id.
func Send(ctx context.Context, from *Daemon, group string, panic bool) (string, error) {
	var r api.SentResponse
	var err error
	if panic {
		r, err = from.API.Panic(ctx, group, "stopped at a checkpoint")
	} else {
		r, err = from.API.Alert(ctx, group, api.AlertRequest{Kind: "danger", Severity: "urgent", Text: "armed men at the crossroads"})
	}
	if err != nil {
		return "", fmt.Errorf("%s sending: %w", from.Name, err)
	}
	return r.ID, nil
}

// WaitPath waits until d's status shows the member named name reached by
// path (node.PathDirect, node.PathRelayed, node.PathUnreachable), and
// returns that view.
func WaitPath(ctx context.Context, d *Daemon, name, path string) (node.PathView, error) {
	var got node.PathView
	err := Wait(ctx, func() error {
		st, err := d.API.Status(ctx)
		if err != nil {
			return err
		}
		for _, p := range st.Paths {
			if p.Name == name {
				got = p
				if p.Path == path {
					return nil
				}
				return fmt.Errorf("%s reaches %s %s (via %q), not %s", d.Name, name, p.Path, p.Via, path)
			}
		}
		return fmt.Errorf("%s does not list %s", d.Name, name)
	})
	return got, err
}
