package crypto

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

// TestEpochSecretBoundToMember: a sealed secret names its recipient's member
// id, not only its HPKE key. An identity that shares the HPKE key but has
// another signing key (so another member id) must not open it.
func TestEpochSecretBoundToMember(t *testing.T) {
	t.Parallel()
	a, err := NewIdentity("a")
	if err != nil {
		t.Fatal(err)
	}
	_, otherSign, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	twin, err := newIdentity("twin", otherSign, a.kem, a.node, a.duress)
	if err != nil {
		t.Fatal(err)
	}
	if twin.ID() == a.ID() {
		t.Fatal("bug in test: same member id")
	}
	g := NewGroupID()
	s := NewEpochSecret()
	sealed, err := SealEpochSecret(a.Public(), g, 1, s)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.OpenEpochSecret(g, 1, sealed); err != nil || !got.Equal(s) {
		t.Fatalf("recipient: %v", err)
	}
	if _, err := twin.OpenEpochSecret(g, 1, sealed); !errors.Is(err, ErrNotForMe) {
		t.Fatalf("same HPKE key, other member id: error = %v, want ErrNotForMe", err)
	}
}
