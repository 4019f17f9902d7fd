package main

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
)

// The demo's check-in steps: a traveller who does not arrive, the alarm
// that every node raises by itself, and an acknowledgement.

// sighting is a feed entry that matched, at one person's node.
type sighting struct {
	p   *person
	e   node.Entry
	at  time.Time
	err error
}

// watch follows the feeds of people and reports the first entry matching
// match at each, until ctx is done. It returns once every follower is
// subscribed.
func (d *demo) watch(ctx context.Context, people []*person, match func(node.Entry) bool) <-chan sighting {
	out := make(chan sighting, len(people))
	for _, p := range people {
		go func(p *person) {
			done := false
			err := p.api.Feed(ctx, api.FeedOptions{Group: "juchitan", Follow: true}, func(en node.Entry) error {
				if !done && match(en) {
					done = true
					out <- sighting{p: p, e: en, at: time.Now()}
				}
				return nil
			})
			if err != nil && ctx.Err() == nil {
				out <- sighting{p: p, err: err}
			}
		}(p)
	}
	// The followers subscribe before reading their backlog; give them a
	// moment to connect.
	time.Sleep(300 * time.Millisecond)
	return out
}

// gather waits for a sighting at every node.
func (d *demo) gather(ctx context.Context, seen <-chan sighting, what string) (map[*person]sighting, error) {
	got := map[*person]sighting{}
	for len(got) < len(d.people) {
		select {
		case s := <-seen:
			if s.err != nil {
				return nil, fmt.Errorf("%s's feed: %w", s.p.name, s.err)
			}
			got[s.p] = s
		case <-ctx.Done():
			return nil, fmt.Errorf("%s reached %d of %d nodes in 20 s", what, len(got), len(d.people))
		}
	}
	return got, nil
}

func (d *demo) checkIns(ctx context.Context) error {
	beto, carmen, ana := d.people[1], d.people[2], d.people[0]
	const due, grace, note = 3 * time.Second, time.Second, "in the white pickup"
	d.step("%s sets off from Juchitán for Ixtepec (takecare checkin start juchitan --from Juchitán --to Ixtepec --due 3s --grace 1s)", beto.name)
	d.say("  In real life: --due 18:00, and the alarm waits 5 minutes past it. Here, 3 s and 1 s.")
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var idv atomic.Value // the check-in's id, once known
	idv.Store("")
	overdue := d.watch(wctx, d.people, func(en node.Entry) bool { return en.Kind == "overdue" && en.CheckIn == idv.Load() })
	// The sender's own feed has the check-in before its id is known here.
	started := d.watch(wctx, d.people, func(en node.Entry) bool { return en.Kind == "checkin" && en.Text == note })
	g := api.Duration(grace)
	t0 := time.Now()
	id, err := beto.api.StartCheckIn(ctx, "juchitan", api.CheckInRequest{
		From: "Juchitán", To: "Ixtepec", Due: t0.Add(due), Grace: &g, Text: note,
	})
	if err != nil {
		return err
	}
	idv.Store(id)
	deadline := t0.Add(due + grace)
	if _, err := d.gather(wctx, started, "the check-in"); err != nil {
		return err
	}
	d.say("  check-in %s… is in every feed; %s does not arrive, and nobody presses anything.", id[:12], beto.name)
	got, err := d.gather(wctx, overdue, "the overdue alarm")
	if err != nil {
		return err
	}
	ids, raisers := map[string]bool{}, map[string]bool{}
	var parts []string
	for _, p := range d.people {
		s := got[p]
		ids[s.e.ID] = true
		raisers[s.e.Author] = true
		parts = append(parts, fmt.Sprintf("%s +%.1f s", p.name, s.at.Sub(deadline).Seconds()))
	}
	alarm := got[ana].e
	d.say("  the deadline passed at %s; every node watched it on its own clock.", deadline.Format("15:04:05"))
	d.say("  OVERDUE (%s) in every feed, after the deadline: %s", alarm.Severity, strings.Join(parts, ", "))
	switch {
	case len(ids) != 1:
		return fmt.Errorf("the nodes show %d different alarms for one check-in", len(ids))
	case len(raisers) == 1:
		d.say("  one alarm, id %s…: %s's node raised it first, the others received it and held back.", alarm.ID[:12], alarm.Author)
	default:
		d.say("  one alarm, id %s…: %d nodes raised it at once, and their copies collapsed into one (same id).", alarm.ID[:12], len(raisers))
	}
	if alarm.Notice != nil {
		// The alarm carries facts, not a sentence: each reader words it.
		for _, lang := range api.Languages {
			sp := &speaker{lang: lang, s: api.Strings(lang)}
			d.say("  read in %s: %s", lang, strings.Join(noticeLines(sp, alarm.Notice, time.Now()), " "))
		}
	} else {
		d.say("  %q", alarm.Text)
	}

	d.step("%s answers the alarm (takecare ack %s --status responding); %s's feed shows it", carmen.name, alarm.ID[:12], ana.name)
	actx, cancel2 := context.WithTimeout(ctx, 20*time.Second)
	defer cancel2()
	seen := d.watch(actx, []*person{ana}, func(en node.Entry) bool {
		if en.ID != alarm.ID {
			return false
		}
		for _, a := range en.Acks {
			if a.Author == carmen.name && a.Status == "responding" {
				return true
			}
		}
		return false
	})
	t1 := time.Now()
	if _, err := carmen.api.Ack(ctx, alarm.ID[:12], "responding"); err != nil {
		return err
	}
	select {
	case s := <-seen:
		if s.err != nil {
			return fmt.Errorf("%s's feed: %w", s.p.name, s.err)
		}
		d.say("  in %s's feed %s later:  ↳ %s: responding. Nobody is left wondering, and the alarm will not escalate.", ana.name, ms(s.at.Sub(t1)), carmen.name)
	case <-actx.Done():
		return fmt.Errorf("%s's acknowledgement did not reach %s in 20 s", carmen.name, ana.name)
	}
	return nil
}
