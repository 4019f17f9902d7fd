package node

// Messages sent through a bridge: a member's node with an SMS path (the
// node/smsbridge package) sends, on behalf of a member who has no data,
// what that member asks for by SMS. The bridge signs the envelope with its
// own member key; the inner message names the member as its author, and
// the body carries the member's grant (alert.Via), so every receiver
// checks both that the bridge signed and that the member let this bridge
// speak for them. Everything else (check-ins, their ends, alarms,
// acknowledgements) then treats the message as the member's.
// docs/PROTOCOL.md, "Bridges".

import (
	"context"
	"fmt"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// Errors of sending through a bridge.
var (
	// ErrBadGrant: the grant does not let this node's member send for
	// that member in that group (wrong signature, another bridge, ended,
	// or the member is not a current member).
	ErrBadGrant = NewError(KindInvalid, "the member's grant for this bridge is not valid")
)

// ViaEntry says, in a feed entry, that the message came through a bridge.
type ViaEntry struct {
	Channel  string `json:"channel"` // "sms"
	Bridge   string `json:"bridge"`  // the bridge's member name
	BridgeID string `json:"bridge_id"`
}

// checkVia checks how a message was signed (step 5 of docs/PROTOCOL.md,
// "Validation"): by its author, if it names no bridge (authorSigned), or
// by the bridge it names, a current member, with the author's grant. A
// bridge this node does not know yet, or no longer a current member, is
// Ignore, as for authors; a bad signature or grant is Reject.
func (n *Node) checkVia(g *group, epoch uint64, in crypto.Inner, m *alert.Message, author crypto.MemberKeys, authorSigned bool) error {
	v := m.Via
	switch {
	case v == nil && authorSigned:
		return nil
	case v == nil:
		return reject("%v", crypto.ErrBadSignature)
	case authorSigned:
		return reject("a message sent through a bridge signed by its author")
	}
	bridge, known := g.roster.Keys(v.Bridge)
	if !known {
		return ignore("bridge %s not in roster yet", v.Bridge.Short())
	}
	if mi, ok := g.roster.Member(v.Bridge); !ok || mi.Removed {
		return ignore("bridge %s is not a current member", v.Bridge.Short())
	}
	if err := in.VerifyBy(bridge, g.id, epoch); err != nil {
		return reject("bridge signature: %v", err)
	}
	if err := v.Verify(author, g.id); err != nil {
		return reject("%v", err)
	}
	return nil
}

// CheckGrant checks a grant that member gave this node's member to bridge
// their messages to group gid: it is signed by member, a current member,
// for this bridge and this group, and has not ended. It returns
// ErrBadGrant (wrapped, with the reason) or ErrNoSuchGroup.
func (n *Node) CheckGrant(gid crypto.GroupID, member crypto.MemberID, v alert.Via) error {
	g, err := n.group(gid)
	if err != nil {
		return err
	}
	mi, ok := g.roster.Member(member)
	switch {
	case !ok || mi.Removed:
		return fmt.Errorf("%w: %s is not a member of the group", ErrBadGrant, member.Short())
	case member == n.me:
		return fmt.Errorf("%w: a member is not its own bridge", ErrBadGrant)
	case v.Bridge != n.me:
		return fmt.Errorf("%w: it is for another bridge", ErrBadGrant)
	case !v.Expires.After(n.now()):
		return fmt.Errorf("%w: it ended %s", ErrBadGrant, clock(v.Expires, n.now()))
	case v.Expires.Sub(n.now()) > alert.MaxGrant:
		return fmt.Errorf("%w: it lasts longer than a year", ErrBadGrant)
	}
	keys, _ := g.roster.Keys(member)
	if err := v.Verify(keys, gid); err != nil {
		return fmt.Errorf("%w: %v", ErrBadGrant, err)
	}
	return nil
}

// Grant makes a grant that lets bridge (a member of group gid) send to
// the group on this node's member's behalf until expires. The grant is
// not secret: only bridge can use it, since its messages must carry
// bridge's signature.
func (n *Node) Grant(gid crypto.GroupID, bridge crypto.MemberID, expires time.Time) (alert.Via, error) {
	g, err := n.group(gid)
	if err != nil {
		return alert.Via{}, err
	}
	if mi, ok := g.roster.Member(bridge); !ok || mi.Removed {
		return alert.Via{}, withParams(ErrNoSuchMember, []string{"ref", bridge.Short()}, "%v %s in the group", ErrNoSuchMember, bridge.Short())
	}
	if bridge == n.me {
		return alert.Via{}, fmt.Errorf("%w: a member is not its own bridge", ErrSelf)
	}
	expires = expires.Truncate(time.Millisecond)
	if d := expires.Sub(n.now()); d <= 0 || d > alert.MaxGrant {
		return alert.Via{}, withParams(ErrOutOfRange, []string{"what", "grant", "min", "1", "max", paramDur(alert.MaxGrant)},
			"a grant lasts between 1s and %s", shortDur(alert.MaxGrant))
	}
	return alert.Via{Bridge: bridge, Expires: expires, Grant: n.id.SignGrant(gid, bridge, expires.UnixMilli())}, nil
}

// SendVia sends c to group gid on behalf of member, as their bridge, with
// the grant v they gave this node's member ([Node.CheckGrant]). c is what
// a person may ask for by SMS: a panic or duress alert, a check-in without
// escalation group, its end, or an acknowledgement; anything else is
// alert.ErrInvalid. The message is the member's in every feed, marked as
// sent through this bridge. It returns the message's id.
func (n *Node) SendVia(ctx context.Context, gid crypto.GroupID, member crypto.MemberID, v alert.Via, c alert.Content) (alert.ID, error) {
	if err := n.CheckGrant(gid, member, v); err != nil {
		return alert.ID{}, err
	}
	g, err := n.group(gid)
	if err != nil {
		return alert.ID{}, err
	}
	m, err := n.sendAs(ctx, g, c, member, &v)
	if err != nil {
		return alert.ID{}, err
	}
	n.log.Info("sent through this bridge", "group", gid.String()[:8], "msg_id", m.ID.Short())
	return m.ID, nil
}

// viaEntry describes in a feed entry how a message came, or nil.
func (n *Node) viaEntry(g *group, m *alert.Message) *ViaEntry {
	if m.Via == nil {
		return nil
	}
	return &ViaEntry{Channel: "sms", Bridge: n.memberName(g, m.Via.Bridge), BridgeID: m.Via.Bridge.String()}
}

// ResolveMember finds a current member of group gid by display name or
// member id prefix, as the commands' MEMBER arguments do, and returns its
// id and name. Errors: ErrNoSuchGroup, ErrNoSuchMember, ErrAmbiguous.
func (n *Node) ResolveMember(gid crypto.GroupID, ref string) (crypto.MemberID, string, error) {
	g, err := n.group(gid)
	if err != nil {
		return crypto.MemberID{}, "", err
	}
	m, err := resolveMember(g, ref)
	if err != nil {
		return crypto.MemberID{}, "", err
	}
	return m.ID(), m.Name, nil
}
