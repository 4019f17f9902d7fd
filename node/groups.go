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
type group struct {
	id     crypto.GroupID
	roster *alert.Roster
	joined time.Time

	mu        sync.Mutex
	epochs    map[crypto.KeyTag]*epoch // every epoch key held
	current   *epoch                   // the epoch messages are sent in
	trees     map[crypto.TreeID]*groupTree
	ratcheted map[alert.ID]bool // adds whose ratchet this node derived or tried (deriveRatchets)
	topics    map[crypto.KeyTag]*topicSub
	repairing atomic.Bool // a repair rekey is scheduled

	names atomic.Pointer[nameIndex] // whose names can be confused (names.go)

	// warning, if set, says why the group this node holds may not be the
	// one its other members are in (set when another admin's node did not
	// confirm this member's join). Guarded by mu.
	warning string
	// removed is set once this node has acted on its member's removal.
	removed atomic.Bool

	// saver writes the group (saveGroup); saved is what of it is in the
	// store, read and changed only by saver's snapshots and writes.
	saverOnce sync.Once
	saver     *persist.SaverOf[groupChanges]
	saved     saved
	// turns runs this node's new epochs (rekey) and the redemption of
	// invites (join.go) one at a time (turns.go).
	turns turns
}

// epochRef finds the group and keys for a key tag.
type epochRef struct {
	g    *group
	keys *crypto.EpochKeys
}

func (g *group) currentKeys() *crypto.EpochKeys {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.current.keys
}

func newGroup(id crypto.GroupID, roster *alert.Roster, joined time.Time) *group {
	return &group{
		id:     id,
		roster: roster,
		joined: joined,
		epochs: make(map[crypto.KeyTag]*epoch),
		topics: make(map[crypto.KeyTag]*topicSub),
		trees:  make(map[crypto.TreeID]*groupTree),
		saved:  saved{epochs: make(map[crypto.KeyTag][]byte), ops: make(map[alert.ID]bool)},

		ratcheted: make(map[alert.ID]bool),
	}
}

// addGroup registers a group's keys and joins its current topic.
func (n *Node) addGroup(g *group) error {
	// g is not yet known to the rest of the node: nothing changes its
	// epochs meanwhile.
	g.mu.Lock()
	refs := make(map[crypto.KeyTag]epochRef, len(g.epochs))
	for tag, e := range g.epochs {
		refs[tag] = epochRef{g: g, keys: e.keys}
	}
	g.mu.Unlock()
	n.keys.change(func(m map[crypto.KeyTag]epochRef) { maps.Copy(m, refs) })
	n.mu.Lock()
	n.groups[g.id] = g
	n.mu.Unlock()
	if err := n.updateTopics(g); err != nil {
		return err
	}
	n.saveConnectedMembers()
	n.dialer.Poke()
	n.syncer.kickAll()
	return nil
}

func (n *Node) group(id crypto.GroupID) (*group, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	g, ok := n.groups[id]
	if !ok {
		return nil, ErrNoSuchGroup
	}
	return g, nil
}

func (n *Node) groupList() []*group {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]*group, 0, len(n.groups))
	for _, g := range n.groups {
		out = append(out, g)
	}
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
	info := GroupInfo{ID: g.id.String(), Name: g.roster.Name(), Epoch: g.currentKeys().Epoch()}
	g.mu.Lock()
	info.Warning = g.warning
	g.mu.Unlock()
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
	n.mu.RLock()
	g := n.groups[gid]
	n.mu.RUnlock()
	if g == nil {
		return 0, ErrNoSuchGroup
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
	g.current = &epoch{keys: keys, aud: listAudience(n.me), tree: tree.id, since: n.now()}
	g.epochs[keys.Tag()] = g.current
	g.trees[tree.id] = tree
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
		g.mu.Lock()
		g.warning = w
		g.mu.Unlock()
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
