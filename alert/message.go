// Package alert is the domain of takecare: the messages members send to a
// group ([Alert], [CheckIn], [CheckInDone], [Ack], [RosterOp], [Rekey]), their
// validation, their wire encoding (version 1 of docs/PROTOCOL.md, "Bodies"),
// and the [Roster] that roster operations build.
//
// A [Message] is a decoded, signed body: it knows its group, epoch, author and
// creation time, and its [ID] is derived from its content, never read from the
// wire. [Encode] and [Decode] convert to and from the canonical body bytes
// that the author signs; the protobuf types stay in an internal package.
//
// Values are plain data and not safe for concurrent mutation; a [Roster] is
// safe for concurrent use.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/takecare-network/takecare/crypto"
)

// ID names a message. For most messages it is a hash of the group, the author
// and the signed body; for an overdue alarm it is a hash of the check-in and
// the escalation level, so that every member raising the same alarm produces
// the same id.
type ID [32]byte

// String returns the id in lower-case hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits.
func (id ID) Short() string { return id.String()[:12] }

// IsZero reports whether id is the zero id.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses the full hex form of an id.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 64 {
		return id, fmt.Errorf("alert: message id has %d characters, want 64", len(s))
	}
	if _, err := hex.Decode(id[:], []byte(strings.ToLower(s))); err != nil {
		return id, fmt.Errorf("alert: message id is not hexadecimal")
	}
	return id, nil
}

// IDFromBytes copies b, which must be exactly 32 bytes; it returns an
// error wrapping [ErrMalformed] otherwise.
func IDFromBytes(b []byte) (ID, error) {
	var id ID
	if len(b) != len(id) {
		return id, fmt.Errorf("%w: id is %d bytes, want %d", ErrMalformed, len(b), len(id))
	}
	copy(id[:], b)
	return id, nil
}

// ContentID returns the id of an ordinary message.
func ContentID(group crypto.GroupID, author crypto.MemberID, body []byte) ID {
	h := sha256.New()
	h.Write([]byte("takecare/v1/id\x00"))
	h.Write(group[:])
	h.Write(author[:])
	h.Write(body)
	var id ID
	h.Sum(id[:0])
	return id
}

// OverdueID returns the id of the overdue alarm at level for a check-in.
func OverdueID(group crypto.GroupID, checkin ID, level int) ID {
	h := sha256.New()
	h.Write([]byte("takecare/v1/overdue\x00"))
	h.Write(group[:])
	h.Write(checkin[:])
	h.Write([]byte{byte(level)})
	var id ID
	h.Sum(id[:0])
	return id
}

// Message is a signed body with what the envelope told about it.
type Message struct {
	ID     ID
	Group  crypto.GroupID
	Epoch  uint64
	Author crypto.MemberID
	// Created is when the author's clock says the message was made. Every
	// other time in the body (an expiry, a due time) is on the same clock.
	Created time.Time
	// Sent is when the message was made by the clock of the node that
	// holds it (see [Message.Anchor]); zero until that node sets it, and
	// then times are read as the author's clock gives them.
	Sent    time.Time
	Content Content
	// Via is set on a message a bridge sent on its author's behalf (an
	// SMS); nil otherwise.
	Via *Via
}

// Via says that a bridge (another member's node, with an SMS path) sent a
// message on its author's behalf: the bridge signed it, and Grant is the
// author's signature ([crypto.Identity.SignGrant]) that lets this bridge
// do so for this group until Expires (docs/PROTOCOL.md, "Bridges").
type Via struct {
	Bridge  crypto.MemberID
	Expires time.Time // the author's clock
	Grant   [crypto.SigSize]byte
}

// MaxGrant is the longest a grant to a bridge may last, from when it is
// used.
const MaxGrant = 366 * 24 * time.Hour

// Verify checks the grant with the author's keys.
func (v *Via) Verify(author crypto.MemberKeys, group crypto.GroupID) error {
	return crypto.VerifyGrant(author, group, v.Bridge, v.Expires.UnixMilli(), v.Grant[:])
}

// MaxClockError is how far a member's clock may be from another's, either
// way, for the protocol to keep working: messages made up to this much
// ahead of a receiver's clock are taken, and lifetimes and deadlines are
// counted from when a message arrived rather than from its creation time,
// within this much of it (docs/PROTOCOL.md, "Time").
const MaxClockError = 48 * time.Hour

// Anchor sets m.Sent from estimate, the receiver's best guess of when the
// message was made by its own clock (the arrival time of a live message,
// or the arrival time less the age a peer gave for a synced one), kept
// within [MaxClockError] of Created: a clock farther off than that is not
// believed, so that an old message replayed never looks new.
func (m *Message) Anchor(estimate time.Time) {
	if lo := m.Created.Add(-MaxClockError); estimate.Before(lo) {
		estimate = lo
	}
	if hi := m.Created.Add(MaxClockError); estimate.After(hi) {
		estimate = hi
	}
	m.Sent = estimate
}

// Local converts a time on the author's clock (Created, an expiry, a due
// time, the times of a notice) to the clock of the node holding m: it
// moves it by as much as the author's clock was found to be off. Zero
// stays zero.
func (m *Message) Local(t time.Time) time.Time {
	if t.IsZero() || m.Sent.IsZero() {
		return t
	}
	return t.Add(m.Sent.Sub(m.Created))
}

// Content is one of *Alert, *CheckIn, *CheckInDone, *Ack, *RosterOp, *Rekey.
type Content interface{ isContent() }

func (*Alert) isContent()       {}
func (*CheckIn) isContent()     {}
func (*CheckInDone) isContent() {}
func (*Ack) isContent()         {}
func (*RosterOp) isContent()    {}
func (*Rekey) isContent()       {}

// Alert is a danger alert, a panic, or an alarm raised for a missed check-in.
type Alert struct {
	Kind     Kind
	Severity Severity
	Region   string
	Place    string
	Text     string
	Expires  time.Time
	CheckIn  ID  // kind overdue: the missed check-in
	Level    int // kind overdue: 1, or 2 once escalated
	// Notice, on alerts the program writes, says what Text would say, as
	// fields each reader words in its own language; Text is then empty.
	// Alerts of version 1 have none.
	Notice *Notice
}

// CheckIn announces a movement: the author expects to reach To by Due.
type CheckIn struct {
	From          string
	To            string
	Due           time.Time
	Grace         time.Duration  // after Due, before the alarm
	EscalateAfter time.Duration  // after the alarm without acknowledgement, before escalating
	EscalateGroup crypto.GroupID // optional second group for the escalation
	Text          string
}

// Deadline is when the alarm is raised if nobody marked the check-in done.
func (c *CheckIn) Deadline() time.Time { return c.Due.Add(c.Grace) }

// CheckInDone marks the author's check-in as arrived safe. Duress says the
// author was forced to; the author's own screen shows it as a normal arrival.
type CheckInDone struct {
	CheckIn ID
	Duress  bool
}

// Ack is a member's acknowledgement of an alert or alarm.
type Ack struct {
	Ref    ID
	Status AckStatus
}

// Rekey carries a new epoch secret (PROTOCOL.md, "Epochs"): sealed to
// members one by one in Keys, or under the group's key tree in Tree (a few
// wraps that every member but the removed ones can open), or both.
//
// A Rekey with an Origin starts no epoch: it hands the secret of the epoch
// that Origin (a ratcheting add or an earlier rekey) started to the one
// member in Keys. It travels only in a join response.
type Rekey struct {
	Epoch  uint64
	Keys   []SealedKey
	Covers []ID
	Origin ID
	Tree   *TreeRekey
}

// SealedKey is an epoch secret sealed to one member with
// [crypto.SealEpochSecret], and, for a new tree or a joiner, the member's
// path keys ([crypto.SealPathKeys]) and, for an admin of a new tree, the
// tree secret ([crypto.SealTreeSecret]).
type SealedKey struct {
	Member     crypto.MemberID
	Sealed     []byte
	Path       []byte
	TreeSecret []byte
}

// TreeRekey is the part of a [Rekey] that uses the group's key tree. With
// New it starts the tree: Keys[i] sits at position i and receives its path
// keys. Otherwise Wraps hold the new secret under each node of the cover of
// the tree's current members' positions below Upto ([crypto.Cover]).
type TreeRekey struct {
	Tree  crypto.TreeID
	Nonce [crypto.RekeyNonceSize]byte
	Upto  uint32
	New   bool
	Wraps []Wrap
}

// Wrap is the new epoch secret wrapped under the key of one tree node
// ([crypto.NodeKey.Wrap]).
type Wrap struct {
	Node   crypto.TreeNode
	Sealed []byte
}
