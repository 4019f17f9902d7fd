package node

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/persist"
)

// Errors the API reports to users as they are.
var (
	ErrNoSuchGroup    = NewError(KindNotFound, "no such group")
	ErrAmbiguous      = NewError(KindInvalid, "ambiguous")
	ErrNotAdmin       = NewError(KindForbidden, "only an admin of the group can do that")
	ErrNoSuchMember   = NewError(KindNotFound, "no such member")
	ErrNoSuchMessage  = NewError(KindNotFound, "no such message")
	ErrGroupNameTaken = NewError(KindConflict, "you are already in a group with that name")
)

// group is a group this node is a member of.
//
// Its state (epochs, current epoch, key trees, topics, warning, and the
// roster's ops) is changed only by the jobs of its turn (turns.go), one at
// a time. After each change the turn publishes the group's epochs, trees,
// topics and warning as a new immutable groupView (g.change), and the
// roster publishes its own view (alert.Roster): readers (the validator,
// senders, sync, the API) load the view they need and take no lock of
// the group. Before the group is known to the rest of the node (addGroup),
// whoever builds it owns it.
type group struct {
	id     crypto.GroupID
	roster *alert.Roster
	joined time.Time // set before addGroup, never changed after

	view atomic.Pointer[groupView] // what the turn last published

	// ratcheted holds the adds whose ratchet this node derived or tried
	// (deriveRatchets); only the group's turn reads or changes it.
	ratcheted map[alert.ID]bool
	repairing atomic.Bool // a repair rekey is scheduled

	names atomic.Pointer[nameIndex] // whose names can be confused (names.go)

	// removed is set once this node has acted on its member's removal.
	removed atomic.Bool

	// saver writes the group (saveGroup); saved is what of it is in the
	// store, read and changed only by saver's snapshots and writes.
	saverOnce sync.Once
	saver     *persist.SaverOf[groupChanges]
	saved     saved
	// turns runs every change of the group one at a time (turns.go).
	turns turns
}

// groupView is a group's epochs, key trees, topics and warning as a job of
// its turn left them. It is never changed once published (group.view):
// neither its maps nor the epochs, trees and audiences they hold. A
// change copies what it changes (group.change).
type groupView struct {
	epochs  map[crypto.KeyTag]*epoch // every epoch key held
	current *epoch                   // the epoch messages are sent in
	trees   map[crypto.TreeID]*groupTree
	topics  map[crypto.KeyTag]*topicSub
	// warning, if set, says why the group this node holds may not be the
	// one its other members are in (set when another admin's node did not
	// confirm this member's join).
	warning string
}

// state returns what g's turn last published. It takes no lock.
func (g *group) state() *groupView { return g.view.Load() }

// change publishes a copy of g's view as f changed it. Only a job of g's
// turn calls it (or whoever builds g, before addGroup). f changes the
// copy's maps, never an epoch or tree they hold: it puts a changed copy
// in its place.
func (g *group) change(f func(v *groupView)) {
	old := g.view.Load()
	next := &groupView{
		epochs:  maps.Clone(old.epochs),
		current: old.current,
		trees:   maps.Clone(old.trees),
		topics:  maps.Clone(old.topics),
		warning: old.warning,
	}
	f(next)
	g.view.Store(next)
}

// epochRef finds the group and keys for a key tag.
type epochRef struct {
	g    *group
	keys *crypto.EpochKeys
}

func (g *group) currentKeys() *crypto.EpochKeys { return g.state().current.keys }

func newGroup(id crypto.GroupID, roster *alert.Roster, joined time.Time) *group {
	g := &group{
		id:     id,
		roster: roster,
		joined: joined,
		saved:  saved{epochs: make(map[crypto.KeyTag][]byte), ops: make(map[alert.ID]bool)},

		ratcheted: make(map[alert.ID]bool),
	}
	g.view.Store(&groupView{
		epochs: make(map[crypto.KeyTag]*epoch),
		topics: make(map[crypto.KeyTag]*topicSub),
		trees:  make(map[crypto.TreeID]*groupTree),
	})
	return g
}

// addGroup registers a group's keys and joins its current topic.
func (n *Node) addGroup(g *group) error {
	// g is not yet known to the rest of the node: nothing changes its
	// epochs meanwhile.
	epochs := g.state().epochs
	refs := make(map[crypto.KeyTag]epochRef, len(epochs))
	for tag, e := range epochs {
		refs[tag] = epochRef{g: g, keys: e.keys}
	}
	n.keys.change(func(m map[crypto.KeyTag]epochRef) { maps.Copy(m, refs) })
	n.groupsMu.Lock()
	next := map[crypto.GroupID]*group{g.id: g}
	if m := n.groups.Load(); m != nil {
		next = maps.Clone(*m)
		next[g.id] = g
	}
	n.groups.Store(&next)
	n.groupsMu.Unlock()
	if err := n.updateTopics(g); err != nil {
		return err
	}
	n.saveConnectedMembers()
	n.dialer.Poke()
	n.syncer.KickAll()
	return nil
}

// group finds one of this node's groups by id, without a lock.
func (n *Node) group(id crypto.GroupID) (*group, error) {
	if g := n.groupMap()[id]; g != nil {
		return g, nil
	}
	return nil, ErrNoSuchGroup
}

// groupMap returns the node's groups by id, as addGroup last published
// them; the caller must not change it.
func (n *Node) groupMap() map[crypto.GroupID]*group {
	if m := n.groups.Load(); m != nil {
		return *m
	}
	return nil
}

// groupList returns the node's groups, by name then id.
func (n *Node) groupList() []*group {
	out := slices.Collect(maps.Values(n.groupMap()))
	slices.SortFunc(out, func(a, b *group) int {
		if c := strings.Compare(a.roster.Name(), b.roster.Name()); c != 0 {
			return c
		}
		return bytes.Compare(a.id[:], b.id[:])
	})
	return out
}

// groupRefs resolves references to this node's groups (resolve.go).
var groupRefs = resolver[*group]{
	what: "group", word: "group", notFound: ErrNoSuchGroup, minPrefix: minRefPrefix,
	name:  func(g *group) string { return g.roster.Name() },
	id:    func(g *group) string { return g.id.String() },
	label: func(g *group) string { return fmt.Sprintf("%s (%s)", g.roster.Name(), g.id.String()[:8]) },
}

// ResolveGroup finds a group by name or by a prefix of its id (resolve.go).
// Errors: [alert.ErrNoGroup] for an empty reference, [ErrNoSuchGroup],
// [ErrAmbiguous].
func (n *Node) ResolveGroup(s string) (crypto.GroupID, error) {
	if strings.TrimSpace(s) == "" {
		return crypto.GroupID{}, alert.ErrNoGroup
	}
	g, err := groupRefs.one(n.groupList(), s, "")
	if err != nil {
		return crypto.GroupID{}, err
	}
	return g.id, nil
}

// GroupInfo describes a group for the API.
type GroupInfo struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	Epoch     uint64 `json:"epoch"`
	Members   int    `json:"members"`
	Reachable int    `json:"reachable"` // other members whose node is connected now
	// Warning, when set, is something the member must know about the
	// group: that they were removed from it, or that another admin's node
	// did not confirm their join.
	Warning string `json:"warning,omitempty"`
}

func (n *Node) groupInfo(g *group) GroupInfo {
	v := g.state()
	info := GroupInfo{ID: g.id.String(), Name: g.roster.Name(), Epoch: v.current.number(), Warning: v.warning}
	if me, ok := g.roster.Member(n.me); ok && me.Removed {
		info.Role = "removed"
		info.Warning = n.removedError(g).Error()
	}
	for _, m := range g.roster.Members() {
		info.Members++
		if m.ID() == n.me {
			info.Role = m.Role.String()
			continue
		}
		if n.connected(m.Peer) {
			info.Reachable++
		}
	}
	return info
}

// CurrentEpoch returns the number of the epoch this node sends in to a
// group: cheap enough to poll. It returns [ErrNoSuchGroup] for a group
// the node is not in.
func (n *Node) CurrentEpoch(gid crypto.GroupID) (uint64, error) {
	g, err := n.group(gid)
	if err != nil {
		return 0, err
	}
	return g.currentKeys().Epoch(), nil
}

// Groups lists the groups this node is a member of.
func (n *Node) Groups() []GroupInfo {
	var out []GroupInfo
	for _, g := range n.groupList() {
		out = append(out, n.groupInfo(g))
	}
	return out
}

// CreateGroup founds a group with this node's member as its only admin.
func (n *Node) CreateGroup(ctx context.Context, name string) (GroupInfo, error) {
	name = strings.TrimSpace(name)
	if err := alert.ValidName("group name", name); err != nil {
		return GroupInfo{}, err
	}
	for _, g := range n.groupList() {
		if nameKey(g.roster.Name()) == nameKey(name) { // as references compare names
			return GroupInfo{}, withParams(ErrGroupNameTaken, []string{"name", name}, "%v: %q", ErrGroupNameTaken, name)
		}
	}
	gid := crypto.NewGroupID()
	keys := crypto.NewEpochKeys(gid, 0, crypto.NewEpochSecret())
	// The group's key tree, with the founder at position 0.
	ts := crypto.NewTreeSecret()
	tree := &groupTree{id: crypto.NewTreeID(), secret: &ts, admins: []crypto.MemberID{n.me}}
	pk := ts.PathKeys(gid, tree.id, 0)
	tree.path = &pk
	body, err := alert.Encode(n.now(), &alert.RosterOp{Change: &alert.Create{GroupName: name, Founder: n.memberInfo(), Seat: &alert.Seat{Tree: tree.id}}})
	if err != nil {
		return GroupInfo{}, err
	}
	roster := alert.NewRoster(gid)
	op := alert.SignedOp{Epoch: 0, Inner: n.id.SignBody(gid, 0, body)}
	if _, err := roster.Add(op); err != nil {
		return GroupInfo{}, fmt.Errorf("node: founding group: %w", err)
	}
	g := newGroup(gid, roster, n.now())
	g.change(func(v *groupView) {
		v.current = &epoch{keys: keys, aud: listAudience(n.me), tree: tree.id, since: n.now()}
		v.epochs[keys.Tag()] = v.current
		v.trees[tree.id] = tree
	})
	if err := n.saveGroup(g); err != nil {
		return GroupInfo{}, err
	}
	// The creation is also a message of the group, so sync carries it.
	if _, err := n.storeOwn(g, keys, op.Inner); err != nil {
		return GroupInfo{}, err
	}
	if err := n.addGroup(g); err != nil {
		return GroupInfo{}, err
	}
	n.log.Info("group created", "group", gid.String()[:8])
	return n.groupInfo(g), nil
}

// setWarning records a warning about g and saves it, in g's turn.
func (n *Node) setWarning(g *group, w string) {
	err := n.inTurn(g, func() {
		g.change(func(v *groupView) { v.warning = w })
		if err := n.saveGroup(g); err != nil {
			n.log.Error("saving group", "err", err)
		}
	})
	if err != nil {
		n.log.Warn("recording a warning about a group", "group", g.id.String()[:8], "err", err)
	}
}

func (n *Node) memberInfo() alert.MemberInfo {
	return alert.MemberInfo{Name: n.id.Name(), Keys: n.id.Public(), Peer: n.host.ID(), Duress: n.id.DuressKey()}
}

// memberPeers returns the member nodes of a group other than ours.
func (n *Node) memberPeers(g *group) []peer.ID {
	var out []peer.ID
	for _, m := range g.roster.Members() {
		if m.Peer != n.host.ID() {
			out = append(out, m.Peer)
		}
	}
	return out
}

// isMemberPeer reports whether p is the node of a current member of g.
func (g *group) isMemberPeer(p peer.ID) bool {
	return slices.ContainsFunc(g.roster.Members(), func(m alert.Member) bool { return m.Peer == p })
}
