package alert_test

import (
	"errors"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
)

// A receiving node checks the author of every message against the roster
// (Keys, DuressKey, Member, Authorize). While a roster op is being applied
// (one that follows the others, and a removal, which computes the whole
// order again) those checks do not wait for it, and they see the roster as
// it was before the op, never half of it; once Add returns they see it
// after.
func TestRosterReadersDoNotWaitForAChange(t *testing.T) {
	f := newFixture(t)
	founder, alice, bob := newIdentity(t, "founder"), newIdentity(t, "alice"), newIdentity(t, "bob")
	create := f.create(founder)
	addAlice := f.sign(founder, at(1), []alert.ID{create.id}, &alert.AddMember{Member: info(alice)})
	r := alert.NewRoster(f.group)
	add(t, r, create, addAlice)
	alert1 := f.message(alice, &alert.Alert{Kind: alert.KindInfo, Text: "road closed"})

	addBob := f.sign(founder, at(2), []alert.ID{addAlice.id}, &alert.AddMember{Member: info(bob)})
	removeAlice := f.sign(founder, at(3), []alert.ID{addBob.id}, &alert.RemoveMember{Member: alice.ID()})
	for _, c := range []struct {
		name string
		op   signed
		// before and after: whether alice's alert is authorized, and
		// whether bob is a member.
		aliceBefore, aliceAfter error
		bobBefore, bobAfter     bool
	}{
		{"add", addBob, nil, nil, false, true},
		{"removal", removeAlice, nil, alert.ErrRemoved, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			entered, release := make(chan struct{}), make(chan struct{})
			defer alert.WhileAdding(func() {
				close(entered)
				<-release
			})()
			added := make(chan error, 1)
			go func() {
				_, err := r.Add(c.op.op)
				added <- err
			}()
			select {
			case <-entered:
			case err := <-added:
				t.Fatalf("Add returned (%v) without changing the roster", err)
			}
			read := make(chan error, 1)
			go func() {
				if _, ok := r.Keys(alice.ID()); !ok {
					read <- errors.New("alice's keys unknown")
					return
				}
				r.DuressKey(alice.ID())
				if _, ok := r.Member(bob.ID()); ok != c.bobBefore {
					read <- errors.New("saw bob's standing change before the op was applied")
					return
				}
				read <- r.Authorize(alert1)
			}()
			select {
			case err := <-read:
				if !errors.Is(err, c.aliceBefore) {
					t.Errorf("during the op: %v, want %v", err, c.aliceBefore)
				}
			case <-time.After(10 * time.Second):
				t.Error("the checks of an alert's author waited for a roster op being applied")
			}
			close(release)
			if err := <-added; err != nil {
				t.Fatal(err)
			}
			if err := r.Authorize(alert1); !errors.Is(err, c.aliceAfter) {
				t.Errorf("after the op: alice's alert: %v, want %v", err, c.aliceAfter)
			}
			if _, ok := r.Member(bob.ID()); ok != c.bobAfter {
				t.Errorf("after the op: bob a member %v, want %v", ok, c.bobAfter)
			}
			if c.bobAfter {
				if err := r.Authorize(f.message(bob, &alert.Alert{Kind: alert.KindInfo, Text: "here"})); err != nil {
					t.Errorf("after the op: bob's alert: %v", err)
				}
			}
		})
	}
}
