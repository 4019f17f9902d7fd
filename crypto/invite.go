package crypto

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ErrBadInvite is returned for an invite code that does not parse.
var ErrBadInvite = errors.New("invite code is damaged or mistyped")

// InviteID names an invite within its group.
type InviteID [8]byte

// String returns the id in lower-case hex.
func (i InviteID) String() string { return fmt.Sprintf("%x", i[:]) }

// Invite is what an invite code carries: the group to join, the invite's id
// and one-time secret, and how to reach a node that can redeem it.
type Invite struct {
	Group  GroupID
	ID     InviteID
	secret [16]byte
	// Peer and Addrs name the node that made the invite.
	Peer  peer.ID
	Addrs []ma.Multiaddr
	// Also lists other admins' nodes that can redeem the invite if the
	// first cannot be reached (at most 3, with at most 4 addresses each).
	Also []peer.AddrInfo
}

// NewInvite makes an invite for group with a fresh id and secret, redeemable
// at the node with the given peer id and addresses.
func NewInvite(group GroupID, p peer.ID, addrs []ma.Multiaddr) Invite {
	inv := Invite{Group: group, Peer: p, Addrs: addrs}
	rand.Read(inv.ID[:])
	rand.Read(inv.secret[:])
	return inv
}

// Key derives the invite's Ed25519 key pair from its secret. Admins learn the
// public half through the roster; the joiner proves it holds the code by
// signing its join request with the private half.
func (inv Invite) Key() ed25519.PrivateKey {
	info := append([]byte("takecare/v1/invite\x00"), inv.Group[:]...)
	info = append(info, inv.ID[:]...)
	seed, err := hkdf.Key(sha256.New, inv.secret[:], nil, string(info), ed25519.SeedSize)
	if err != nil {
		panic("bug: " + err.Error())
	}
	defer clear(seed)
	return ed25519.NewKeyFromSeed(seed)
}

// PublicKey is the public half of [Invite.Key].
func (inv Invite) PublicKey() []byte {
	return append([]byte(nil), inv.Key().Public().(ed25519.PublicKey)...)
}

// Invite code layout (PROTOCOL.md, "Invites"), before base32:
//
//	version 1 | group(16) | id(8) | secret(16) | node
//	| m u8 | node*m | crc32(IEEE) of all before
//	node = peer len u8 | peer | n u8 | (addr len u8 | addr)*n
//
// The first node has at most 8 addresses; the m ≤ 3 others at most 4.
const (
	invitePrefix   = "TC1-"
	inviteVersion  = 1
	maxInviteAddrs = 8
	maxInviteAlso  = 3
	maxAlsoAddrs   = 4
)

func appendNode(b []byte, p peer.ID, addrs []ma.Multiaddr, max int) []byte {
	pid := []byte(p)
	b = append(b, byte(len(pid)))
	b = append(b, pid...)
	var enc [][]byte
	for _, a := range addrs {
		if ab := a.Bytes(); len(ab) <= 255 && len(enc) < max {
			enc = append(enc, ab)
		}
	}
	b = append(b, byte(len(enc)))
	for _, a := range enc {
		b = append(b, byte(len(a)))
		b = append(b, a...)
	}
	return b
}

var inviteEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Code encodes the invite as a code people can paste or show as a QR code.
func (inv Invite) Code() string {
	b := []byte{inviteVersion}
	b = append(b, inv.Group[:]...)
	b = append(b, inv.ID[:]...)
	b = append(b, inv.secret[:]...)
	b = appendNode(b, inv.Peer, inv.Addrs, maxInviteAddrs)
	also := inv.Also
	if len(also) > maxInviteAlso {
		also = also[:maxInviteAlso]
	}
	b = append(b, byte(len(also)))
	for _, ai := range also {
		b = appendNode(b, ai.ID, ai.Addrs, maxAlsoAddrs)
	}
	return encodeCode(invitePrefix, b)
}

// ParseInviteCode decodes a code made by [Invite.Code]. It ignores case,
// spaces and line breaks, so a code copied from a chat still works.
func ParseInviteCode(code string) (Invite, error) {
	var inv Invite
	body, fault := decodeCode(invitePrefix, code)
	switch {
	case fault == codeNoPrefix:
		return inv, fmt.Errorf("%w: it should start with %s", ErrBadInvite, invitePrefix)
	case fault != codeOK || len(body) < 1+16+8+16+1+1+1:
		return inv, ErrBadInvite
	}
	if body[0] != inviteVersion {
		return inv, fmt.Errorf("%w: version %d is not supported", ErrBadInvite, body[0])
	}
	r := body[1:]
	next := func(n int) []byte {
		if n > len(r) {
			return nil
		}
		out := r[:n]
		r = r[n:]
		return out
	}
	// nextLV reads a one-byte length and that many bytes.
	nextLV := func() []byte {
		l := next(1)
		if l == nil {
			return nil
		}
		return next(int(l[0]))
	}
	copy(inv.Group[:], next(16))
	copy(inv.ID[:], next(8))
	copy(inv.secret[:], next(16))
	readNode := func(max byte) (peer.ID, []ma.Multiaddr, error) {
		pid := nextLV()
		if pid == nil {
			return "", nil, ErrBadInvite
		}
		p, err := peer.IDFromBytes(pid)
		if err != nil {
			return "", nil, fmt.Errorf("%w: peer id", ErrBadInvite)
		}
		n := next(1)
		if n == nil || n[0] > max {
			return "", nil, ErrBadInvite
		}
		var addrs []ma.Multiaddr
		for range n[0] {
			ab := nextLV()
			if ab == nil {
				return "", nil, ErrBadInvite
			}
			a, err := ma.NewMultiaddrBytes(ab)
			if err != nil {
				return "", nil, fmt.Errorf("%w: address", ErrBadInvite)
			}
			addrs = append(addrs, a)
		}
		return p, addrs, nil
	}
	var err error
	if inv.Peer, inv.Addrs, err = readNode(maxInviteAddrs); err != nil {
		return inv, err
	}
	m := next(1)
	if m == nil || m[0] > maxInviteAlso {
		return inv, ErrBadInvite
	}
	for range m[0] {
		p, addrs, err := readNode(maxAlsoAddrs)
		if err != nil {
			return inv, err
		}
		inv.Also = append(inv.Also, peer.AddrInfo{ID: p, Addrs: addrs})
	}
	if len(r) != 0 {
		return inv, ErrBadInvite
	}
	return inv, nil
}
