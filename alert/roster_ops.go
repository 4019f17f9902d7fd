package alert

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/crypto"
)

// RosterOp is a signed change to a group's membership. Ops form a graph:
// each names the ops its author knew as Parents, and every node applies the
// same set of ops in the same order (see [Roster]).
type RosterOp struct {
	Parents []ID
	Change  RosterChange
}

// RosterChange is one of *Create, *AddMember, *RemoveMember, *SetRole,
// *NewInvite, *RevokeInvite, *GrantRelay, *RevokeRelay.
type RosterChange interface{ isChange() }

func (*Create) isChange()       {}
func (*AddMember) isChange()    {}
func (*RemoveMember) isChange() {}
func (*SetRole) isChange()      {}
func (*NewInvite) isChange()    {}
func (*RevokeInvite) isChange() {}
func (*GrantRelay) isChange()   {}
func (*RevokeRelay) isChange()  {}

// MemberInfo is how a member is introduced to a group.
type MemberInfo struct {
	Name string
	Keys crypto.MemberKeys
	Peer peer.ID // the member's node
	// Duress verifies this member's duress warning and nothing else
	// (PROTOCOL.md, "Duress"); zero in records made before it existed.
	Duress crypto.DuressKey
}

// ID returns the member id.
func (m MemberInfo) ID() crypto.MemberID { return m.Keys.ID() }

// Create founds a group; it is the root of the roster graph. The founder is
// the author and the group's first admin.
type Create struct {
	GroupName string
	Founder   MemberInfo
}

// AddMember adds a member who redeemed an invite.
type AddMember struct {
	Member MemberInfo
	Invite crypto.InviteID
}

// RemoveMember removes a member; it is followed by a [Rekey].
type RemoveMember struct {
	Member crypto.MemberID
}

// SetRole promotes a member to admin or demotes an admin.
type SetRole struct {
	Member crypto.MemberID
	Role   Role
}

// NewInvite announces an invite to every admin, so that any admin's node can
// redeem it. Key is the invite's public key ([crypto.Invite.PublicKey]).
type NewInvite struct {
	ID      crypto.InviteID
	Key     []byte
	Uses    int
	Expires time.Time
}

// RevokeInvite withdraws an invite before it is used up or expires.
type RevokeInvite struct {
	ID crypto.InviteID
}

// GrantRelay lets a node that is in no group (an organisation's always-on
// server) relay for the group's member nodes until Expires (PROTOCOL.md,
// "Relays that are not members"). Member nodes prove to it that they know
// Secret; the relay holds Secret from a relay code, never the roster. A
// later grant for the same relay replaces an earlier one.
type GrantRelay struct {
	Relay   peer.ID
	Name    string         // what members call it
	Addrs   []ma.Multiaddr // where it listens, 1 to MaxRelayAddrs
	Secret  [32]byte
	Expires time.Time
}

// MaxRelayAddrs bounds the addresses of a [GrantRelay].
const MaxRelayAddrs = 4

// RevokeRelay withdraws the grant of a relay.
type RevokeRelay struct {
	Relay peer.ID
}
