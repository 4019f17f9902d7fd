package crypto

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// EnvelopeVersion is the first byte of every version 1 envelope.
const EnvelopeVersion = 1

// EnvelopeSizes are the only sizes an envelope can have, smallest first.
// Every alert, check-in and acknowledgement fits the first; the others are
// for large roster changes. PROTOCOL.md, "Padding".
var EnvelopeSizes = [...]int{2048, 8192, 32768, 131072, 524288}

// MaxEnvelopeSize is the largest envelope.
const MaxEnvelopeSize = 524288

const (
	envHeader   = 1 + len(KeyTag{}) + 24 // version | key tag | nonce
	envOverhead = envHeader + 16         // plus the Poly1305 tag
	lenPrefix   = 4
)

// MaxInnerSize is the largest signed inner message an envelope can carry.
const MaxInnerSize = MaxEnvelopeSize - envOverhead - lenPrefix

// Errors from [EpochKeys.Open]; callers branch on them.
var (
	ErrEnvelopeSize    = errors.New("crypto: envelope size is not one of the padding sizes")
	ErrEnvelopeVersion = errors.New("crypto: unknown envelope version")
	ErrWrongKey        = errors.New("crypto: envelope is for another group or epoch")
	ErrDecrypt         = errors.New("crypto: envelope does not open (tampered or wrong key)")
	ErrPadding         = errors.New("crypto: bad padding")
)

// EnvelopeTag returns the key tag of an envelope after checking its size and
// version, so a receiver can find the keys that open it.
func EnvelopeTag(env []byte) (KeyTag, error) {
	var t KeyTag
	if !validSize(len(env)) {
		return t, ErrEnvelopeSize
	}
	if env[0] != EnvelopeVersion {
		return t, ErrEnvelopeVersion
	}
	copy(t[:], env[1:9])
	return t, nil
}

func validSize(n int) bool {
	for _, s := range EnvelopeSizes {
		if n == s {
			return true
		}
	}
	return false
}

// PaddedSize returns the size of the envelope that carries an inner message
// of n bytes, or an error when none is large enough.
func PaddedSize(n int) (int, error) {
	for _, s := range EnvelopeSizes {
		if n+lenPrefix+envOverhead <= s {
			return s, nil
		}
	}
	return 0, fmt.Errorf("crypto: message of %d bytes is larger than the largest envelope", n)
}

// Seal pads and encrypts a signed inner message into an envelope.
func (k *EpochKeys) Seal(in Inner) ([]byte, error) {
	inner := in.Marshal()
	size, err := PaddedSize(len(inner))
	if err != nil {
		return nil, err
	}
	env := make([]byte, envHeader, size)
	env[0] = EnvelopeVersion
	copy(env[1:9], k.tag[:])
	rand.Read(env[9:envHeader])
	pt := make([]byte, size-envOverhead)
	binary.BigEndian.PutUint32(pt, uint32(len(inner)))
	copy(pt[lenPrefix:], inner)
	env = k.aead.Seal(env, env[9:envHeader], pt, k.ad)
	if len(env) != size {
		panic("bug: envelope size mismatch")
	}
	return env, nil
}

// Open decrypts an envelope sealed with these keys and returns the signed
// inner message, which the caller must still verify with [Inner.Verify].
func (k *EpochKeys) Open(env []byte) (Inner, error) {
	tag, err := EnvelopeTag(env)
	if err != nil {
		return Inner{}, err
	}
	if tag != k.tag {
		return Inner{}, ErrWrongKey
	}
	pt, err := k.aead.Open(nil, env[9:envHeader], env[envHeader:], k.ad)
	if err != nil {
		return Inner{}, ErrDecrypt
	}
	n := binary.BigEndian.Uint32(pt)
	if uint64(n) > uint64(len(pt)-lenPrefix) {
		return Inner{}, fmt.Errorf("%w: length %d exceeds plaintext", ErrPadding, n)
	}
	inner, pad := pt[lenPrefix:lenPrefix+int(n)], pt[lenPrefix+int(n):]
	for _, b := range pad {
		if b != 0 {
			return Inner{}, fmt.Errorf("%w: non-zero byte", ErrPadding)
		}
	}
	// The smallest size that fits is the only valid one: a larger envelope
	// for a small message would be a second encoding of it.
	if want, _ := PaddedSize(len(inner)); want != len(env) {
		return Inner{}, fmt.Errorf("%w: %d-byte message in a %d-byte envelope", ErrPadding, len(inner), len(env))
	}
	return ParseInner(inner)
}

// envelopeAD is the associated data of an envelope: it binds the group id,
// the epoch, the version and the key tag.
func envelopeAD(k *EpochKeys) []byte {
	const label = "takecare/v1/env\x00"
	b := make([]byte, 0, len(label)+16+8+9)
	b = append(b, label...)
	b = append(b, k.group[:]...)
	b = binary.BigEndian.AppendUint64(b, k.epoch)
	b = append(b, EnvelopeVersion)
	return append(b, k.tag[:]...)
}
