package node

import (
	"crypto/rand"
	"fmt"
	"slices"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// Key trees and who an epoch reaches (PROTOCOL.md, "Key tree").
//
// A group's members sit at positions of a key tree ([crypto.Cover]): the
// founder at 0, each joiner at the next free position, given by the admin
// who lets it in (alert.Seat in its add), or by their order in a rekey that
// starts a new tree. Admins hold the tree secret; every member holds the
// keys of its path. A rekey then reaches every current member with one
// wrap per node of the cover of their positions, instead of a sealed key
// each, and a join costs the members already there nothing but the add:
// its epoch derives from the one before by the ratchet.

// groupTree is what this node holds of one of its group's key trees.
// Never changed once in a published groupView (a change puts a changed
// copy in its place). A group usually has one; a rekey that starts a new
// tree adds another, and a tree no epoch held uses any more is dropped.
type groupTree struct {
	id     crypto.TreeID
	secret *crypto.TreeSecret // admins only
	path   *crypto.PathKeys   // nil if this member has no seat in the tree
	// founders sit at positions 0, 1, ... by the rekey that started the
	// tree (nil for a tree started with the group: its seats are all in
	// the roster).
	founders []crypto.MemberID
	// admins are the members the tree's secret went to when it started
	// (the founder, or the admins of the rekey that started it); those a
	// promotion gave it to are in the roster (alert.Roster.TreeGrants).
	admins []crypto.MemberID
}

// usable reports whether rekeys may still go through tree t: everyone who
// was given its secret is still a current admin. A removed or demoted
// admin may keep the secret, and with it every node key: the next rekey
// starts a new tree.
func (g *group) usable(t *groupTree) bool {
	for _, id := range append(slices.Clone(t.admins), g.roster.TreeGrants(t.id)...) {
		if m, ok := g.roster.Member(id); !ok || m.Removed || m.Role != alert.RoleAdmin {
			return false
		}
	}
	return true
}

// treeWrapBudget is how many bytes of wraps and one-by-one keys a tree
// rekey may carry before the node starts a new tree instead: a rekey of
// that size still fits the second envelope size (8 KiB).
const treeWrapBudget = 7 << 10

// maxNewTree is how many members a rekey that starts a new tree can carry:
// each takes a sealed secret and sealed path keys (about 3 KB), and the
// rekey must fit the largest envelope.
const maxNewTree = 160

// treeRekey fills rk with the new secret under the cover of the current
// members' positions in this node's tree, and sealed one by one to those
// who have no position in it. It reports false if this node cannot (it
// holds no tree secret) or should not (the rekey would be larger than a
// new tree's for this group) make one.
func (n *Node) treeRekey(g *group, rk *alert.Rekey, secret crypto.EpochSecret) (*audience, bool, error) {
	t := g.state().activeTree()
	if t == nil || t.secret == nil || !g.usable(t) {
		return nil, false, nil
	}
	upto, cover, unseated := g.liveSeats(t)
	cost := len(cover)*(crypto.WrapSize+8) + len(unseated)*(crypto.SealedSecretSize+40)
	if cost > treeWrapBudget && len(g.roster.Members()) <= maxNewTree || len(unseated) > alert.MaxRekeyKeys || len(cover) > alert.MaxRekeyWraps {
		return nil, false, nil
	}
	tr := &alert.TreeRekey{Tree: t.id, Upto: upto}
	rand.Read(tr.Nonce[:])
	for _, node := range cover {
		k := t.secret.NodeKey(g.id, t.id, node)
		tr.Wraps = append(tr.Wraps, alert.Wrap{Node: node, Sealed: k.Wrap(g.id, rk.Epoch, node, tr.Nonce, secret)})
	}
	aud := &audience{members: make(map[crypto.MemberID]bool), cover: &treeCover{tree: t.id, upto: upto, nodes: cover}}
	for _, m := range unseated {
		sealed, err := crypto.SealEpochSecret(m.Keys, g.id, rk.Epoch, secret)
		if err != nil {
			return nil, false, err
		}
		rk.Keys = append(rk.Keys, alert.SealedKey{Member: m.ID(), Sealed: sealed})
		aud.members[m.ID()] = true
	}
	rk.Tree = tr
	return aud, true, nil
}

// newTreeRekey fills rk with the new secret sealed to every current member
// one by one, and, if the group is small enough, starts a new key tree:
// each member gets its path keys, each admin the tree secret. It returns
// the new tree, or nil.
func (n *Node) newTreeRekey(g *group, rk *alert.Rekey, secret crypto.EpochSecret) (*groupTree, error) {
	members := g.roster.Members()
	if len(members) > alert.MaxRekeyKeys {
		return nil, fmt.Errorf("a group of %d members, most of them without a place in the group's key tree, is larger than a new key can reach (%d)", len(members), alert.MaxRekeyKeys)
	}
	var t *groupTree
	if len(members) <= maxNewTree {
		ts := crypto.NewTreeSecret()
		t = &groupTree{id: crypto.NewTreeID(), secret: &ts}
		rk.Tree = &alert.TreeRekey{Tree: t.id, Upto: uint32(len(members)), New: true}
		rand.Read(rk.Tree.Nonce[:])
	}
	for i, m := range members {
		sealed, err := crypto.SealEpochSecret(m.Keys, g.id, rk.Epoch, secret)
		if err != nil {
			return nil, err
		}
		k := alert.SealedKey{Member: m.ID(), Sealed: sealed}
		if t != nil {
			pk := t.secret.PathKeys(g.id, t.id, uint32(i))
			if k.Path, err = crypto.SealPathKeys(m.Keys, g.id, &pk); err != nil {
				return nil, err
			}
			if m.Role == alert.RoleAdmin {
				if k.TreeSecret, err = crypto.SealTreeSecret(m.Keys, g.id, t.id, *t.secret); err != nil {
					return nil, err
				}
				t.admins = append(t.admins, m.ID())
			}
			if m.ID() == n.me {
				t.path = &pk
			}
			t.founders = append(t.founders, m.ID())
		}
		rk.Keys = append(rk.Keys, k)
	}
	return t, nil
}

// openTreeRekey takes this member's secret out of a rekey through the key
// tree: a wrap under a node of its path. It returns false if the rekey
// has no wrap this member can open.
func (n *Node) openTreeRekey(g *group, rk *alert.Rekey) (crypto.EpochSecret, bool) {
	if rk.Tree == nil || rk.Tree.New {
		return crypto.EpochSecret{}, false
	}
	t := g.state().trees[rk.Tree.Tree]
	if t == nil || t.path == nil {
		return crypto.EpochSecret{}, false
	}
	for _, w := range rk.Tree.Wraps {
		if k, ok := t.path.Key(w.Node); ok {
			s, err := k.Unwrap(g.id, rk.Epoch, w.Node, rk.Tree.Nonce, w.Sealed)
			if err != nil {
				n.log.Warn("a wrap of a new group key does not open", "group", g.id.String()[:8], "err", err)
				return crypto.EpochSecret{}, false
			}
			return s, true
		}
	}
	return crypto.EpochSecret{}, false
}

// takeNewTree takes this member's part of a rekey that starts a new tree:
// its path keys and, for an admin, the tree secret. It runs in g's turn.
func (n *Node) takeNewTree(g *group, rk *alert.Rekey) {
	if rk.Tree == nil || !rk.Tree.New {
		return
	}
	t := &groupTree{id: rk.Tree.Tree}
	for _, k := range rk.Keys {
		t.founders = append(t.founders, k.Member)
		if k.TreeSecret != nil {
			t.admins = append(t.admins, k.Member)
		}
		if k.Member != n.me {
			continue
		}
		pk, err := n.id.OpenPathKeys(g.id, t.id, k.Path)
		if err != nil {
			n.log.Warn("the path keys of a new key tree do not open", "group", g.id.String()[:8], "err", err)
			return
		}
		t.path = &pk
		if k.TreeSecret != nil {
			ts, err := n.id.OpenTreeSecret(g.id, t.id, k.TreeSecret)
			if err != nil {
				n.log.Warn("the secret of a new key tree does not open", "group", g.id.String()[:8], "err", err)
				return
			}
			t.secret = &ts
		}
	}
	if t.path == nil {
		return
	}
	if g.state().trees[t.id] == nil {
		g.change(func(v *groupView) { v.trees[t.id] = t })
	}
}

// deriveRatchets takes the epochs that joins started by the ratchet: for
// every current member whose add names an epoch this node holds, the
// epoch it derives from that one ([crypto.EpochSecret.Ratchet]), reaching
// that epoch's audience and the joiner. It repeats until nothing new comes
// (a join may ratchet from the epoch of the join before it). It runs in
// g's turn.
func (n *Node) deriveRatchets(g *group) {
	for {
		members := g.roster.Members()
		now := n.now()
		var found []*epoch
		v := g.state()
		for _, m := range members {
			r := m.Ratchet
			if r == nil || g.ratcheted[m.AddOp] {
				continue
			}
			from := v.epochs[r.From]
			if from == nil {
				continue
			}
			g.ratcheted[m.AddOp] = true
			if r.Epoch <= from.number() || r.Epoch > from.number()+maxEpochStep {
				n.log.Warn("a join names an epoch out of reach", "group", g.id.String()[:8], "from", from.number(), "epoch", r.Epoch)
				continue
			}
			e := &epoch{keys: crypto.NewEpochKeys(g.id, r.Epoch, from.keys.Secret().Ratchet(g.id, r.Epoch, m.AddOp)),
				rekey: m.AddOp, tree: from.tree, since: now, from: from.keys.Tag(), joiner: m.ID()}
			if from.aud != nil {
				e.aud = from.aud.with(m.ID())
			}
			found = append(found, e)
		}
		if len(found) == 0 {
			return
		}
		for _, e := range found {
			if _, err := n.addEpoch(g, e); err != nil {
				n.log.Error("saving a group key", "group", g.id.String()[:8], "err", err)
			}
		}
		if n.awaitKey.Swap(false) {
			n.syncer.KickAll()
		}
	}
}

// forgetAudiences drops the cached member lists of the epochs numbered
// below the current one: they can never become current again
// (chooseCurrent), so nothing reads them but a join's ratchet from a
// recent one.
func (v *groupView) forgetAudiences() {
	for _, e := range v.epochs {
		if e.aud != nil && e.number() < v.current.number() {
			e.aud.flat.Store(nil)
		}
	}
}

// dropUnusedTrees forgets the key trees no epoch of v uses any more. v is
// a copy being made in the group's turn.
func (v *groupView) dropUnusedTrees() {
	used := make(map[crypto.TreeID]bool)
	for _, e := range v.epochs {
		used[e.tree] = true
	}
	for id := range v.trees {
		if !used[id] {
			delete(v.trees, id)
		}
	}
}

// takeTreeGrant keeps the tree secret a promotion carries, if it is for
// this node's member and the tree is one this node holds. It runs in g's
// turn.
func (n *Node) takeTreeGrant(g *group, sr *alert.SetRole) {
	if sr.Tree == nil || sr.Member != n.me || sr.Role != alert.RoleAdmin {
		return
	}
	t := g.state().trees[sr.Tree.Tree]
	if t == nil || t.secret != nil {
		return
	}
	ts, err := n.id.OpenTreeSecret(g.id, sr.Tree.Tree, sr.Tree.Sealed)
	if err != nil {
		n.log.Warn("the key tree's secret in a promotion does not open", "group", g.id.String()[:8], "err", err)
		return
	}
	granted := *t
	granted.secret = &ts
	g.change(func(v *groupView) { v.trees[t.id] = &granted })
	if err := n.saveGroup(g); err != nil {
		n.log.Error("saving group", "err", err)
	}
}

// treeGrant returns the key tree's secret sealed to a member being
// promoted, if this node holds it.
func (n *Node) treeGrant(g *group, m alert.Member) *alert.TreeGrant {
	t := g.state().activeTree()
	if t == nil || t.secret == nil {
		return nil
	}
	sealed, err := crypto.SealTreeSecret(m.Keys, g.id, t.id, *t.secret)
	if err != nil {
		return nil
	}
	return &alert.TreeGrant{Tree: t.id, Sealed: sealed}
}
