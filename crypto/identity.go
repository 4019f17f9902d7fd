package crypto

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Sizes of public keys on the wire.
const (
	SignKeySize = ed25519.PublicKeySize // 32
	KEMKeySize  = 1216                  // MLKEM768-X25519 encapsulation key
	SigSize     = ed25519.SignatureSize // 64
)

// kem is the one HPKE KEM takecare uses: the hybrid X-Wing construction.
var kem = hpke.MLKEM768X25519()

// ErrBadSignature is returned when a signature does not verify.
var ErrBadSignature = errors.New("crypto: bad signature")

// Identity is a member's private keys plus its node's libp2p key and display
// name. It never leaves the keystore unsealed. It also holds the member's
// duress key, whose public half goes in the member record and which a
// duress passphrase, if one is set, opens alone ([DuressKit]).
type Identity struct {
	name   string
	sign   ed25519.PrivateKey
	kem    hpke.PrivateKey
	node   p2pcrypto.PrivKey
	duress ed25519.PrivateKey
	pub    MemberKeys
}

// NewIdentity generates a fresh identity for a member called name.
func NewIdentity(name string) (*Identity, error) {
	_, sign, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("crypto: generating signing key: %w", err)
	}
	k, err := kem.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("crypto: generating HPKE key: %w", err)
	}
	node, _, err := p2pcrypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, fmt.Errorf("crypto: generating node key: %w", err)
	}
	_, duress, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("crypto: generating duress key: %w", err)
	}
	return newIdentity(name, sign, k, node, duress)
}

func newIdentity(name string, sign ed25519.PrivateKey, k hpke.PrivateKey, node p2pcrypto.PrivKey, duress ed25519.PrivateKey) (*Identity, error) {
	id := &Identity{name: name, sign: sign, kem: k, node: node, duress: duress}
	pub, err := NewMemberKeys(sign.Public().(ed25519.PublicKey), k.PublicKey().Bytes())
	if err != nil {
		return nil, err
	}
	id.pub = pub
	return id, nil
}

// Name is the member's display name.
func (id *Identity) Name() string { return id.name }

// Public returns the member's public keys.
func (id *Identity) Public() MemberKeys { return id.pub }

// ID returns the member id.
func (id *Identity) ID() MemberID { return id.pub.ID() }

// DuressKey returns the member's duress public key, for its member record.
func (id *Identity) DuressKey() DuressKey {
	var d DuressKey
	copy(d.k[:], id.duress.Public().(ed25519.PublicKey))
	return d
}

// NodeKey returns the libp2p private key of the member's node.
func (id *Identity) NodeKey() p2pcrypto.PrivKey { return id.node }

// PeerID returns the libp2p peer id of the member's node.
func (id *Identity) PeerID() peer.ID {
	pid, err := peer.IDFromPrivateKey(id.node)
	if err != nil {
		panic("bug: node key without peer id: " + err.Error())
	}
	return pid
}

// SignBody signs body for group at epoch and returns the signed inner
// plaintext of an envelope.
func (id *Identity) SignBody(group GroupID, epoch uint64, body []byte) Inner {
	in := Inner{Author: id.ID(), Body: body}
	copy(in.Sig[:], ed25519.Sign(id.sign, sigInput(group, epoch, body)))
	return in
}

// sigInput is the domain-separated message a member signs (PROTOCOL.md,
// "Signatures").
func sigInput(group GroupID, epoch uint64, body []byte) []byte {
	const label = "takecare/v1/sig\x00"
	b := make([]byte, 0, len(label)+len(group)+8+len(body))
	b = append(b, label...)
	b = append(b, group[:]...)
	b = binary.BigEndian.AppendUint64(b, epoch)
	return append(b, body...)
}

// MemberKeys are a member's public keys. A MemberKeys is immutable and
// cheap to copy: every copy shares one block of its 1,248 bytes of keys (a
// roster holds each member's keys in several indexes and views, and a
// group of 1,000 members held megabytes of copies). The zero MemberKeys
// reads as all-zero keys.
type MemberKeys struct{ p *memberKeys }

type memberKeys struct {
	sign [SignKeySize]byte
	kem  [KEMKeySize]byte
	id   MemberID // computed once by NewMemberKeys: nodes ask for it per message
}

// noKeys is what the zero MemberKeys reads.
var noKeys memberKeys

func (k MemberKeys) keys() *memberKeys {
	if k.p == nil {
		return &noKeys
	}
	return k.p
}

// NewMemberKeys checks and copies a member's public keys.
func NewMemberKeys(sign, kemKey []byte) (MemberKeys, error) {
	if len(sign) != SignKeySize {
		return MemberKeys{}, fmt.Errorf("crypto: signing key is %d bytes, want %d", len(sign), SignKeySize)
	}
	if len(kemKey) != KEMKeySize {
		return MemberKeys{}, fmt.Errorf("crypto: HPKE key is %d bytes, want %d", len(kemKey), KEMKeySize)
	}
	if _, err := kem.NewPublicKey(kemKey); err != nil {
		return MemberKeys{}, fmt.Errorf("crypto: HPKE key: %w", err)
	}
	p := new(memberKeys)
	copy(p.sign[:], sign)
	copy(p.kem[:], kemKey)
	p.id = p.hashID()
	return MemberKeys{p}, nil
}

// SignKey returns a copy of the Ed25519 public key.
func (k MemberKeys) SignKey() []byte { return append([]byte(nil), k.keys().sign[:]...) }

// KEMKey returns a copy of the HPKE public key.
func (k MemberKeys) KEMKey() []byte { return append([]byte(nil), k.keys().kem[:]...) }

// ID returns the member id these keys define.
func (k MemberKeys) ID() MemberID {
	p := k.keys()
	if p.id != (MemberID{}) {
		return p.id
	}
	return p.hashID()
}

func (p *memberKeys) hashID() MemberID {
	h := sha256.New()
	h.Write([]byte("takecare/v1/member\x00"))
	h.Write(p.sign[:])
	h.Write(p.kem[:])
	var m MemberID
	h.Sum(m[:0])
	return m
}

// Equal reports whether k and o are the same keys, in constant time.
func (k MemberKeys) Equal(o MemberKeys) bool {
	a, b := k.keys(), o.keys()
	return subtle.ConstantTimeCompare(a.sign[:], b.sign[:]) == 1 &&
		subtle.ConstantTimeCompare(a.kem[:], b.kem[:]) == 1
}

// Inner is the signed plaintext inside an envelope: the author's member id,
// the author's signature, and the body it signs. PROTOCOL.md, "Envelope".
type Inner struct {
	Author MemberID
	Sig    [SigSize]byte
	Body   []byte
}

const innerHeader = 32 + SigSize

// Marshal encodes in as author | signature | body.
func (in Inner) Marshal() []byte {
	b := make([]byte, 0, innerHeader+len(in.Body))
	b = append(b, in.Author[:]...)
	b = append(b, in.Sig[:]...)
	return append(b, in.Body...)
}

// ParseInner decodes the form written by [Inner.Marshal]. The body aliases b.
func ParseInner(b []byte) (Inner, error) {
	var in Inner
	if len(b) < innerHeader+1 {
		return in, fmt.Errorf("crypto: signed message is %d bytes, too short", len(b))
	}
	copy(in.Author[:], b[:32])
	copy(in.Sig[:], b[32:innerHeader])
	in.Body = b[innerHeader:]
	return in, nil
}

// Verify checks that the signature is the author's, over body bound to group
// and epoch. keys must be the author's keys; Verify also checks that they
// define in.Author.
func (in Inner) Verify(keys MemberKeys, group GroupID, epoch uint64) error {
	if keys.ID() != in.Author {
		return fmt.Errorf("%w: keys are not the author's", ErrBadSignature)
	}
	if !ed25519.Verify(ed25519.PublicKey(keys.keys().sign[:]), sigInput(group, epoch, in.Body), in.Sig[:]) {
		return ErrBadSignature
	}
	return nil
}
