package crypto_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/takecare-network/takecare/crypto"
)

// TestRendezvousRecords: a record sealed for a group's rendezvous point at
// one epoch opens with those keys only, has one size whatever it holds,
// and the point changes with the epoch and the group.
func TestRendezvousRecords(t *testing.T) {
	g1, g2 := crypto.NewGroupID(), crypto.NewGroupID()
	s := crypto.NewEpochSecret()
	k := crypto.NewEpochKeys(g1, 3, s)
	short, err := k.SealRendezvous([]byte("here"))
	if err != nil {
		t.Fatal(err)
	}
	long, err := k.SealRendezvous(bytes.Repeat([]byte{7}, crypto.RendezvousRecordMax))
	if err != nil {
		t.Fatal(err)
	}
	if len(short) != crypto.RendezvousSealedSize || len(long) != crypto.RendezvousSealedSize {
		t.Fatalf("sealed sizes %d and %d, want %d both", len(short), len(long), crypto.RendezvousSealedSize)
	}
	if got, err := k.OpenRendezvous(short); err != nil || string(got) != "here" {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := k.SealRendezvous(make([]byte, crypto.RendezvousRecordMax+1)); err == nil {
		t.Fatal("sealed a record over the limit")
	}
	others := map[string]*crypto.EpochKeys{
		"next epoch":   crypto.NewEpochKeys(g1, 4, s),
		"other group":  crypto.NewEpochKeys(g2, 3, s),
		"other secret": crypto.NewEpochKeys(g1, 3, crypto.NewEpochSecret()),
	}
	for name, o := range others {
		if _, err := o.OpenRendezvous(short); !errors.Is(err, crypto.ErrRendezvousRecord) {
			t.Errorf("%s opened the record: %v", name, err)
		}
		if o.RendezvousPoint() == k.RendezvousPoint() {
			t.Errorf("%s has the same point", name)
		}
	}
	if k.RendezvousPoint() != crypto.NewEpochKeys(g1, 3, s).RendezvousPoint() {
		t.Error("the point is not a function of the keys")
	}
	for i := range short {
		bad := bytes.Clone(short)
		bad[i] ^= 0x40
		if _, err := k.OpenRendezvous(bad); !errors.Is(err, crypto.ErrRendezvousRecord) {
			t.Fatalf("a record with byte %d flipped opened: %v", i, err)
		}
	}
	if _, err := k.OpenRendezvous(short[:len(short)-1]); !errors.Is(err, crypto.ErrRendezvousRecord) {
		t.Fatal("a short record opened")
	}
}
