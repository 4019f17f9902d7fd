package node

import (
	"bytes"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/join"
	"github.com/takecare-network/takecare/node/internal/wire"
)

// Fuzz targets for every message a peer sends this node on a stream: the
// framing and both sides of the join protocol (sync messages are fuzzed in
// node/internal/syncer). Gossip envelopes go through
// crypto.(*EpochKeys).Open and alert.Decode, fuzzed in their packages.
// Seeds are in testdata/fuzz; run with
// `go test -run '^$' -fuzz FuzzJoinHello ./node` (or `make fuzz`).

func delimited(t testing.TB, m proto.Message) []byte {
	var b bytes.Buffer
	if _, err := protodelim.MarshalTo(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// FuzzReadDelimited: the length-delimited framing refuses what is over the
// cap before reading it, and never panics.
func FuzzReadDelimited(f *testing.F) {
	f.Add(delimited(f, &wire.SyncHello{Version: 1, Nonce: make([]byte, 32)}))
	f.Add(delimited(f, &wire.SyncHello{Version: 1, Nonce: make([]byte, 32), Time: 1_750_000_000_000}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m wire.SyncMessage
		err := readDelimited(bytes.NewReader(b), &m, 4096)
		if err == nil && proto.Size(&m) > 4096 {
			t.Fatalf("read a message of %d bytes past a 4096-byte cap", proto.Size(&m))
		}
	})
}

// fuzzInvite is an invite with a real key pair and a joiner, for the join
// targets: the invite as the joiner holds it, as the roster holds it, the
// joiner, and its member record.
func fuzzInvite(t testing.TB) (crypto.Invite, alert.InviteState, *crypto.Identity, []byte) {
	id, err := crypto.NewIdentity("joiner")
	if err != nil {
		t.Fatal(err)
	}
	inv := crypto.NewInvite(crypto.NewGroupID(), id.PeerID(), nil)
	member, err := alert.EncodeMember(alert.MemberInfo{Name: "joiner", Keys: id.Public(), Peer: id.PeerID()})
	if err != nil {
		t.Fatal(err)
	}
	st := alert.InviteState{NewInvite: alert.NewInvite{ID: inv.ID, Key: inv.PublicKey(), Uses: 1, Expires: time.Now().Add(time.Hour)}}
	return inv, st, id, member
}

// FuzzJoinHello: the first message an admin's node reads from a joiner.
func FuzzJoinHello(f *testing.F) {
	inv, _, _, _ := fuzzInvite(f)
	for _, h := range []*wire.JoinHello{
		{Version: join.Version, Group: inv.Group[:], Invite: inv.ID[:]},
		{Version: join.Version, Group: inv.Group[:], Invite: inv.ID[:], Check: true},
		{Version: 1, Group: inv.Group[:], Invite: inv.ID[:]},
	} {
		b, _ := proto.Marshal(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h wire.JoinHello
		if readDelimited(bytes.NewReader(append(protowireLen(len(b)), b...)), &h, join.MaxHello) != nil {
			return
		}
		gid, iid, err := join.ParseHello(&h)
		if err == nil && (!bytes.Equal(gid[:], h.Group) || !bytes.Equal(iid[:], h.Invite) || h.Version != join.Version) {
			t.Fatalf("parseJoinHello took %x/%x version %d as %s/%s", h.Group, h.Invite, h.Version, gid, iid)
		}
	})
}

// protowireLen is the uvarint length prefix of a delimited message.
func protowireLen(n int) []byte {
	var b []byte
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

// FuzzJoinChallenge: what a joiner reads after its hello; a challenge of
// any length is signed without trouble (the admin's node checks it).
func FuzzJoinChallenge(f *testing.F) {
	inv, _, joiner, member := fuzzInvite(f)
	for _, c := range []*wire.JoinChallenge{
		{Nonce: make([]byte, crypto.JoinNonceSize)},
		{Status: wire.JoinStatus_JOIN_INVITE_CLOSED, Detail: "this invite was already used 1 of 1 times"},
		{Nonce: []byte{1}},
	} {
		b, _ := proto.Marshal(c)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var c wire.JoinChallenge
		if proto.Unmarshal(b, &c) != nil || c.Status != wire.JoinStatus_JOIN_OK {
			return
		}
		if _, err := inv.ProveJoin(joiner, c.Nonce, member); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzJoinRequest: what an admin's node reads from a would-be joiner after
// its challenge. Nothing but the real joiner's request with the code is
// taken.
func FuzzJoinRequest(f *testing.F) {
	inv, st, joiner, member := fuzzInvite(f)
	nonce := make([]byte, crypto.JoinNonceSize)
	proof, err := inv.ProveJoin(joiner, nonce, member)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := proto.Marshal(&wire.JoinRequest{Member: member, InviteSig: proof.Invite, MemberSig: proof.Member, NodeSig: proof.Node})
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var req wire.JoinRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		m, refused := join.CheckRequest(inv.Group, st, nonce, &req)
		if refused == nil && (m.ID() != joiner.ID() || m.Peer != joiner.PeerID() || !bytes.Equal(req.Member, member)) {
			t.Fatal("a forged request was taken")
		}
	})
}

// FuzzJoinResponse: what a joiner reads from the admin's node: the roster,
// checked op by op, and the new epoch's Rekey.
func FuzzJoinResponse(f *testing.F) {
	inv, _, joiner, _ := fuzzInvite(f)
	admin, _ := crypto.NewIdentity("admin")
	root, add, rk := fuzzRoster(f, inv.Group, admin, joiner)
	good, _ := proto.Marshal(&wire.JoinResponse{Epoch: 1, Roster: []*wire.SignedOp{root, add}, Rekey: rk})
	f.Add(good)
	refused, _ := proto.Marshal(&wire.JoinResponse{Status: wire.JoinStatus_JOIN_INVITE_CLOSED, Detail: "this invite expired"})
	f.Add(refused)
	f.Add(good[:len(good)-7])
	n := &Node{id: joiner, me: joiner.ID(), cfg: Config{Now: time.Now}}
	f.Fuzz(func(t *testing.T, b []byte) {
		var resp wire.JoinResponse
		if proto.Unmarshal(b, &resp) != nil || resp.Status > wire.JoinStatus_JOIN_ALREADY_MEMBER {
			return
		}
		var ops []alert.SignedOp
		for _, o := range resp.Roster {
			in, err := crypto.ParseInner(o.Inner)
			if err != nil {
				return
			}
			ops = append(ops, alert.SignedOp{Epoch: o.Epoch, Inner: in})
		}
		roster, _, err := alert.LoadRoster(inv.Group, ops)
		if err != nil {
			return
		}
		n.joinedEpoch(inv.Group, roster, &resp)
	})
}

// FuzzDuressWarning: what a member node reads from a duress node, which
// may be in an adversary's hands (the duress passphrase was forced out).
// Nothing but a warning signed with the member's duress key may pass.
func FuzzDuressWarning(f *testing.F) {
	id, err := crypto.NewIdentity("ana")
	if err != nil {
		f.Fatal(err)
	}
	created := time.UnixMilli(1_750_000_000_000)
	body, _ := alert.Encode(created, &alert.Alert{Kind: alert.KindDuress, Severity: alert.SevCritical, Expires: created.Add(DuressTTL)})
	danger, _ := alert.Encode(created, &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevCritical, Expires: created.Add(DuressTTL)})
	// Signed with the member key, not the duress key: must not pass.
	forged, _ := proto.Marshal(&wire.DuressWarning{Inner: id.SignBody(crypto.GroupID{}, 0, body).Marshal()})
	f.Add(forged)
	other, _ := proto.Marshal(&wire.DuressWarning{Inner: id.SignBody(crypto.GroupID{}, 0, danger).Marshal()})
	f.Add(other)
	f.Add([]byte{0x0a, 0x00})
	g := crypto.NewGroupID()
	f.Fuzz(func(t *testing.T, b []byte) {
		var w wire.DuressWarning
		if proto.Unmarshal(b, &w) != nil {
			return
		}
		in, err := crypto.ParseInner(w.Inner)
		if err != nil {
			return
		}
		m, err := alert.Decode(g, 1, in.Author, in.Body)
		if err != nil {
			return
		}
		if in.VerifyDuress(id.DuressKey()) == nil {
			t.Fatal("a warning the fuzzer made verifies with the duress key")
		}
		checkSigner(m, false)
	})
}

// fuzzRoster signs a small real group: its founding, the joiner's
// addition, and a rekey to epoch 1 sealed to both.
func fuzzRoster(f *testing.F, gid crypto.GroupID, admin, joiner *crypto.Identity) (root, add, rk *wire.SignedOp) {
	created := time.UnixMilli(1_750_000_000_000)
	sign := func(c alert.Content, epoch uint64, at time.Time) (*wire.SignedOp, alert.ID) {
		body, err := alert.Encode(at, c)
		if err != nil {
			f.Fatal(err)
		}
		in := admin.SignBody(gid, epoch, body)
		return &wire.SignedOp{Epoch: epoch, Inner: in.Marshal()}, alert.ContentID(gid, admin.ID(), body)
	}
	root, rootID := sign(&alert.RosterOp{Change: &alert.Create{GroupName: "g", Founder: alert.MemberInfo{Name: "admin", Keys: admin.Public(), Peer: admin.PeerID()}}}, 0, created)
	add, _ = sign(&alert.RosterOp{Parents: []alert.ID{rootID}, Change: &alert.AddMember{Member: alert.MemberInfo{Name: "joiner", Keys: joiner.Public(), Peer: joiner.PeerID()}}}, 0, created.Add(time.Second))
	secret := crypto.NewEpochSecret()
	var keys []alert.SealedKey
	for _, who := range []*crypto.Identity{admin, joiner} {
		s, err := crypto.SealEpochSecret(who.Public(), gid, 1, secret)
		if err != nil {
			f.Fatal(err)
		}
		keys = append(keys, alert.SealedKey{Member: who.ID(), Sealed: s})
	}
	rk, _ = sign(&alert.Rekey{Epoch: 1, Keys: keys}, 0, created.Add(2*time.Second))
	return root, add, rk
}

// FuzzRemovalNotice: the roster ops a removed member's node reads from a
// member node. Every op is checked as the roster checks any op; a notice
// can add only ops signed by the group's admins.
func FuzzRemovalNotice(f *testing.F) {
	admin, _ := crypto.NewIdentity("admin")
	joiner, _ := crypto.NewIdentity("joiner")
	gid := crypto.NewGroupID()
	root, add, _ := fuzzRoster(f, gid, admin, joiner)
	b, _ := proto.Marshal(&wire.RemovalNotice{Ops: []*wire.SignedOp{add}})
	f.Add(b)
	b, _ = proto.Marshal(&wire.RemovalNotice{Ops: []*wire.SignedOp{root, add, {Epoch: 3, Inner: add.Inner}}})
	f.Add(b)
	f.Add([]byte{0x0a, 0x02, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		var notice wire.RemovalNotice
		if proto.Unmarshal(b, &notice) != nil {
			return
		}
		in, _ := crypto.ParseInner(root.Inner)
		r, _, err := alert.LoadRoster(gid, []alert.SignedOp{{Epoch: 0, Inner: in}})
		if err != nil {
			t.Fatal(err)
		}
		addRosterOps(r, notice.Ops)
		for _, op := range r.Ops() {
			if op.Inner.Author != admin.ID() {
				t.Fatalf("an op by %s was taken", op.Inner.Author.Short())
			}
		}
	})
}

// FuzzRosterHeads: the heads a removed member's node answers with; what
// it is sent back is the removal and ops before it, never one after.
func FuzzRosterHeads(f *testing.F) {
	admin, _ := crypto.NewIdentity("admin")
	joiner, _ := crypto.NewIdentity("joiner")
	gid := crypto.NewGroupID()
	root, add, _ := fuzzRoster(f, gid, admin, joiner)
	var ops []alert.SignedOp
	for _, o := range []*wire.SignedOp{root, add} {
		in, _ := crypto.ParseInner(o.Inner)
		ops = append(ops, alert.SignedOp{Epoch: o.Epoch, Inner: in})
	}
	r, _, err := alert.LoadRoster(gid, ops)
	if err != nil {
		f.Fatal(err)
	}
	heads := r.Heads()
	rootID := alert.ContentID(gid, admin.ID(), ops[0].Inner.Body)
	b, _ := proto.Marshal(&wire.RosterHeads{Heads: [][]byte{rootID[:]}})
	f.Add(b)
	b, _ = proto.Marshal(&wire.RosterHeads{Heads: [][]byte{heads[0][:], {1, 2}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var h wire.RosterHeads
		if proto.Unmarshal(b, &h) != nil {
			return
		}
		var have []alert.ID
		for _, x := range h.Heads {
			if id, err := alert.IDFromBytes(x); err == nil {
				have = append(have, id)
			}
		}
		proof := r.Proof(rootID, have)
		if len(proof) > 1 || (len(proof) == 1 && !bytes.Equal(proof[0].Inner.Body, ops[0].Inner.Body)) {
			t.Fatalf("the proof of the root holds %d ops", len(proof))
		}
	})
}

// FuzzRendezvousRequest: whatever a member node asks a relay, the answer
// never panics and the relay's records stay within their bounds.
func FuzzRendezvousRequest(f *testing.F) {
	f.Add(delimited(f, &wire.RendezvousRequest{
		Register: []*wire.RendezvousRecordAt{{Point: make([]byte, 32), Record: make([]byte, crypto.RendezvousSealedSize)}},
		Lookup:   [][]byte{make([]byte, 32)},
	}))
	f.Add(delimited(f, &wire.RendezvousRequest{Lookup: [][]byte{make([]byte, 31)}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var req wire.RendezvousRequest
		if readDelimited(bytes.NewReader(b), &req, rvMaxRequest) != nil {
			return
		}
		s := newRVStore()
		s.perGrant = 8
		now := time.Unix(1_750_000_000, 0)
		// "a" is a member node; "b" and "c" proved one same relay code.
		g := [16]byte{1}
		for _, p := range []peer.ID{"a", "b", "c"} {
			grant := &g
			if p == "a" {
				grant = nil
			}
			resp := s.serve(p, grant, &req, now)
			if s.count() > rvMaxRecords || len(resp.Found) > rvMaxFound || s.count() > len(req.Register)*3 || s.byGrant[g] > s.perGrant {
				t.Fatalf("%d records held (%d of the grant), %d found", s.count(), s.byGrant[g], len(resp.Found))
			}
			if proto.Size(resp) > rvMaxResponse {
				t.Fatalf("an answer of %d bytes, over the %d a node reads", proto.Size(resp), rvMaxResponse)
			}
		}
	})
}

// FuzzRendezvousRecord: an opened rendezvous record (written by another
// member node) parses into a valid peer id and at most rvMaxAddrs valid
// addresses, or is refused; never a panic.
func FuzzRendezvousRecord(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\n\x03abc\x10\x01\x1a\x08\x04\xcb\x00q\n\x06\x0f\xa1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, addrs, err := parseRVRecord(b)
		if err != nil {
			return
		}
		if p.Validate() != nil || len(addrs) > rvMaxAddrs {
			t.Fatalf("accepted peer %q with %d addresses", p, len(addrs))
		}
	})
}

// FuzzRelayAuth: whatever proofs a node sends a relay, checking them never
// panics, and none holds without the grant's secret.
func FuzzRelayAuth(f *testing.F) {
	secret := [32]byte{7}
	label := crypto.RelayLabel(secret)
	good := crypto.RelayProof(secret, "relay", "member")
	f.Add(delimited(f, &wire.RelayAuth{Proofs: []*wire.RelayAuthProof{{Label: label[:], Proof: good[:]}}}))
	f.Add(delimited(f, &wire.RelayAuth{Proofs: []*wire.RelayAuthProof{{Label: label[:15], Proof: good[:31]}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var req wire.RelayAuth
		if readDelimited(bytes.NewReader(b), &req, relayAuthMax) != nil {
			return
		}
		var r relayCodes
		r.add(crypto.RelayCode{Secret: [32]byte{8}, Expires: time.Unix(1_800_000_000, 0)})
		if n := r.check("relay", "member", req.Proofs, time.Unix(1_750_000_000, 0)); n != 0 {
			t.Fatalf("%d proofs held without the secret", n)
		}
	})
}
