// Package checkin keeps the check-ins a node holds and raises their
// overdue alarms (docs/PROTOCOL.md, "Check-ins").
//
// [Index] holds every check-in the node has stored, until it expires, and
// whether its author marked it done; it is rebuilt from the store at
// start. [Watchdog] works from it and raises the alarm of a check-in whose
// deadline passed, and its escalation, through the functions of its
// [Config]. [AlarmTime] and [AlarmSeverity] are the protocol's rules for
// alarms, which the receive pipeline checks too.
//
// A check-in's times are on its author's clock; the node counts them from
// when the check-in was made by its own clock ([Tracked].Sent), so that a
// wrong clock on the author's phone moves no deadline (docs/PROTOCOL.md,
// "Time").
//
// An Index is safe for concurrent use; a Watchdog runs on the one
// goroutine that calls [Watchdog.Run].
package checkin

import (
	"slices"
	"sync"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// Tracked is a check-in as the index holds it. Copies are handed out; the
// index's own copy changes only under its lock.
type Tracked struct {
	ID      alert.ID
	Group   crypto.GroupID
	Author  crypto.MemberID
	Created time.Time // the author's clock
	Sent    time.Time // this node's clock
	Expires time.Time // this node's clock
	CheckIn alert.CheckIn
	Done    bool      // marked done by its author
	DoneAt  time.Time // the earliest such done, this node's clock
}

// TrackedOf returns the check-in c of message m, not done.
func TrackedOf(m *alert.Message, c *alert.CheckIn) Tracked {
	return Tracked{ID: m.ID, Group: m.Group, Author: m.Author, Created: m.Created, Sent: m.Sent, Expires: m.Local(m.Expires()), CheckIn: *c}
}

// Local converts a time of the check-in to this node's clock.
func (t Tracked) Local(at time.Time) time.Time { return at.Add(t.Sent.Sub(t.Created)) }

// Due is when the author expects to arrive, by this node's clock.
func (t Tracked) Due() time.Time { return t.Local(t.CheckIn.Due) }

// Deadline is when the alarm goes off, by this node's clock.
func (t Tracked) Deadline() time.Time { return t.Local(t.CheckIn.Deadline()) }

// AlarmTime is the earliest time, by this node's clock, at which the alarm
// of the level may be raised.
func (t Tracked) AlarmTime(level int) time.Time { return t.Local(AlarmTime(t.CheckIn, level)) }

// AlarmSeverity is the severity of an overdue alarm of a level.
func AlarmSeverity(level int) alert.Severity {
	if level > 1 {
		return alert.SevCritical
	}
	return alert.SevUrgent
}

// AlarmTime is the earliest time, on the check-in author's clock, at which
// an alarm of the level may be raised.
func AlarmTime(c alert.CheckIn, level int) time.Time {
	return c.Deadline().Add(time.Duration(level-1) * c.EscalateAfter)
}

// earlyDone is a done that arrived before its check-in.
type earlyDone struct {
	author crypto.MemberID
	sent   time.Time // this node's clock
}

// Index holds every check-in the node has stored, until it expires, and
// whether its author has marked it done. The zero value is ready to use.
type Index struct {
	mu     sync.Mutex
	byID   map[alert.ID]*Tracked
	early  map[alert.ID][]earlyDone
	ending map[alert.ID]chan struct{} // check-ins this node is marking done (Claim)
	wake   chan struct{}
}

// Wake returns the channel that [Index.Poke] signals.
func (x *Index) Wake() <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.wakeLocked()
}

func (x *Index) wakeLocked() chan struct{} {
	if x.wake == nil {
		x.wake = make(chan struct{}, 1)
	}
	return x.wake
}

// Poke wakes the watchdog: something it may care about changed.
func (x *Index) Poke() {
	x.mu.Lock()
	wake := x.wakeLocked()
	x.mu.Unlock()
	select {
	case wake <- struct{}{}:
	default:
	}
}

// Add records a stored check-in or done; other messages are left out. A
// done by anyone but the check-in's author has no effect, and a done that
// arrives before its check-in is kept for it.
func (x *Index) Add(m *alert.Message) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.byID == nil {
		x.byID = make(map[alert.ID]*Tracked)
		x.early = make(map[alert.ID][]earlyDone)
	}
	switch c := m.Content.(type) {
	case *alert.CheckIn:
		if x.byID[m.ID] != nil {
			return
		}
		t := TrackedOf(m, c)
		for _, d := range x.early[m.ID] {
			t.markDone(d)
		}
		delete(x.early, m.ID)
		x.byID[m.ID] = &t
	case *alert.CheckInDone:
		d := earlyDone{author: m.Author, sent: m.Sent}
		if t := x.byID[c.CheckIn]; t != nil {
			t.markDone(d)
			return
		}
		x.early[c.CheckIn] = append(x.early[c.CheckIn], d)
	}
}

// markDone applies a done if it is by the check-in's author.
func (t *Tracked) markDone(d earlyDone) {
	if d.author == t.Author && (!t.Done || d.sent.Before(t.DoneAt)) {
		t.Done, t.DoneAt = true, d.sent
	}
}

// Get returns a check-in.
func (x *Index) Get(id alert.ID) (Tracked, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.byID[id]
	if t == nil {
		return Tracked{}, false
	}
	return *t, true
}

// Snapshot returns every check-in held, in no order.
func (x *Index) Snapshot() []Tracked {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]Tracked, 0, len(x.byID))
	for _, t := range x.byID {
		out = append(out, *t)
	}
	return out
}

// Prune forgets expired check-ins and dones older than their lifetime, as
// the store deletes them.
func (x *Index) Prune(now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, t := range x.byID {
		if !t.Expires.After(now) {
			delete(x.byID, id)
		}
	}
	for id, ds := range x.early {
		ds = slices.DeleteFunc(ds, func(d earlyDone) bool { return !d.sent.Add(alert.MaxTTL).After(now) })
		if len(ds) == 0 {
			delete(x.early, id)
		} else {
			x.early[id] = ds
		}
	}
}

// Claim marks check-in id as being marked done by this node, so that a
// repeated request cannot send a second done while the first is under
// way. If nobody holds the claim it returns release, to call once the
// done is stored or failed; otherwise it returns busy, closed when the
// holder releases it (then look at the check-in again).
func (x *Index) Claim(id alert.ID) (release func(), busy <-chan struct{}) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if c, ok := x.ending[id]; ok {
		return nil, c
	}
	if x.ending == nil {
		x.ending = make(map[alert.ID]chan struct{})
	}
	c := make(chan struct{})
	x.ending[id] = c
	return func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		delete(x.ending, id)
		close(c)
	}, nil
}
