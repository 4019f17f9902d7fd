package crypto

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
)

// TestKeystoreHoldsNoSecretInClear looks for every private key and the
// storage key in the raw keystore file.
func TestKeystoreHoldsNoSecretInClear(t *testing.T) {
	t.Parallel()
	id, err := NewIdentity("ana")
	if err != nil {
		t.Fatal(err)
	}
	p := Profile{Identity: id, StorageKey: NewStorageKey()}
	path := filepath.Join(t.TempDir(), "keystore")
	if err := CreateKeystore(path, []byte("pass"), p, KeystoreParams{Time: 1, MemoryKiB: 64, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kemSeed, err := id.kem.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	node, err := p2pcrypto.MarshalPrivateKey(id.node)
	if err != nil {
		t.Fatal(err)
	}
	for what, secret := range map[string][]byte{
		"storage key":  p.StorageKey.k[:],
		"signing seed": id.sign.Seed(),
		"HPKE seed":    kemSeed,
		"node key":     node[len(node)-32:],
	} {
		for i := 0; i+8 <= len(secret); i += 8 {
			if bytes.Contains(file, secret[i:i+8]) {
				t.Fatalf("keystore file contains bytes %d..%d of the %s", i, i+8, what)
			}
		}
	}
}

func TestProfileEncoding(t *testing.T) {
	t.Parallel()
	id, err := NewIdentity("ana")
	if err != nil {
		t.Fatal(err)
	}
	p := Profile{Identity: id, StorageKey: NewStorageKey()}
	b, err := marshalProfile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != slotPlainSize {
		t.Fatalf("profile plaintext is %d bytes, want %d", len(b), slotPlainSize)
	}
	got, err := unmarshalProfile(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Identity.ID() != id.ID() || got.StorageKey.k != p.StorageKey.k {
		t.Fatal("profile does not round-trip")
	}
	for _, n := range []int{0, 1, 2, 3, 50, 2 + 3 + 96, 2 + 3 + 96 + 1} {
		if _, err := unmarshalProfile(b[:n]); err == nil {
			t.Errorf("unmarshalProfile accepted the first %d bytes", n)
		}
	}
	v3 := bytes.Clone(b)
	v3[0] = 3
	if _, err := unmarshalProfile(v3); err == nil {
		t.Error("unmarshalProfile accepted kind 3")
	}
	d := bytes.Clone(b)
	d[0] = profileDuress
	if p, err := unmarshalProfile(d); err != nil || !p.Duress {
		t.Errorf("a duress slot: %v", err)
	}
}

// FuzzUnmarshalProfile feeds the decoder of a keystore slot's plaintext,
// which the AEAD keeps out of reach of FuzzOpenKeystore.
func FuzzUnmarshalProfile(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := unmarshalProfile(b)
		if err != nil {
			return
		}
		again, err := marshalProfile(*p)
		if err != nil {
			t.Fatalf("a profile that decodes does not encode: %v", err)
		}
		q, err := unmarshalProfile(again)
		if err != nil {
			t.Fatalf("re-encoded profile does not decode: %v", err)
		}
		if q.Identity.ID() != p.Identity.ID() || q.Identity.Name() != p.Identity.Name() ||
			q.Identity.PeerID() != p.Identity.PeerID() || q.StorageKey.k != p.StorageKey.k {
			t.Fatal("profile changed through encode/decode")
		}
	})
}
