package alert_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	ana := newIdentity(t, "ana")
	beto := newIdentity(t, "Beto Martínez")
	group := crypto.NewGroupID()
	checkin := alert.ID{0xc1, 0xc2}
	sealed := bytes.Repeat([]byte{7}, crypto.SealedSecretSize)
	path := bytes.Repeat([]byte{8}, crypto.SealedPathKeysSize)
	wrap := bytes.Repeat([]byte{9}, crypto.WrapSize)
	tree := crypto.TreeID{0x7e}
	parents := []alert.ID{{1}, {2}, {3}}
	tests := []struct {
		name    string
		content alert.Content
	}{
		{"danger alert", &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevUrgent, Region: "Istmo", Place: "Juchitán, mercado", Text: "Hombres armados\nen la entrada", Expires: t0.Add(6 * time.Hour)}},
		{"panic", &alert.Alert{Kind: alert.KindPanic, Severity: alert.SevCritical, Expires: t0.Add(time.Hour)}},
		{"overdue level 1", &alert.Alert{Kind: alert.KindOverdue, Severity: alert.SevCritical, Place: "Ixtepec", Expires: t0.Add(24 * time.Hour), CheckIn: checkin, Level: 1}},
		{"overdue level 2", &alert.Alert{Kind: alert.KindOverdue, Severity: alert.SevCritical, Expires: t0.Add(24 * time.Hour), CheckIn: checkin, Level: 2}},
		{"check-in", &alert.CheckIn{From: "Juchitán", To: "Ixtepec", Due: t0.Add(3 * time.Hour), Grace: 5 * time.Minute, EscalateAfter: 10 * time.Minute, EscalateGroup: crypto.NewGroupID(), Text: "por la carretera 185"}},
		{"check-in, no escalation group", &alert.CheckIn{To: "Ixtepec", Due: t0.Add(time.Hour), EscalateAfter: time.Minute}},
		{"check-in done", &alert.CheckInDone{CheckIn: checkin}},
		{"check-in done under duress", &alert.CheckInDone{CheckIn: checkin, Duress: true}},
		{"ack seen", &alert.Ack{Ref: alert.ID{9}, Status: alert.AckSeen}},
		{"ack responding", &alert.Ack{Ref: alert.ID{9}, Status: alert.AckResponding}},
		{"ack unable", &alert.Ack{Ref: alert.ID{9}, Status: alert.AckUnable}},
		{"roster create", &alert.RosterOp{Change: &alert.Create{GroupName: "Red Istmo", Founder: info(ana)}}},
		{"roster add", &alert.RosterOp{Parents: parents, Change: &alert.AddMember{Member: info(beto), Invite: crypto.InviteID{1, 2, 3, 4, 5, 6, 7, 8}}}},
		{"roster remove", &alert.RosterOp{Parents: parents[:1], Change: &alert.RemoveMember{Member: beto.ID()}}},
		{"roster promote", &alert.RosterOp{Parents: parents, Change: &alert.SetRole{Member: beto.ID(), Role: alert.RoleAdmin}}},
		{"roster demote", &alert.RosterOp{Parents: parents, Change: &alert.SetRole{Member: beto.ID(), Role: alert.RoleMember}}},
		{"roster invite", &alert.RosterOp{Parents: parents, Change: &alert.NewInvite{ID: crypto.InviteID{8}, Key: bytes.Repeat([]byte{5}, 32), Uses: 3, Expires: t0.Add(48 * time.Hour)}}},
		{"roster revoke", &alert.RosterOp{Parents: parents, Change: &alert.RevokeInvite{ID: crypto.InviteID{8}}}},
		{"rekey", &alert.Rekey{Epoch: 5, Keys: []alert.SealedKey{{Member: ana.ID(), Sealed: sealed}, {Member: beto.ID(), Sealed: sealed}}, Covers: parents}},
		{"rekey without covers", &alert.Rekey{Epoch: 1, Keys: []alert.SealedKey{{Member: ana.ID(), Sealed: sealed}}}},
		{"roster create with a seat", &alert.RosterOp{Change: &alert.Create{GroupName: "Red Istmo", Founder: info(ana), Seat: &alert.Seat{Tree: tree}}}},
		{"roster add by the ratchet, seated", &alert.RosterOp{Parents: parents, Change: &alert.AddMember{Member: info(beto), Invite: crypto.InviteID{1},
			Ratchet: &alert.Ratchet{From: crypto.KeyTag{1, 2, 3, 4, 5, 6, 7, 8}, Epoch: 9}, Seat: &alert.Seat{Tree: tree, Position: 77}}}},
		{"roster promote with the tree secret", &alert.RosterOp{Parents: parents, Change: &alert.SetRole{Member: beto.ID(), Role: alert.RoleAdmin,
			Tree: &alert.TreeGrant{Tree: tree, Sealed: bytes.Repeat([]byte{3}, crypto.SealedTreeSecretSize)}}}},
		{"tree rekey", &alert.Rekey{Epoch: 6, Covers: parents, Tree: &alert.TreeRekey{Tree: tree, Nonce: [16]byte{4}, Upto: 1000,
			Wraps: []alert.Wrap{{Node: 2, Sealed: wrap}, {Node: 7, Sealed: wrap}}}, Keys: []alert.SealedKey{{Member: beto.ID(), Sealed: sealed}}}},
		{"new tree", &alert.Rekey{Epoch: 7, Tree: &alert.TreeRekey{Tree: tree, Nonce: [16]byte{4}, Upto: 1, New: true},
			Keys: []alert.SealedKey{{Member: ana.ID(), Sealed: sealed, Path: path, TreeSecret: bytes.Repeat([]byte{3}, crypto.SealedTreeSecretSize)}}}},
		{"hand-over to a joiner", &alert.Rekey{Epoch: 8, Origin: alert.ID{5}, Tree: &alert.TreeRekey{Tree: tree},
			Keys: []alert.SealedKey{{Member: beto.ID(), Sealed: sealed, Path: path}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := encode(t, t0, tt.content)
			m, err := alert.Decode(group, 3, ana.ID(), body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if m.Group != group || m.Epoch != 3 || m.Author != ana.ID() || !m.Created.Equal(t0) {
				t.Fatalf("envelope fields: %v %d %v %v", m.Group, m.Epoch, m.Author, m.Created)
			}
			if !reflect.DeepEqual(m.Content, tt.content) {
				t.Fatalf("content changed:\n got %+v\nwant %+v", m.Content, tt.content)
			}
			wantID := alert.ContentID(group, ana.ID(), body)
			if a, ok := tt.content.(*alert.Alert); ok && a.Kind == alert.KindOverdue {
				wantID = alert.OverdueID(group, a.CheckIn, a.Level)
			}
			if m.ID != wantID {
				t.Fatalf("ID = %s, want %s", m.ID, wantID)
			}
			again := encode(t, m.Created, m.Content)
			if !bytes.Equal(again, body) {
				t.Fatal("re-encoding the decoded message gives other bytes")
			}
		})
	}
}

// TestEncodeMillisecond: Created and times inside a body are kept to the
// millisecond, and the id is taken over what was encoded.
func TestEncodeMillisecond(t *testing.T) {
	t.Parallel()
	c := &alert.Ack{Ref: alert.ID{1}, Status: alert.AckSeen}
	a := encode(t, t0.Add(300*time.Microsecond), c)
	b := encode(t, t0, c)
	if !bytes.Equal(a, b) {
		t.Fatal("sub-millisecond difference changed the encoding")
	}
	m, err := alert.Decode(crypto.NewGroupID(), 0, crypto.MemberID{1}, a)
	if err != nil || !m.Created.Equal(t0) {
		t.Fatalf("Created = %v, %v", m.Created, err)
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	huge := &alert.Alert{Kind: alert.KindInfo, Severity: alert.SevInfo, Text: strings.Repeat("x", alert.MaxBodySize), Expires: t0.Add(time.Hour)}
	if _, err := alert.Encode(t0, huge); !errors.Is(err, alert.ErrInvalid) {
		t.Errorf("oversized body: error = %v, want ErrInvalid", err)
	}
	if _, err := alert.Encode(t0, nil); err == nil {
		t.Error("Encode(nil) succeeded")
	}
	if _, err := alert.Encode(t0, &alert.RosterOp{}); err == nil {
		t.Error("Encode of a roster op without a change succeeded")
	}
}

func TestDecodeIDs(t *testing.T) {
	t.Parallel()
	ana, beto := newIdentity(t, "ana"), newIdentity(t, "beto")
	group := crypto.NewGroupID()
	checkin := alert.ID{0xaa}
	decode := func(g crypto.GroupID, author crypto.MemberID, created time.Time, c alert.Content) *alert.Message {
		t.Helper()
		m, err := alert.Decode(g, 1, author, encode(t, created, c))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	overdue := func(level int, text string) *alert.Alert {
		return &alert.Alert{Kind: alert.KindOverdue, Severity: alert.SevCritical, Text: text, Expires: t0.Add(time.Hour), CheckIn: checkin, Level: level}
	}

	// Many members raise the alarm for the same missed check-in: one id.
	byAna := decode(group, ana.ID(), t0, overdue(1, "Carla did not arrive"))
	byBeto := decode(group, beto.ID(), t0.Add(17*time.Second), overdue(1, "Carla no llegó"))
	if byAna.ID != byBeto.ID {
		t.Fatal("two raisers' overdue alarms for the same check-in and level have different ids")
	}
	if byAna.ID != alert.OverdueID(group, checkin, 1) {
		t.Fatal("overdue id is not OverdueID")
	}
	distinct := map[string]alert.ID{
		"overdue level 1":               byAna.ID,
		"overdue level 2":               decode(group, ana.ID(), t0, overdue(2, "")).ID,
		"overdue, other check-in":       decode(group, ana.ID(), t0, &alert.Alert{Kind: alert.KindOverdue, Severity: alert.SevCritical, Expires: t0.Add(time.Hour), CheckIn: alert.ID{0xab}, Level: 1}).ID,
		"overdue, other group":          decode(crypto.NewGroupID(), ana.ID(), t0, overdue(1, "")).ID,
		"alert by ana":                  decode(group, ana.ID(), t0, &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevInfo, Expires: t0.Add(time.Hour)}).ID,
		"same alert by beto":            decode(group, beto.ID(), t0, &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevInfo, Expires: t0.Add(time.Hour)}).ID,
		"same alert in another group":   decode(crypto.NewGroupID(), ana.ID(), t0, &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevInfo, Expires: t0.Add(time.Hour)}).ID,
		"same alert a millisecond late": decode(group, ana.ID(), t0.Add(time.Millisecond), &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevInfo, Expires: t0.Add(time.Hour)}).ID,
	}
	seen := map[alert.ID]string{}
	for name, id := range distinct {
		if prev, dup := seen[id]; dup {
			t.Errorf("%s and %s have the same id", name, prev)
		}
		seen[id] = name
	}
	// The epoch is not part of the id: a message re-sent after a rekey is
	// the same message.
	body := encode(t, t0, &alert.Ack{Ref: alert.ID{1}, Status: alert.AckSeen})
	m1, _ := alert.Decode(group, 1, ana.ID(), body)
	m2, _ := alert.Decode(group, 2, ana.ID(), body)
	if m1.ID != m2.ID {
		t.Error("the id depends on the epoch")
	}
}

func TestIDParse(t *testing.T) {
	t.Parallel()
	id := alert.ContentID(crypto.NewGroupID(), crypto.MemberID{1}, []byte("x"))
	for _, s := range []string{id.String(), strings.ToUpper(id.String())} {
		got, err := alert.ParseID(s)
		if err != nil || got != id {
			t.Fatalf("ParseID(%q) = %v, %v", s, got, err)
		}
	}
	if id.Short() != id.String()[:12] || id.IsZero() || !(alert.ID{}).IsZero() {
		t.Fatal("Short or IsZero")
	}
	for _, s := range []string{"", id.String()[:63], id.String() + "0", "x" + id.String()[1:]} {
		if _, err := alert.ParseID(s); err == nil {
			t.Errorf("ParseID(%q) succeeded", s)
		}
	}
}

// Hand-made protobuf, for bodies Encode never writes.
func field(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func lenField(num protowire.Number, b ...[]byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), bytes.Join(b, nil))
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestDecodeCanonical checks that Decode refuses every body that is not the
// one encoding of its content, so that the author's signature and the id
// cover exactly one message.
func TestDecodeCanonical(t *testing.T) {
	t.Parallel()
	group, author := crypto.NewGroupID(), crypto.MemberID{1}
	ref := bytes.Repeat([]byte{0xee}, 32)
	created := field(1, uint64(t0.UnixMilli()))
	ack := lenField(5, lenField(1, ref), field(2, 1))
	good := cat(created, ack)
	if want := encode(t, t0, &alert.Ack{Ref: alert.ID(ref), Status: alert.AckSeen}); !bytes.Equal(good, want) {
		t.Fatalf("bug in test: hand-made ack\n%x\nwant\n%x", good, want)
	}
	if _, err := alert.Decode(group, 1, author, good); err != nil {
		t.Fatalf("Decode of the hand-made ack: %v", err)
	}
	nonMinimal := protowire.AppendTag(nil, 1, protowire.VarintType)
	nonMinimal = append(nonMinimal, bytes.TrimRight(protowire.AppendVarint(nil, uint64(t0.UnixMilli())), "")...)
	nonMinimal[len(nonMinimal)-1] |= 0x80
	nonMinimal = append(nonMinimal, 0x00) // the same value, one byte longer
	alertBody := func(fields ...[]byte) []byte { return cat(created, lenField(2, fields...)) }
	validAlert := [][]byte{lenField(1, []byte("danger")), field(2, 1), field(6, uint64(t0.Add(time.Hour).UnixMilli()))}
	member := lenField(1, []byte("x"))

	tests := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"created only", created},
		{"fields out of order", cat(ack, created)},
		{"created twice", cat(created, created, ack)},
		{"ack twice", cat(created, ack, ack)},
		{"two contents", cat(created, ack, lenField(4, lenField(1, ref)))},
		{"non-minimal varint", cat(nonMinimal, ack)},
		{"explicit zero created", cat(field(1, 0), ack)},
		{"explicit zero status", cat(created, lenField(5, lenField(1, ref), field(2, 0)))},
		{"unknown field at the end", cat(good, field(99, 1))},
		{"unknown field inside", cat(created, lenField(5, lenField(1, ref), field(2, 1), field(15, 3)))},
		{"truncated", good[:len(good)-1]},
		{"length past the end", cat(created, []byte{0x2a, 0x7f, 0x0a})},
		{"ack id 31 bytes", cat(created, lenField(5, lenField(1, ref[:31]), field(2, 1)))},
		{"ack id 33 bytes", cat(created, lenField(5, lenField(1, ref, []byte{1}), field(2, 1)))},
		{"ack without id", cat(created, lenField(5, field(2, 1)))},
		{"ack status 257", cat(created, lenField(5, lenField(1, ref), field(2, 257)))},
		{"check-in done id 16 bytes", cat(created, lenField(4, lenField(1, ref[:16])))},
		{"alert severity 257", alertBody(lenField(1, []byte("danger")), field(2, 257), field(6, uint64(t0.Add(time.Hour).UnixMilli())))},
		{"alert text not UTF-8", alertBody(append(validAlert, lenField(5, []byte("caf\xe9")))...)},
		{"alert check-in id zero", alertBody(append(validAlert, lenField(7, make([]byte, 32)))...)},
		{"alert check-in id 31 bytes", alertBody(append(validAlert, lenField(7, ref[:31]))...)},
		{"check-in grace overflows", cat(created, lenField(3, lenField(2, []byte("x")), field(3, uint64(t0.Add(time.Hour).UnixMilli())), field(4, 1<<62)))},
		{"check-in escalation group zero", cat(created, lenField(3, lenField(2, []byte("x")), field(3, uint64(t0.Add(time.Hour).UnixMilli())), lenField(6, make([]byte, 16))))},
		{"check-in escalation group 15 bytes", cat(created, lenField(3, lenField(2, []byte("x")), field(3, uint64(t0.Add(time.Hour).UnixMilli())), lenField(6, ref[:15])))},
		{"roster op without change", cat(created, lenField(6, lenField(1, ref)))},
		{"roster parent 31 bytes", cat(created, lenField(6, lenField(1, ref[:31]), lenField(4, lenField(1, ref))))},
		{"roster create without founder", cat(created, lenField(6, lenField(2, lenField(1, []byte("g")))))},
		{"roster create, bad founder keys", cat(created, lenField(6, lenField(2, lenField(1, []byte("g")), lenField(2, member))))},
		{"roster remove member 31 bytes", cat(created, lenField(6, lenField(1, ref), lenField(4, lenField(1, ref[:31]))))},
		{"roster set role 258", cat(created, lenField(6, lenField(1, ref), lenField(5, lenField(1, ref), field(2, 258))))},
		{"roster invite id 7 bytes", cat(created, lenField(6, lenField(1, ref), lenField(6, lenField(1, ref[:7]))))},
		{"roster revoke id 9 bytes", cat(created, lenField(6, lenField(1, ref), lenField(7, lenField(1, ref[:9]))))},
		{"rekey member 31 bytes", cat(created, lenField(7, field(1, 2), lenField(2, lenField(1, ref[:31]))))},
		{"rekey cover 33 bytes", cat(created, lenField(7, field(1, 2), lenField(3, ref, []byte{0})))},
		{"oversized", cat(good, make([]byte, alert.MaxBodySize))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := alert.Decode(group, 1, author, tt.body)
			if !errors.Is(err, alert.ErrMalformed) {
				t.Fatalf("Decode(%x) = %+v, %v; want ErrMalformed", tt.body[:min(len(tt.body), 64)], m, err)
			}
		})
	}
}

func TestMemberEncoding(t *testing.T) {
	t.Parallel()
	ana := newIdentity(t, "ana")
	b, err := alert.EncodeMember(info(ana))
	if err != nil {
		t.Fatal(err)
	}
	got, err := alert.DecodeMember(b)
	if err != nil {
		t.Fatalf("DecodeMember: %v", err)
	}
	if !reflect.DeepEqual(got, info(ana)) || got.ID() != ana.ID() {
		t.Fatal("member record changed")
	}
	for name, bad := range map[string][]byte{
		"unknown field": cat(b, field(9, 1)),
		"truncated":     b[:len(b)-1],
		"no keys":       lenField(1, []byte("ana")),
		"bad peer":      cat(b[:len(b)-len([]byte(ana.PeerID()))-2], lenField(4, []byte{1, 2, 3})),
	} {
		if _, err := alert.DecodeMember(bad); !errors.Is(err, alert.ErrMalformed) {
			t.Errorf("%s: error = %v, want ErrMalformed", name, err)
		}
	}
}

// TestBodyVector keeps the bytes of a version 1 body: a change to the wire
// format (field numbers, types, order) fails here.
func TestBodyVector(t *testing.T) {
	t.Parallel()
	c := &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevUrgent, Region: "Istmo", Place: "Juchitán", Text: "retén", Expires: t0.Add(time.Hour)}
	const want = "0880b883a1f732122b0a0664616e67657210031a054973746d6f22094a7563686974c3a16e2a06726574c3a96e308095dfa2f732"
	body := encode(t, t0, c)
	if got := hex.EncodeToString(body); got != want {
		t.Fatalf("body = %s\nwant   %s", got, want)
	}
	id := alert.ContentID(crypto.GroupID{1}, crypto.MemberID{2}, body)
	if got := id.String(); got != "e569cc6e67933de170836b54165a1bd044f38b6554646ec70e3a302bc4282451" {
		t.Fatalf("ContentID = %s", got)
	}
	if got := alert.OverdueID(crypto.GroupID{1}, alert.ID{3}, 1).String(); got != "9268d183bb5f10ace47757e583d50e5513f8c907462aa016dd2302677fb382a3" {
		t.Fatalf("OverdueID = %s", got)
	}
}

// TestMemberDuressKey: a member record carries the duress key; a record
// without one (made before duress keys existed) still decodes, with none;
// an all-zero key is refused.
func TestMemberDuressKey(t *testing.T) {
	t.Parallel()
	id := newIdentity(t, "ana")
	m := info(id)
	m.Duress = id.DuressKey()
	b, err := alert.EncodeMember(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := alert.DecodeMember(b)
	if err != nil || !got.Duress.Equal(id.DuressKey()) {
		t.Fatalf("round trip: %v", err)
	}
	old, err := alert.EncodeMember(info(id))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := alert.DecodeMember(old); err != nil || !got.Duress.IsZero() {
		t.Fatalf("a record without a duress key: %v", err)
	}
	zero := append(bytes.Clone(b[:len(b)-32]), make([]byte, 32)...)
	if _, err := alert.DecodeMember(zero); !errors.Is(err, alert.ErrMalformed) {
		t.Fatalf("an all-zero duress key: %v", err)
	}
}
