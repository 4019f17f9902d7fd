package crypto_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/takecare-network/takecare/crypto"
)

// TestCover checks covers against their definition: every live position is
// below exactly one node of the cover, no other position is below any, and
// no two nodes of the cover could be replaced by their parent.
func TestCover(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		upto uint32
		dead []uint32
	}{
		{0, nil}, {1, nil}, {1, []uint32{0}}, {2, []uint32{1}}, {1000, nil}, {1000, []uint32{999}},
		{1000, []uint32{0, 0, 500}}, {1 << 20, nil}, {1 << 20, []uint32{7}}, {3, []uint32{5}},
	}
	for range 200 {
		upto := uint32(r.IntN(600))
		var dead []uint32
		for range r.IntN(20) {
			dead = append(dead, uint32(r.IntN(int(upto)+5)))
		}
		cases = append(cases, struct {
			upto uint32
			dead []uint32
		}{upto, dead})
	}
	for _, c := range cases {
		cover := crypto.Cover(c.upto, c.dead)
		isDead := make(map[uint32]bool)
		for _, d := range c.dead {
			isDead[d] = true
		}
		in := make(map[crypto.TreeNode]bool)
		for _, n := range cover {
			if !n.Valid() {
				t.Fatalf("upto %d dead %v: invalid node %d", c.upto, c.dead, n)
			}
			in[n] = true
			if lo, hi := n.Span(); hi > c.upto || hi-lo > 1<<20 {
				t.Fatalf("upto %d: node %d spans [%d, %d)", c.upto, n, lo, hi)
			}
			if in[n^1] && n > 1 {
				t.Fatalf("upto %d dead %v: both children of %d in the cover", c.upto, c.dead, n/2)
			}
		}
		limit := min(c.upto+8, 1<<20)
		if c.upto == 1<<20 {
			limit = 2048 // spot check the start of a full tree
		}
		for p := uint32(0); p < limit; p++ {
			count := 0
			for _, n := range cover {
				if n.Covers(p) {
					count++
				}
			}
			live := p < c.upto && !isDead[p]
			if live && count != 1 || !live && count != 0 {
				t.Fatalf("upto %d dead %v: position %d (live %v) is below %d nodes of %v", c.upto, c.dead, p, live, count, cover)
			}
		}
	}
	if n := len(crypto.Cover(1000, []uint32{417})); n > 20 {
		t.Errorf("the cover of 999 of 1000 positions has %d nodes", n)
	}
}

func TestTreeNode(t *testing.T) {
	t.Parallel()
	root := crypto.TreeNode(1)
	if lo, hi := root.Span(); lo != 0 || hi != crypto.TreePositions || root.Depth() != 0 {
		t.Fatalf("root spans [%d, %d) at depth %d", lo, hi, root.Depth())
	}
	leaf := crypto.Leaf(5)
	if lo, hi := leaf.Span(); lo != 5 || hi != 6 || leaf.Depth() != crypto.TreeDepth {
		t.Fatalf("leaf 5 spans [%d, %d) at depth %d", lo, hi, leaf.Depth())
	}
	for _, n := range []crypto.TreeNode{0, 2 * crypto.TreePositions} {
		if n.Valid() {
			t.Errorf("node %d is valid", n)
		}
	}
}

// TestTreeWrap: the secret wrapped under a node of the cover opens with
// the path keys of a live position below it, and with nothing else.
func TestTreeWrap(t *testing.T) {
	t.Parallel()
	g := crypto.NewGroupID()
	tree := crypto.NewTreeID()
	ts := crypto.NewTreeSecret()
	s := crypto.NewEpochSecret()
	var nonce [crypto.RekeyNonceSize]byte
	nonce[0] = 1
	cover := crypto.Cover(10, []uint32{3})
	wraps := make(map[crypto.TreeNode][]byte)
	for _, n := range cover {
		wraps[n] = ts.NodeKey(g, tree, n).Wrap(g, 9, n, nonce, s)
		if len(wraps[n]) != crypto.WrapSize {
			t.Fatalf("a wrap is %d bytes", len(wraps[n]))
		}
	}
	open := func(p uint32) (crypto.EpochSecret, error) {
		pk := ts.PathKeys(g, tree, p)
		for _, n := range cover {
			if k, ok := pk.Key(n); ok {
				return k.Unwrap(g, 9, n, nonce, wraps[n])
			}
		}
		return crypto.EpochSecret{}, errors.New("no node of the cover is on the path")
	}
	for p := range uint32(12) {
		got, err := open(p)
		if live := p < 10 && p != 3; live != (err == nil) || live && !got.Equal(s) {
			t.Errorf("position %d: live %v, opened %v (%v)", p, live, err == nil, err)
		}
	}
	n := cover[0]
	k := ts.NodeKey(g, tree, n)
	other := nonce
	other[0] = 2
	for name, f := range map[string]func() (crypto.EpochSecret, error){
		"other epoch": func() (crypto.EpochSecret, error) { return k.Unwrap(g, 8, n, nonce, wraps[n]) },
		"other node":  func() (crypto.EpochSecret, error) { return k.Unwrap(g, 9, n+1, nonce, wraps[n]) },
		"other nonce": func() (crypto.EpochSecret, error) { return k.Unwrap(g, 9, n, other, wraps[n]) },
		"other group": func() (crypto.EpochSecret, error) { return k.Unwrap(crypto.NewGroupID(), 9, n, nonce, wraps[n]) },
		"other tree": func() (crypto.EpochSecret, error) {
			return ts.NodeKey(g, crypto.NewTreeID(), n).Unwrap(g, 9, n, nonce, wraps[n])
		},
		"short": func() (crypto.EpochSecret, error) { return k.Unwrap(g, 9, n, nonce, wraps[n][1:]) },
	} {
		if _, err := f(); !errors.Is(err, crypto.ErrBadWrap) {
			t.Errorf("%s: %v, want ErrBadWrap", name, err)
		}
	}
}

func TestPathKeys(t *testing.T) {
	t.Parallel()
	g := crypto.NewGroupID()
	tree := crypto.NewTreeID()
	ts := crypto.NewTreeSecret()
	pk := ts.PathKeys(g, tree, 700)
	for n := crypto.Leaf(700); n >= 1; n >>= 1 {
		k, ok := pk.Key(n)
		if !ok || !k.Equal(ts.NodeKey(g, tree, n)) {
			t.Fatalf("node %d on the path: %v", n, ok)
		}
	}
	if _, ok := pk.Key(crypto.Leaf(701)); ok {
		t.Fatal("a key off the path")
	}
	b := pk.Marshal()
	if len(b) != crypto.PathKeysSize {
		t.Fatalf("%d bytes", len(b))
	}
	back, err := crypto.ParsePathKeys(b)
	if err != nil || !bytes.Equal(back.Marshal(), b) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := crypto.ParsePathKeys(b[1:]); err == nil {
		t.Fatal("short path keys parsed")
	}

	alice, bob := newIdentity(t, "alice"), newIdentity(t, "bob")
	sealed, err := crypto.SealPathKeys(alice.Public(), g, &pk)
	if err != nil || len(sealed) != crypto.SealedPathKeysSize {
		t.Fatalf("sealing: %v, %d bytes", err, len(sealed))
	}
	got, err := alice.OpenPathKeys(g, tree, sealed)
	if err != nil || !bytes.Equal(got.Marshal(), b) {
		t.Fatalf("opening: %v", err)
	}
	if _, err := bob.OpenPathKeys(g, tree, sealed); !errors.Is(err, crypto.ErrNotForMe) {
		t.Fatalf("bob opened alice's path keys: %v", err)
	}
	if _, err := alice.OpenPathKeys(g, crypto.NewTreeID(), sealed); !errors.Is(err, crypto.ErrNotForMe) {
		t.Fatalf("opened for another tree: %v", err)
	}
	st, err := crypto.SealTreeSecret(alice.Public(), g, tree, ts)
	if err != nil || len(st) != crypto.SealedTreeSecretSize {
		t.Fatalf("sealing the tree secret: %v", err)
	}
	if back, err := alice.OpenTreeSecret(g, tree, st); err != nil || !back.Equal(ts) {
		t.Fatalf("opening the tree secret: %v", err)
	}
	if _, err := bob.OpenTreeSecret(g, tree, st); !errors.Is(err, crypto.ErrNotForMe) {
		t.Fatalf("bob opened the tree secret: %v", err)
	}
}

// TestTreeVector checks a wrap under node 1 against a vector computed
// independently (Python's hmac, hashlib and cryptography's
// ChaCha20Poly1305, from PROTOCOL.md "Key tree"): it covers the node key's
// and the wrap key's derivations and the AEAD.
func TestTreeVector(t *testing.T) {
	t.Parallel()
	seq := func(from byte, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = from + byte(i)
		}
		return b
	}
	ts, _ := crypto.TreeSecretFromBytes(seq(0, 32))
	g, _ := crypto.GroupIDFromBytes(seq(0, 16))
	tree, _ := crypto.TreeIDFromBytes(seq(0x20, 16))
	s, _ := crypto.EpochSecretFromBytes(seq(0x40, 32))
	var nonce [crypto.RekeyNonceSize]byte
	copy(nonce[:], seq(0x30, 16))
	got := ts.NodeKey(g, tree, 1).Wrap(g, 1, 1, nonce, s)
	if want := "90a054f7d7b17a11063679a3a2549b36e011769bbccc40917e47e5a52e88fcd9124828b549f316e39e45e0555574b251"; hex.EncodeToString(got) != want {
		t.Fatalf("wrap = %x, want %s", got, want)
	}
}
