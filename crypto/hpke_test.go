package crypto_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/takecare-network/takecare/crypto"
)

func TestEpochSecretHPKE(t *testing.T) {
	t.Parallel()
	ana := newIdentity(t, "ana")
	beto := newIdentity(t, "beto")
	group := crypto.NewGroupID()
	const epoch = 9
	secret := crypto.NewEpochSecret()
	sealed, err := crypto.SealEpochSecret(ana.Public(), group, epoch, secret)
	if err != nil {
		t.Fatalf("SealEpochSecret: %v", err)
	}
	if len(sealed) != crypto.SealedSecretSize {
		t.Fatalf("sealed secret is %d bytes, want SealedSecretSize %d", len(sealed), crypto.SealedSecretSize)
	}
	got, err := ana.OpenEpochSecret(group, epoch, sealed)
	if err != nil {
		t.Fatalf("OpenEpochSecret: %v", err)
	}
	if !got.Equal(secret) {
		t.Fatal("opened another secret than was sealed")
	}
	if bytes.Contains(sealed, secret.Bytes()) {
		t.Fatal("sealed secret contains the secret")
	}
	again, err := crypto.SealEpochSecret(ana.Public(), group, epoch, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(again, sealed) {
		t.Fatal("sealing twice gave the same bytes")
	}

	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x10
		return b
	}
	tests := []struct {
		name   string
		id     *crypto.Identity
		group  crypto.GroupID
		epoch  uint64
		sealed []byte
	}{
		{"another identity", beto, group, epoch, sealed},
		{"another group", ana, crypto.NewGroupID(), epoch, sealed},
		{"another epoch", ana, group, epoch + 1, sealed},
		{"empty", ana, group, epoch, nil},
		{"truncated by one", ana, group, epoch, sealed[:len(sealed)-1]},
		{"truncated to the encapsulation", ana, group, epoch, sealed[:1120]},
		{"byte appended", ana, group, epoch, append(bytes.Clone(sealed), 0)},
		{"flip in the ML-KEM part", ana, group, epoch, flip(0)},
		{"flip in the middle of ML-KEM", ana, group, epoch, flip(500)},
		{"flip in the X25519 share", ana, group, epoch, flip(1100)},
		{"flip in the ciphertext", ana, group, epoch, flip(1130)},
		{"flip in the tag", ana, group, epoch, flip(len(sealed) - 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := tt.id.OpenEpochSecret(tt.group, tt.epoch, tt.sealed)
			if !errors.Is(err, crypto.ErrNotForMe) {
				t.Fatalf("OpenEpochSecret: %v, %v; want ErrNotForMe", s, err)
			}
		})
	}
}

func TestEpochSecretHPKEEveryByte(t *testing.T) {
	t.Parallel()
	ana := newIdentity(t, "ana")
	group := crypto.NewGroupID()
	sealed, err := crypto.SealEpochSecret(ana.Public(), group, 1, crypto.NewEpochSecret())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(sealed); i += 37 {
		b := bytes.Clone(sealed)
		b[i] ^= 1 << (i % 8)
		if _, err := ana.OpenEpochSecret(group, 1, b); !errors.Is(err, crypto.ErrNotForMe) {
			t.Fatalf("flip at byte %d: error = %v, want ErrNotForMe", i, err)
		}
	}
}

func TestEpochSecret(t *testing.T) {
	t.Parallel()
	s := crypto.NewEpochSecret()
	b := s.Bytes()
	if len(b) != 32 {
		t.Fatalf("Bytes: %d bytes", len(b))
	}
	back, err := crypto.EpochSecretFromBytes(b)
	if err != nil || !back.Equal(s) {
		t.Fatalf("EpochSecretFromBytes(Bytes()) = %v, %v", back, err)
	}
	b[0] ^= 1
	if !back.Equal(s) || bytes.Equal(s.Bytes(), b) {
		t.Fatal("Bytes returned the secret itself, not a copy")
	}
	if s.Equal(crypto.NewEpochSecret()) {
		t.Fatal("two new secrets are equal")
	}
	for _, n := range []int{0, 31, 33} {
		if _, err := crypto.EpochSecretFromBytes(make([]byte, n)); err == nil {
			t.Errorf("EpochSecretFromBytes accepted %d bytes", n)
		}
	}
	for _, form := range []string{"%v", "%s", "%+v"} {
		out := fmt.Sprintf(form, s)
		if bytes.Contains([]byte(out), []byte(fmt.Sprintf("%x", s.Bytes()[:8]))) || out != "EpochSecret(redacted)" {
			t.Errorf("Sprintf(%q) = %q, want the redacted form", form, out)
		}
	}
	if out := fmt.Sprint(crypto.NewStorageKey()); out != "StorageKey(redacted)" {
		t.Errorf("StorageKey prints as %q", out)
	}
}
