package alert_test

import (
	"testing"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// BenchmarkRosterGrow: a group growing to 200 members one add at a time,
// as a node applies them live (each Add publishes the readers' view).
func BenchmarkRosterGrow(b *testing.B) {
	f := newFixture(b)
	founder := newIdentity(b, "founder")
	create := f.create(founder)
	ops := []signed{create}
	for i := range 200 {
		m := info(newIdentity(b, "m"))
		ops = append(ops, f.sign(founder, at(i+1), []alert.ID{ops[len(ops)-1].id}, &alert.AddMember{Member: m}))
	}
	b.ResetTimer()
	for range b.N {
		r := alert.NewRoster(f.group)
		add(b, r, ops...)
	}
}

// BenchmarkRosterAuthorize: the check of an alert's author.
func BenchmarkRosterAuthorize(b *testing.B) {
	f := newFixture(b)
	founder := newIdentity(b, "founder")
	create := f.create(founder)
	r := alert.NewRoster(f.group)
	add(b, r, create)
	m := f.message(founder, &alert.Alert{Kind: alert.KindInfo, Text: "x"})
	var id crypto.MemberID = founder.ID()
	b.ResetTimer()
	for range b.N {
		if err := r.Authorize(m); err != nil {
			b.Fatal(err)
		}
		r.Keys(id)
	}
}
