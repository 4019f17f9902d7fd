package crypto

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Rendezvous records (PROTOCOL.md, "Rendezvous"): a member node leaves, at
// an always-on node, where it can be reached, sealed so that only members
// of the group at that epoch can read it, under a point that only they can
// name.

const (
	// RendezvousRecordMax is the longest record SealRendezvous takes.
	RendezvousRecordMax = rendezvousPadded - 2
	// RendezvousSealedSize is the size of every sealed record: version,
	// nonce, the padded record and the AEAD tag.
	RendezvousSealedSize = 1 + chacha20poly1305.NonceSizeX + rendezvousPadded + chacha20poly1305.Overhead

	rendezvousVersion = 0x01
	rendezvousPadded  = 1024
)

// ErrRendezvousRecord is returned for a sealed record that does not open:
// the wrong size or version, another group or epoch, or tampered with.
var ErrRendezvousRecord = errors.New("crypto: rendezvous record does not open")

// RendezvousPoint returns the 32-byte name of the group's rendezvous point
// at this epoch: HMAC-SHA256(rendezvous key, "takecare/v1/rv-point").
func (k *EpochKeys) RendezvousPoint() [32]byte {
	var p [32]byte
	copy(p[:], k.rendezvousMAC("takecare/v1/rv-point"))
	return p
}

func (k *EpochKeys) rendezvousMAC(label string) []byte {
	m := hmac.New(sha256.New, k.rendezvous[:])
	m.Write([]byte(label))
	return m.Sum(nil)
}

// SealRendezvous seals record (at most RendezvousRecordMax bytes) for the
// group's rendezvous point at this epoch: 0x01 || nonce (24) ||
// XChaCha20-Poly1305(key, nonce, u16 length || record || zeros to 1024
// bytes, ad = "takecare/v1/rv-record\0" || point), where key is
// HMAC-SHA256(rendezvous key, "takecare/v1/rv-record"). Every sealed
// record is RendezvousSealedSize bytes, whatever it holds.
func (k *EpochKeys) SealRendezvous(record []byte) ([]byte, error) {
	if len(record) > RendezvousRecordMax {
		return nil, fmt.Errorf("crypto: rendezvous record of %d bytes, at most %d", len(record), RendezvousRecordMax)
	}
	aead, err := k.rendezvousAEAD()
	if err != nil {
		return nil, err
	}
	plain := make([]byte, rendezvousPadded)
	binary.BigEndian.PutUint16(plain, uint16(len(record)))
	copy(plain[2:], record)
	out := make([]byte, 1+chacha20poly1305.NonceSizeX, RendezvousSealedSize)
	out[0] = rendezvousVersion
	rand.Read(out[1:])
	return aead.Seal(out, out[1:], plain, k.rendezvousAD()), nil
}

// OpenRendezvous opens a record sealed by SealRendezvous with these keys,
// or returns ErrRendezvousRecord.
func (k *EpochKeys) OpenRendezvous(sealed []byte) ([]byte, error) {
	if len(sealed) != RendezvousSealedSize || sealed[0] != rendezvousVersion {
		return nil, ErrRendezvousRecord
	}
	aead, err := k.rendezvousAEAD()
	if err != nil {
		return nil, err
	}
	nonce, ct := sealed[1:1+chacha20poly1305.NonceSizeX], sealed[1+chacha20poly1305.NonceSizeX:]
	plain, err := aead.Open(nil, nonce, ct, k.rendezvousAD())
	if err != nil {
		return nil, ErrRendezvousRecord
	}
	n := int(binary.BigEndian.Uint16(plain))
	if n > RendezvousRecordMax {
		return nil, ErrRendezvousRecord
	}
	return plain[2 : 2+n], nil
}

func (k *EpochKeys) rendezvousAEAD() (cipher.AEAD, error) {
	key := k.rendezvousMAC("takecare/v1/rv-record")
	defer clear(key) // best effort: Go cannot promise the copy is gone
	return chacha20poly1305.NewX(key)
}

func (k *EpochKeys) rendezvousAD() []byte {
	p := k.RendezvousPoint()
	return append([]byte("takecare/v1/rv-record\x00"), p[:]...)
}
