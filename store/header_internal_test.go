package store

import (
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// TestHeaderVersions: a header written before Sent existed (113 bytes)
// still reads, with Sent equal to Created, and one written now round-trips.
func TestHeaderVersions(t *testing.T) {
	created := time.UnixMilli(1_750_000_000_000)
	h := Header{
		ID: alert.ID{1}, Group: crypto.GroupID{2}, Tag: crypto.KeyTag{3}, Author: crypto.MemberID{4},
		Created: created, Expires: created.Add(time.Hour), Priority: 4,
		Received: created.Add(time.Second), Sent: created.Add(25 * time.Hour),
	}
	b := h.marshal()
	got, err := unmarshalHeader(b)
	if err != nil || got != h {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	old, err := unmarshalHeader(b[:headerSizeV1])
	if err != nil {
		t.Fatal(err)
	}
	want := h
	want.Sent = created
	if old != want {
		t.Fatalf("version 1 header read as %+v", old)
	}
	for _, n := range []int{0, aliasSize, headerSizeV1 - 1, headerSize + 1} {
		if _, err := unmarshalHeader(make([]byte, n)); err == nil {
			t.Errorf("a header of %d bytes was read", n)
		}
	}
}
