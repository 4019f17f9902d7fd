package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// TestReferencesResolveAlike: a group is named as a member is, whatever
// the capitals and spaces, so a second group whose name differs only so is
// refused; an invite, like a group or a member, needs at least 4 digits of
// its id.
func TestReferencesResolveAlike(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 1, nodetest.Options{})
	ana := net.Nodes[0]
	ctx := context.Background()
	gid := net.Group("Juchitán")
	for _, ref := range []string{"Juchitán", " juchitán ", "JUCHITÁN", gid.String()[:4]} {
		got, err := ana.ResolveGroup(ref)
		if err != nil || got != gid {
			t.Errorf("ResolveGroup(%q) = %v, %v; want the group", ref, got, err)
		}
	}
	if _, err := ana.CreateGroup(ctx, "juchitán"); !errors.Is(err, node.ErrGroupNameTaken) {
		t.Errorf("a second group juchitán: %v, want %v", err, node.ErrGroupNameTaken)
	}
	if _, _, err := ana.ResolveMember(gid, " MEMBER-00 "); err != nil {
		t.Errorf("ResolveMember(MEMBER-00): %v", err)
	}
	inv, err := ana.CreateInvite(ctx, gid, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{inv.ID[:1], inv.ID[:3]} {
		if _, err := ana.RevokeInvite(ctx, gid, ref); !errors.Is(err, node.ErrNoSuchInvite) {
			t.Errorf("RevokeInvite(%q): %v, want %v", ref, err, node.ErrNoSuchInvite)
		}
	}
	if v, err := ana.RevokeInvite(ctx, gid, inv.ID[:4]); err != nil || !v.Revoked {
		t.Errorf("RevokeInvite(%q) = %+v, %v", inv.ID[:4], v, err)
	}
}
