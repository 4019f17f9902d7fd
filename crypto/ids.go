package crypto

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// GroupID names a group. It is random, chosen by the founder, and never
// appears on the wire outside ciphertext.
type GroupID [16]byte

// NewGroupID returns a fresh random group id.
func NewGroupID() GroupID {
	var g GroupID
	rand.Read(g[:])
	return g
}

// String returns the id in lower-case hex.
func (g GroupID) String() string { return hex.EncodeToString(g[:]) }

// IsZero reports whether g is the zero id.
func (g GroupID) IsZero() bool { return g == GroupID{} }

// ParseGroupID parses the form printed by [GroupID.String].
func ParseGroupID(s string) (GroupID, error) {
	var g GroupID
	err := parseHex(g[:], s, "group id")
	return g, err
}

// GroupIDFromBytes copies b, which must be exactly 16 bytes.
func GroupIDFromBytes(b []byte) (GroupID, error) {
	var g GroupID
	if len(b) != len(g) {
		return g, fmt.Errorf("crypto: group id is %d bytes, want %d", len(b), len(g))
	}
	copy(g[:], b)
	return g, nil
}

// MemberID names a member: a hash of its signing and HPKE public keys.
type MemberID [32]byte

// String returns the id in lower-case hex.
func (m MemberID) String() string { return hex.EncodeToString(m[:]) }

// Short returns the first 12 hex digits, enough for people to tell members
// apart.
func (m MemberID) Short() string { return m.String()[:12] }

// IsZero reports whether m is the zero id.
func (m MemberID) IsZero() bool { return m == MemberID{} }

// ParseMemberID parses the form printed by [MemberID.String].
func ParseMemberID(s string) (MemberID, error) {
	var m MemberID
	err := parseHex(m[:], s, "member id")
	return m, err
}

// MemberIDFromBytes copies b, which must be exactly 32 bytes.
func MemberIDFromBytes(b []byte) (MemberID, error) {
	var m MemberID
	if len(b) != len(m) {
		return m, fmt.Errorf("crypto: member id is %d bytes, want %d", len(b), len(m))
	}
	copy(m[:], b)
	return m, nil
}

var errBadHex = errors.New("not hexadecimal")

func parseHex(dst []byte, s, what string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("crypto: %s has %d characters, want %d", what, len(s), 2*len(dst))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("crypto: %s: %w", what, errBadHex)
	}
	return nil
}
