package crypto_test

import (
	"testing"

	"github.com/takecare-network/takecare/crypto"
)

// Benchmarks of the operations every message and every rekey costs. Compare
// runs with benchstat:
//
//	go test -run '^$' -bench . -count 10 ./crypto > new.txt

// benchInner is a signed inner message of the size of a typical alert body.
func benchInner(b *testing.B, id *crypto.Identity, keys *crypto.EpochKeys) crypto.Inner {
	b.Helper()
	return id.SignBody(keys.Group(), keys.Epoch(), body(300))
}

func BenchmarkSeal(b *testing.B) {
	keys := randomKeys()
	in := benchInner(b, newIdentity(b, "a"), keys)
	b.SetBytes(int64(crypto.EnvelopeSizes[0]))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keys.Seal(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	keys := randomKeys()
	env, err := keys.Seal(benchInner(b, newIdentity(b, "a"), keys))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(env)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keys.Open(env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	keys := randomKeys()
	id := newIdentity(b, "a")
	msg := body(300)
	b.ReportAllocs()
	for b.Loop() {
		id.SignBody(keys.Group(), keys.Epoch(), msg)
	}
}

func BenchmarkVerify(b *testing.B) {
	keys := randomKeys()
	id := newIdentity(b, "a")
	in := benchInner(b, id, keys)
	b.ReportAllocs()
	for b.Loop() {
		if err := in.Verify(id.Public(), keys.Group(), keys.Epoch()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealEpochSecret is the cost of a rekey per remaining member:
// the new epoch secret sealed to one member's MLKEM768-X25519 key.
func BenchmarkSealEpochSecret(b *testing.B) {
	to := newIdentity(b, "b").Public()
	g, s := crypto.NewGroupID(), crypto.NewEpochSecret()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := crypto.SealEpochSecret(to, g, 2, s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenEpochSecret(b *testing.B) {
	id := newIdentity(b, "b")
	g, s := crypto.NewGroupID(), crypto.NewEpochSecret()
	sealed, err := crypto.SealEpochSecret(id.Public(), g, 2, s)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := id.OpenEpochSecret(g, 2, sealed); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewEpochKeys is the key schedule run once per group and epoch.
func BenchmarkNewEpochKeys(b *testing.B) {
	g, s := crypto.NewGroupID(), crypto.NewEpochSecret()
	b.ReportAllocs()
	for b.Loop() {
		crypto.NewEpochKeys(g, 1, s)
	}
}
