package crypto

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrAtRest is returned when a stored record does not open: it was damaged or
// sealed under another storage key.
var ErrAtRest = errors.New("crypto: stored record does not open")

// AtRest seals records for the store under subkeys of a [StorageKey], and
// computes keyed index tags so that the store's keys reveal nothing either.
type AtRest struct {
	aead interface {
		Seal(dst, nonce, plaintext, ad []byte) []byte
		Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
	}
	mac []byte
}

// NewAtRest derives the sealing and index keys from k.
func NewAtRest(k StorageKey) *AtRest {
	enc, err := hkdf.Key(sha256.New, k.k[:], nil, "takecare/v1/store-seal", chacha20poly1305.KeySize)
	if err != nil {
		panic("bug: " + err.Error())
	}
	defer clear(enc)
	mac, err := hkdf.Key(sha256.New, k.k[:], nil, "takecare/v1/store-index", 32)
	if err != nil {
		panic("bug: " + err.Error())
	}
	aead, err := chacha20poly1305.NewX(enc)
	if err != nil {
		panic("bug: " + err.Error())
	}
	return &AtRest{aead: aead, mac: mac}
}

// AtRestOverhead is what [AtRest.Seal] adds to a record.
const AtRestOverhead = 24 + 16

// Seal encrypts plaintext bound to ad (typically the record's key).
func (a *AtRest) Seal(ad, plaintext []byte) []byte {
	out := make([]byte, 24, 24+len(plaintext)+16)
	rand.Read(out)
	return a.aead.Seal(out, out[:24], plaintext, ad)
}

// Open decrypts what [AtRest.Seal] produced with the same ad.
func (a *AtRest) Open(ad, sealed []byte) ([]byte, error) {
	if len(sealed) < AtRestOverhead {
		return nil, ErrAtRest
	}
	pt, err := a.aead.Open(nil, sealed[:24], sealed[24:], ad)
	if err != nil {
		return nil, ErrAtRest
	}
	return pt, nil
}

// Index returns a 16-byte keyed tag of data under label, for use as a store
// key that cannot be linked across devices or guessed without the key.
func (a *AtRest) Index(label string, data []byte) []byte {
	var h hash.Hash = hmac.New(sha256.New, a.mac)
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write(data)
	return h.Sum(nil)[:16]
}
