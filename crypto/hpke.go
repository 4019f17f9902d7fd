package crypto

import (
	"crypto/hpke"
	"encoding/binary"
	"errors"
	"fmt"
)

// SealedSecretSize is the size of an epoch secret sealed with
// [SealEpochSecret]: the X-Wing encapsulation, the secret and the AEAD tag.
const SealedSecretSize = 1120 + 32 + 16

// ErrNotForMe is returned when a sealed epoch secret does not open with the
// member's HPKE key.
var ErrNotForMe = errors.New("crypto: sealed secret does not open with this member's key")

// hpkeSuite is the single HPKE suite: MLKEM768-X25519, HKDF-SHA256,
// ChaCha20-Poly1305. PROTOCOL.md, "Epoch secrets".
func hpkeSuite() (hpke.KDF, hpke.AEAD) { return hpke.HKDFSHA256(), hpke.ChaCha20Poly1305() }

func epochSecretInfo(group GroupID, epoch uint64, to MemberID) []byte {
	const label = "takecare/v1/epoch-secret\x00"
	b := make([]byte, 0, len(label)+16+8+32)
	b = append(b, label...)
	b = append(b, group[:]...)
	b = binary.BigEndian.AppendUint64(b, epoch)
	return append(b, to[:]...)
}

// SealEpochSecret seals the secret of group at epoch to one member's HPKE key.
// The result opens only with that member's private key, and only for that
// group, epoch and member.
func SealEpochSecret(to MemberKeys, group GroupID, epoch uint64, s EpochSecret) ([]byte, error) {
	pk, err := kem.NewPublicKey(to.kem[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: member HPKE key: %w", err)
	}
	kdf, aead := hpkeSuite()
	out, err := hpke.Seal(pk, kdf, aead, epochSecretInfo(group, epoch, to.ID()), s.k[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: sealing epoch secret: %w", err)
	}
	return out, nil
}

// OpenEpochSecret opens an epoch secret that [SealEpochSecret] sealed to this
// identity.
func (id *Identity) OpenEpochSecret(group GroupID, epoch uint64, sealed []byte) (EpochSecret, error) {
	if len(sealed) != SealedSecretSize {
		return EpochSecret{}, fmt.Errorf("%w: %d bytes, want %d", ErrNotForMe, len(sealed), SealedSecretSize)
	}
	kdf, aead := hpkeSuite()
	pt, err := hpke.Open(id.kem, kdf, aead, epochSecretInfo(group, epoch, id.ID()), sealed)
	if err != nil {
		return EpochSecret{}, ErrNotForMe
	}
	defer clear(pt)
	return EpochSecretFromBytes(pt)
}
