package alert

import (
	"bytes"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/takecare-network/takecare/alert/internal/wire"
	"github.com/takecare-network/takecare/crypto"
)

// MaxBodySize bounds a body before it is decoded.
const MaxBodySize = crypto.MaxInnerSize

var marshal = proto.MarshalOptions{Deterministic: true}

// Encode returns the canonical body bytes of content created at created:
// the bytes the author signs. Created is kept to the millisecond.
func Encode(created time.Time, c Content) ([]byte, error) {
	return EncodeVia(created, c, nil)
}

// EncodeVia is [Encode] for a message that a bridge sends on its author's
// behalf (via not nil; see [Via]).
func EncodeVia(created time.Time, c Content, via *Via) ([]byte, error) {
	b := &wire.Body{Created: created.UnixMilli()}
	if via != nil {
		b.Via = &wire.Via{Bridge: append([]byte(nil), via.Bridge[:]...), Expires: via.Expires.UnixMilli(), Grant: append([]byte(nil), via.Grant[:]...)}
	}
	switch c := c.(type) {
	case *Alert:
		b.Content = &wire.Body_Alert{Alert: &wire.Alert{
			Kind: string(c.Kind), Severity: uint32(c.Severity), Region: c.Region, Place: c.Place,
			Text: c.Text, Expires: c.Expires.UnixMilli(), Checkin: optID(c.CheckIn), Level: uint32(c.Level),
			Notice: noticeToWire(c.Notice),
		}}
	case *CheckIn:
		ci := &wire.CheckIn{
			From: c.From, To: c.To, Due: c.Due.UnixMilli(), Grace: c.Grace.Milliseconds(),
			EscalateAfter: c.EscalateAfter.Milliseconds(), Text: c.Text,
		}
		if !c.EscalateGroup.IsZero() {
			ci.EscalateGroup = c.EscalateGroup[:]
		}
		b.Content = &wire.Body_Checkin{Checkin: ci}
	case *CheckInDone:
		b.Content = &wire.Body_CheckinDone{CheckinDone: &wire.CheckInDone{Checkin: c.CheckIn[:], Duress: c.Duress}}
	case *Ack:
		b.Content = &wire.Body_Ack{Ack: &wire.Ack{Ref: c.Ref[:], Status: uint32(c.Status)}}
	case *RosterOp:
		op, err := rosterToWire(c)
		if err != nil {
			return nil, err
		}
		b.Content = &wire.Body_Roster{Roster: op}
	case *Rekey:
		b.Content = &wire.Body_Rekey{Rekey: rekeyToWire(c)}
	default:
		return nil, fmt.Errorf("alert: cannot encode %T", c)
	}
	out, err := marshal.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("alert: encoding: %w", err)
	}
	if len(out) > MaxBodySize {
		return nil, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrInvalid, len(out), MaxBodySize)
	}
	return out, nil
}

func optID(id ID) []byte {
	if id.IsZero() {
		return nil
	}
	return append([]byte(nil), id[:]...)
}

func rosterToWire(c *RosterOp) (*wire.RosterOp, error) {
	op := &wire.RosterOp{}
	for _, p := range c.Parents {
		op.Parents = append(op.Parents, append([]byte(nil), p[:]...))
	}
	switch ch := c.Change.(type) {
	case *Create:
		op.Op = &wire.RosterOp_Create{Create: &wire.Create{GroupName: ch.GroupName, Founder: memberToWire(ch.Founder), Seat: seatToWire(ch.Seat)}}
	case *AddMember:
		a := &wire.Add{Member: memberToWire(ch.Member), Invite: append([]byte(nil), ch.Invite[:]...)}
		if r := ch.Ratchet; r != nil {
			a.Ratchet = &wire.Ratchet{From: append([]byte(nil), r.From[:]...), Epoch: r.Epoch}
		}
		a.Seat = seatToWire(ch.Seat)
		op.Op = &wire.RosterOp_Add{Add: a}
	case *RemoveMember:
		op.Op = &wire.RosterOp_Remove{Remove: &wire.Remove{Member: append([]byte(nil), ch.Member[:]...)}}
	case *SetRole:
		sr := &wire.SetRole{Member: append([]byte(nil), ch.Member[:]...), Role: uint32(ch.Role)}
		if g := ch.Tree; g != nil {
			sr.Tree = &wire.TreeGrant{Tree: append([]byte(nil), g.Tree[:]...), Sealed: g.Sealed}
		}
		op.Op = &wire.RosterOp_SetRole{SetRole: sr}
	case *NewInvite:
		op.Op = &wire.RosterOp_Invite{Invite: &wire.Invite{
			Id: append([]byte(nil), ch.ID[:]...), Key: ch.Key, Uses: uint32(ch.Uses), Expires: ch.Expires.UnixMilli(),
		}}
	case *RevokeInvite:
		op.Op = &wire.RosterOp_Revoke{Revoke: &wire.Revoke{Invite: append([]byte(nil), ch.ID[:]...)}}
	case *GrantRelay:
		g := &wire.RelayGrant{Relay: []byte(ch.Relay), Name: ch.Name, Secret: append([]byte(nil), ch.Secret[:]...), Expires: ch.Expires.UnixMilli()}
		for _, a := range ch.Addrs {
			g.Addrs = append(g.Addrs, a.Bytes())
		}
		op.Op = &wire.RosterOp_Relay{Relay: g}
	case *RevokeRelay:
		op.Op = &wire.RosterOp_Unrelay{Unrelay: &wire.RelayRevoke{Relay: []byte(ch.Relay)}}
	default:
		return nil, fmt.Errorf("alert: cannot encode roster change %T", ch)
	}
	return op, nil
}

func memberToWire(m MemberInfo) *wire.Member {
	return &wire.Member{Name: m.Name, SignKey: m.Keys.SignKey(), KemKey: m.Keys.KEMKey(), Peer: []byte(m.Peer), DuressKey: m.Duress.Bytes()}
}

// EncodeMember returns the canonical encoding of a member record, as signed
// in a join request.
func EncodeMember(m MemberInfo) ([]byte, error) {
	return marshal.Marshal(memberToWire(m))
}

// DecodeMember parses what [EncodeMember] wrote.
func DecodeMember(b []byte) (MemberInfo, error) {
	var w wire.Member
	if err := unmarshalCanonical(b, &w); err != nil {
		return MemberInfo{}, err
	}
	m, err := memberFromWire(&w)
	if err != nil {
		return MemberInfo{}, err
	}
	if again, err := EncodeMember(m); err != nil || !bytes.Equal(again, b) {
		return MemberInfo{}, fmt.Errorf("%w: member record not in canonical form", ErrMalformed)
	}
	return m, nil
}

func unmarshalCanonical(b []byte, m proto.Message) error {
	if len(b) > MaxBodySize {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if err := (proto.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(b, m); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	again, err := marshal.Marshal(m)
	if err != nil || !bytes.Equal(again, b) {
		return fmt.Errorf("%w: not in canonical form", ErrMalformed)
	}
	return nil
}

// Decode parses a body that author signed for group at epoch, checks its
// structure, and derives its id. It does not check limits or times; see
// [Message.Validate].
func Decode(group crypto.GroupID, epoch uint64, author crypto.MemberID, body []byte) (*Message, error) {
	var b wire.Body
	if err := unmarshalCanonical(body, &b); err != nil {
		return nil, err
	}
	m := &Message{
		ID:      ContentID(group, author, body),
		Group:   group,
		Epoch:   epoch,
		Author:  author,
		Created: time.UnixMilli(b.Created),
	}
	var err error
	switch c := b.Content.(type) {
	case *wire.Body_Alert:
		var a *Alert
		if a, err = alertFromWire(c.Alert); err == nil {
			m.Content = a
			if a.Kind == KindOverdue {
				m.ID = OverdueID(group, a.CheckIn, a.Level)
			}
		}
	case *wire.Body_Checkin:
		m.Content, err = checkInFromWire(c.Checkin)
	case *wire.Body_CheckinDone:
		var d CheckInDone
		d.CheckIn, err = IDFromBytes(c.CheckinDone.Checkin)
		d.Duress = c.CheckinDone.Duress
		m.Content = &d
	case *wire.Body_Ack:
		var a Ack
		a.Ref, err = IDFromBytes(c.Ack.Ref)
		a.Status = AckStatus(c.Ack.Status)
		m.Content = &a
	case *wire.Body_Roster:
		m.Content, err = rosterFromWire(c.Roster)
	case *wire.Body_Rekey:
		m.Content, err = rekeyFromWire(c.Rekey)
	default:
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if err != nil {
		return nil, err
	}
	if b.Via != nil {
		if m.Via, err = viaFromWire(b.Via); err != nil {
			return nil, err
		}
	}
	// The wire decoder keeps unknown fields and narrows or scales some
	// integers (severity, status, durations), so a body can decode to the
	// same content as another: only the bytes Encode writes are canonical.
	if again, err := EncodeVia(m.Created, m.Content, m.Via); err != nil || !bytes.Equal(again, body) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrMalformed)
	}
	return m, nil
}

func viaFromWire(w *wire.Via) (*Via, error) {
	v := &Via{Expires: time.UnixMilli(w.Expires)}
	var err error
	if v.Bridge, err = memberIDFromBytes(w.Bridge); err != nil {
		return nil, err
	}
	if len(w.Grant) != len(v.Grant) {
		return nil, fmt.Errorf("%w: grant is %d bytes, want %d", ErrMalformed, len(w.Grant), len(v.Grant))
	}
	copy(v.Grant[:], w.Grant)
	return v, nil
}

func alertFromWire(w *wire.Alert) (*Alert, error) {
	a := &Alert{
		Kind: Kind(w.Kind), Severity: Severity(w.Severity), Region: w.Region, Place: w.Place,
		Text: w.Text, Expires: time.UnixMilli(w.Expires), Level: int(w.Level),
	}
	if w.Checkin != nil {
		id, err := IDFromBytes(w.Checkin)
		if err != nil {
			return nil, err
		}
		a.CheckIn = id
	}
	n, err := noticeFromWire(w.Notice)
	if err != nil {
		return nil, err
	}
	a.Notice = n
	return a, nil
}

func checkInFromWire(w *wire.CheckIn) (*CheckIn, error) {
	c := &CheckIn{
		From: w.From, To: w.To, Due: time.UnixMilli(w.Due), Grace: time.Duration(w.Grace) * time.Millisecond,
		EscalateAfter: time.Duration(w.EscalateAfter) * time.Millisecond, Text: w.Text,
	}
	if w.EscalateGroup != nil {
		g, err := crypto.GroupIDFromBytes(w.EscalateGroup)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		c.EscalateGroup = g
	}
	return c, nil
}

func memberFromWire(w *wire.Member) (MemberInfo, error) {
	if w == nil {
		return MemberInfo{}, fmt.Errorf("%w: missing member", ErrMalformed)
	}
	keys, err := crypto.NewMemberKeys(w.SignKey, w.KemKey)
	if err != nil {
		return MemberInfo{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	p, err := peer.IDFromBytes(w.Peer)
	if err != nil {
		return MemberInfo{}, fmt.Errorf("%w: member node: %v", ErrMalformed, err)
	}
	m := MemberInfo{Name: w.Name, Keys: keys, Peer: p}
	if w.DuressKey != nil {
		if m.Duress, err = crypto.NewDuressKey(w.DuressKey); err != nil {
			return MemberInfo{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	return m, nil
}

func memberIDFromBytes(b []byte) (crypto.MemberID, error) {
	m, err := crypto.MemberIDFromBytes(b)
	if err != nil {
		return m, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return m, nil
}

func inviteIDFromBytes(b []byte) (crypto.InviteID, error) {
	var id crypto.InviteID
	if len(b) != len(id) {
		return id, fmt.Errorf("%w: invite id is %d bytes, want %d", ErrMalformed, len(b), len(id))
	}
	copy(id[:], b)
	return id, nil
}

func rosterFromWire(w *wire.RosterOp) (*RosterOp, error) {
	op := &RosterOp{}
	for _, p := range w.Parents {
		id, err := IDFromBytes(p)
		if err != nil {
			return nil, err
		}
		op.Parents = append(op.Parents, id)
	}
	var err error
	switch c := w.Op.(type) {
	case *wire.RosterOp_Create:
		var f MemberInfo
		f, err = memberFromWire(c.Create.Founder)
		cr := &Create{GroupName: c.Create.GroupName, Founder: f}
		if err == nil {
			cr.Seat, err = seatFromWire(c.Create.Seat)
		}
		op.Change = cr
	case *wire.RosterOp_Add:
		a := &AddMember{}
		if a.Member, err = memberFromWire(c.Add.Member); err == nil {
			a.Invite, err = inviteIDFromBytes(c.Add.Invite)
		}
		if r := c.Add.Ratchet; r != nil && err == nil {
			a.Ratchet = &Ratchet{Epoch: r.Epoch}
			if len(r.From) != len(a.Ratchet.From) {
				err = fmt.Errorf("%w: ratchet from a key tag of %d bytes", ErrInvalid, len(r.From))
			}
			copy(a.Ratchet.From[:], r.From)
		}
		if err == nil {
			a.Seat, err = seatFromWire(c.Add.Seat)
		}
		op.Change = a
	case *wire.RosterOp_Remove:
		r := &RemoveMember{}
		r.Member, err = memberIDFromBytes(c.Remove.Member)
		op.Change = r
	case *wire.RosterOp_SetRole:
		s := &SetRole{Role: Role(c.SetRole.Role)}
		s.Member, err = memberIDFromBytes(c.SetRole.Member)
		if g := c.SetRole.Tree; g != nil && err == nil {
			s.Tree = &TreeGrant{Sealed: g.Sealed}
			s.Tree.Tree, err = treeIDFromBytes(g.Tree)
		}
		op.Change = s
	case *wire.RosterOp_Invite:
		n := &NewInvite{Key: c.Invite.Key, Uses: int(c.Invite.Uses), Expires: time.UnixMilli(c.Invite.Expires)}
		n.ID, err = inviteIDFromBytes(c.Invite.Id)
		op.Change = n
	case *wire.RosterOp_Revoke:
		r := &RevokeInvite{}
		r.ID, err = inviteIDFromBytes(c.Revoke.Invite)
		op.Change = r
	case *wire.RosterOp_Relay:
		op.Change, err = relayGrantFromWire(c.Relay)
	case *wire.RosterOp_Unrelay:
		r := &RevokeRelay{}
		r.Relay, err = peer.IDFromBytes(c.Unrelay.Relay)
		if err != nil {
			err = fmt.Errorf("%w: relay: %v", ErrMalformed, err)
		}
		op.Change = r
	default:
		return nil, fmt.Errorf("%w: empty roster op", ErrMalformed)
	}
	if err != nil {
		return nil, err
	}
	return op, nil
}

func rekeyToWire(c *Rekey) *wire.Rekey {
	rk := &wire.Rekey{Epoch: c.Epoch, Origin: optID(c.Origin)}
	for _, k := range c.Keys {
		rk.Keys = append(rk.Keys, &wire.SealedKey{Member: append([]byte(nil), k.Member[:]...), Sealed: k.Sealed, Path: k.Path, TreeSecret: k.TreeSecret})
	}
	for _, id := range c.Covers {
		rk.Covers = append(rk.Covers, append([]byte(nil), id[:]...))
	}
	if t := c.Tree; t != nil {
		wt := &wire.TreeRekey{Tree: append([]byte(nil), t.Tree[:]...), Nonce: append([]byte(nil), t.Nonce[:]...), Upto: t.Upto, New: t.New}
		for _, w := range t.Wraps {
			wt.Wraps = append(wt.Wraps, &wire.Wrap{Node: uint32(w.Node), Sealed: w.Sealed})
		}
		rk.Tree = wt
	}
	return rk
}

func rekeyFromWire(w *wire.Rekey) (*Rekey, error) {
	r := &Rekey{Epoch: w.Epoch}
	for _, k := range w.Keys {
		m, err := memberIDFromBytes(k.Member)
		if err != nil {
			return nil, err
		}
		r.Keys = append(r.Keys, SealedKey{Member: m, Sealed: k.Sealed, Path: k.Path, TreeSecret: k.TreeSecret})
	}
	for _, c := range w.Covers {
		id, err := IDFromBytes(c)
		if err != nil {
			return nil, err
		}
		r.Covers = append(r.Covers, id)
	}
	if len(w.Origin) > 0 {
		id, err := IDFromBytes(w.Origin)
		if err != nil {
			return nil, err
		}
		r.Origin = id
	}
	if wt := w.Tree; wt != nil {
		t := &TreeRekey{Upto: wt.Upto, New: wt.New}
		var err error
		if t.Tree, err = treeIDFromBytes(wt.Tree); err != nil {
			return nil, err
		}
		if len(wt.Nonce) != len(t.Nonce) {
			return nil, fmt.Errorf("%w: rekey nonce of %d bytes", ErrInvalid, len(wt.Nonce))
		}
		copy(t.Nonce[:], wt.Nonce)
		for _, x := range wt.Wraps {
			t.Wraps = append(t.Wraps, Wrap{Node: crypto.TreeNode(x.Node), Sealed: x.Sealed})
		}
		r.Tree = t
	}
	return r, nil
}

func relayGrantFromWire(w *wire.RelayGrant) (*GrantRelay, error) {
	g := &GrantRelay{Name: w.Name, Expires: time.UnixMilli(w.Expires)}
	var err error
	if g.Relay, err = peer.IDFromBytes(w.Relay); err != nil || !bytes.Equal([]byte(g.Relay), w.Relay) {
		return nil, fmt.Errorf("%w: relay: not a peer id", ErrMalformed)
	}
	if len(w.Secret) != len(g.Secret) {
		return nil, fmt.Errorf("%w: relay secret of %d bytes", ErrMalformed, len(w.Secret))
	}
	copy(g.Secret[:], w.Secret)
	if len(w.Addrs) == 0 || len(w.Addrs) > MaxRelayAddrs {
		return nil, fmt.Errorf("%w: %d relay addresses", ErrMalformed, len(w.Addrs))
	}
	for _, b := range w.Addrs {
		a, err := ma.NewMultiaddrBytes(b)
		if err != nil {
			return nil, fmt.Errorf("%w: relay address: %v", ErrMalformed, err)
		}
		if !bytes.Equal(a.Bytes(), b) {
			return nil, fmt.Errorf("%w: relay address not in its one encoding", ErrMalformed)
		}
		g.Addrs = append(g.Addrs, a)
	}
	return g, nil
}

func seatToWire(s *Seat) *wire.Seat {
	if s == nil {
		return nil
	}
	return &wire.Seat{Tree: append([]byte(nil), s.Tree[:]...), Position: s.Position}
}

func seatFromWire(w *wire.Seat) (*Seat, error) {
	if w == nil {
		return nil, nil
	}
	id, err := treeIDFromBytes(w.Tree)
	if err != nil {
		return nil, err
	}
	return &Seat{Tree: id, Position: w.Position}, nil
}

func treeIDFromBytes(b []byte) (crypto.TreeID, error) {
	id, err := crypto.TreeIDFromBytes(b)
	if err != nil {
		return id, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return id, nil
}
