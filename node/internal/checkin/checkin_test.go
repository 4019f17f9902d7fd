package checkin

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/store"
)

var (
	t0        = time.UnixMilli(1_750_000_000_000)
	ana, beto = crypto.MemberID{1}, crypto.MemberID{2}
	istmo     = crypto.GroupID{1}
	costa     = crypto.GroupID{2}
)

// checkIn is Ana's check-in, due at t0+1h with 10 minutes' grace,
// escalating 30 minutes after the alarm to costa.
func checkIn(id alert.ID) *alert.Message {
	c := &alert.CheckIn{To: "Ixtepec", Due: t0.Add(time.Hour), Grace: 10 * time.Minute, EscalateAfter: 30 * time.Minute, EscalateGroup: costa}
	return &alert.Message{ID: id, Group: istmo, Author: ana, Created: t0, Sent: t0, Content: c}
}

func done(of alert.ID, by crypto.MemberID, sent time.Time) *alert.Message {
	return &alert.Message{ID: alert.ID{0xd0, of[0]}, Group: istmo, Author: by, Created: sent, Sent: sent, Content: &alert.CheckInDone{CheckIn: of}}
}

// TestIndexDones: a done by the check-in's author ends it, even when it
// arrives first; a done by anyone else does nothing; Prune forgets what
// expired.
func TestIndexDones(t *testing.T) {
	t.Parallel()
	var x Index
	x.Add(done(alert.ID{1}, ana, t0.Add(time.Minute))) // before its check-in
	x.Add(checkIn(alert.ID{1}))
	x.Add(checkIn(alert.ID{2}))
	x.Add(done(alert.ID{2}, beto, t0.Add(time.Minute)))
	if c, ok := x.Get(alert.ID{1}); !ok || !c.Done || !c.DoneAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("check-in 1: %+v, %v; want done at t0+1m", c, ok)
	}
	if c, ok := x.Get(alert.ID{2}); !ok || c.Done {
		t.Errorf("check-in 2, done by someone else: %+v, %v; want open", c, ok)
	}
	if got := len(x.Snapshot()); got != 2 {
		t.Fatalf("%d check-ins held, want 2", got)
	}
	x.Prune(t0.Add(26 * time.Hour))
	if got := len(x.Snapshot()); got != 0 {
		t.Errorf("%d check-ins held after they expired", got)
	}
}

// TestClaim: while a done is under way, a second claim waits for it.
func TestClaim(t *testing.T) {
	t.Parallel()
	var x Index
	release, busy := x.Claim(alert.ID{1})
	if release == nil || busy != nil {
		t.Fatal("first claim refused")
	}
	if r, b := x.Claim(alert.ID{1}); r != nil || b == nil {
		t.Fatal("second claim granted while the first is held")
	}
	if r, _ := x.Claim(alert.ID{2}); r == nil {
		t.Fatal("a claim on another check-in waits")
	} else {
		r()
	}
	_, b := x.Claim(alert.ID{1})
	release()
	<-b
	if r, _ := x.Claim(alert.ID{1}); r == nil {
		t.Fatal("claim refused after release")
	}
}

// fakes for the watchdog
type held map[alert.ID]store.Header

func (h held) Header(id alert.ID) (store.Header, bool) { x, ok := h[id]; return x, ok }

type answers bool

func (a answers) Answered(alert.ID, crypto.MemberID, time.Time) bool { return bool(a) }

type raised struct {
	gid   crypto.GroupID
	level int
}

// watchdog returns a watchdog over x at a clock *now, with the alarms in
// h, answered or not, raising into *got (failing while *fail).
func watchdog(x *Index, h held, ans answers, now *time.Time, got *[]raised, fail *bool, started time.Time) *Watchdog {
	return NewWatchdog(Config{
		Index: x, Store: h, Answers: ans,
		Standing: func(g crypto.GroupID) bool { return g == istmo || g == costa },
		Raise: func(_ context.Context, gid crypto.GroupID, c Tracked, level int) error {
			if *fail {
				return errors.New("disk full")
			}
			*got = append(*got, raised{gid, level})
			h[alert.OverdueID(gid, c.ID, level)] = store.Header{Received: *now, Sent: *now}
			return nil
		},
		Now: func() time.Time { return *now }, Started: started, CatchUp: 15 * time.Second,
	})
}

// TestWatchdog: the alarm is raised when the deadline passes, and not
// before; a failed raise is tried again; with nobody answering, level 2 goes
// to the group and the escalation group once EscalateAfter has passed; an
// answer stops it; a node that starts after the deadline gives the others
// CatchUp first.
func TestWatchdog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	deadline := t0.Add(70 * time.Minute)
	t.Run("raise and escalate", func(t *testing.T) {
		var x Index
		x.Add(checkIn(alert.ID{1}))
		h, now, fail := held{}, t0, true
		var got []raised
		w := watchdog(&x, h, false, &now, &got, &fail, t0)
		if next := w.pass(ctx); !next.Equal(deadline) || len(got) != 0 {
			t.Fatalf("before the deadline: next %v, raised %v", next, got)
		}
		now = deadline
		if next := w.pass(ctx); len(got) != 0 || !next.Equal(deadline.Add(raiseRetry)) {
			t.Fatalf("a failed raise: next %v, raised %v; want a retry in %v", next, got, raiseRetry)
		}
		fail, now = false, deadline.Add(raiseRetry)
		w.pass(ctx)
		if len(got) != 1 || got[0] != (raised{istmo, 1}) {
			t.Fatalf("at the deadline raised %v", got)
		}
		if next := w.pass(ctx); !next.Equal(now.Add(30*time.Minute)) || len(got) != 1 {
			t.Fatalf("after the alarm: next %v, raised %v", next, got)
		}
		now = now.Add(30 * time.Minute)
		w.pass(ctx)
		if len(got) != 3 || got[1].level != 2 || got[2].level != 2 || got[1].gid == got[2].gid {
			t.Fatalf("escalation raised %v; want level 2 in both groups", got)
		}
	})
	t.Run("answered or done", func(t *testing.T) {
		var x Index
		x.Add(checkIn(alert.ID{1}))
		x.Add(checkIn(alert.ID{2}))
		x.Add(done(alert.ID{2}, ana, t0.Add(time.Minute)))
		h := held{alert.OverdueID(istmo, alert.ID{1}, 1): {Received: deadline, Sent: deadline}}
		now, fail := deadline.Add(time.Hour), false
		var got []raised
		watchdog(&x, h, true, &now, &got, &fail, t0).pass(ctx)
		if len(got) != 0 {
			t.Fatalf("raised %v for an answered alarm and an ended check-in", got)
		}
	})
	t.Run("started late", func(t *testing.T) {
		var x Index
		x.Add(checkIn(alert.ID{1}))
		now, fail := deadline.Add(time.Hour), false
		var got []raised
		w := watchdog(&x, held{}, false, &now, &got, &fail, now)
		if next := w.pass(ctx); len(got) != 0 || !next.Equal(now.Add(15*time.Second)) {
			t.Fatalf("at start: next %v, raised %v; want a wait of CatchUp", next, got)
		}
		now = now.Add(15 * time.Second)
		w.pass(ctx)
		if len(got) != 1 {
			t.Fatalf("after CatchUp raised %v", got)
		}
	})
}
