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
	pk, err := kem.NewPublicKey(to.keys().kem[:])
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

// Path keys and tree secrets reach a member the same way as epoch secrets,
// sealed to its HPKE key, with their own info labels (PROTOCOL.md, "Key
// tree"):
//
//	info = "takecare/v1/path-keys\0" (22) || group (16) || tree (16) || member (32)
//	info = "takecare/v1/tree-secret\0" (24) || group (16) || tree (16) || member (32)
const (
	pathKeysLabel   = "takecare/v1/path-keys\x00"
	treeSecretLabel = "takecare/v1/tree-secret\x00"
)

// SealedPathKeysSize and SealedTreeSecretSize are the sizes of what
// [SealPathKeys] and [SealTreeSecret] return.
const (
	SealedPathKeysSize   = 1120 + PathKeysSize + 16
	SealedTreeSecretSize = 1120 + 32 + 16
)

func treeInfo(label string, group GroupID, tree TreeID, to MemberID) []byte {
	b := make([]byte, 0, len(label)+16+16+32)
	b = append(b, label...)
	b = append(b, group[:]...)
	b = append(b, tree[:]...)
	return append(b, to[:]...)
}

func sealTo(to MemberKeys, info, pt []byte) ([]byte, error) {
	pk, err := kem.NewPublicKey(to.keys().kem[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: member HPKE key: %w", err)
	}
	kdf, aead := hpkeSuite()
	out, err := hpke.Seal(pk, kdf, aead, info, pt)
	if err != nil {
		return nil, fmt.Errorf("crypto: sealing: %w", err)
	}
	return out, nil
}

func (id *Identity) openSealed(info, sealed []byte, size int) ([]byte, error) {
	if len(sealed) != size {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrNotForMe, len(sealed), size)
	}
	kdf, aead := hpkeSuite()
	pt, err := hpke.Open(id.kem, kdf, aead, info, sealed)
	if err != nil {
		return nil, ErrNotForMe
	}
	return pt, nil
}

// SealPathKeys seals a member's path keys of a key tree of group to that
// member's HPKE key.
func SealPathKeys(to MemberKeys, group GroupID, p *PathKeys) ([]byte, error) {
	pt := p.Marshal()
	defer clear(pt)
	return sealTo(to, treeInfo(pathKeysLabel, group, p.Tree, to.ID()), pt)
}

// OpenPathKeys opens path keys of tree in group that [SealPathKeys] sealed
// to this identity.
func (id *Identity) OpenPathKeys(group GroupID, tree TreeID, sealed []byte) (PathKeys, error) {
	pt, err := id.openSealed(treeInfo(pathKeysLabel, group, tree, id.ID()), sealed, SealedPathKeysSize)
	if err != nil {
		return PathKeys{}, err
	}
	defer clear(pt)
	p, err := ParsePathKeys(pt)
	if err == nil && p.Tree != tree {
		err = errors.New("crypto: path keys of another tree")
	}
	return p, err
}

// SealTreeSecret seals the secret of tree in group to an admin's HPKE key.
func SealTreeSecret(to MemberKeys, group GroupID, tree TreeID, t TreeSecret) ([]byte, error) {
	return sealTo(to, treeInfo(treeSecretLabel, group, tree, to.ID()), t.k[:])
}

// OpenTreeSecret opens a tree secret that [SealTreeSecret] sealed to this
// identity.
func (id *Identity) OpenTreeSecret(group GroupID, tree TreeID, sealed []byte) (TreeSecret, error) {
	pt, err := id.openSealed(treeInfo(treeSecretLabel, group, tree, id.ID()), sealed, SealedTreeSecretSize)
	if err != nil {
		return TreeSecret{}, err
	}
	defer clear(pt)
	return TreeSecretFromBytes(pt)
}
