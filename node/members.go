package node

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/persist"
)

// Membership: removing members (with a new epoch that leaves them out),
// admin roles, invites, and safety numbers.

// memberRefs resolves references to the members of a group (resolve.go).
var memberRefs = resolver[alert.Member]{
	what: "member", word: "member", notFound: ErrNoSuchMember, minPrefix: minRefPrefix,
	name:  func(m alert.Member) string { return m.Name },
	id:    func(m alert.Member) string { return m.ID().String() },
	label: func(m alert.Member) string { return fmt.Sprintf("%s (%s)", m.Name, m.ID().Short()) },
}

// resolveMember finds a current member of g by display name or by a prefix
// of the member id (resolve.go). An ambiguous name is an error that lists
// the candidates.
func resolveMember(g *group, s string) (alert.Member, error) {
	if strings.TrimSpace(s) == "" {
		return alert.Member{}, fmt.Errorf("%w: no member named", ErrNoSuchMember)
	}
	return memberRefs.one(g.roster.Members(), s, g.roster.Name())
}

// Removal describes what a removal did.
type Removal struct {
	Name     string `json:"name"`
	ID       string `json:"id"`
	Epoch    uint64 `json:"epoch"`   // the new epoch, which the removed member cannot read
	KeptFrom int    `json:"members"` // members who received the new key
}

// Remove removes a member from a group (admins only) and starts a new
// epoch whose key goes to every remaining member and not to the removed
// one. From then on the removed member's node reads nothing new, and its
// messages are rejected everywhere the removal has arrived.
func (n *Node) Remove(ctx context.Context, gid crypto.GroupID, member string) (Removal, error) {
	g, err := n.adminGroup(gid)
	if err != nil {
		return Removal{}, err
	}
	m, err := resolveMember(g, member)
	if err != nil {
		return Removal{}, err
	}
	if m.ID() == n.me {
		return Removal{}, fmt.Errorf("%w: you cannot remove yourself; ask another admin", ErrSelf)
	}
	if m.Role == alert.RoleAdmin && n.adminCount(g) == 1 {
		return Removal{}, lastAdmin(m.Name)
	}
	op := &alert.RosterOp{Parents: g.roster.Heads(), Change: &alert.RemoveMember{Member: m.ID()}}
	if _, err := n.send(ctx, g, op); err != nil {
		return Removal{}, err
	}
	if after, ok := g.roster.Member(m.ID()); !ok || !after.Removed {
		return Removal{}, withParams(ErrConflict, []string{"name", m.Name}, "the removal of %s did not take effect (a concurrent change won)", m.Name)
	}
	_, next, err := n.rekey(ctx, g)
	if err != nil {
		return Removal{}, fmt.Errorf("removed %s, but the new group key could not be sent: %w", m.Name, err)
	}
	n.log.Info("member removed", "group", gid.String()[:8], "epoch", next)
	return Removal{Name: m.Name, ID: m.ID().String(), Epoch: next, KeptFrom: len(g.roster.Members())}, nil
}

func (n *Node) adminCount(g *group) int {
	c := 0
	for _, m := range g.roster.Members() {
		if m.Role == alert.RoleAdmin {
			c++
		}
	}
	return c
}

// SetRole promotes a member to admin or demotes an admin to member.
func (n *Node) SetRole(ctx context.Context, gid crypto.GroupID, member string, role alert.Role) (MemberView, error) {
	g, err := n.adminGroup(gid)
	if err != nil {
		return MemberView{}, err
	}
	m, err := resolveMember(g, member)
	if err != nil {
		return MemberView{}, err
	}
	if m.Role == role {
		return MemberView{}, withParams(ErrConflict, []string{"name", m.Name, "role", role.String()}, "%s is already %s", m.Name, role)
	}
	if m.Role == alert.RoleAdmin && n.adminCount(g) == 1 {
		return MemberView{}, lastAdmin(m.Name)
	}
	sr := &alert.SetRole{Member: m.ID(), Role: role}
	if role == alert.RoleAdmin {
		sr.Tree = n.treeGrant(g, m) // so that the new admin can rekey through the key tree
	}
	op := &alert.RosterOp{Parents: g.roster.Heads(), Change: sr}
	if _, err := n.send(ctx, g, op); err != nil {
		return MemberView{}, err
	}
	after, _ := g.roster.Member(m.ID())
	if after.Role != role {
		return MemberView{}, withParams(ErrConflict, []string{"name", m.Name}, "the change of role of %s did not take effect (a concurrent change won)", m.Name)
	}
	return MemberView{Name: after.Name, Label: n.who(g, after.ID()).Label, ID: after.ID().String(), Role: after.Role.String(), Verified: n.isVerified(after.ID()), You: after.ID() == n.me, Peer: after.Peer.String()}, nil
}

// inviteRefs resolves references to a group's invites (resolve.go).
var inviteRefs = resolver[alert.InviteState]{
	what: "invite", word: "invite", notFound: ErrNoSuchInvite, minPrefix: minRefPrefix,
	id:    func(i alert.InviteState) string { return i.ID.String() },
	label: func(i alert.InviteState) string { return i.ID.String() },
}

// Verification is a safety number between this member and another.
type Verification struct {
	Name         string `json:"name"`
	ID           string `json:"id"`
	SafetyNumber string `json:"safety_number"`
	Verified     bool   `json:"verified"`
}

// Verify returns the safety number this member and another compare in
// person: if both screens show the same number, each holds the other's
// real keys. member is a name or id prefix, looked up in every group. With
// confirm, the member is marked verified.
func (n *Node) Verify(member string, confirm bool) (Verification, error) {
	if strings.TrimSpace(member) == "" {
		return Verification{}, fmt.Errorf("%w: no member named", ErrNoSuchMember)
	}
	groups := n.groupList()
	var matches []alert.Member
	byName := false
	seen := map[crypto.MemberID]bool{}
	for _, g := range groups {
		ms, bn := memberRefs.match(g.roster.Members(), member)
		byName = byName || bn
		for _, m := range ms {
			if !seen[m.ID()] {
				seen[m.ID()] = true
				matches = append(matches, m)
			}
		}
	}
	switch {
	case len(matches) == 0 && len(groups) == 0:
		return Verification{}, withParams(ErrNoSuchMember, []string{"ref", member}, "%v %q: you are in no group", ErrNoSuchMember, member)
	case len(matches) == 0:
		return Verification{}, withParams(ErrNoSuchMember, []string{"ref", member}, "%v %q in any of your groups", ErrNoSuchMember, member)
	case len(matches) > 1:
		_, err := memberRefs.pick(matches, byName, member, "")
		return Verification{}, err
	}
	m := matches[0]
	if m.ID() == n.me {
		return Verification{}, fmt.Errorf("%w; compare safety numbers with someone else", ErrSelf)
	}
	if confirm {
		if err := n.setVerified(m.ID()); err != nil {
			return Verification{}, err
		}
	}
	return Verification{Name: m.Name, ID: m.ID().String(), SafetyNumber: crypto.SafetyNumber(n.id.Public(), m.Keys), Verified: n.isVerified(m.ID())}, nil
}

const blobVerified = "verified"

func (n *Node) loadVerified() error {
	blobs, err := n.store.Blobs(blobVerified)
	if err != nil {
		return err
	}
	n.verified = make(map[crypto.MemberID]bool)
	n.saveVerified = persist.New(n.verifiedList, func(b []byte) error { return n.store.PutBlob(blobVerified, []byte("all"), b) })
	var ids []string
	if b, ok := blobs["all"]; ok {
		if err := json.Unmarshal(b, &ids); err != nil {
			return fmt.Errorf("node: verified members: %w", err)
		}
	}
	for _, s := range ids {
		if id, err := crypto.ParseMemberID(s); err == nil {
			n.verified[id] = true
		}
	}
	return nil
}

func (n *Node) isVerified(id crypto.MemberID) bool {
	n.verifiedMu.Lock()
	defer n.verifiedMu.Unlock()
	return n.verified[id]
}

func (n *Node) setVerified(id crypto.MemberID) error {
	n.verifiedMu.Lock()
	n.verified[id] = true
	n.verifiedMu.Unlock()
	return n.saveVerified.Save()
}

// verifiedList is the saved form of the verified members: their ids, as a
// sorted JSON list.
func (n *Node) verifiedList() ([]byte, error) {
	n.verifiedMu.Lock()
	ids := make([]string, 0, len(n.verified))
	for v := range n.verified {
		ids = append(ids, v.String())
	}
	n.verifiedMu.Unlock()
	slices.Sort(ids)
	return json.Marshal(ids)
}
