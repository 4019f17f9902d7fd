package crypto

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"testing"
)

// sealRaw builds an envelope of size bytes around plaintext pt exactly as
// Seal does, but lets the test choose the size, the length prefix and the
// padding, so that envelopes Seal never makes can be checked.
func sealRaw(t testing.TB, k *EpochKeys, size int, prefix uint32, inner, padding []byte) []byte {
	t.Helper()
	pt := make([]byte, size-envOverhead)
	binary.BigEndian.PutUint32(pt, prefix)
	copy(pt[lenPrefix:], inner)
	copy(pt[lenPrefix+len(inner):], padding)
	env := make([]byte, envHeader, size)
	env[0] = EnvelopeVersion
	copy(env[1:9], k.tag[:])
	rand.Read(env[9:envHeader])
	env = k.aead.Seal(env, env[9:envHeader], pt, k.ad)
	if len(env) != size {
		t.Fatalf("bug in test: built %d bytes, want %d", len(env), size)
	}
	return env
}

func testInner(n int) []byte {
	in := Inner{Body: bytes.Repeat([]byte{'x'}, n)}
	in.Author[0] = 1
	in.Sig[0] = 2
	return in.Marshal()
}

func TestSealRawMatchesSeal(t *testing.T) {
	// The hand-built envelope must open when it follows the rules, or the
	// failures below would prove nothing.
	k := NewEpochKeys(NewGroupID(), 1, NewEpochSecret())
	inner := testInner(10)
	env := sealRaw(t, k, 2048, uint32(len(inner)), inner, nil)
	in, err := k.Open(env)
	if err != nil {
		t.Fatalf("Open of a well-formed hand-built envelope: %v", err)
	}
	if !bytes.Equal(in.Marshal(), inner) {
		t.Fatal("hand-built envelope opened to another message")
	}
}

func TestOpenRejectsBadPlaintext(t *testing.T) {
	t.Parallel()
	k := NewEpochKeys(NewGroupID(), 1, NewEpochSecret())
	small := testInner(10)
	mid := testInner(3000) // needs the 8192-byte envelope
	tests := []struct {
		name string
		env  []byte
		want error
	}{
		{"small message in 8192 bytes", sealRaw(t, k, 8192, uint32(len(small)), small, nil), ErrPadding},
		{"small message in the largest", sealRaw(t, k, MaxEnvelopeSize, uint32(len(small)), small, nil), ErrPadding},
		{"mid message in 32768 bytes", sealRaw(t, k, 32768, uint32(len(mid)), mid, nil), ErrPadding},
		{"length past the plaintext", sealRaw(t, k, 2048, 2048, small, nil), ErrPadding},
		{"length 2^32-1", sealRaw(t, k, 2048, 0xffffffff, small, nil), ErrPadding},
		{"non-zero padding", sealRaw(t, k, 2048, uint32(len(small)), small, []byte{0, 0, 1}), ErrPadding},
		{"non-zero last byte", sealRaw(t, k, 2048, uint32(len(small)), small, append(make([]byte, 2048-envOverhead-lenPrefix-len(small)-1), 0x80)), ErrPadding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := k.Open(tt.env); !errors.Is(err, tt.want) {
				t.Fatalf("Open: error = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("inner shorter than its header", func(t *testing.T) {
		t.Parallel()
		for _, n := range []int{0, 1, innerHeader} {
			env := sealRaw(t, k, 2048, uint32(n), bytes.Repeat([]byte{1}, n), nil)
			if _, err := k.Open(env); err == nil {
				t.Errorf("Open of a %d-byte inner message succeeded", n)
			}
		}
	})
}

// TestEnvelopeADBindsGroupAndEpoch takes the key tag out of the picture: keys
// for another group or epoch that happen to carry the same tag (and the same
// message key) must still fail, because the group and epoch are associated
// data.
func TestEnvelopeADBindsGroupAndEpoch(t *testing.T) {
	t.Parallel()
	secret := NewEpochSecret()
	group := NewGroupID()
	k := NewEpochKeys(group, 5, secret)
	inner := testInner(10)
	env := sealRaw(t, k, 2048, uint32(len(inner)), inner, nil)
	tests := []struct {
		name  string
		group GroupID
		epoch uint64
	}{
		{"other group", NewGroupID(), 5},
		{"other epoch", group, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			other := NewEpochKeys(tt.group, tt.epoch, secret)
			other.aead = k.aead // same message key, so only the AD differs
			other.tag = k.tag
			other.ad = envelopeAD(other)
			if _, err := other.Open(env); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Open: error = %v, want ErrDecrypt", err)
			}
		})
	}
}
