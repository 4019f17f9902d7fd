package crypto

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
)

// Key trees (PROTOCOL.md, "Key tree"). A group's members sit at the leaves
// of a complete binary tree of depth [TreeDepth], one position each, and
// every node of the tree has a 32-byte key. A member holds the keys of the
// nodes from its leaf to the root (its [PathKeys]); an admin holds the
// [TreeSecret] from which every node key derives. A new epoch secret then
// reaches every member but some with a few small wraps: one under the key of
// each node of the complete-subtree cover (Naor, Naor and Lotspiech,
// "Revocation and tracing schemes for stateless receivers", CRYPTO 2001,
// the Complete Subtree method) of the positions of current members, which
// leaves out the positions of removed members. For r removed positions
// among N, the cover has at most r·log2(N/r) nodes, and a wrap is 48 bytes.
//
// Nothing here changes when a member is removed: the tree keys are fixed
// for the life of the tree and a removed member's position is simply never
// covered again. That is what makes a rekey a few hundred bytes, and lets a
// member who missed any number of rekeys open the latest with the keys it
// has.

// TreeDepth is the depth of every key tree: it has 2^20 positions.
const TreeDepth = 20

// TreePositions is the number of positions (leaves) of a key tree.
const TreePositions = 1 << TreeDepth

// TreeNode names a node of a key tree by its index in heap order: the root
// is 1, the children of node i are 2i and 2i+1, and the leaf of position p
// is TreePositions + p. Valid nodes are 1 to 2·TreePositions − 1.
type TreeNode uint32

// Leaf returns the node of position p.
func Leaf(p uint32) TreeNode { return TreeNode(TreePositions + p) }

// Valid reports whether n names a node of a key tree.
func (n TreeNode) Valid() bool { return n >= 1 && n < 2*TreePositions }

// Depth is 0 for the root and TreeDepth for a leaf.
func (n TreeNode) Depth() int { return bits.Len32(uint32(n)) - 1 }

// Span returns the positions below n: [lo, hi).
func (n TreeNode) Span() (lo, hi uint32) {
	shift := TreeDepth - n.Depth()
	first := uint32(n)<<shift - TreePositions
	return first, first + 1<<shift
}

// Covers reports whether position p is below n.
func (n TreeNode) Covers(p uint32) bool {
	lo, hi := n.Span()
	return p >= lo && p < hi
}

// TreeID names a key tree: 16 random bytes chosen with its secret.
type TreeID [16]byte

// NewTreeID returns a random tree id.
func NewTreeID() TreeID {
	var id TreeID
	rand.Read(id[:])
	return id
}

// TreeIDFromBytes copies b, which must be 16 bytes.
func TreeIDFromBytes(b []byte) (TreeID, error) {
	var id TreeID
	if len(b) != len(id) {
		return id, fmt.Errorf("crypto: tree id is %d bytes, want %d", len(b), len(id))
	}
	copy(id[:], b)
	return id, nil
}

// String returns the id in lower-case hex.
func (id TreeID) String() string { return fmt.Sprintf("%x", id[:]) }

// TreeSecret is the secret of one key tree, from which every node key
// derives. Only admins hold it.
type TreeSecret struct {
	k [32]byte
	_ [0]func() // not comparable: use Equal
}

// NewTreeSecret returns a fresh random tree secret.
func NewTreeSecret() TreeSecret {
	var t TreeSecret
	rand.Read(t.k[:])
	return t
}

// TreeSecretFromBytes copies b, which must be 32 bytes.
func TreeSecretFromBytes(b []byte) (TreeSecret, error) {
	var t TreeSecret
	if len(b) != len(t.k) {
		return t, fmt.Errorf("crypto: tree secret is %d bytes, want %d", len(b), len(t.k))
	}
	copy(t.k[:], b)
	return t, nil
}

// Bytes returns a copy of the secret, for sealing at rest.
func (t TreeSecret) Bytes() []byte { return append([]byte(nil), t.k[:]...) }

// Equal reports whether t and o are the same secret, in constant time.
func (t TreeSecret) Equal(o TreeSecret) bool { return equal32(&t.k, &o.k) }

// String never prints the secret.
func (t TreeSecret) String() string { return "TreeSecret(redacted)" }

// NodeKey is the key of one node of a key tree.
type NodeKey struct {
	k [32]byte
	_ [0]func()
}

// Equal reports whether k and o are the same key, in constant time.
func (k NodeKey) Equal(o NodeKey) bool { return equal32(&k.k, &o.k) }

// String never prints the key.
func (k NodeKey) String() string { return "NodeKey(redacted)" }

func equal32(a, b *[32]byte) bool { return subtle.ConstantTimeCompare(a[:], b[:]) == 1 }

const (
	treeNodeLabel = "takecare/v1/tree-node\x00" // 22 bytes
	treeWrapLabel = "takecare/v1/tree-wrap\x00" // 22 bytes
)

// NodeKey derives the key of node n of tree id in group:
//
//	HKDF(ikm = t, salt = "takecare/v1",
//	     info = "takecare/v1/tree-node\0" (22) || group (16) || tree (16) || node (u32), 32)
func (t TreeSecret) NodeKey(group GroupID, tree TreeID, n TreeNode) NodeKey {
	info := make([]byte, 0, len(treeNodeLabel)+16+16+4)
	info = append(info, treeNodeLabel...)
	info = append(info, group[:]...)
	info = append(info, tree[:]...)
	info = binary.BigEndian.AppendUint32(info, uint32(n))
	out, err := hkdf.Key(sha256.New, t.k[:], []byte("takecare/v1"), string(info), 32)
	if err != nil {
		panic("bug: hkdf: " + err.Error())
	}
	var k NodeKey
	copy(k.k[:], out)
	clear(out)
	return k
}

// PathKeys are what a member holds of a key tree: its position and the
// keys of the nodes from its leaf up to the root.
type PathKeys struct {
	Tree     TreeID
	Position uint32
	keys     [TreeDepth + 1]NodeKey // keys[d] is the key of the ancestor at depth d
}

// PathKeysSize is the size of [PathKeys.Marshal]: the tree id (16), the
// position (u32) and the keys from the root down to the leaf (21 × 32).
const PathKeysSize = 16 + 4 + (TreeDepth+1)*32

// PathKeys returns the keys of position p of tree id in group.
func (t TreeSecret) PathKeys(group GroupID, tree TreeID, p uint32) PathKeys {
	pk := PathKeys{Tree: tree, Position: p}
	n := Leaf(p)
	for d := TreeDepth; d >= 0; d-- {
		pk.keys[d] = t.NodeKey(group, tree, n)
		n >>= 1
	}
	return pk
}

// Key returns the key of node n if n is on the path of this position.
func (p *PathKeys) Key(n TreeNode) (NodeKey, bool) {
	if !n.Valid() || !n.Covers(p.Position) {
		return NodeKey{}, false
	}
	return p.keys[n.Depth()], true
}

// Marshal encodes the path keys in PathKeysSize bytes.
func (p *PathKeys) Marshal() []byte {
	b := make([]byte, 0, PathKeysSize)
	b = append(b, p.Tree[:]...)
	b = binary.BigEndian.AppendUint32(b, p.Position)
	for i := range p.keys {
		b = append(b, p.keys[i].k[:]...)
	}
	return b
}

// ParsePathKeys decodes what [PathKeys.Marshal] encoded.
func ParsePathKeys(b []byte) (PathKeys, error) {
	var p PathKeys
	if len(b) != PathKeysSize {
		return p, fmt.Errorf("crypto: path keys are %d bytes, want %d", len(b), PathKeysSize)
	}
	copy(p.Tree[:], b)
	p.Position = binary.BigEndian.Uint32(b[16:])
	if p.Position >= TreePositions {
		return p, fmt.Errorf("crypto: tree position %d is out of range", p.Position)
	}
	b = b[20:]
	for i := range p.keys {
		copy(p.keys[i].k[:], b[32*i:])
	}
	return p, nil
}

// Cover returns the complete-subtree cover of the live positions: those
// below upto that are not in dead. It is the smallest set of nodes whose
// spans hold every live position and no other position (positions from
// upto on, not given out yet, count as dead too). dead may be in any order
// and hold duplicates; upto is at most TreePositions. The nodes come in
// increasing order of their spans.
func Cover(upto uint32, dead []uint32) []TreeNode {
	upto = min(upto, TreePositions)
	d := slices.Clone(dead)
	slices.Sort(d)
	d = slices.Compact(d)
	var out []TreeNode
	var walk func(n TreeNode)
	walk = func(n TreeNode) {
		lo, hi := n.Span()
		if lo >= upto {
			return
		}
		i, _ := slices.BinarySearch(d, lo)
		clean := hi <= upto && (i == len(d) || d[i] >= hi)
		switch {
		case clean:
			out = append(out, n)
		case n.Depth() < TreeDepth:
			walk(2 * n)
			walk(2*n + 1)
		}
	}
	walk(1)
	return out
}

// WrapSize is the size of a wrapped epoch secret: the secret and the
// Poly1305 tag.
const WrapSize = 32 + 16

// RekeyNonceSize is the size of the random value that makes the wrap keys
// of one rekey its own.
const RekeyNonceSize = 16

// ErrBadWrap is returned when a wrapped epoch secret does not open.
var ErrBadWrap = errors.New("crypto: the wrapped epoch secret does not open with this key")

// wrapAEAD returns ChaCha20-Poly1305 under the key of one wrap:
//
//	HKDF(ikm = node key, salt = "takecare/v1",
//	     info = "takecare/v1/tree-wrap\0" (22) || group (16) || epoch (u64) || node (u32) || nonce (16), 32)
//
// The nonce is random for each rekey, so no two wraps share a key, and the
// AEAD nonce can be zero.
func (k NodeKey) wrapAEAD(group GroupID, epoch uint64, n TreeNode, nonce [RekeyNonceSize]byte) cipher.AEAD {
	info := make([]byte, 0, len(treeWrapLabel)+16+8+4+RekeyNonceSize)
	info = append(info, treeWrapLabel...)
	info = append(info, group[:]...)
	info = binary.BigEndian.AppendUint64(info, epoch)
	info = binary.BigEndian.AppendUint32(info, uint32(n))
	info = append(info, nonce[:]...)
	key, err := hkdf.Key(sha256.New, k.k[:], []byte("takecare/v1"), string(info), chacha20poly1305.KeySize)
	if err != nil {
		panic("bug: hkdf: " + err.Error())
	}
	defer clear(key)
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		panic("bug: " + err.Error())
	}
	return aead
}

var zeroNonce [chacha20poly1305.NonceSize]byte

// Wrap seals the secret of group at epoch under k, the key of node n, for
// the rekey with the given nonce. The result is WrapSize bytes.
func (k NodeKey) Wrap(group GroupID, epoch uint64, n TreeNode, nonce [RekeyNonceSize]byte, s EpochSecret) []byte {
	return k.wrapAEAD(group, epoch, n, nonce).Seal(nil, zeroNonce[:], s.k[:], nil)
}

// Unwrap opens what [NodeKey.Wrap] sealed, or returns [ErrBadWrap].
func (k NodeKey) Unwrap(group GroupID, epoch uint64, n TreeNode, nonce [RekeyNonceSize]byte, wrapped []byte) (EpochSecret, error) {
	if len(wrapped) != WrapSize {
		return EpochSecret{}, ErrBadWrap
	}
	pt, err := k.wrapAEAD(group, epoch, n, nonce).Open(nil, zeroNonce[:], wrapped, nil)
	if err != nil {
		return EpochSecret{}, ErrBadWrap
	}
	defer clear(pt)
	return EpochSecretFromBytes(pt)
}
