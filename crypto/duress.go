package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// DuressKeySize is the size of a duress public key (Ed25519).
const DuressKeySize = ed25519.PublicKeySize

// DuressKey is a member's duress public key (PROTOCOL.md, "Duress"). Every
// member has one, published in its member record whether or not a duress
// passphrase is set. It verifies one thing only: a duress warning signed by
// the member's duress node ([Inner.VerifyDuress]). It is also the libp2p
// identity of that node ([DuressKey.PeerID]).
//
// The zero DuressKey means "none" (a member record made before duress keys
// existed).
type DuressKey struct{ k [DuressKeySize]byte }

// NewDuressKey checks and copies a duress public key.
func NewDuressKey(b []byte) (DuressKey, error) {
	var k DuressKey
	if len(b) != DuressKeySize {
		return k, fmt.Errorf("crypto: duress key is %d bytes, want %d", len(b), DuressKeySize)
	}
	copy(k.k[:], b)
	if k.IsZero() {
		return k, errors.New("crypto: duress key is all zeros")
	}
	return k, nil
}

// IsZero reports whether k is the zero key (no duress key).
func (k DuressKey) IsZero() bool { return k == DuressKey{} }

// Bytes returns a copy of the key, or nil for the zero key.
func (k DuressKey) Bytes() []byte {
	if k.IsZero() {
		return nil
	}
	return bytes.Clone(k.k[:])
}

// Equal reports whether k and o are the same key, in constant time.
func (k DuressKey) Equal(o DuressKey) bool { return subtle.ConstantTimeCompare(k.k[:], o.k[:]) == 1 }

// String prints the key with its kind, never as a bare hex string that could
// be taken for another kind of key.
func (k DuressKey) String() string { return fmt.Sprintf("duresskey:%x", k.k[:8]) }

// PeerID returns the libp2p peer id of the duress node that holds the
// private half, or "" for the zero key.
func (k DuressKey) PeerID() peer.ID {
	if k.IsZero() {
		return ""
	}
	pub, err := p2pcrypto.UnmarshalEd25519PublicKey(k.k[:])
	if err != nil {
		return ""
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		return ""
	}
	return id
}

// duressSigLabel separates duress warnings from every other signature.
// The same key is the duress node's libp2p identity, whose handshakes sign
// only payloads that start "noise-libp2p-static-key:" or
// "libp2p-tls-handshake:", so the two uses cannot be confused.
const duressSigLabel = "takecare/v1/duress\x00"

// duressSigInput is what a duress node signs: the label, the member id and
// the body. It binds neither group nor epoch: the duress node knows
// neither, and the same warning goes to every group of the member.
func duressSigInput(author MemberID, body []byte) []byte {
	b := make([]byte, 0, len(duressSigLabel)+len(author)+len(body))
	b = append(b, duressSigLabel...)
	b = append(b, author[:]...)
	return append(b, body...)
}

// VerifyDuress checks that in is signed by the duress key k for in.Author,
// over in.Body ([DuressKit.SignWarning]). It returns [ErrBadSignature].
func (in Inner) VerifyDuress(k DuressKey) error {
	if k.IsZero() || !ed25519.Verify(ed25519.PublicKey(k.k[:]), duressSigInput(in.Author, in.Body), in.Sig[:]) {
		return ErrBadSignature
	}
	return nil
}

// DuressGroupTag names a group inside a [DuressKit] without naming it: the
// first 16 bytes of SHA-256("takecare/v1/duress-group\x00" || group id).
// A member node that relays a duress warning answers with the tags of the
// groups it passed it to, so the duress node knows which groups are warned.
type DuressGroupTag [16]byte

// GroupDuressTag returns the tag of group g.
func GroupDuressTag(g GroupID) DuressGroupTag {
	h := sha256.New()
	h.Write([]byte("takecare/v1/duress-group\x00"))
	h.Write(g[:])
	var t DuressGroupTag
	copy(t[:], h.Sum(nil))
	return t
}

// DuressTarget is one group to warn under duress: its tag and member nodes
// (other than this member's) that can pass the warning on.
type DuressTarget struct {
	Group DuressGroupTag
	Peers []peer.AddrInfo
}

// DuressKit is what the duress passphrase opens, and all it opens: the
// member id and display name, the duress key, and the member nodes to
// warn. It holds no storage key, no signing, HPKE or node key, no group
// secret, no group or other member's name. The display name is there so
// that the empty profile opened after the warning carries the same name.
type DuressKit struct {
	Member  MemberID
	Name    string
	Targets []DuressTarget
	key     ed25519.PrivateKey
}

// Key returns the kit's duress public key.
func (k *DuressKit) Key() DuressKey {
	var d DuressKey
	copy(d.k[:], k.key.Public().(ed25519.PublicKey))
	return d
}

// NodeKey returns the libp2p identity of the duress node: the duress key.
func (k *DuressKit) NodeKey() p2pcrypto.PrivKey {
	sk, err := p2pcrypto.UnmarshalEd25519PrivateKey(k.key)
	if err != nil {
		panic("bug: duress key is not an Ed25519 key: " + err.Error())
	}
	return sk
}

// SignWarning signs body, a duress warning, for the kit's member. The
// result verifies with [Inner.VerifyDuress] and with nothing else.
func (k *DuressKit) SignWarning(body []byte) Inner {
	in := Inner{Author: k.Member, Body: body}
	copy(in.Sig[:], ed25519.Sign(k.key, duressSigInput(k.Member, body)))
	return in
}

// String never prints the key.
func (k *DuressKit) String() string { return "DuressKit(redacted)" }

// Limits of a kit's target list; what does not fit a keystore slot is left
// out, a round of one node per group at a time (encodeTargets).
const (
	maxDuressPeerAddrs = 2
	maxDuressPeers     = 8
)

// encodeTargets writes as much of ts as fits in room bytes: every group's
// first node, then every group's second, and so on, so that a member of
// many groups keeps at least one node for each. Each node keeps at most
// two addresses.
//
//	targets = count u8 | count × (tag(16) | peers u8 | peers × peer)
//	peer    = id len u8 | id | addrs u8 | addrs × (len u8 | multiaddr bytes)
func encodeTargets(ts []DuressTarget, room int) []byte {
	if len(ts) > 255 {
		ts = ts[:255]
	}
	kept := make([][][]byte, len(ts))
	size := 1 + len(ts)*(16+1)
	if size > room {
		return []byte{0}
	}
	for round := 0; round < maxDuressPeers; round++ {
		added := false
		for i, t := range ts {
			if round >= len(t.Peers) {
				continue
			}
			p := encodePeer(t.Peers[round])
			if p == nil || size+len(p) > room {
				continue
			}
			kept[i] = append(kept[i], p)
			size += len(p)
			added = true
		}
		if !added {
			break
		}
	}
	out := make([]byte, 0, size)
	out = append(out, byte(len(ts)))
	for i, t := range ts {
		out = append(out, t.Group[:]...)
		out = append(out, byte(len(kept[i])))
		for _, p := range kept[i] {
			out = append(out, p...)
		}
	}
	return out
}

func encodePeer(ai peer.AddrInfo) []byte {
	id := []byte(ai.ID)
	if len(id) == 0 || len(id) > 255 {
		return nil
	}
	b := append([]byte{byte(len(id))}, id...)
	var addrs [][]byte
	for _, a := range ai.Addrs {
		if ab := a.Bytes(); len(ab) > 0 && len(ab) <= 255 && len(addrs) < maxDuressPeerAddrs {
			addrs = append(addrs, ab)
		}
	}
	b = append(b, byte(len(addrs)))
	for _, a := range addrs {
		b = append(b, byte(len(a)))
		b = append(b, a...)
	}
	return b
}

func decodeTargets(r *bytes.Reader) ([]DuressTarget, error) {
	n, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	ts := make([]DuressTarget, n)
	for i := range ts {
		if _, err := io.ReadFull(r, ts[i].Group[:]); err != nil {
			return nil, err
		}
		np, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		for range np {
			id, err := readShort(r)
			if err != nil {
				return nil, err
			}
			pid, err := peer.IDFromBytes(id)
			if err != nil {
				return nil, err
			}
			na, err := r.ReadByte()
			if err != nil {
				return nil, err
			}
			ai := peer.AddrInfo{ID: pid}
			for range na {
				ab, err := readShort(r)
				if err != nil {
					return nil, err
				}
				a, err := ma.NewMultiaddrBytes(ab)
				if err != nil {
					return nil, err
				}
				ai.Addrs = append(ai.Addrs, a)
			}
			ts[i].Peers = append(ts[i].Peers, ai)
		}
	}
	return ts, nil
}

func readShort(r *bytes.Reader) ([]byte, error) {
	n, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

// Kit slot plaintext (PROTOCOL.md, "Keystore"):
//
//	kind 0x02 | duress seed(32) | member id(32) | name len u8 | name | L u16 | targets(L) | zeros
func marshalKit(seed []byte, member MemberID, name string, ts []DuressTarget) []byte {
	b := make([]byte, 0, slotPlainSize)
	b = append(b, slotKit)
	b = append(b, seed...)
	b = append(b, member[:]...)
	b = append(b, byte(len(name)))
	b = append(b, name...)
	t := encodeTargets(ts, slotPlainSize-len(b)-2)
	b = binary.BigEndian.AppendUint16(b, uint16(len(t)))
	b = append(b, t...)
	return b[:slotPlainSize]
}

func unmarshalKit(b []byte) (*DuressKit, error) {
	if len(b) < 1+ed25519.SeedSize+32+2 || b[0] != slotKit {
		return nil, ErrCorruptKeystore
	}
	r := bytes.NewReader(b[1:])
	seed := make([]byte, ed25519.SeedSize)
	defer clear(seed)
	k := &DuressKit{}
	io.ReadFull(r, seed)
	io.ReadFull(r, k.Member[:])
	name, err := readShort(r)
	if err != nil {
		return nil, ErrCorruptKeystore
	}
	k.Name = string(name)
	var n uint16
	if err := binary.Read(r, binary.BigEndian, &n); err != nil || int(n) > r.Len() {
		return nil, ErrCorruptKeystore
	}
	t := make([]byte, n)
	io.ReadFull(r, t)
	ts, err := decodeTargets(bytes.NewReader(t))
	if err != nil && n > 0 {
		return nil, ErrCorruptKeystore
	}
	k.Targets = ts
	k.key = ed25519.NewKeyFromSeed(seed)
	return k, nil
}
