package alert_test

import (
	"runtime"
	"testing"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// BenchmarkRosterGrow: a group growing to 200 members one add at a time,
// as a node applies them live (each Add publishes the readers' view). It
// also reports the heap the roster keeps per member ("B/member").
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
	var kept float64
	for i := range b.N {
		var before, after runtime.MemStats
		if i == 0 {
			runtime.GC()
			runtime.ReadMemStats(&before)
		}
		r := alert.NewRoster(f.group)
		add(b, r, ops...)
		if i == 0 {
			runtime.GC()
			runtime.ReadMemStats(&after)
			kept = float64(after.HeapAlloc-before.HeapAlloc) / float64(len(ops))
			runtime.KeepAlive(r)
		}
	}
	b.ReportMetric(kept, "B/member")
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
