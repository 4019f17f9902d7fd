package feed

import (
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// TestAcks: a member's latest acknowledgement counts, listed oldest first;
// an alarm is answered only by someone other than its subject, as seen or
// responding, no earlier than the alarm.
func TestAcks(t *testing.T) {
	t.Parallel()
	var a Acks
	ref := alert.ID{1}
	ana, beto, carla := crypto.MemberID{1}, crypto.MemberID{2}, crypto.MemberID{3}
	t0 := time.UnixMilli(1_750_000_000_000)
	a.Add(ref, Ack{Author: beto, Status: alert.AckSeen, At: t0.Add(2 * time.Second)})
	a.Add(ref, Ack{Author: ana, Status: alert.AckResponding, At: t0.Add(time.Second)})
	a.Add(ref, Ack{Author: beto, Status: alert.AckUnable, At: t0}) // older than Beto's: ignored
	got := a.List(ref)
	if len(got) != 2 || got[0].Author != ana || got[1].Author != beto || got[1].Status != alert.AckSeen {
		t.Fatalf("List = %+v", got)
	}
	if len(a.List(alert.ID{2})) != 0 {
		t.Fatal("acks of a message nobody answered")
	}
	for _, tc := range []struct {
		name    string
		subject crypto.MemberID
		since   time.Time
		want    bool
	}{
		{"answered", carla, t0, true},
		{"only by the subject and one made before", beto, t0.Add(time.Second + 1), false},
		{"all made before the alarm", carla, t0.Add(time.Hour), false},
	} {
		if got := a.Answered(ref, tc.subject, tc.since); got != tc.want {
			t.Errorf("%s: Answered = %v", tc.name, got)
		}
	}
	var u Acks
	u.Add(ref, Ack{Author: beto, Status: alert.AckUnable, At: t0})
	if u.Answered(ref, ana, t0) {
		t.Error("an answer of unable stops the escalation")
	}
}

// TestHub: a follower gets what matches, in order; one that falls
// Buffer entries behind is cut off without holding up the others; Close
// closes every follower and any that comes later.
func TestHub(t *testing.T) {
	t.Parallel()
	var h Hub[int]
	even := h.Follow(func(i int) bool { return i%2 == 0 })
	all := h.Follow(func(int) bool { return true })
	for i := range 4 {
		h.Send(i)
	}
	for _, want := range []int{0, 2} {
		if got := <-even.C; got != want {
			t.Fatalf("even follower got %d, want %d", got, want)
		}
	}
	even.Stop()
	even.Stop()
	if _, open := <-even.C; open {
		t.Fatal("a stopped follower's channel is open")
	}
	for i := 4; i < Buffer+4; i++ {
		h.Send(i) // all holds 0..3 already: it falls behind
	}
	n := 0
	for range all.C {
		n++
	}
	if n != Buffer {
		t.Fatalf("a slow follower got %d entries before it was cut off, want %d", n, Buffer)
	}
	late := h.Follow(func(int) bool { return true })
	h.Close()
	if _, open := <-late.C; open {
		t.Fatal("Close left a follower open")
	}
	if _, open := <-h.Follow(func(int) bool { return true }).C; open {
		t.Fatal("a follower after Close is open")
	}
}
