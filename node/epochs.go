package node

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// Epochs. A group's messages are sealed with the key of its current epoch.
// An admin starts a new epoch with a Rekey: a fresh secret sealed with HPKE
// to each current member. That happens on every membership change (a
// removed member gets no key and so reads nothing sent after it), on a
// schedule (Config.RotateEvery), and to repair an epoch that includes a
// removed member or misses a current one. PROTOCOL.md, "Epochs".
//
// Two admins may start the same epoch number at once. Every node then
// holds both keys and sends in the same one: among the epochs that were
// sealed to no removed member, the highest number, then the lowest rekey id.
// Old keys are kept for the retention window, so that older messages still
// open and sync, and then erased.

// Defaults for the epoch schedule.
const (
	DefaultRotateEvery = 24 * time.Hour
	DefaultTopicGrace  = 10 * time.Minute
	// repairDelay is how long each admin, in order of member id, waits
	// before repairing an epoch, so that usually only the first does.
	repairDelay = 2 * time.Second
)

// ErrRemovedFromGroup is returned when this node's member was removed.
var ErrRemovedFromGroup = NewError(KindForbidden, "you were removed from this group")

// epoch is one epoch key a group's node holds.
type epoch struct {
	keys    *crypto.EpochKeys
	rekey   alert.ID        // what started it (a Rekey, or an add by the ratchet); zero for the founding epoch
	from    crypto.KeyTag   // an epoch a join ratcheted to: the epoch it derives from (not saved)
	joiner  crypto.MemberID // and the member who joined (not saved)
	aud     *audience       // who its secret reached; nil if this node cannot tell
	tree    crypto.TreeID   // the key tree its rekeys use (zero: none)
	since   time.Time       // when it started: the Rekey's creation, by this node's clock
	retired time.Time       // when another epoch became current here; zero while current
}

func (e *epoch) number() uint64 { return e.keys.Epoch() }

// better reports whether e should be current rather than o.
func (e *epoch) better(o *epoch) bool {
	if e.number() != o.number() {
		return e.number() > o.number()
	}
	return bytes.Compare(e.rekey[:], o.rekey[:]) < 0
}

func epochFromState(gid crypto.GroupID, es epochState) (*epoch, error) {
	s, err := crypto.EpochSecretFromBytes(es.Secret)
	if err != nil {
		return nil, err
	}
	e := &epoch{keys: crypto.NewEpochKeys(gid, es.Epoch, s), since: es.Since, retired: es.Retired}
	if es.Rekey != nil {
		if e.rekey, err = alert.IDFromBytes(es.Rekey); err != nil {
			return nil, err
		}
	}
	if es.Tree != nil {
		if e.tree, err = crypto.TreeIDFromBytes(es.Tree); err != nil {
			return nil, err
		}
	}
	if es.From != nil {
		// A link to the parent's audience, resolved once every epoch is
		// loaded (resolveLinks).
		copy(e.from[:], es.From)
		if e.joiner, err = crypto.MemberIDFromBytes(es.Joiner); err != nil {
			return nil, err
		}
	} else if es.Recipients != nil || es.Cover != nil {
		e.aud = &audience{members: make(map[crypto.MemberID]bool, len(es.Recipients))}
		for _, r := range es.Recipients {
			m, err := crypto.MemberIDFromBytes(r)
			if err != nil {
				return nil, err
			}
			e.aud.members[m] = true
		}
		if c := es.Cover; c != nil {
			t, err := crypto.TreeIDFromBytes(c.Tree)
			if err != nil {
				return nil, err
			}
			e.aud.cover = &treeCover{tree: t, upto: c.Upto}
			for _, n := range c.Nodes {
				e.aud.cover.nodes = append(e.aud.cover.nodes, crypto.TreeNode(n))
			}
		}
	}
	return e, nil
}

// sealedToOutsider reports whether the epoch's secret went to someone who
// is not a current member: a member the roster now says was removed, or
// one whose only add was skipped. Then it must not be used. An epoch whose
// audience this node cannot tell counts as one. v is g's view e is in.
func (g *group) sealedToOutsider(v *groupView, e *epoch) bool {
	if e.aud == nil {
		return true
	}
	for m := range e.aud.all() {
		if g.outsider(m) {
			return true
		}
	}
	if s := g.seatingFor(v, e.aud); s != nil {
		for _, ms := range s.at {
			for _, m := range ms {
				if g.outsider(m) && e.aud.reaches(m, s) {
					return true
				}
			}
		}
	}
	return false
}

// missing returns current members the epoch's secret did not reach. v is
// g's view e is in.
func (g *group) missing(v *groupView, e *epoch) []crypto.MemberID {
	s := g.seatingFor(v, e.aud)
	var out []crypto.MemberID
	for _, m := range g.roster.Members() {
		if !e.aud.reaches(m.ID(), s) {
			out = append(out, m.ID())
		}
	}
	return out
}

// chooseCurrent picks the epoch to send in: among the epochs not sealed to
// an outsider (a removed member, or one whose add was skipped), the
// highest number, then the lowest rekey id; never one numbered below the
// current one (members who joined since would lack it). If the current
// epoch went to a member since removed and nothing newer is held, it stays
// current until an admin's new epoch arrives. It returns true if the
// current epoch changed. It changes v, a copy being made in g's turn
// (group.change): the epochs whose retirement changes are copied into it.
func (g *group) chooseCurrent(v *groupView, now time.Time) bool {
	return g.makeCurrent(v, g.best(v), now)
}

// makeCurrent is chooseCurrent with the epoch g.best chose for v, or for
// the view v copies.
func (g *group) makeCurrent(v *groupView, best *epoch, now time.Time) bool {
	if best == nil || best == v.current {
		return false
	}
	if v.current != nil {
		v.put(v.current.retiredAt(now))
	}
	v.current = best.retiredAt(time.Time{})
	v.put(v.current)
	v.forgetAudiences()
	return true
}

// best returns the epoch of v that chooseCurrent makes current, or nil.
func (g *group) best(v *groupView) *epoch {
	var best *epoch
	for _, e := range v.epochs {
		if (v.current != nil && e.number() < v.current.number()) || g.sealedToOutsider(v, e) {
			continue
		}
		if best == nil || e.better(best) {
			best = e
		}
	}
	return best
}

// retiredAt returns a copy of e retired at t (zero: current).
func (e *epoch) retiredAt(t time.Time) *epoch {
	c := *e
	c.retired = t
	return &c
}

// put records e in v, a copy being made in g's turn, in place of the
// epoch with its key.
func (v *groupView) put(e *epoch) { v.epochs[e.keys.Tag()] = e }

// addEpoch records an epoch key and makes it current if it should be. It
// runs in g's turn.
func (n *Node) addEpoch(g *group, e *epoch) (bool, error) {
	changed, settle, err := n.takeEpoch(g, e)
	if err != nil {
		return changed, err
	}
	return changed, settle()
}

// takeEpoch is the first half of addEpoch: it records the epoch key, makes
// it current if it should be, and saves the group. It returns settle, the
// second half (the topics, and sending this node's roster ops again in the
// new current epoch, which wait for pubsub), for a caller that has
// something more urgent to send first. It runs in g's turn, and so does
// settle.
func (n *Node) takeEpoch(g *group, e *epoch) (changed bool, settle func() error, err error) {
	if _, dup := g.state().epochs[e.keys.Tag()]; dup {
		return false, func() error { return nil }, nil
	}
	var old, cur *epoch
	g.change(func(v *groupView) {
		v.put(e.retiredAt(n.now())) // retired until chosen
		old = v.current
		changed = g.chooseCurrent(v, n.now())
		cur = v.current
	})
	n.keysTaken.Add(1)
	n.keys.change(func(m map[crypto.KeyTag]epochRef) { m[e.keys.Tag()] = epochRef{g: g, keys: e.keys} })
	if err := n.saveGroup(g); err != nil {
		return changed, nil, err
	}
	if changed {
		n.log.Info("new group key", "group", g.id.String()[:8], "epoch", e.number())
	}
	return changed, func() error {
		err := n.syncTopics(g, false)
		if changed {
			n.switched(g, old, cur)
		}
		return err
	}, nil
}

// errNotSealedToMe: a rekey holds no key for this node's member.
var errNotSealedToMe = errors.New("the new key was not sealed to this member")

// reconsiderEpoch runs after a roster change: it switches away from an epoch
// sealed to someone now removed, and, on an admin's node, schedules a repair
// if the current epoch includes a removed member or misses a current one.
// It runs in g's turn.
func (n *Node) reconsiderEpoch(g *group) {
	// Most roster changes leave the current epoch as it is: nothing is
	// published then.
	v := g.state()
	if best := g.best(v); best != nil && best != v.current {
		var old, cur *epoch
		g.change(func(v *groupView) {
			old = v.current
			g.makeCurrent(v, best, n.now())
			cur = v.current
		})
		if err := n.saveGroup(g); err != nil {
			n.log.Error("saving group", "err", err)
		}
		if err := n.syncTopics(g, false); err != nil {
			n.log.Error("switching topics", "err", err)
		}
		n.switched(g, old, cur)
	}
	if n.needsRekey(g) && n.isAdmin(g) {
		n.scheduleRepair(g)
	}
}

// needsRekey reports whether the current epoch went to an outsider or not
// to a current member.
func (n *Node) needsRekey(g *group) bool {
	v := g.state()
	return g.sealedToOutsider(v, v.current) || len(g.missing(v, v.current)) > 0
}

// scheduleRepair rekeys after a delay that depends on this admin's rank
// among the admins, unless the repair is no longer needed by then.
func (n *Node) scheduleRepair(g *group) {
	if !g.repairing.CompareAndSwap(false, true) {
		return
	}
	delay := repairDelay/4 + time.Duration(n.adminRank(g))*repairDelay + time.Duration(rand.Int64N(int64(repairDelay/2)))
	n.spawn(func() {
		defer g.repairing.Store(false)
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(delay):
		}
		need := func() bool { return n.needsRekey(g) && n.isAdmin(g) }
		if err := n.rekeyIf(n.ctx, g, need); err != nil {
			n.log.Warn("repairing the group key", "group", g.id.String()[:8], "err", err)
		}
	})
}

// adminRank is this member's position among the group's admins, by member
// id: 0 for the first.
func (n *Node) adminRank(g *group) int {
	rank := 0
	for _, m := range g.roster.Members() {
		id := m.ID()
		if m.Role == alert.RoleAdmin && bytes.Compare(id[:], n.me[:]) < 0 {
			rank++
		}
	}
	return rank
}

// maintainEpochs runs periodically: for each group, in its turn, it
// erases keys of epochs retired longer than the retention window, leaves
// stale topics, and on an admin's node starts a new epoch when the
// current one is older than Config.RotateEvery.
func (n *Node) maintainEpochs() {
	now := n.now()
	for _, g := range n.groupList() {
		if err := n.inTurn(g, func() { n.maintainInTurn(g, now) }); err != nil {
			return // the node closes
		}
	}
}

// maintainInTurn is maintainEpochs for one group; it runs in g's turn.
func (n *Node) maintainInTurn(g *group, now time.Time) {
	var erase []crypto.KeyTag
	v := g.state()
	for tag, e := range v.epochs {
		if e != v.current && !e.retired.IsZero() && now.Sub(e.retired) > n.cfg.Retention {
			erase = append(erase, tag)
		}
	}
	if len(erase) > 0 {
		g.change(func(v *groupView) {
			for _, tag := range erase {
				delete(v.epochs, tag)
			}
			v.dropUnusedTrees()
		})
		n.keys.change(func(m map[crypto.KeyTag]epochRef) {
			for _, tag := range erase {
				delete(m, tag)
			}
		})
		if err := n.saveGroup(g); err != nil {
			n.log.Error("saving group", "err", err)
		}
		// The keep file adds each change at its end: write it again
		// without the erased secrets (PROTOCOL.md, "At rest").
		if err := n.store.RewriteKeep(); err != nil {
			n.log.Warn("writing the keep file", "err", err)
		}
		n.log.Info("erased old group keys", "group", g.id.String()[:8], "count", len(erase))
	}
	if err := n.syncTopics(g, false); err != nil {
		n.log.Error("updating topics", "err", err)
	}
	// Admins take turns: the first after RotateEvery, the next a little
	// later if the first did not, and so on.
	if !n.isAdmin(g) {
		return
	}
	if age := now.Sub(g.state().current.since); age <= n.cfg.RotateEvery+time.Duration(n.adminRank(g))*time.Minute {
		return
	}
	if _, _, err := n.rekeyInTurn(n.ctx, g); err != nil {
		n.log.Warn("rotating the group key", "group", g.id.String()[:8], "err", err)
	}
}
