package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/store"
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
	repairing bool // a repair rekey is scheduled

	names atomic.Pointer[nameIndex] // whose names can be confused (names.go)

	// warning, if set, says why the group this node holds may not be the
	// one its other members are in (set when another admin's node did not
	// confirm this member's join). Guarded by mu.
	warning string
	// removed is set once this node has acted on its member's removal.
	removed atomic.Bool

	topicMu sync.Mutex // serialises joining and leaving topics
	saveMu  sync.Mutex // serialises saveGroup
	rekeyMu sync.Mutex // serialises this node's new epochs (rekey)
	joinMu  sync.Mutex // serialises the redemption of invites (join.go)
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

// groupState is how a group is saved in the store (sealed, as a blob).
type groupState struct {
	Joined  time.Time    `json:"joined"`
	Warning string       `json:"warning,omitempty"`
	Current []byte       `json:"current"` // key tag of the current epoch
	Epochs  []epochState `json:"epochs"`
	Trees   []treeState  `json:"trees,omitempty"`
	Roster  []opState    `json:"roster"`
}

type epochState struct {
	Epoch      uint64      `json:"epoch"`
	Secret     []byte      `json:"secret"`
	Rekey      []byte      `json:"rekey,omitempty"`
	Tree       []byte      `json:"tree,omitempty"`
	Recipients [][]byte    `json:"recipients,omitempty"`
	Cover      *coverState `json:"cover,omitempty"`
	// From and Joiner: an epoch a join ratcheted to reaches what the epoch
	// with key tag From reached, and Joiner.
	From    []byte    `json:"from,omitempty"`
	Joiner  []byte    `json:"joiner,omitempty"`
	Since   time.Time `json:"since"`
	Retired time.Time `json:"retired,omitzero"`
}

type coverState struct {
	Tree  []byte   `json:"tree"`
	Upto  uint32   `json:"upto"`
	Nodes []uint32 `json:"nodes"`
}

type treeState struct {
	ID       []byte   `json:"id"`
	Secret   []byte   `json:"secret,omitempty"`
	Path     []byte   `json:"path,omitempty"`
	Founders [][]byte `json:"founders,omitempty"`
	Admins   [][]byte `json:"admins,omitempty"`
}

type opState struct {
	Epoch uint64 `json:"epoch"`
	Inner []byte `json:"inner"`
}

const blobGroup = "group"

// saveGroup writes the group as it is now. Saves are serialised, each one
// taking its snapshot after the one before it was written: a roster op or
// rekey applied concurrently can never be overwritten on disk by an older
// snapshot, which a restarted node would then lack for good.
func (n *Node) saveGroup(g *group) error {
	g.saveMu.Lock()
	defer g.saveMu.Unlock()
	g.mu.Lock()
	tag := g.current.keys.Tag()
	st := groupState{Joined: g.joined, Warning: g.warning, Current: tag[:]}
	for _, e := range g.epochs {
		es := epochState{Epoch: e.keys.Epoch(), Secret: e.keys.Secret().Bytes(), Since: e.since, Retired: e.retired}
		if !e.rekey.IsZero() {
			es.Rekey = e.rekey[:]
		}
		if e.tree != (crypto.TreeID{}) {
			es.Tree = e.tree[:]
		}
		switch parent := g.epochs[e.from]; {
		case e.aud == nil:
		case e.aud.base != nil && parent != nil && parent.aud == e.aud.base:
			es.From, es.Joiner = e.from[:], e.joiner[:]
		default:
			es.Recipients = [][]byte{}
			for m := range e.aud.all() {
				es.Recipients = append(es.Recipients, m[:])
			}
			if c := e.aud.root().cover; c != nil {
				cs := &coverState{Tree: c.tree[:], Upto: c.upto}
				for _, n := range c.nodes {
					cs.Nodes = append(cs.Nodes, uint32(n))
				}
				es.Cover = cs
			}
		}
		st.Epochs = append(st.Epochs, es)
	}
	for _, t := range g.trees {
		ts := treeState{ID: t.id[:]}
		if t.secret != nil {
			ts.Secret = t.secret.Bytes()
		}
		if t.path != nil {
			ts.Path = t.path.Marshal()
		}
		for _, m := range t.founders {
			ts.Founders = append(ts.Founders, m[:])
		}
		for _, m := range t.admins {
			ts.Admins = append(ts.Admins, m[:])
		}
		st.Trees = append(st.Trees, ts)
	}
	g.mu.Unlock()
	for _, op := range g.roster.Ops() {
		st.Roster = append(st.Roster, opState{Epoch: op.Epoch, Inner: op.Inner.Marshal()})
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("node: saving group: %w", err)
	}
	if err := n.store.PutBlob(blobGroup, g.id[:], b); err != nil {
		return fmt.Errorf("node: saving group: %w", err)
	}
	return nil
}

func (n *Node) loadGroups() error {
	blobs, err := n.store.Blobs(blobGroup)
	if err != nil {
		return fmt.Errorf("node: loading groups: %w", err)
	}
	for k, b := range blobs {
		gid, err := crypto.GroupIDFromBytes([]byte(k))
		if err != nil {
			return fmt.Errorf("node: loading groups: %w", err)
		}
		var st groupState
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("node: loading group %s: %w", gid, err)
		}
		var ops []alert.SignedOp
		for _, o := range st.Roster {
			in, err := crypto.ParseInner(o.Inner)
			if err != nil {
				return fmt.Errorf("node: loading group %s: %w", gid, err)
			}
			ops = append(ops, alert.SignedOp{Epoch: o.Epoch, Inner: in})
		}
		roster, skipped, err := alert.LoadRoster(gid, ops)
		if err != nil {
			return fmt.Errorf("node: loading group %s: %w", gid, err)
		}
		for _, err := range skipped {
			// Saved by an older version, or refused by a rule it did
			// not have: the rest of the group is kept.
			n.log.Warn("left out a saved roster op", "group", gid.String()[:8], "err", err)
		}
		g := newGroup(gid, roster, st.Joined)
		g.warning = st.Warning
		g.removed.Store(n.isRemoved(g))
		for _, es := range st.Epochs {
			e, err := epochFromState(gid, es)
			if err != nil {
				return fmt.Errorf("node: loading group %s: %w", gid, err)
			}
			g.epochs[e.keys.Tag()] = e
		}
		g.resolveLinks()
		for _, ts := range st.Trees {
			t, err := treeFromState(ts)
			if err != nil {
				return fmt.Errorf("node: loading group %s: %w", gid, err)
			}
			g.trees[t.id] = t
		}
		cur, ok := tagOf(st.Current)
		if g.current = g.epochs[cur]; !ok || g.current == nil {
			return fmt.Errorf("node: loading group %s: no key for its current epoch", gid)
		}
		if err := n.addGroup(g); err != nil {
			return err
		}
	}
	return nil
}

// SavedGroups returns how many groups a node's store holds the saved
// state of (takecare repair reports it).
func SavedGroups(st *store.Store) (int, error) {
	blobs, err := st.Blobs(blobGroup)
	return len(blobs), err
}

func newGroup(id crypto.GroupID, roster *alert.Roster, joined time.Time) *group {
	return &group{
		id:     id,
		roster: roster,
		joined: joined,
		epochs: make(map[crypto.KeyTag]*epoch),
		topics: make(map[crypto.KeyTag]*topicSub),
		trees:  make(map[crypto.TreeID]*groupTree),

		ratcheted: make(map[alert.ID]bool),
	}
}

// resolveLinks sets the audience of every loaded epoch saved as a link to
// its parent's: its parent's and its joiner. An epoch whose parent is gone
// has no audience (it is never chosen again).
func (g *group) resolveLinks() {
	var resolve func(e *epoch, depth int) *audience
	resolve = func(e *epoch, depth int) *audience {
		if e.aud != nil || e.from == (crypto.KeyTag{}) || e.joiner.IsZero() || depth > len(g.epochs) {
			return e.aud
		}
		if p := g.epochs[e.from]; p != nil {
			if base := resolve(p, depth+1); base != nil {
				e.aud = base.with(e.joiner)
			}
		}
		return e.aud
	}
	for _, e := range g.epochs {
		resolve(e, 0)
	}
}

func treeFromState(ts treeState) (*groupTree, error) {
	id, err := crypto.TreeIDFromBytes(ts.ID)
	if err != nil {
		return nil, err
	}
	t := &groupTree{id: id}
	if ts.Secret != nil {
		sec, err := crypto.TreeSecretFromBytes(ts.Secret)
		if err != nil {
			return nil, err
		}
		t.secret = &sec
	}
	if ts.Path != nil {
		pk, err := crypto.ParsePathKeys(ts.Path)
		if err != nil {
			return nil, err
		}
		t.path = &pk
	}
	for _, f := range ts.Founders {
		m, err := crypto.MemberIDFromBytes(f)
		if err != nil {
			return nil, err
		}
		t.founders = append(t.founders, m)
	}
	for _, a := range ts.Admins {
		m, err := crypto.MemberIDFromBytes(a)
		if err != nil {
			return nil, err
		}
		t.admins = append(t.admins, m)
	}
	return t, nil
}

// addGroup registers a group's keys and joins its current topic.
func (n *Node) addGroup(g *group) error {
	n.mu.Lock()
	n.groups[g.id] = g
	g.mu.Lock()
	for tag, e := range g.epochs {
		n.tags[tag] = epochRef{g: g, keys: e.keys}
	}
	g.mu.Unlock()
	n.mu.Unlock()
	if err := n.updateTopics(g); err != nil {
		return err
	}
	n.saveConnectedMembers()
	n.dialer.poke()
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

// setWarning records a warning about g and saves it.
func (n *Node) setWarning(g *group, w string) {
	g.mu.Lock()
	g.warning = w
	g.mu.Unlock()
	if err := n.saveGroup(g); err != nil {
		n.log.Error("saving group", "err", err)
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
