package node

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/persist"
	"github.com/takecare-network/takecare/store"
)

// A group's saved state (PROTOCOL.md, "At rest"): its own blob, and one
// blob per epoch and per roster op, written when they change; saving
// (saveGroup, through persist.SaverOf) and loading (loadGroups).

// groupFormat is the format saveGroup writes.
const groupFormat = 2

const (
	blobGroup    = "group"
	blobEpoch    = "epoch"
	blobRosterOp = "rosterop"
)

// groupState is how a group is saved in the store (sealed, as a blob of
// kind "group"). From format 2 on, each epoch and each roster op is a blob
// of its own (kinds "epoch" and "rosterop", keyed by the group id and the
// key tag or op id), written when it changes: a roster op of a group of a
// thousand costs one small blob, not a rewrite of the whole roster. Format
// 1 (Format zero) holds them inline, and is read as it is.
type groupState struct {
	Format  int          `json:"format,omitempty"`
	Joined  time.Time    `json:"joined"`
	Warning string       `json:"warning,omitempty"`
	Current []byte       `json:"current"` // key tag of the current epoch
	Epochs  []epochState `json:"epochs,omitempty"`
	Trees   []treeState  `json:"trees,omitempty"`
	Roster  []opState    `json:"roster,omitempty"`
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
	Seq   int    `json:"seq,omitempty"` // admission order (format 2)
	Epoch uint64 `json:"epoch"`
	Inner []byte `json:"inner"`
}

// saved is what of a group is in the store, so that saveGroup writes what
// changed only. Read and changed only by the group's saver (saveGroup).
type saved struct {
	epochs map[crypto.KeyTag][]byte // each epoch's state as written
	// made holds, for each epoch in epochs, what its state was made from:
	// an epoch is never changed once published, so the same two pointers
	// make the same bytes, and a save marshals only the epochs that
	// changed (a node taking a thousand joins would otherwise marshal
	// half a million epochs).
	made map[crypto.KeyTag]epochMade
	ops  map[alert.ID]bool
	seq  int // the next roster op's admission number
}

// epochMade is what an epoch's saved state depends on (epochStateOf): the
// epoch, and the epoch it ratcheted from, if held.
type epochMade struct{ e, parent *epoch }

// saveGroup writes the group as it is now: its state, and the epochs and
// roster ops that changed since the last save, in one transaction. Saves
// are written one at a time (persist.SaverOf), each from a snapshot taken
// after the one before it was written, and no lock is held while one is
// written: a roster op or rekey applied concurrently can never be
// overwritten on disk by an older snapshot, which a restarted node would
// then lack for good.
func (n *Node) saveGroup(g *group) error {
	g.saverOnce.Do(func() {
		g.saver = persist.NewOf(func() (groupChanges, error) { return n.groupChanges(g) }, func(c groupChanges) error { return n.writeGroup(g, c) })
	})
	return g.saver.Save()
}

// groupChanges is what of a group changed since it was last saved.
type groupChanges struct {
	blobs  []store.Blob
	epochs map[crypto.KeyTag][]byte // every epoch, as saved
	made   map[crypto.KeyTag]epochMade
	newOps []alert.ID
	seq    int
}

// groupChanges takes a snapshot of g and compares it with what is saved
// (g.saved, which only writeGroup changes; the two never run at once).
func (n *Node) groupChanges(g *group) (groupChanges, error) {
	v := g.state()
	tag := v.current.keys.Tag()
	st := groupState{Format: groupFormat, Joined: g.joined, Warning: v.warning, Current: tag[:]}
	var blobs []store.Blob
	epochs := make(map[crypto.KeyTag][]byte, len(v.epochs))
	made := make(map[crypto.KeyTag]epochMade, len(v.epochs))
	for tag, e := range v.epochs {
		from := epochMade{e: e, parent: v.epochs[e.from]}
		made[tag] = from
		if b, ok := g.saved.epochs[tag]; ok && g.saved.made[tag] == from {
			epochs[tag] = b
			continue
		}
		b, err := json.Marshal(epochStateOf(v, e))
		if err != nil {
			return groupChanges{}, fmt.Errorf("node: saving group: %w", err)
		}
		epochs[tag] = b
		if !bytes.Equal(g.saved.epochs[tag], b) {
			blobs = append(blobs, store.Blob{Kind: blobEpoch, Key: itemKey(g.id, tag[:]), Value: b})
		}
	}
	for tag := range g.saved.epochs {
		if _, ok := epochs[tag]; !ok {
			blobs = append(blobs, store.Blob{Kind: blobEpoch, Key: itemKey(g.id, tag[:]), Delete: true}) // erased
		}
	}
	for _, t := range v.trees {
		st.Trees = append(st.Trees, t.state())
	}
	opBlobs, newOps, seq, err := n.newOps(g)
	if err != nil {
		return groupChanges{}, err
	}
	blobs = append(blobs, opBlobs...)
	b, err := json.Marshal(st)
	if err != nil {
		return groupChanges{}, fmt.Errorf("node: saving group: %w", err)
	}
	blobs = append(blobs, store.Blob{Kind: blobGroup, Key: g.id[:], Value: b})
	return groupChanges{blobs: blobs, epochs: epochs, made: made, newOps: newOps, seq: seq}, nil
}

// state is what is saved of t.
func (t *groupTree) state() treeState {
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
	return ts
}

// newOps returns the roster ops of g not saved yet, as blobs and ids,
// numbered on from g.saved.seq, and the next number.
func (n *Node) newOps(g *group) ([]store.Blob, []alert.ID, int, error) {
	seq := g.saved.seq
	var (
		blobs []store.Blob
		ids   []alert.ID
	)
	for _, op := range g.roster.Ops() {
		id := op.ID
		if g.saved.ops[id] {
			continue
		}
		b, err := json.Marshal(opState{Seq: seq, Epoch: op.Epoch, Inner: op.Inner.Marshal()})
		if err != nil {
			return nil, nil, 0, fmt.Errorf("node: saving group: %w", err)
		}
		blobs = append(blobs, store.Blob{Kind: blobRosterOp, Key: itemKey(g.id, id[:]), Value: b})
		ids = append(ids, id)
		seq++
	}
	return blobs, ids, seq, nil
}

// writeGroup writes the changes of g, then records them as saved.
func (n *Node) writeGroup(g *group, c groupChanges) error {
	if err := n.store.PutBlobs(c.blobs); err != nil {
		return fmt.Errorf("node: saving group: %w", err)
	}
	g.saved.epochs, g.saved.made = c.epochs, c.made
	for _, id := range c.newOps {
		g.saved.ops[id] = true
	}
	g.saved.seq = c.seq
	return nil
}

// itemKey is the key of one of a group's epochs or roster ops.
func itemKey(gid crypto.GroupID, id []byte) []byte { return append(gid[:len(gid):len(gid)], id...) }

// epochStateOf is how epoch e of view v is saved.
func epochStateOf(v *groupView, e *epoch) epochState {
	es := epochState{Epoch: e.keys.Epoch(), Secret: e.keys.Secret().Bytes(), Since: e.since, Retired: e.retired}
	if !e.rekey.IsZero() {
		es.Rekey = e.rekey[:]
	}
	if e.tree != (crypto.TreeID{}) {
		es.Tree = e.tree[:]
	}
	switch parent := v.epochs[e.from]; {
	case e.aud == nil:
	case e.aud.base != nil && parent != nil && parent.aud == e.aud.base:
		es.From, es.Joiner = e.from[:], e.joiner[:]
	default:
		es.Recipients = [][]byte{}
		for m := range e.aud.all() {
			es.Recipients = append(es.Recipients, m[:])
		}
		slices.SortFunc(es.Recipients, bytes.Compare) // the same bytes for the same audience
		if c := e.aud.root().cover; c != nil {
			cs := &coverState{Tree: c.tree[:], Upto: c.upto}
			for _, n := range c.nodes {
				cs.Nodes = append(cs.Nodes, uint32(n))
			}
			es.Cover = cs
		}
	}
	return es
}

func (n *Node) loadGroups() error {
	var kinds [3]map[string][]byte
	for i, kind := range []string{blobGroup, blobEpoch, blobRosterOp} {
		blobs, err := n.store.Blobs(kind)
		if err != nil {
			return fmt.Errorf("node: loading groups: %w", err)
		}
		kinds[i] = blobs
	}
	for k, b := range kinds[0] {
		gid, err := crypto.GroupIDFromBytes([]byte(k))
		if err != nil {
			return fmt.Errorf("node: loading groups: %w", err)
		}
		g, err := n.loadGroup(gid, b, kinds[1], kinds[2])
		if err != nil {
			return fmt.Errorf("node: loading group %s: %w", gid, err)
		}
		if err := n.addGroup(g); err != nil {
			return err
		}
	}
	return nil
}

// loadGroup builds group gid from its blob b and, from format 2 on, the
// blobs of its epochs and roster ops among those given (keyed by the
// group id and the key tag or op id).
func (n *Node) loadGroup(gid crypto.GroupID, b []byte, epochBlobs, opBlobs map[string][]byte) (*group, error) {
	var st groupState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	sv := saved{epochs: make(map[crypto.KeyTag][]byte), ops: make(map[alert.ID]bool)}
	if st.Format >= groupFormat {
		var err error
		if sv, err = loadItems(gid, &st, epochBlobs, opBlobs); err != nil {
			return nil, err
		}
	}
	var ops []alert.SignedOp
	for _, o := range st.Roster {
		in, err := crypto.ParseInner(o.Inner)
		if err != nil {
			return nil, err
		}
		ops = append(ops, alert.SignedOp{Epoch: o.Epoch, Inner: in})
	}
	roster, skipped, err := alert.LoadRoster(gid, ops)
	if err != nil {
		return nil, err
	}
	for _, err := range skipped {
		// Saved by an older version, or refused by a rule it did
		// not have: the rest of the group is kept.
		n.log.Warn("left out a saved roster op", "group", gid.String()[:8], "err", err)
	}
	g := newGroup(gid, roster, st.Joined)
	g.saved = sv
	g.removed.Store(n.isRemoved(g))
	v := g.state() // g is not yet known to the rest of the node
	v.warning = st.Warning
	for _, es := range st.Epochs {
		e, err := epochFromState(gid, es)
		if err != nil {
			return nil, err
		}
		v.put(e)
	}
	v.resolveLinks()
	for _, ts := range st.Trees {
		t, err := treeFromState(ts)
		if err != nil {
			return nil, err
		}
		v.trees[t.id] = t
	}
	cur, err := crypto.KeyTagFromBytes(st.Current)
	if v.current = v.epochs[cur]; err != nil || v.current == nil {
		return nil, errors.New("no key for its current epoch")
	}
	return g, nil
}

// loadItems adds to st the epochs and roster ops of group gid saved as
// blobs of their own, and returns them as saved.
func loadItems(gid crypto.GroupID, st *groupState, epochBlobs, opBlobs map[string][]byte) (saved, error) {
	sv := saved{epochs: make(map[crypto.KeyTag][]byte), ops: make(map[alert.ID]bool)}
	err := groupBlobs(gid, epochBlobs, func(key string, b []byte) error {
		var es epochState
		if err := json.Unmarshal(b, &es); err != nil {
			return err
		}
		st.Epochs = append(st.Epochs, es)
		var tag crypto.KeyTag
		copy(tag[:], key)
		sv.epochs[tag] = b
		return nil
	})
	if err == nil {
		err = groupBlobs(gid, opBlobs, func(key string, b []byte) error {
			var o opState
			if err := json.Unmarshal(b, &o); err != nil {
				return err
			}
			st.Roster = append(st.Roster, o)
			id, err := alert.IDFromBytes([]byte(key))
			if err != nil {
				return err
			}
			sv.ops[id] = true
			sv.seq = max(sv.seq, o.Seq+1)
			return nil
		})
	}
	if err != nil {
		return saved{}, err
	}
	slices.SortFunc(st.Roster, func(a, b opState) int { return cmp.Compare(a.Seq, b.Seq) })
	return sv, nil
}

// groupBlobs calls fn for each of blobs saved for group gid (their keys
// start with its id), with the rest of the key, until fn fails.
func groupBlobs(gid crypto.GroupID, blobs map[string][]byte, fn func(key string, b []byte) error) error {
	for k, b := range blobs {
		if rest, ok := strings.CutPrefix(k, string(gid[:])); ok {
			if err := fn(rest, b); err != nil {
				return err
			}
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

// resolveLinks sets the audience of every loaded epoch saved as a link to
// its parent's: its parent's and its joiner. An epoch whose parent is gone
// has no audience (it is never chosen again). v is a view being loaded,
// not yet published.
func (v *groupView) resolveLinks() {
	var resolve func(e *epoch, depth int) *audience
	resolve = func(e *epoch, depth int) *audience {
		if e.aud != nil || e.from == (crypto.KeyTag{}) || e.joiner.IsZero() || depth > len(v.epochs) {
			return e.aud
		}
		if p := v.epochs[e.from]; p != nil {
			if base := resolve(p, depth+1); base != nil {
				e.aud = base.with(e.joiner)
			}
		}
		return e.aud
	}
	for _, e := range v.epochs {
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
