package smsbridge

import (
	"encoding/base32"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// A grant code carries a member's grant to a bridge (node.Node.Grant)
// from the member's node to the bridge's operator, by hand or as a QR
// code: "TCG1-" and, in Base32 without padding, the member id (32), the
// group id (16), the bridge's member id (32), the grant's end (Unix ms,
// i64) and the member's signature (64). It is not secret: only the bridge
// it names can use it, with its own signature.

const grantPrefix = "TCG1-"

// ErrBadGrantCode is returned for what is not a grant code.
var ErrBadGrantCode = errors.New("smsbridge: not a grant code (it starts with TCG1-)")

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// GrantCode encodes member's grant v for group gid.
func GrantCode(gid crypto.GroupID, member crypto.MemberID, v alert.Via) string {
	b := make([]byte, 0, 152)
	b = append(b, member[:]...)
	b = append(b, gid[:]...)
	b = append(b, v.Bridge[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(v.Expires.UnixMilli()))
	b = append(b, v.Grant[:]...)
	return grantPrefix + b32.EncodeToString(b)
}

// ParseGrantCode decodes a grant code; spaces and case do not matter.
func ParseGrantCode(s string) (crypto.GroupID, crypto.MemberID, alert.Via, error) {
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	var (
		gid    crypto.GroupID
		member crypto.MemberID
		v      alert.Via
	)
	rest, ok := strings.CutPrefix(s, grantPrefix)
	if !ok {
		return gid, member, v, ErrBadGrantCode
	}
	b, err := b32.DecodeString(rest)
	if err != nil || len(b) != 152 {
		return gid, member, v, ErrBadGrantCode
	}
	copy(member[:], b[:32])
	copy(gid[:], b[32:48])
	copy(v.Bridge[:], b[48:80])
	v.Expires = time.UnixMilli(int64(binary.BigEndian.Uint64(b[80:88])))
	copy(v.Grant[:], b[88:])
	return gid, member, v, nil
}
