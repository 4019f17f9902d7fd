package crypto_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/takecare-network/takecare/crypto"
)

func TestSignVerify(t *testing.T) {
	t.Parallel()
	ana := newIdentity(t, "ana")
	beto := newIdentity(t, "beto")
	group := crypto.NewGroupID()
	const epoch = 4
	msg := []byte("danger near the river crossing")
	in := ana.SignBody(group, epoch, msg)
	if in.Author != ana.ID() {
		t.Fatalf("Author = %s, want the signer %s", in.Author, ana.ID())
	}
	if err := in.Verify(ana.Public(), group, epoch); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	modBody := in
	modBody.Body = bytes.Clone(in.Body)
	modBody.Body[0] ^= 1
	longer := in
	longer.Body = append(bytes.Clone(in.Body), 0)
	shorter := in
	shorter.Body = in.Body[:len(in.Body)-1]
	badSig := in
	badSig.Sig[10] ^= 0x40
	otherAuthor := in
	otherAuthor.Author = beto.ID()
	stolen := beto.SignBody(group, epoch, msg) // beto's signature, claiming ana
	stolen.Author = ana.ID()

	tests := []struct {
		name  string
		in    crypto.Inner
		keys  crypto.MemberKeys
		group crypto.GroupID
		epoch uint64
	}{
		{"another member's keys", in, beto.Public(), group, epoch},
		{"another group", in, ana.Public(), crypto.NewGroupID(), epoch},
		{"zero group", in, ana.Public(), crypto.GroupID{}, epoch},
		{"next epoch", in, ana.Public(), group, epoch + 1},
		{"previous epoch", in, ana.Public(), group, epoch - 1},
		{"modified body", modBody, ana.Public(), group, epoch},
		{"byte appended", longer, ana.Public(), group, epoch},
		{"byte removed", shorter, ana.Public(), group, epoch},
		{"modified signature", badSig, ana.Public(), group, epoch},
		{"author swapped, signer's keys", otherAuthor, beto.Public(), group, epoch},
		{"author swapped, claimed keys", otherAuthor, ana.Public(), group, epoch},
		{"another member's signature", stolen, ana.Public(), group, epoch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.in.Verify(tt.keys, tt.group, tt.epoch); !errors.Is(err, crypto.ErrBadSignature) {
				t.Fatalf("Verify: error = %v, want ErrBadSignature", err)
			}
		})
	}
}

// TestSignatureDomain checks that the signed message separates group, epoch
// and body: moving bytes between the epoch and the body does not keep a
// signature valid.
func TestSignatureDomain(t *testing.T) {
	t.Parallel()
	ana := newIdentity(t, "ana")
	g := crypto.NewGroupID()
	in := ana.SignBody(g, 0x0100, []byte{0x02})
	in.Body = []byte{0x01, 0x00, 0x02}
	if err := in.Verify(ana.Public(), g, 0x01); err == nil {
		t.Fatal("signature verified after moving a byte from the epoch to the body")
	}
}

func TestInnerMarshalParse(t *testing.T) {
	t.Parallel()
	ana := newIdentity(t, "ana")
	for _, n := range []int{1, 2, 100, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			in := ana.SignBody(crypto.NewGroupID(), 1, body(n))
			b := in.Marshal()
			if len(b) != innerHeader+n {
				t.Fatalf("Marshal: %d bytes, want %d", len(b), innerHeader+n)
			}
			if !bytes.Equal(b[:32], in.Author[:]) || !bytes.Equal(b[32:96], in.Sig[:]) || !bytes.Equal(b[96:], in.Body) {
				t.Fatal("Marshal layout is not author | signature | body")
			}
			got, err := crypto.ParseInner(b)
			if err != nil {
				t.Fatalf("ParseInner: %v", err)
			}
			if got.Author != in.Author || got.Sig != in.Sig || !bytes.Equal(got.Body, in.Body) {
				t.Fatal("ParseInner(Marshal(x)) != x")
			}
		})
	}
}

func TestParseInnerShort(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 31, 32, 95, innerHeader} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			if _, err := crypto.ParseInner(make([]byte, n)); err == nil {
				t.Fatalf("ParseInner accepted %d bytes", n)
			}
		})
	}
	if _, err := crypto.ParseInner(make([]byte, innerHeader+1)); err != nil {
		t.Fatalf("ParseInner of a one-byte body: %v", err)
	}
}

// TestMemberKeysCopiesShareTheirKeys: a member's keys are held by the
// roster in several indexes and views; a copy must not copy the 1,248
// bytes (a group of 1,000 held megabytes of copies in every node).
func TestMemberKeysCopiesShareTheirKeys(t *testing.T) {
	t.Parallel()
	if size := unsafe.Sizeof(crypto.MemberKeys{}); size > unsafe.Sizeof(uintptr(0)) {
		t.Fatalf("a copy of MemberKeys is %d bytes", size)
	}
	var zero crypto.MemberKeys
	if zero.Equal(newIdentity(t, "ana").Public()) || len(zero.SignKey()) != crypto.SignKeySize || zero.ID() == (crypto.MemberID{}) {
		t.Fatal("the zero MemberKeys does not read as all-zero keys")
	}
}

func TestMemberKeys(t *testing.T) {
	t.Parallel()
	ana := newIdentity(t, "ana")
	beto := newIdentity(t, "beto")
	pub := ana.Public()
	again, err := crypto.NewMemberKeys(pub.SignKey(), pub.KEMKey())
	if err != nil {
		t.Fatalf("NewMemberKeys of real keys: %v", err)
	}
	if !again.Equal(pub) || again.ID() != ana.ID() {
		t.Fatal("keys rebuilt from their bytes differ")
	}
	if pub.Equal(beto.Public()) || ana.ID() == beto.ID() {
		t.Fatal("two identities have the same keys")
	}
	if len(pub.SignKey()) != crypto.SignKeySize || len(pub.KEMKey()) != crypto.KEMKeySize {
		t.Fatalf("key sizes %d, %d", len(pub.SignKey()), len(pub.KEMKey()))
	}
	// The accessors return copies.
	sk := pub.SignKey()
	sk[0] ^= 1
	if !bytes.Equal(pub.SignKey(), ana.Public().SignKey()) {
		t.Fatal("SignKey returned the key itself, not a copy")
	}
	// A member's id depends on both keys.
	mixed, err := crypto.NewMemberKeys(pub.SignKey(), beto.Public().KEMKey())
	if err != nil {
		t.Fatal(err)
	}
	if mixed.ID() == ana.ID() || mixed.ID() == beto.ID() {
		t.Fatal("member id does not depend on both keys")
	}

	bad := []struct {
		name      string
		sign, kem []byte
	}{
		{"short signing key", pub.SignKey()[:31], pub.KEMKey()},
		{"long signing key", append(pub.SignKey(), 0), pub.KEMKey()},
		{"no HPKE key", pub.SignKey(), nil},
		{"short HPKE key", pub.SignKey(), pub.KEMKey()[:crypto.KEMKeySize-1]},
		{"long HPKE key", pub.SignKey(), append(pub.KEMKey(), 0)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := crypto.NewMemberKeys(tt.sign, tt.kem); err == nil {
				t.Fatal("NewMemberKeys accepted it")
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	ana := newIdentity(t, "Ana Ruiz")
	if ana.Name() != "Ana Ruiz" {
		t.Errorf("Name = %q", ana.Name())
	}
	if ana.ID() != ana.Public().ID() {
		t.Error("ID differs from Public().ID()")
	}
	pid := ana.PeerID()
	if pid == "" || pid.Validate() != nil {
		t.Fatalf("PeerID = %q", pid)
	}
	if !pid.MatchesPrivateKey(ana.NodeKey()) {
		t.Fatal("PeerID does not match NodeKey")
	}
	// The peer id must not reveal the member id (sealed sender).
	mid := ana.ID()
	if bytes.Contains([]byte(pid), mid[:8]) || strings.Contains(pid.String(), mid.String()[:16]) {
		t.Fatal("peer id contains the member id")
	}
}

func TestIDsParse(t *testing.T) {
	t.Parallel()
	g := crypto.NewGroupID()
	if g.IsZero() || !(crypto.GroupID{}).IsZero() {
		t.Fatal("GroupID.IsZero is wrong")
	}
	if g == crypto.NewGroupID() {
		t.Fatal("two new group ids are equal")
	}
	pg, err := crypto.ParseGroupID(g.String())
	if err != nil || pg != g {
		t.Fatalf("ParseGroupID(String()) = %v, %v", pg, err)
	}
	bg, err := crypto.GroupIDFromBytes(g[:])
	if err != nil || bg != g {
		t.Fatalf("GroupIDFromBytes = %v, %v", bg, err)
	}
	m := newIdentity(t, "ana").ID()
	pm, err := crypto.ParseMemberID(m.String())
	if err != nil || pm != m {
		t.Fatalf("ParseMemberID(String()) = %v, %v", pm, err)
	}
	if m.Short() != m.String()[:12] {
		t.Errorf("Short = %q", m.Short())
	}
	bm, err := crypto.MemberIDFromBytes(m[:])
	if err != nil || bm != m {
		t.Fatalf("MemberIDFromBytes = %v, %v", bm, err)
	}

	bad := []struct {
		name string
		fn   func() error
	}{
		{"group id too short", func() error { _, err := crypto.ParseGroupID(g.String()[:31]); return err }},
		{"group id too long", func() error { _, err := crypto.ParseGroupID(g.String() + "0"); return err }},
		{"group id not hex", func() error { _, err := crypto.ParseGroupID("zz" + g.String()[2:]); return err }},
		{"member id too short", func() error { _, err := crypto.ParseMemberID(m.String()[:62]); return err }},
		{"member id not hex", func() error { _, err := crypto.ParseMemberID("g" + m.String()[1:]); return err }},
		{"group id 15 bytes", func() error { _, err := crypto.GroupIDFromBytes(g[:15]); return err }},
		{"group id 17 bytes", func() error { _, err := crypto.GroupIDFromBytes(append(g[:], 0)); return err }},
		{"member id 31 bytes", func() error { _, err := crypto.MemberIDFromBytes(m[:31]); return err }},
		{"member id empty", func() error { _, err := crypto.MemberIDFromBytes(nil); return err }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.fn() == nil {
				t.Fatal("accepted")
			}
		})
	}
}
