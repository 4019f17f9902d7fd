package node

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/wire"
)

// twinFixture is a node key, the nonce its node asked with, its own
// instance and another's, and a way to sign proofs.
type twinFixture struct {
	id           *crypto.Identity
	nonce        []byte
	mine, theirs []byte
}

func newTwinFixture(t testing.TB) twinFixture {
	id, err := crypto.NewIdentity("ana")
	if err != nil {
		t.Fatal(err)
	}
	return twinFixture{id: id,
		nonce: bytes.Repeat([]byte{7}, twinNonceSize),
		mine:  bytes.Repeat([]byte{1}, twinInstanceSize), theirs: bytes.Repeat([]byte{2}, twinInstanceSize)}
}

func (f twinFixture) proof(t testing.TB, id *crypto.Identity, nonce, instance []byte, up uint64) *wire.TwinProof {
	sig, err := id.NodeKey().Sign(twinSigned(nonce, instance, up))
	if err != nil {
		t.Fatal(err)
	}
	return &wire.TwinProof{Instance: instance, UptimeMs: up, Signature: sig}
}

// TestTwinProven: a member node that passes the question on can withhold
// proofs but not make one. Only a proof signed with this node's key, over
// this node's fresh nonce, by another instance, counts as a copy running
// now.
func TestTwinProven(t *testing.T) {
	t.Parallel()
	f := newTwinFixture(t)
	other, err := crypto.NewIdentity("mallory")
	if err != nil {
		t.Fatal(err)
	}
	altered := f.proof(t, f.id, f.nonce, f.theirs, 60_000)
	altered.UptimeMs++
	for _, tc := range []struct {
		name  string
		proof *wire.TwinProof
		want  bool
	}{
		{"a copy running now", f.proof(t, f.id, f.nonce, f.theirs, 60_000), true},
		{"this very node", f.proof(t, f.id, f.nonce, f.mine, 60_000), false},
		{"an old proof, over another nonce", f.proof(t, f.id, bytes.Repeat([]byte{8}, twinNonceSize), f.theirs, 60_000), false},
		{"signed by another node key", f.proof(t, other, f.nonce, f.theirs, 60_000), false},
		{"uptime changed after signing", altered, false},
		{"instance of the wrong length", f.proof(t, f.id, f.nonce, f.theirs[:8], 60_000), false},
		{"no signature", &wire.TwinProof{Instance: f.theirs, UptimeMs: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := twinProven(f.id.NodeKey().GetPublic(), f.nonce, f.mine, &wire.TwinAnswer{Proofs: []*wire.TwinProof{tc.proof}})
			if (len(got) == 1) != tc.want {
				t.Fatalf("proven %d proofs; want a copy found: %v", len(got), tc.want)
			}
		})
	}
}

// FuzzTwinAnswer: whatever a member node hands back when asked whether
// this node's profile runs elsewhere, reading it stays within its caps and
// never panics, and nothing the fuzzer makes passes as a copy of this node
// (which would stop it or warn). The seeds hold real proofs that must not
// pass: one over another nonce (a replay), this node's own; more are in
// testdata/fuzz/FuzzTwinAnswer.
func FuzzTwinAnswer(f *testing.F) {
	fx := newTwinFixture(f)
	add := func(ps ...*wire.TwinProof) {
		var b bytes.Buffer
		if _, err := protodelim.MarshalTo(&b, &wire.TwinAnswer{Proofs: ps}); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	add(fx.proof(f, fx.id, bytes.Repeat([]byte{8}, twinNonceSize), fx.theirs, 5))
	add(fx.proof(f, fx.id, fx.nonce, fx.mine, 5), fx.proof(f, fx.id, fx.nonce, fx.mine, 6))
	add()
	f.Add([]byte{0x02, 0x0a, 0x00})
	pub := fx.id.NodeKey().GetPublic()
	f.Fuzz(func(t *testing.T, b []byte) {
		ans, err := readTwinAnswer(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(ans.Proofs) > maxTwinProofs || proto.Size(ans) > maxTwinMessage {
			t.Fatalf("read an answer of %d proofs, %d bytes, past the caps", len(ans.Proofs), proto.Size(ans))
		}
		if ps := twinProven(pub, fx.nonce, fx.mine, ans); len(ps) > 0 {
			t.Fatalf("a proof the fuzzer made passed: %v", ps[0])
		}
	})
}
