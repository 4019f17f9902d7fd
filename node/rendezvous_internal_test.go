package node

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/wire"
)

func rvReg(point byte, fill byte) *wire.RendezvousRecordAt {
	return &wire.RendezvousRecordAt{Point: bytes.Repeat([]byte{point}, 32), Record: bytes.Repeat([]byte{fill}, crypto.RendezvousSealedSize)}
}

// TestRVStore: a relay keeps one record per node and point, answers a
// look-up with the others' records, forgets a node's old records when it
// registers again and every record after rvTTL, refuses malformed
// requests, and stays within its bounds.
func TestRVStore(t *testing.T) {
	s := newRVStore()
	now := time.Unix(1_750_000_000, 0)
	a, b, c := peer.ID("a"), peer.ID("b"), peer.ID("c")
	look := func(p peer.ID, point byte, at time.Time) []byte {
		r := s.serve(p, nil, &wire.RendezvousRequest{Lookup: [][]byte{bytes.Repeat([]byte{point}, 32)}}, at)
		var fills []byte
		for _, f := range r.Found {
			fills = append(fills, f.Record[0])
		}
		return fills
	}
	if r := s.serve(a, nil, &wire.RendezvousRequest{Register: []*wire.RendezvousRecordAt{rvReg(1, 'a'), rvReg(2, 'a')}}, now); r.Status != wire.RendezvousStatus_RENDEZVOUS_OK {
		t.Fatalf("register: %v", r.Status)
	}
	s.serve(b, nil, &wire.RendezvousRequest{Register: []*wire.RendezvousRecordAt{rvReg(1, 'b')}}, now)
	if got := look(c, 1, now); len(got) != 2 {
		t.Fatalf("c finds %q at point 1, want a's and b's", got)
	}
	if got := look(a, 1, now); string(got) != "b" {
		t.Fatalf("a finds %q at point 1, want only b's", got)
	}
	// a registers again: its record at point 2 is gone.
	s.serve(a, nil, &wire.RendezvousRequest{Register: []*wire.RendezvousRecordAt{rvReg(1, 'A')}}, now)
	if got := look(c, 2, now); len(got) != 0 {
		t.Fatalf("a's old record is still at point 2: %q", got)
	}
	if s.count() != 2 {
		t.Fatalf("%d records, want 2", s.count())
	}
	// Expired.
	if got := look(c, 1, now.Add(rvTTL+time.Second)); len(got) != 0 || s.count() != 0 {
		t.Fatalf("after the TTL: found %q, %d records held", got, s.count())
	}

	for name, req := range map[string]*wire.RendezvousRequest{
		"short point":  {Register: []*wire.RendezvousRecordAt{{Point: make([]byte, 31), Record: make([]byte, crypto.RendezvousSealedSize)}}},
		"short record": {Register: []*wire.RendezvousRecordAt{{Point: make([]byte, 32), Record: make([]byte, 100)}}},
		"long lookup":  {Lookup: [][]byte{make([]byte, 33)}},
		"many points":  {Lookup: make([][]byte, rvMaxPoints+1)},
	} {
		if r := s.serve(a, nil, req, now); r.Status != wire.RendezvousStatus_RENDEZVOUS_BAD || s.count() != 0 {
			t.Errorf("%s: %v, %d records held", name, r.Status, s.count())
		}
	}

	// Bounds: at most rvMaxPerPoint nodes at one point, rvMaxRecords in
	// all, rvMaxFound in one answer.
	for i := range rvMaxPerPoint + 10 {
		s.serve(peer.ID(fmt.Sprint("p", i)), nil, &wire.RendezvousRequest{Register: []*wire.RendezvousRecordAt{rvReg(9, 'x')}}, now)
	}
	if got := look(c, 9, now); len(got) != rvMaxPerPoint {
		t.Fatalf("%d records at one point, want %d", len(got), rvMaxPerPoint)
	}
	for i := 0; s.count() < rvMaxRecords; i++ {
		regs := make([]*wire.RendezvousRecordAt, 0, rvMaxPoints)
		for j := range rvMaxPoints {
			regs = append(regs, &wire.RendezvousRecordAt{Point: []byte(fmt.Sprintf("%032d", i*rvMaxPoints+j)), Record: make([]byte, crypto.RendezvousSealedSize)})
		}
		if r := s.serve(peer.ID(fmt.Sprint("q", i)), nil, &wire.RendezvousRequest{Register: regs}, now); r.Status != wire.RendezvousStatus_RENDEZVOUS_OK {
			break
		}
	}
	if r := s.serve(c, nil, &wire.RendezvousRequest{Register: []*wire.RendezvousRecordAt{rvReg(7, 'c')}}, now); r.Status != wire.RendezvousStatus_RENDEZVOUS_FULL || s.count() > rvMaxRecords {
		t.Fatalf("a full relay: %v with %d records", r.Status, s.count())
	}
	var lookups [][]byte
	for i := range rvMaxPoints {
		lookups = append(lookups, []byte(fmt.Sprintf("%032d", i)))
	}
	if r := s.serve(c, nil, &wire.RendezvousRequest{Lookup: lookups}, now); len(r.Found) > rvMaxFound {
		t.Fatalf("an answer of %d records", len(r.Found))
	}
}

// TestRVRecord: a record sealed with a group's keys opens with them into
// the node and addresses it holds; one sealed with other keys, or holding
// a bad peer id or address, is refused.
func TestRVRecord(t *testing.T) {
	keys := crypto.NewEpochKeys(crypto.NewGroupID(), 1, crypto.NewEpochSecret())
	_, pub, err := lcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	addr := ma.StringCast("/ip4/203.0.113.10/tcp/4001")
	seal := func(rec *wire.RendezvousRecord) []byte {
		b, err := proto.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		s, err := keys.SealRendezvous(b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	got, addrs, err := openRVRecord(keys, seal(&wire.RendezvousRecord{Peer: []byte(p), Time: 1, Addrs: [][]byte{addr.Bytes()}}))
	if err != nil || got != p || len(addrs) != 1 || !addrs[0].Equal(addr) {
		t.Fatalf("open: %v %v %v", got, addrs, err)
	}
	other := crypto.NewEpochKeys(crypto.NewGroupID(), 1, crypto.NewEpochSecret())
	if _, _, err := openRVRecord(other, seal(&wire.RendezvousRecord{Peer: []byte(p)})); err == nil {
		t.Error("opened with another group's keys")
	}
	for name, rec := range map[string]*wire.RendezvousRecord{
		"bad peer":       {Peer: []byte("nobody"), Addrs: [][]byte{addr.Bytes()}},
		"bad address":    {Peer: []byte(p), Addrs: [][]byte{{0xff, 0xff}}},
		"too many addrs": {Peer: []byte(p), Addrs: slices.Repeat([][]byte{addr.Bytes()}, rvMaxAddrs+1)},
	} {
		if _, _, err := openRVRecord(keys, seal(rec)); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}
