package store_test

import (
	"path/filepath"
	"testing"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/store"
)

// Benchmarks of a message write: sealing at rest, the bbolt transaction
// and, with fsync, the disk. Compare runs with benchstat:
//
//	go test -run '^$' -bench . -count 10 ./store > new.txt

func benchStore(b *testing.B, fsync bool) *store.Store {
	b.Helper()
	return open(b, filepath.Join(b.TempDir(), "store.db"), crypto.NewStorageKey(), store.Options{NoSync: !fsync, MaxMessages: 1 << 30, MaxPerAuthor: 1 << 30})
}

func benchRecord(g crypto.GroupID, author crypto.MemberID, env []byte) store.Record {
	return store.Record{Header: store.Header{ID: randomID(), Group: g, Author: author, Created: t0, Received: t0}, Envelope: env}
}

func benchPut(b *testing.B, fsync bool) {
	s := benchStore(b, fsync)
	g, author := crypto.NewGroupID(), randomMember()
	env := randomBytes(crypto.EnvelopeSizes[0])
	b.SetBytes(int64(len(env)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Put(benchRecord(g, author, env)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPut is one writer storing one 2048-byte envelope at a time.
func BenchmarkPut(b *testing.B)      { benchPut(b, false) }
func BenchmarkPutFsync(b *testing.B) { benchPut(b, true) }

// BenchmarkPutParallel is many writers at once, as the validators of a busy
// node are; their writes share transactions.
func benchPutParallel(b *testing.B, fsync bool) {
	s := benchStore(b, fsync)
	g := crypto.NewGroupID()
	env := randomBytes(crypto.EnvelopeSizes[0])
	b.SetBytes(int64(len(env)))
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		author := randomMember()
		for pb.Next() {
			if _, err := s.Put(benchRecord(g, author, env)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkPutParallel(b *testing.B)      { benchPutParallel(b, false) }
func BenchmarkPutParallelFsync(b *testing.B) { benchPutParallel(b, true) }

// BenchmarkPutBatch100 stores 100 envelopes in one call.
func BenchmarkPutBatch100(b *testing.B) {
	s := benchStore(b, true)
	g, author := crypto.NewGroupID(), randomMember()
	env := randomBytes(crypto.EnvelopeSizes[0])
	b.SetBytes(100 * int64(len(env)))
	b.ReportAllocs()
	for b.Loop() {
		rs := make([]store.Record, 100)
		for i := range rs {
			rs[i] = benchRecord(g, author, env)
		}
		if _, err := s.PutBatch(rs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnvelope(b *testing.B) {
	s := benchStore(b, false)
	g, author := crypto.NewGroupID(), randomMember()
	env := randomBytes(crypto.EnvelopeSizes[0])
	r := benchRecord(g, author, env)
	if _, err := s.Put(r); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(env)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Envelope(r.Header.ID); err != nil {
			b.Fatal(err)
		}
	}
}
