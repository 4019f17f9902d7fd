package crypto_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/takecare-network/takecare/crypto"
)

func TestAtRest(t *testing.T) {
	t.Parallel()
	key := crypto.NewStorageKey()
	a := crypto.NewAtRest(key)
	same := crypto.NewAtRest(key)
	other := crypto.NewAtRest(crypto.NewStorageKey())
	ad := []byte("msg/1234")
	pt := []byte("Juchitán, 18:00, Ixtepec")

	sealed := a.Seal(ad, pt)
	if len(sealed) != len(pt)+crypto.AtRestOverhead || crypto.AtRestOverhead != 40 {
		t.Fatalf("sealed is %d bytes for %d of plaintext (overhead %d)", len(sealed), len(pt), crypto.AtRestOverhead)
	}
	if bytes.Contains(sealed, pt[:8]) {
		t.Fatal("sealed record contains the plaintext")
	}
	for name, at := range map[string]*crypto.AtRest{"same AtRest": a, "same key": same} {
		got, err := at.Open(ad, sealed)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%s: Open = %q, %v", name, got, err)
		}
	}
	if bytes.Equal(sealed, a.Seal(ad, pt)) {
		t.Fatal("sealing twice gave the same bytes")
	}
	empty := a.Seal(nil, nil)
	if got, err := a.Open(nil, empty); err != nil || len(got) != 0 {
		t.Fatalf("empty record: %q, %v", got, err)
	}

	flipped := bytes.Clone(sealed)
	flipped[30] ^= 1
	nonce := bytes.Clone(sealed)
	nonce[0] ^= 1
	tests := []struct {
		name   string
		at     *crypto.AtRest
		ad     []byte
		sealed []byte
	}{
		{"wrong ad", a, []byte("msg/1235"), sealed},
		{"no ad", a, nil, sealed},
		{"wrong key", other, ad, sealed},
		{"flipped ciphertext", a, ad, flipped},
		{"flipped nonce", a, ad, nonce},
		{"truncated", a, ad, sealed[:len(sealed)-1]},
		{"shorter than the overhead", a, ad, sealed[:crypto.AtRestOverhead-1]},
		{"empty", a, ad, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := tt.at.Open(tt.ad, tt.sealed); !errors.Is(err, crypto.ErrAtRest) {
				t.Fatalf("Open = %q, %v; want ErrAtRest", got, err)
			}
		})
	}
}

func TestAtRestIndex(t *testing.T) {
	t.Parallel()
	key := crypto.NewStorageKey()
	a, same, other := crypto.NewAtRest(key), crypto.NewAtRest(key), crypto.NewAtRest(crypto.NewStorageKey())
	data := []byte("group-name-xyz")
	ix := a.Index("msg", data)
	if len(ix) != 16 {
		t.Fatalf("Index is %d bytes, want 16", len(ix))
	}
	if !bytes.Equal(ix, a.Index("msg", data)) || !bytes.Equal(ix, same.Index("msg", data)) {
		t.Fatal("Index is not deterministic for one key")
	}
	differs := map[string][]byte{
		"other key":          other.Index("msg", data),
		"other label":        a.Index("blob", data),
		"other data":         a.Index("msg", []byte("group-name-xyy")),
		"label/data shifted": a.Index("msgg", []byte("roup-name-xyz")),
		"empty data":         a.Index("msg", nil),
	}
	for name, o := range differs {
		if bytes.Equal(o, ix) {
			t.Errorf("%s: same index", name)
		}
	}
	if bytes.Contains(ix, data[:4]) {
		t.Error("index contains its data")
	}
}
