package crypto

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Relay codes (PROTOCOL.md, "Relays that are not members"): an admin lets a
// node that is in no group relay for the group. The grant, with its
// secret, goes in the roster for the members; the relay's operator gets
// the secret and the end of the grant as a code. Member nodes prove to the
// relay that they know the secret; the relay learns nothing else of the
// group.

// RelayCode is the relay's half of a grant: its secret and when it ends.
type RelayCode struct {
	Secret  [32]byte
	Expires time.Time // to the millisecond
	// Replaces is the label ([RelayLabel]) of the earlier grant of the
	// same group for the same relay, which this one replaces: the relay
	// drops that code when it takes this one. Zero: none.
	Replaces [16]byte
}

// ErrBadRelayCode is returned for a relay code that does not parse.
var ErrBadRelayCode = errors.New("crypto: not a valid relay code")

const (
	relayCodePrefix = "TCR1-"
	// Version 1 is a code that replaces none; version 2 carries the
	// label of the code it replaces.
	relayCodeVersion         = 1
	relayCodeVersionReplaces = 2
	relayCodeLen             = 1 + 32 + 8
	relayCodeLenReplaces     = relayCodeLen + 16
)

// NewRelayCode returns a code with a fresh random secret, ending at
// expires.
func NewRelayCode(expires time.Time) RelayCode {
	c := RelayCode{Expires: time.UnixMilli(expires.UnixMilli())}
	rand.Read(c.Secret[:])
	return c
}

// String encodes the code: "TCR1-" and the base32 (RFC 4648, no padding)
// of version 1 (1) || secret (32) || expires (i64, Unix ms) || CRC-32
// (IEEE) of all before (4); a code that replaces another is version 2,
// with the label of the code it replaces (16) before the CRC.
func (c RelayCode) String() string {
	b := []byte{relayCodeVersion}
	if c.Replaces != ([16]byte{}) {
		b[0] = relayCodeVersionReplaces
	}
	b = append(b, c.Secret[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Expires.UnixMilli()))
	if b[0] == relayCodeVersionReplaces {
		b = append(b, c.Replaces[:]...)
	}
	return encodeCode(relayCodePrefix, b)
}

// ParseRelayCode decodes a code made by [RelayCode.String], ignoring case,
// spaces and line breaks. Errors wrap ErrBadRelayCode and never echo the
// code.
func ParseRelayCode(s string) (RelayCode, error) {
	var c RelayCode
	b, fault := decodeCode(relayCodePrefix, s)
	switch fault {
	case codeNoPrefix:
		return c, fmt.Errorf("%w: it should start with %s", ErrBadRelayCode, relayCodePrefix)
	case codeChecksum:
		return c, fmt.Errorf("%w: a character is wrong", ErrBadRelayCode)
	case codeMalformed:
		return c, ErrBadRelayCode
	}
	switch {
	case b[0] == relayCodeVersion && len(b) == relayCodeLen:
	case b[0] == relayCodeVersionReplaces && len(b) == relayCodeLenReplaces:
		copy(c.Replaces[:], b[41:57])
		if c.Replaces == ([16]byte{}) {
			return c, ErrBadRelayCode // not the one encoding
		}
	case b[0] != relayCodeVersion && b[0] != relayCodeVersionReplaces:
		return c, fmt.Errorf("%w: version %d is not supported", ErrBadRelayCode, b[0])
	default:
		return c, ErrBadRelayCode
	}
	copy(c.Secret[:], b[1:33])
	c.Expires = time.UnixMilli(int64(binary.BigEndian.Uint64(b[33:41])))
	return c, nil
}

// RelayLabel names a grant at its relay without naming the group: the
// first 16 bytes of SHA-256("takecare/v1/relay-label\0" || secret).
func RelayLabel(secret [32]byte) [16]byte {
	h := sha256.New()
	h.Write([]byte("takecare/v1/relay-label\x00"))
	h.Write(secret[:])
	var l [16]byte
	copy(l[:], h.Sum(nil))
	return l
}

// RelayProof is what a member node shows relay to prove it knows the
// grant's secret: HMAC-SHA256(secret, "takecare/v1/relay-auth\0" || u8
// length || relay peer id || u8 length || member node's peer id). It is
// bound to both peers, which the connection authenticates, so it cannot
// be shown by another node or to another relay.
func RelayProof(secret [32]byte, relay, member peer.ID) [32]byte {
	m := hmac.New(sha256.New, secret[:])
	m.Write([]byte("takecare/v1/relay-auth\x00"))
	for _, p := range []peer.ID{relay, member} {
		m.Write([]byte{byte(len(p))})
		m.Write([]byte(p))
	}
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

// CheckRelayProof reports, in constant time, whether proof is member's
// proof for relay under secret.
func CheckRelayProof(secret [32]byte, relay, member peer.ID, proof []byte) bool {
	want := RelayProof(secret, relay, member)
	return subtle.ConstantTimeCompare(want[:], proof) == 1
}
