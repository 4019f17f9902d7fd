package crypto

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// EpochSecret is the 32-byte secret of one epoch of one group. Everything a
// member needs to read and write in that epoch derives from it.
type EpochSecret struct{ k [32]byte }

// NewEpochSecret returns a fresh random epoch secret.
func NewEpochSecret() EpochSecret {
	var s EpochSecret
	rand.Read(s.k[:])
	return s
}

// EpochSecretFromBytes copies b, which must be 32 bytes.
func EpochSecretFromBytes(b []byte) (EpochSecret, error) {
	var s EpochSecret
	if len(b) != len(s.k) {
		return s, fmt.Errorf("crypto: epoch secret is %d bytes, want %d", len(b), len(s.k))
	}
	copy(s.k[:], b)
	return s, nil
}

// Bytes returns a copy of the secret, for sealing at rest.
func (s EpochSecret) Bytes() []byte { return append([]byte(nil), s.k[:]...) }

// Equal reports whether s and o are the same secret, in constant time.
func (s EpochSecret) Equal(o EpochSecret) bool {
	return subtle.ConstantTimeCompare(s.k[:], o.k[:]) == 1
}

// String never prints the secret.
func (s EpochSecret) String() string { return "EpochSecret(redacted)" }

// KeyTag is the 8-byte tag at the front of every envelope that tells a member
// which group and epoch key opens it, without naming either.
type KeyTag [8]byte

// String returns the tag in lower-case hex.
func (t KeyTag) String() string { return fmt.Sprintf("%x", t[:]) }

// KeyTagFromBytes copies b, which must be exactly 8 bytes.
func KeyTagFromBytes(b []byte) (KeyTag, error) {
	var t KeyTag
	if len(b) != len(t) {
		return t, fmt.Errorf("crypto: key tag is %d bytes, want %d", len(b), len(t))
	}
	copy(t[:], b)
	return t, nil
}

// EpochKeys are the keys of one group at one epoch, derived from its
// [EpochSecret] as in PROTOCOL.md, "Key schedule".
type EpochKeys struct {
	group      GroupID
	epoch      uint64
	secret     EpochSecret
	aead       cipher.AEAD
	tag        KeyTag
	topic      string
	sync       [32]byte
	rendezvous [32]byte
	ad         []byte
}

// NewEpochKeys derives the keys of group at epoch from secret.
func NewEpochKeys(group GroupID, epoch uint64, secret EpochSecret) *EpochKeys {
	k := &EpochKeys{group: group, epoch: epoch, secret: secret}
	msg := k.derive("msg", chacha20poly1305.KeySize)
	aead, err := chacha20poly1305.NewX(msg)
	if err != nil {
		panic("bug: " + err.Error())
	}
	clear(msg)
	k.aead = aead
	copy(k.tag[:], k.derive("tag", len(k.tag)))
	k.topic = "tc1/" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(k.derive("topic", 16)))
	copy(k.sync[:], k.derive("sync", 32))
	copy(k.rendezvous[:], k.derive("rendezvous", 32))
	k.ad = envelopeAD(k)
	return k
}

func (k *EpochKeys) derive(purpose string, n int) []byte {
	info := make([]byte, 0, 64)
	info = append(info, "takecare/v1/"+purpose+"\x00"...)
	info = append(info, k.group[:]...)
	info = binary.BigEndian.AppendUint64(info, k.epoch)
	out, err := hkdf.Key(sha256.New, k.secret.k[:], []byte("takecare/v1"), string(info), n)
	if err != nil {
		panic("bug: hkdf: " + err.Error())
	}
	return out
}

// Group returns the group these keys belong to.
func (k *EpochKeys) Group() GroupID { return k.group }

// Epoch returns the epoch number.
func (k *EpochKeys) Epoch() uint64 { return k.epoch }

// Secret returns the epoch secret the keys derive from.
func (k *EpochKeys) Secret() EpochSecret { return k.secret }

// Tag returns the key tag that marks envelopes sealed with these keys.
func (k *EpochKeys) Tag() KeyTag { return k.tag }

// Topic returns the opaque GossipSub topic name of the group at this epoch.
func (k *EpochKeys) Topic() string { return k.topic }

// SyncKey returns the key that proves membership in the sync protocol.
func (k *EpochKeys) SyncKey() []byte { return append([]byte(nil), k.sync[:]...) }

// Rendezvous returns the group's rendezvous key at this epoch, from which
// its rendezvous point and the key of its records derive (rendezvous.go).
func (k *EpochKeys) Rendezvous() []byte { return append([]byte(nil), k.rendezvous[:]...) }

// ratchetLabel is the HKDF info label of [EpochSecret.Ratchet] (20 bytes).
const ratchetLabel = "takecare/v1/ratchet\x00"

// Ratchet returns the secret of the epoch that a join starts from the
// epoch whose secret is s (PROTOCOL.md, "Joins"):
//
//	HKDF(ikm  = s,
//	     salt = "takecare/v1",
//	     info = "takecare/v1/ratchet\0" (20) || group (16) || epoch (u64) || op (32),
//	     32)
//
// where epoch is the number of the new epoch and op the id of the roster op
// that adds the joiner. Every member who holds s derives the new secret
// from the op alone; the joiner receives only the result. HKDF is one-way:
// the new secret says nothing about s or any earlier secret.
func (s EpochSecret) Ratchet(group GroupID, epoch uint64, op [32]byte) EpochSecret {
	info := make([]byte, 0, len(ratchetLabel)+len(group)+8+len(op))
	info = append(info, ratchetLabel...)
	info = append(info, group[:]...)
	info = binary.BigEndian.AppendUint64(info, epoch)
	info = append(info, op[:]...)
	out, err := hkdf.Key(sha256.New, s.k[:], []byte("takecare/v1"), string(info), len(s.k))
	if err != nil {
		panic("bug: hkdf: " + err.Error())
	}
	var next EpochSecret
	copy(next.k[:], out)
	clear(out) // best effort: Go cannot guarantee erasure
	return next
}
