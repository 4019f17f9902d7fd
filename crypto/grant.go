package crypto

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
)

// A grant lets a bridge (another member's node with an SMS path) send
// messages to a group on a member's behalf until it expires: the member
// signs, with the member signing key, the group, the bridge's member id
// and the expiry (PROTOCOL.md, "Bridges"). Messages sent so carry the
// grant and are signed by the bridge.

// grantInput is the domain-separated message a member signs to grant a
// bridge: "takecare/v1/via\0" (16) || group (16) || bridge (32) ||
// expires (i64, Unix ms).
func grantInput(group GroupID, bridge MemberID, expiresMs int64) []byte {
	const label = "takecare/v1/via\x00"
	b := make([]byte, 0, len(label)+len(group)+len(bridge)+8)
	b = append(b, label...)
	b = append(b, group[:]...)
	b = append(b, bridge[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(expiresMs))
}

// SignGrant signs a grant that lets bridge send to group on this member's
// behalf until expiresMs (Unix milliseconds, this member's clock).
func (id *Identity) SignGrant(group GroupID, bridge MemberID, expiresMs int64) [SigSize]byte {
	var sig [SigSize]byte
	copy(sig[:], ed25519.Sign(id.sign, grantInput(group, bridge, expiresMs)))
	return sig
}

// VerifyGrant checks that keys (the granting member's) signed the grant.
// It returns ErrBadSignature if not.
func VerifyGrant(keys MemberKeys, group GroupID, bridge MemberID, expiresMs int64, sig []byte) error {
	if len(sig) != SigSize || !ed25519.Verify(ed25519.PublicKey(keys.keys().sign[:]), grantInput(group, bridge, expiresMs), sig) {
		return fmt.Errorf("%w: grant", ErrBadSignature)
	}
	return nil
}

// SignBodyFor signs body, as [Identity.SignBody] does, as the bridge of
// another member: the inner message names author, and the signature is
// this identity's.
func (id *Identity) SignBodyFor(author MemberID, group GroupID, epoch uint64, body []byte) Inner {
	in := id.SignBody(group, epoch, body)
	in.Author = author
	return in
}

// VerifyBy checks that the signature over the body, bound to group and
// epoch, was made with keys, whoever the inner message names as its author
// (a bridge's signature on a member's behalf).
func (in Inner) VerifyBy(keys MemberKeys, group GroupID, epoch uint64) error {
	if !ed25519.Verify(ed25519.PublicKey(keys.keys().sign[:]), sigInput(group, epoch, in.Body), in.Sig[:]) {
		return ErrBadSignature
	}
	return nil
}
