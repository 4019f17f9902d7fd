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
	// Seat, if set, is the founder's position in the key tree the group
	// starts with.
	Seat *Seat
}

// AddMember adds a member who redeemed an invite.
type AddMember struct {
	Member MemberInfo
	Invite crypto.InviteID
	// Ratchet, if set, starts the joiner's epoch: every member who holds
	// the epoch it names derives the new one ([crypto.EpochSecret.Ratchet]),
	// and the joiner receives only the result (PROTOCOL.md, "Joins").
	Ratchet *Ratchet
	// Seat, if set, is the joiner's position in the group's key tree.
	Seat *Seat
}

// Ratchet names the epoch a join's epoch derives from, by its key tag, and
// the number of the new epoch.
type Ratchet struct {
	From  crypto.KeyTag
	Epoch uint64
}

// Seat is a member's position in a key tree.
type Seat struct {
	Tree     crypto.TreeID
	Position uint32
}

// RemoveMember removes a member; it is followed by a [Rekey].
type RemoveMember struct {
	Member crypto.MemberID
}

// SetRole promotes a member to admin or demotes an admin.
type SetRole struct {
	Member crypto.MemberID
	Role   Role
	// Tree, on a promotion, carries the key tree's secret sealed to the new
	// admin, so that it can make subtree rekeys too.
	Tree *TreeGrant
}

// TreeGrant is a tree secret sealed to one admin ([crypto.SealTreeSecret]).
type TreeGrant struct {
	Tree   crypto.TreeID
	Sealed []byte
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
