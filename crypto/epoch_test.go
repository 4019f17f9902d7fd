package crypto_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/takecare-network/takecare/crypto"
)

func TestEpochKeysDerivation(t *testing.T) {
	t.Parallel()
	secret := crypto.NewEpochSecret()
	group := crypto.NewGroupID()
	k := crypto.NewEpochKeys(group, 2, secret)
	same := crypto.NewEpochKeys(group, 2, secret)
	if k.Tag() != same.Tag() || k.Topic() != same.Topic() ||
		!bytes.Equal(k.SyncKey(), same.SyncKey()) || !bytes.Equal(k.Rendezvous(), same.Rendezvous()) {
		t.Fatal("the same secret, group and epoch derived different keys")
	}
	if k.Group() != group || k.Epoch() != 2 || !k.Secret().Equal(secret) {
		t.Fatal("accessors do not return what the keys were made from")
	}
	if !strings.HasPrefix(k.Topic(), "tc1/") || strings.Contains(k.Topic(), group.String()) {
		t.Fatalf("topic %q", k.Topic())
	}
	if len(k.SyncKey()) != 32 || len(k.Rendezvous()) != 32 {
		t.Fatal("sync or rendezvous key is not 32 bytes")
	}
	if bytes.Equal(k.SyncKey(), k.Rendezvous()) || bytes.Equal(k.SyncKey(), secret.Bytes()) {
		t.Fatal("derived keys are not independent")
	}

	others := map[string]*crypto.EpochKeys{
		"other group":  crypto.NewEpochKeys(crypto.NewGroupID(), 2, secret),
		"other epoch":  crypto.NewEpochKeys(group, 3, secret),
		"other secret": crypto.NewEpochKeys(group, 2, crypto.NewEpochSecret()),
	}
	for name, o := range others {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if o.Tag() == k.Tag() {
				t.Error("same key tag")
			}
			if o.Topic() == k.Topic() {
				t.Error("same topic")
			}
			if bytes.Equal(o.SyncKey(), k.SyncKey()) {
				t.Error("same sync key")
			}
			if bytes.Equal(o.Rendezvous(), k.Rendezvous()) {
				t.Error("same rendezvous key")
			}
		})
	}
}

// TestEnvelopeVector opens an envelope sealed by this version of the code
// and checked in, so that a change of key schedule, associated data or
// envelope layout fails here rather than between two releases in the field.
// Its keys are fixedGroup, fixedEpoch and fixedSecret.
func TestEnvelopeVector(t *testing.T) {
	t.Parallel()
	k := fixedKeys(t)
	const (
		wantTag        = "c68e3c971038bafe"
		wantTopic      = "tc1/i33x6subaulu3twakeiwco6yae"
		wantSync       = "b6907e48135a393efd4571fb8e6656eb2cc35669966771ffdcc35e59e0b9ee45"
		wantRendezvous = "1e1aeaa36dfe45e5997e461d4a368272c50a77ca803b4991cf944a87ab5a6a0d"
	)
	raw, err := os.ReadFile(filepath.Join("testdata", "envelope-v1.hex"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	in, err := k.Open(env)
	if err != nil {
		t.Fatalf("Open of the version 1 vector: %v", err)
	}
	if string(in.Body) != "takecare envelope vector v1" {
		t.Fatalf("vector body = %q", in.Body)
	}
	if in.Author != (crypto.MemberID{1, 2, 3}) || in.Sig != ([64]byte{4, 5, 6}) {
		t.Fatal("vector author or signature differ")
	}
	if got := k.Tag().String(); got != wantTag {
		t.Errorf("key tag = %s, want %s", got, wantTag)
	}
	if got := k.Topic(); got != wantTopic {
		t.Errorf("topic = %s, want %s", got, wantTopic)
	}
	if got := hex.EncodeToString(k.SyncKey()); got != wantSync {
		t.Errorf("sync key = %s, want %s", got, wantSync)
	}
	if got := hex.EncodeToString(k.Rendezvous()); got != wantRendezvous {
		t.Errorf("rendezvous key = %s, want %s", got, wantRendezvous)
	}
}

// TestRatchet checks the join ratchet against a vector computed
// independently (Python's hmac and hashlib, HKDF as in RFC 5869) and that
// every input changes the result.
func TestRatchet(t *testing.T) {
	t.Parallel()
	seq := func(from byte, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = from + byte(i)
		}
		return b
	}
	s, err := crypto.EpochSecretFromBytes(seq(0, 32))
	if err != nil {
		t.Fatal(err)
	}
	g, err := crypto.GroupIDFromBytes(seq(0x40, 16))
	if err != nil {
		t.Fatal(err)
	}
	var op [32]byte
	copy(op[:], seq(0x80, 32))
	next := s.Ratchet(g, 7, op)
	if got, want := hex.EncodeToString(next.Bytes()), "a6291e246e7e81c16c75ea14011a005e7e923f6f298a287c59a73dfe88a1d956"; got != want {
		t.Fatalf("Ratchet = %s, want %s", got, want)
	}
	if next.Equal(s) {
		t.Fatal("the ratchet returned its input")
	}
	other := op
	other[31] ^= 1
	for name, o := range map[string]crypto.EpochSecret{
		"other secret": crypto.NewEpochSecret().Ratchet(g, 7, op),
		"other group":  s.Ratchet(crypto.NewGroupID(), 7, op),
		"other epoch":  s.Ratchet(g, 8, op),
		"other op":     s.Ratchet(g, 7, other),
	} {
		if o.Equal(next) {
			t.Errorf("%s: same secret", name)
		}
	}
}
