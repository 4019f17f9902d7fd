package crypto_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/crypto"
)

// TestRelayCode: a relay code survives its text form (any case, with
// spaces), a mistyped character is caught, and a proof holds only for the
// two peers it was made for.
func TestRelayCode(t *testing.T) {
	c := crypto.NewRelayCode(time.Date(2027, 1, 31, 18, 0, 0, 0, time.UTC))
	s := c.String()
	if !strings.HasPrefix(s, "TCR1-") {
		t.Fatalf("code %q", s)
	}
	back, err := crypto.ParseRelayCode(" " + strings.ToLower(s[:20]) + "\n" + s[20:])
	if err != nil || back.Secret != c.Secret || !back.Expires.Equal(c.Expires) {
		t.Fatalf("parse: %+v, %v", back, err)
	}
	for i := 5; i < len(s); i++ {
		bad := []byte(s)
		bad[i] = map[bool]byte{true: 'B', false: 'A'}[bad[i] == 'A']
		if _, err := crypto.ParseRelayCode(string(bad)); !errors.Is(err, crypto.ErrBadRelayCode) {
			t.Fatalf("character %d changed: %v", i, err)
		}
	}
	if _, err := crypto.ParseRelayCode("TC1-" + s[5:]); !errors.Is(err, crypto.ErrBadRelayCode) {
		t.Fatal("an invite prefix parsed")
	}
	relay, a, b := peer.ID("relay"), peer.ID("ana"), peer.ID("beto")
	proof := crypto.RelayProof(c.Secret, relay, a)
	if !crypto.CheckRelayProof(c.Secret, relay, a, proof[:]) {
		t.Fatal("a good proof fails")
	}
	other := crypto.NewRelayCode(c.Expires)
	for name, ok := range map[string]bool{
		"another member":  crypto.CheckRelayProof(c.Secret, relay, b, proof[:]),
		"another relay":   crypto.CheckRelayProof(c.Secret, b, a, proof[:]),
		"another secret":  crypto.CheckRelayProof(other.Secret, relay, a, proof[:]),
		"a shorter proof": crypto.CheckRelayProof(c.Secret, relay, a, proof[:31]),
	} {
		if ok {
			t.Errorf("%s: the proof holds", name)
		}
	}
	if crypto.RelayLabel(c.Secret) == crypto.RelayLabel(other.Secret) {
		t.Error("two secrets, one label")
	}
	// A code that replaces an earlier one names it, and keeps it through
	// its text form; the earlier one did not name any.
	other.Replaces = crypto.RelayLabel(c.Secret)
	back, err = crypto.ParseRelayCode(other.String())
	if err != nil || back != other {
		t.Fatalf("a code that replaces another: %+v, %v", back, err)
	}
	if back, _ := crypto.ParseRelayCode(s); back.Replaces != ([16]byte{}) {
		t.Fatalf("a first code replaces %x", back.Replaces)
	}
}
