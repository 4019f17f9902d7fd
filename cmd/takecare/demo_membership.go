package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
)

// hasInFeed reports whether p's feed holds a message with this id.
func hasInFeed(ctx context.Context, p *person, id string) bool {
	found := false
	p.api.Feed(ctx, api.FeedOptions{Group: "juchitan"}, func(en node.Entry) error {
		if en.ID == id {
			found = true
		}
		return nil
	})
	return found
}

// waitFeed waits until p's feed holds id and returns how long that took.
func (d *demo) waitFeed(ctx context.Context, p *person, id string, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	for !hasInFeed(ctx, p, id) {
		if time.Since(t0) > timeout {
			return 0, fmt.Errorf("%s's feed did not get message %s… in %s", p.name, id[:12], timeout)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
	return time.Since(t0), nil
}

// offline shows store and forward: a node that was off receives what it
// missed from whichever member it meets first, with no invite and no server.
func (d *demo) offline(ctx context.Context) error {
	ana, dani := d.people[0], d.people[3]
	d.step("%s's phone loses coverage (her node stops); %s sends two alerts; then %s's battery dies too", dani.name, ana.name, ana.name)
	d.stopNode(dani)
	var ids []string
	for _, text := range []string{"Road blocked at La Ventosa by trucks", "Blockade lifted at La Ventosa"} {
		r, err := ana.api.Alert(ctx, "juchitan", api.AlertRequest{Kind: "checkpoint", Severity: "warning", Region: "istmo", Place: "La Ventosa", Text: text})
		if err != nil {
			return err
		}
		ids = append(ids, r.ID)
	}
	if _, err := d.waitFeed(ctx, d.people[1], ids[1], 10*time.Second); err != nil {
		return err
	}
	d.say("  both alerts are stored at %s's node and reached Beto and Carmen; %s is off", ana.name, dani.name)
	d.stopNode(ana)

	d.step("%s's phone is back: her node finds the group from the addresses it saved and syncs", dani.name)
	t0 := time.Now()
	if err := d.startNode(ctx, dani); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := d.waitFeed(ctx, dani, id, 20*time.Second); err != nil {
			return err
		}
	}
	d.say("  %s has both alerts %s after starting, from Beto or Carmen (%s is still off):", dani.name, ms(time.Since(t0)), ana.name)
	d.say("  they compared what they hold by range fingerprints (/takecare/sync/1.0.0), and sent what she lacked, urgent first.")
	if err := d.startNode(ctx, ana); err != nil {
		return err
	}
	return d.waitMesh(ctx, 30*time.Second)
}

// removal shows that removing a member is real: a new group key goes to the
// others, and the removed member's node reads and writes nothing more.
func (d *demo) removal(ctx context.Context) error {
	ana, beto, carmen := d.people[0], d.people[1], d.people[2]
	d.step("%s's phone is seized at a checkpoint; %s removes her (takecare remove juchitan %s)", carmen.name, ana.name, carmen.name)
	before, err := ana.api.Groups(ctx)
	if err != nil {
		return err
	}
	r, err := ana.api.Remove(ctx, "juchitan", carmen.name)
	if err != nil {
		return err
	}
	d.say("  the group moved from key epoch %d to %d; the new key went, sealed with HPKE (ML-KEM-768 + X25519), to the %d others only",
		before[0].Epoch, r.Epoch, r.KeptFrom)
	others := []*person{}
	for _, p := range d.people {
		if p != carmen {
			others = append(others, p)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		done := true
		for _, p := range others {
			if gs, err := p.api.Groups(ctx); err != nil || len(gs) == 0 || gs[0].Epoch != r.Epoch {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not every node reached the new key in 15 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t0 := time.Now()
	warned, err := beto.api.Alert(ctx, "juchitan", api.AlertRequest{Kind: "surveillance", Severity: "urgent", Region: "istmo", Text: "Carmen's phone is in their hands: change meeting places"})
	id := warned.ID
	if err != nil {
		return err
	}
	seen := map[*person]time.Duration{}
	for len(seen) < len(others)-1 {
		for _, p := range others {
			if _, ok := seen[p]; !ok && p != beto && hasInFeed(ctx, p, id) {
				seen[p] = time.Since(t0)
			}
		}
		if time.Since(t0) > 10*time.Second {
			return fmt.Errorf("the warning did not reach every remaining member in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var got []string
	for _, p := range others {
		if dt, ok := seen[p]; ok {
			got = append(got, fmt.Sprintf("%s %s", p.name, ms(dt)))
		}
	}
	d.say("  %s warns the group: delivered to %s", beto.name, strings.Join(got, ", "))
	time.Sleep(500 * time.Millisecond)
	if hasInFeed(ctx, carmen, id) {
		return fmt.Errorf("the removed member received a message sent after her removal")
	}
	fake, err := carmen.api.Alert(ctx, "juchitan", api.AlertRequest{Kind: "allclear", Severity: "info", Text: "all clear, come to the usual place"})
	sent := fake.ID
	if err != nil {
		d.say("  %s's node (in other hands) has no key for it and shows nothing; trying to send, it answers: %q", carmen.name, err.Error())
		return nil
	}
	// Her node has not heard of the removal yet (it came while her node
	// was not meshed with Ana's, and the others no longer talk to her), so
	// it sends; everyone else drops what it sends.
	time.Sleep(time.Second)
	for _, p := range others {
		if hasInFeed(ctx, p, sent) {
			return fmt.Errorf("%s accepted a message from the removed member", p.name)
		}
	}
	d.say("  %s's node (in other hands) has no key for it and shows nothing; what it sends, every other node drops: its author was removed", carmen.name)
	return nil
}
