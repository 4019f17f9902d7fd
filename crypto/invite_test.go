package crypto_test

import (
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/crypto"
)

const base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newPeerID(t testing.TB) peer.ID {
	t.Helper()
	k, _, err := p2pcrypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func addrs(t testing.TB, ss ...string) []ma.Multiaddr {
	t.Helper()
	var out []ma.Multiaddr
	for _, s := range ss {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func sameInvite(t *testing.T, want, got crypto.Invite) {
	t.Helper()
	if got.Group != want.Group || got.ID != want.ID || got.Peer != want.Peer {
		t.Fatalf("invite = %v/%v/%v, want %v/%v/%v", got.Group, got.ID, got.Peer, want.Group, want.ID, want.Peer)
	}
	if len(got.Addrs) != len(want.Addrs) {
		t.Fatalf("%d addresses, want %d", len(got.Addrs), len(want.Addrs))
	}
	for i := range got.Addrs {
		if !got.Addrs[i].Equal(want.Addrs[i]) {
			t.Fatalf("address %d = %s, want %s", i, got.Addrs[i], want.Addrs[i])
		}
	}
	// The secret is unexported; the key derived from it tells.
	if string(got.PublicKey()) != string(want.PublicKey()) {
		t.Fatal("the invite secret did not survive")
	}
}

func TestInviteCodeRoundTrip(t *testing.T) {
	t.Parallel()
	pid := newPeerID(t)
	tests := []struct {
		name  string
		addrs []ma.Multiaddr
	}{
		{"no address", nil},
		{"one TCP", addrs(t, "/ip4/192.0.2.10/tcp/4001")},
		{"TCP, QUIC and IPv6", addrs(t, "/ip4/192.0.2.10/tcp/4001", "/ip4/192.0.2.10/udp/4001/quic-v1", "/ip6/2001:db8::1/tcp/4001")},
		{"dns and relay", addrs(t, "/dns4/relay.example.org/tcp/443/wss", "/ip4/198.51.100.7/tcp/4001/p2p/"+newPeerID(t).String()+"/p2p-circuit")},
		{"eight", addrs(t, "/ip4/10.0.0.1/tcp/1", "/ip4/10.0.0.2/tcp/2", "/ip4/10.0.0.3/tcp/3", "/ip4/10.0.0.4/tcp/4",
			"/ip4/10.0.0.5/tcp/5", "/ip4/10.0.0.6/tcp/6", "/ip4/10.0.0.7/tcp/7", "/ip4/10.0.0.8/tcp/8")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inv := crypto.NewInvite(crypto.NewGroupID(), pid, tt.addrs)
			code := inv.Code()
			if !strings.HasPrefix(code, "TC1-") {
				t.Fatalf("code %q lacks the TC1- prefix", code)
			}
			if strings.ToUpper(code) != code || strings.ContainsAny(code, " \n=") {
				t.Fatalf("code %q is not upper-case base32 without padding", code)
			}
			got, err := crypto.ParseInviteCode(code)
			if err != nil {
				t.Fatalf("ParseInviteCode: %v", err)
			}
			sameInvite(t, inv, got)
			if again := got.Code(); again != code {
				t.Fatalf("code changed after a round trip:\n%s\n%s", code, again)
			}
		})
	}
}

func TestInviteCodeKeepsEightAddrs(t *testing.T) {
	t.Parallel()
	var many []string
	for i := range 10 {
		many = append(many, fmt.Sprintf("/ip4/10.0.0.%d/tcp/4001", i+1))
	}
	inv := crypto.NewInvite(crypto.NewGroupID(), newPeerID(t), addrs(t, many...))
	got, err := crypto.ParseInviteCode(inv.Code())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Addrs) != 8 {
		t.Fatalf("%d addresses, want the first 8", len(got.Addrs))
	}
	for i, a := range got.Addrs {
		if !a.Equal(inv.Addrs[i]) {
			t.Fatalf("address %d = %s, want %s", i, a, inv.Addrs[i])
		}
	}
}

func TestInviteCodeFreshSecrets(t *testing.T) {
	t.Parallel()
	g, p := crypto.NewGroupID(), newPeerID(t)
	a, b := crypto.NewInvite(g, p, nil), crypto.NewInvite(g, p, nil)
	if a.ID == b.ID || string(a.PublicKey()) == string(b.PublicKey()) || a.Code() == b.Code() {
		t.Fatal("two invites share an id or a secret")
	}
}

func TestInviteCodeTolerant(t *testing.T) {
	t.Parallel()
	inv := crypto.NewInvite(crypto.NewGroupID(), newPeerID(t), addrs(t, "/ip4/192.0.2.1/tcp/4001"))
	code := inv.Code()
	var grouped strings.Builder
	for i, r := range code {
		if i > 0 && i%5 == 0 {
			grouped.WriteByte(' ')
		}
		grouped.WriteRune(r)
	}
	var lines strings.Builder
	for i, r := range code {
		if i > 0 && i%40 == 0 {
			lines.WriteString("\r\n")
		}
		lines.WriteRune(r)
	}
	mixed := []rune(code)
	for i := range mixed {
		if i%2 == 0 {
			mixed[i] = []rune(strings.ToLower(string(mixed[i])))[0]
		}
	}
	variants := map[string]string{
		"lower case":        strings.ToLower(code),
		"mixed case":        string(mixed),
		"groups of five":    grouped.String(),
		"line breaks":       lines.String(),
		"surrounding space": "  \t" + code + "\n\n",
		"tabs":              strings.ReplaceAll(code, "-", "-\t"),
	}
	for name, v := range variants {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := crypto.ParseInviteCode(v)
			if err != nil {
				t.Fatalf("ParseInviteCode(%q): %v", v, err)
			}
			sameInvite(t, inv, got)
		})
	}
}

// TestInviteCodeOneCharacterChanged changes each character of a code, in
// turn, to every other character of the alphabet: a mistyped code must be
// caught, never read as another (or the same) invite.
func TestInviteCodeOneCharacterChanged(t *testing.T) {
	t.Parallel()
	inv := crypto.NewInvite(crypto.NewGroupID(), newPeerID(t), addrs(t, "/ip4/192.0.2.1/tcp/4001", "/ip6/2001:db8::7/udp/4001/quic-v1"))
	code := inv.Code()
	for i := range code {
		for _, c := range base32Alphabet + "-018" {
			if byte(c) == code[i] {
				continue
			}
			bad := code[:i] + string(c) + code[i+1:]
			if got, err := crypto.ParseInviteCode(bad); !errors.Is(err, crypto.ErrBadInvite) {
				t.Fatalf("character %d changed from %c to %c: ParseInviteCode = %v, %v; want ErrBadInvite", i, code[i], c, got.ID, err)
			}
		}
	}
}

// reencode decodes a code, lets mod change its bytes before the checksum,
// and encodes it again with a valid checksum.
func reencode(t *testing.T, code string, mod func([]byte) []byte) string {
	t.Helper()
	b, err := codeEncoding.DecodeString(strings.TrimPrefix(code, "TC1-"))
	if err != nil {
		t.Fatal(err)
	}
	body := mod(b[:len(b)-4])
	body = binary.BigEndian.AppendUint32(body, crc32.ChecksumIEEE(body))
	return "TC1-" + codeEncoding.EncodeToString(body)
}

func TestInviteCodeMalformed(t *testing.T) {
	t.Parallel()
	inv := crypto.NewInvite(crypto.NewGroupID(), newPeerID(t), addrs(t, "/ip4/192.0.2.1/tcp/4001"))
	code := inv.Code()
	pidLen := len([]byte(inv.Peer))
	addrAt := 1 + 16 + 8 + 16 + 1 + pidLen // offset of the address count
	// Sanity: reencode with no change gives the same code.
	if same := reencode(t, code, func(b []byte) []byte { return b }); same != code {
		t.Fatal("bug in test: reencode changes the code")
	}
	tests := []struct {
		name string
		code string
	}{
		{"empty", ""},
		{"prefix only", "TC1-"},
		{"no prefix", strings.TrimPrefix(code, "TC1-")},
		{"version 2 prefix", "TC2-" + strings.TrimPrefix(code, "TC1-")},
		{"other prefix", "XX1-" + strings.TrimPrefix(code, "TC1-")},
		{"prefix without dash", "TC1" + strings.TrimPrefix(code, "TC1-")},
		{"prefix twice", "TC1-" + code},
		{"last character removed", code[:len(code)-1]},
		{"last two removed", code[:len(code)-2]},
		{"character added", code + "A"},
		{"eight characters added", code + "AAAAAAAA"},
		{"padding", code + "===="},
		{"not base32", code[:10] + "!" + code[11:]},
		{"checksum wrong", reencode(t, code, func(b []byte) []byte { return b })[:len(code)-2] + "AA"},
		{"version 0", reencode(t, code, func(b []byte) []byte { b[0] = 0; return b })},
		{"version 2", reencode(t, code, func(b []byte) []byte { b[0] = 2; return b })},
		{"short body", reencode(t, code, func(b []byte) []byte { return b[:20] })},
		{"peer length past the end", reencode(t, code, func(b []byte) []byte { b[41] = 255; return b })},
		{"no peer", reencode(t, code, func(b []byte) []byte { b[41] = 0; return append(b[:42], 0) })},
		{"peer not a peer id", reencode(t, code, func(b []byte) []byte {
			return append([]byte(nil), append(b[:41], 3, 1, 2, 3, 0)...)
		})},
		{"address count past the end", reencode(t, code, func(b []byte) []byte { b[addrAt] = 2; return b })},
		{"nine addresses", reencode(t, code, func(b []byte) []byte { b[addrAt] = 9; return b })},
		{"address length past the end", reencode(t, code, func(b []byte) []byte { b[addrAt+1] = 200; return b })},
		{"address not a multiaddr", reencode(t, code, func(b []byte) []byte {
			return append(b[:addrAt], 1, 3, 0xff, 0xff, 0xff)
		})},
		{"trailing byte", reencode(t, code, func(b []byte) []byte { return append(b, 0) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := crypto.ParseInviteCode(tt.code)
			if !errors.Is(err, crypto.ErrBadInvite) {
				t.Fatalf("ParseInviteCode(%q) = %v, %v; want ErrBadInvite", tt.code, got.ID, err)
			}
		})
	}
}

func TestJoinProof(t *testing.T) {
	t.Parallel()
	g := crypto.NewGroupID()
	p := newPeerID(t)
	inv := crypto.NewInvite(g, p, nil)
	other := crypto.NewInvite(g, p, nil)
	beto, err := crypto.NewIdentity("beto")
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := crypto.NewIdentity("mallory")
	if err != nil {
		t.Fatal(err)
	}
	member := []byte("member record of beto")
	nonce := make([]byte, crypto.JoinNonceSize)
	nonce[0] = 7
	proof, err := inv.ProveJoin(beto, nonce, member)
	if err != nil {
		t.Fatal(err)
	}
	if err := crypto.VerifyJoin(inv.PublicKey(), g, inv.ID, nonce, member, beto.Public(), beto.PeerID(), proof); err != nil {
		t.Fatalf("VerifyJoin: %v", err)
	}
	// The code carries everything needed: the joiner's parsed invite signs
	// what the admin's copy verifies.
	parsed, err := crypto.ParseInviteCode(inv.Code())
	if err != nil {
		t.Fatal(err)
	}
	fromCode, err := parsed.ProveJoin(beto, nonce, member)
	if err != nil {
		t.Fatal(err)
	}
	if err := crypto.VerifyJoin(inv.PublicKey(), g, inv.ID, nonce, member, beto.Public(), beto.PeerID(), fromCode); err != nil {
		t.Fatalf("VerifyJoin of a proof made from the code: %v", err)
	}
	// The door identity is the invite key, and an admin's node finds its
	// peer id from the public key the roster holds.
	door, err := peer.IDFromPrivateKey(parsed.DoorKey())
	if err != nil {
		t.Fatal(err)
	}
	if want, err := crypto.DoorPeer(inv.PublicKey()); err != nil || door != want {
		t.Fatalf("door peer %s from the code, %s (%v) from the public key", door, want, err)
	}
	if _, err := crypto.DoorPeer(inv.PublicKey()[:31]); !errors.Is(err, crypto.ErrBadInvite) {
		t.Fatalf("DoorPeer of a short key: %v", err)
	}

	otherNonce := append([]byte(nil), nonce...)
	otherNonce[0] ^= 1
	byOther, _ := other.ProveJoin(beto, nonce, member)
	byMallory, _ := inv.ProveJoin(mallory, nonce, member)
	flip := func(b []byte) []byte { c := append([]byte(nil), b...); c[0] ^= 1; return c }
	tests := []struct {
		name   string
		key    []byte
		group  crypto.GroupID
		id     crypto.InviteID
		nonce  []byte
		member []byte
		keys   crypto.MemberKeys
		node   peer.ID
		proof  crypto.JoinProof
	}{
		{"another invite's key", other.PublicKey(), g, inv.ID, nonce, member, beto.Public(), beto.PeerID(), proof},
		{"signed with another invite", inv.PublicKey(), g, inv.ID, nonce, member, beto.Public(), beto.PeerID(), crypto.JoinProof{Invite: byOther.Invite, Member: proof.Member, Node: proof.Node}},
		{"another group", inv.PublicKey(), crypto.NewGroupID(), inv.ID, nonce, member, beto.Public(), beto.PeerID(), proof},
		{"another invite id", inv.PublicKey(), g, other.ID, nonce, member, beto.Public(), beto.PeerID(), proof},
		{"another challenge", inv.PublicKey(), g, inv.ID, otherNonce, member, beto.Public(), beto.PeerID(), proof},
		{"short challenge", inv.PublicKey(), g, inv.ID, nonce[:31], member, beto.Public(), beto.PeerID(), proof},
		{"another member record", inv.PublicKey(), g, inv.ID, nonce, []byte("member record of mallory"), beto.Public(), beto.PeerID(), proof},
		{"member keys it does not hold", inv.PublicKey(), g, inv.ID, nonce, member, beto.Public(), mallory.PeerID(), byMallory},
		{"a node key it does not hold", inv.PublicKey(), g, inv.ID, nonce, member, mallory.Public(), beto.PeerID(), byMallory},
		{"modified invite signature", inv.PublicKey(), g, inv.ID, nonce, member, beto.Public(), beto.PeerID(), crypto.JoinProof{Invite: flip(proof.Invite), Member: proof.Member, Node: proof.Node}},
		{"modified member signature", inv.PublicKey(), g, inv.ID, nonce, member, beto.Public(), beto.PeerID(), crypto.JoinProof{Invite: proof.Invite, Member: flip(proof.Member), Node: proof.Node}},
		{"modified node signature", inv.PublicKey(), g, inv.ID, nonce, member, beto.Public(), beto.PeerID(), crypto.JoinProof{Invite: proof.Invite, Member: proof.Member, Node: flip(proof.Node)}},
		{"short signature", inv.PublicKey(), g, inv.ID, nonce, member, beto.Public(), beto.PeerID(), crypto.JoinProof{Invite: proof.Invite[:63], Member: proof.Member, Node: proof.Node}},
		{"no signatures", inv.PublicKey(), g, inv.ID, nonce, member, beto.Public(), beto.PeerID(), crypto.JoinProof{}},
		{"short key", inv.PublicKey()[:31], g, inv.ID, nonce, member, beto.Public(), beto.PeerID(), proof},
		{"no key", nil, g, inv.ID, nonce, member, beto.Public(), beto.PeerID(), proof},
		{"a node id without a key", inv.PublicKey(), g, inv.ID, nonce, member, beto.Public(), peer.ID("x"), proof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := crypto.VerifyJoin(tt.key, tt.group, tt.id, tt.nonce, tt.member, tt.keys, tt.node, tt.proof)
			if !errors.Is(err, crypto.ErrBadSignature) {
				t.Fatalf("VerifyJoin: error = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestInviteIDString(t *testing.T) {
	t.Parallel()
	id := crypto.InviteID{0xab, 0xcd, 0, 1, 2, 3, 4, 0xff}
	if got := id.String(); got != "abcd0001020304ff" {
		t.Fatalf("String = %q", got)
	}
}

// TestInviteCodeNamesOtherAdmins: a code carries up to three more admin
// nodes that can redeem it, with up to four addresses each.
func TestInviteCodeNamesOtherAdmins(t *testing.T) {
	t.Parallel()
	inv := crypto.NewInvite(crypto.NewGroupID(), newPeerID(t), addrs(t, "/ip4/192.0.2.1/tcp/4001"))
	for i := range 5 {
		inv.Also = append(inv.Also, peer.AddrInfo{ID: newPeerID(t), Addrs: addrs(t,
			fmt.Sprintf("/ip4/192.0.2.%d/tcp/4001", 10+i), "/ip4/198.51.100.1/udp/4001/quic-v1",
			"/ip4/198.51.100.2/tcp/1", "/ip4/198.51.100.3/tcp/2", "/ip4/198.51.100.4/tcp/3")})
	}
	got, err := crypto.ParseInviteCode(inv.Code())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Also) != 3 {
		t.Fatalf("%d other nodes, want the first 3", len(got.Also))
	}
	for i, ai := range got.Also {
		if ai.ID != inv.Also[i].ID || len(ai.Addrs) != 4 || !ai.Addrs[0].Equal(inv.Also[i].Addrs[0]) {
			t.Fatalf("node %d = %v, want %v with its first 4 addresses", i, ai, inv.Also[i])
		}
	}
}
