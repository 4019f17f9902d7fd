package node

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// Invites: creating one (the code an admin hands over), listing and
// revoking them.

// Invite describes a new invite.
type Invite struct {
	Code    string    `json:"code"`
	ID      string    `json:"id"`
	Group   string    `json:"group"`
	Uses    int       `json:"uses"`
	Expires time.Time `json:"expires"`
}

// CreateInvite makes an invite to a group that this node's member admins.
// The invite is announced to the group. Only this node redeems it, so that
// its uses are counted exactly however the network is split; the other
// admins' nodes the code names pass a joiner on to this one when the
// joiner cannot reach it directly (PROTOCOL.md, "Invites").
func (n *Node) CreateInvite(ctx context.Context, gid crypto.GroupID, uses int, ttl time.Duration) (Invite, error) {
	g, err := n.adminGroup(gid)
	if err != nil {
		return Invite{}, err
	}
	if uses == 0 {
		uses = DefaultInviteUses
	}
	if ttl == 0 {
		ttl = DefaultInviteTTL
	}
	if uses < 1 || uses > MaxInviteUses {
		return Invite{}, withParams(ErrOutOfRange, []string{"what", "uses", "min", "1", "max", fmt.Sprint(MaxInviteUses)}, "uses must be between 1 and %d", MaxInviteUses)
	}
	if ttl < time.Second || ttl > MaxInviteTTL {
		return Invite{}, withParams(ErrOutOfRange, []string{"what", "invite_ttl", "min", "1", "max", paramDur(MaxInviteTTL)}, "an invite must last between 1s and %s", MaxInviteTTL)
	}
	inv := crypto.NewInvite(gid, n.host.ID(), n.shareableAddrs())
	// Other admins' nodes pass joiners on to this one, and confirm to a
	// joiner afterwards that the group counts it.
	for _, m := range g.roster.Members() {
		if m.Role != alert.RoleAdmin || m.ID() == n.me || len(inv.Also) == 3 {
			continue
		}
		if addrs := n.dialer.AddrsOf(m.Peer); len(addrs) > 0 {
			inv.Also = append(inv.Also, peer.AddrInfo{ID: m.Peer, Addrs: addrs})
		}
	}
	expires := n.now().Add(ttl)
	op := &alert.RosterOp{Parents: g.roster.Heads(), Change: &alert.NewInvite{ID: inv.ID, Key: inv.PublicKey(), Uses: uses, Expires: expires}}
	if _, err := n.send(ctx, g, op); err != nil {
		return Invite{}, err
	}
	return Invite{Code: inv.Code(), ID: inv.ID.String(), Group: g.roster.Name(), Uses: uses, Expires: expires.UTC()}, nil
}

// InviteView describes an invite of a group.
type InviteView struct {
	ID      string    `json:"id"`
	By      string    `json:"by"`
	Uses    int       `json:"uses"`
	Used    int       `json:"used"`
	Expires time.Time `json:"expires"`
	Revoked bool      `json:"revoked"`
	Open    bool      `json:"open"` // can still be redeemed
}

// Invites lists a group's invites, newest first.
func (n *Node) Invites(gid crypto.GroupID) ([]InviteView, error) {
	g, err := n.group(gid)
	if err != nil {
		return nil, err
	}
	var out []InviteView
	now := n.now()
	for _, inv := range g.roster.AllInvites() {
		out = append(out, InviteView{
			ID: inv.ID.String(), By: n.memberName(g, inv.By), Uses: inv.Uses, Used: inv.Used,
			Expires: inv.Expires.UTC(), Revoked: inv.Revoked, Open: inv.Usable(now) == nil,
		})
	}
	slices.SortFunc(out, func(a, b InviteView) int { return b.Expires.Compare(a.Expires) })
	return out, nil
}

// RevokeInvite withdraws an invite (admins only) so that no admin's node
// redeems it any more. id is the invite id or a prefix of it.
func (n *Node) RevokeInvite(ctx context.Context, gid crypto.GroupID, id string) (InviteView, error) {
	g, err := n.adminGroup(gid)
	if err != nil {
		return InviteView{}, err
	}
	inv, err := inviteRefs.one(g.roster.AllInvites(), id, g.roster.Name())
	if err != nil {
		return InviteView{}, err
	}
	if inv.Revoked {
		return InviteView{}, withParams(ErrConflict, []string{"ref", inv.ID.String()[:8]}, "invite %s is already revoked", inv.ID)
	}
	op := &alert.RosterOp{Parents: g.roster.Heads(), Change: &alert.RevokeInvite{ID: inv.ID}}
	if _, err := n.send(ctx, g, op); err != nil {
		return InviteView{}, err
	}
	inv, _ = g.roster.Invite(inv.ID)
	return InviteView{ID: inv.ID.String(), By: n.memberName(g, inv.By), Uses: inv.Uses, Used: inv.Used, Expires: inv.Expires.UTC(), Revoked: inv.Revoked}, nil
}
