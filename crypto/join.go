package crypto

import (
	"crypto/ed25519"
	"fmt"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Joining a group (PROTOCOL.md, "Join"). A joiner reaches an admin's node as
// the invite's *door peer*: a libp2p identity whose key is the invite key,
// so that a node lets in, before any takecare byte is exchanged, only peers
// that hold a code it can redeem. The admin's node then sends a fresh
// challenge, and the joiner signs the join transcript over it three times:
// with the invite key (it holds the code), with its member signing key (it
// is the member it names) and with its node key (the node it names is its
// own).

// JoinNonceSize is the length of the challenge an admin's node sends.
const JoinNonceSize = 32

// joinLabel starts the join transcript. No other message signed with the
// same keys starts with it: bodies start "takecare/v1/sig\x00", libp2p's
// handshakes "noise-libp2p-static-key:" and "libp2p-tls-handshake:".
const joinLabel = "takecare/v2/join\x00"

// DoorKey returns the invite key as a libp2p private key: the identity a
// joiner's node uses to reach a node that redeems the invite.
func (inv Invite) DoorKey() p2pcrypto.PrivKey {
	k, err := p2pcrypto.UnmarshalEd25519PrivateKey(inv.Key())
	if err != nil {
		panic("bug: invite key is not an Ed25519 key: " + err.Error())
	}
	return k
}

// DoorPeer returns the libp2p peer id of the door identity of the invite
// whose public key is inviteKey (32 bytes, as carried in the roster). It
// returns [ErrBadInvite] for a key of the wrong size.
func DoorPeer(inviteKey []byte) (peer.ID, error) {
	if len(inviteKey) != ed25519.PublicKeySize {
		return "", fmt.Errorf("%w: invite key of %d bytes", ErrBadInvite, len(inviteKey))
	}
	pub, err := p2pcrypto.UnmarshalEd25519PublicKey(inviteKey)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadInvite, err)
	}
	return peer.IDFromPublicKey(pub)
}

// JoinTranscript is what a joiner signs: the label, the group, the invite,
// the admin node's challenge nonce and the joiner's member record (the
// canonical protobuf Member, which names its keys and its node's peer id).
//
//	"takecare/v2/join\x00" (17) | group (16) | invite id (8) | nonce (32) | member record
func JoinTranscript(group GroupID, id InviteID, nonce, member []byte) []byte {
	b := make([]byte, 0, len(joinLabel)+len(group)+len(id)+len(nonce)+len(member))
	b = append(b, joinLabel...)
	b = append(b, group[:]...)
	b = append(b, id[:]...)
	b = append(b, nonce...)
	return append(b, member...)
}

// JoinProof holds the three Ed25519 signatures (64 bytes each) of a join
// transcript.
type JoinProof struct {
	Invite []byte // by the invite key
	Member []byte // by the joiner's member signing key
	Node   []byte // by the joiner's node key
}

// ProveJoin signs the join transcript for nonce and the member record with
// the invite key and with id's member and node keys.
func (inv Invite) ProveJoin(id *Identity, nonce, member []byte) (JoinProof, error) {
	t := JoinTranscript(inv.Group, inv.ID, nonce, member)
	node, err := id.node.Sign(t)
	if err != nil {
		return JoinProof{}, fmt.Errorf("crypto: signing with the node key: %w", err)
	}
	return JoinProof{
		Invite: ed25519.Sign(inv.Key(), t),
		Member: ed25519.Sign(id.sign, t),
		Node:   node,
	}, nil
}

// VerifyJoin checks a join proof: the transcript of group, invite id, nonce
// and member record signed by the invite key inviteKey (32 bytes), by the
// signing key of member, and by the key of the node with peer id node (an
// Ed25519 peer id, which embeds its key). It returns an error wrapping
// [ErrBadSignature] naming the signature that does not verify.
func VerifyJoin(inviteKey []byte, group GroupID, id InviteID, nonce, member []byte, keys MemberKeys, node peer.ID, p JoinProof) error {
	if len(nonce) != JoinNonceSize {
		return fmt.Errorf("%w: challenge of %d bytes", ErrBadSignature, len(nonce))
	}
	t := JoinTranscript(group, id, nonce, member)
	if len(inviteKey) != ed25519.PublicKeySize || !ed25519.Verify(inviteKey, t, p.Invite) {
		return fmt.Errorf("%w: invite proof", ErrBadSignature)
	}
	if !ed25519.Verify(ed25519.PublicKey(keys.keys().sign[:]), t, p.Member) {
		return fmt.Errorf("%w: member proof", ErrBadSignature)
	}
	pub, err := node.ExtractPublicKey()
	if err != nil || pub.Type() != p2pcrypto.Ed25519 {
		return fmt.Errorf("%w: node key", ErrBadSignature)
	}
	if ok, err := pub.Verify(t, p.Node); err != nil || !ok {
		return fmt.Errorf("%w: node proof", ErrBadSignature)
	}
	return nil
}
