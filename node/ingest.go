package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/store"
)

// Outcomes of the pipeline that are not plain acceptance. A rejected
// envelope is provably bad; an ignored one may be fine later or elsewhere.
var (
	errReject = errors.New("rejected")
	errIgnore = errors.New("ignored")
)

func reject(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errReject, fmt.Sprintf(format, a...))
}

func ignore(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errIgnore, fmt.Sprintf(format, a...))
}

// errWaiting marks an envelope ignored only because what it needs has not
// arrived here yet: the key of its epoch, or the roster op that makes its
// author a member (or an admin). It is also errIgnore.
var errWaiting = errors.New("waiting for a key or a roster op")

type waitingErr string

func (w waitingErr) Error() string        { return "ignored: " + string(w) }
func (w waitingErr) Is(target error) bool { return target == errIgnore || target == errWaiting }

func waiting(format string, a ...any) error { return waitingErr(fmt.Sprintf(format, a...)) }

// opened is an envelope that passed every check up to storage.
type opened struct {
	g     *group
	keys  *crypto.EpochKeys
	inner crypto.Inner
	msg   *alert.Message
	env   []byte
}

// ageUnknown is the age of a synced message whose sender gave none.
const ageUnknown time.Duration = -1

// open runs the checks that do not change state: size, key tag, decryption,
// signature, decoding, validation and the author's standing. The message
// arrived at arrived, by this node's clock, and age says how long before
// that it was made, by the node that passed it on: 0 for a live (gossip)
// message, what the sender said for a synced one, or ageUnknown. Together
// they set when the message was made by this node's clock
// (docs/PROTOCOL.md, "Time").
func (n *Node) open(env []byte, arrived time.Time, age time.Duration) (*opened, error) {
	ref, inner, msg, err := n.unseal(env)
	if err != nil {
		return nil, err
	}
	if err := n.admissible(ref, msg, arrived, age); err != nil {
		return nil, err
	}
	return &opened{g: ref.g, keys: ref.keys, inner: inner, msg: msg, env: env}, nil
}

// unseal finds the epoch key of env by its tag, opens it, checks who
// signed it, and decodes the message.
func (n *Node) unseal(env []byte) (epochRef, crypto.Inner, *alert.Message, error) {
	tag, err := crypto.EnvelopeTag(env)
	if err != nil {
		return epochRef{}, crypto.Inner{}, nil, reject("%v", err)
	}
	ref, ok := n.keys.lookup(tag)
	if !ok {
		n.awaitKey.Store(true)
		return epochRef{}, crypto.Inner{}, nil, waiting("no key for tag %s", tag)
	}
	inner, err := ref.keys.Open(env)
	if err != nil {
		return epochRef{}, crypto.Inner{}, nil, reject("%v", err)
	}
	g := ref.g
	keys, known := g.roster.Keys(inner.Author)
	if !known {
		n.awaitAuthor.Store(true)
		return epochRef{}, crypto.Inner{}, nil, waiting("author %s not in roster yet", inner.Author.Short())
	}
	// A member signature; or else the member's duress signature, which
	// checkSigner accepts on a duress warning only; or else, on a message
	// sent through a bridge, the bridge's (checkVia).
	sigErr := inner.Verify(keys, g.id, ref.keys.Epoch())
	duressSigned := false
	if sigErr != nil && inner.VerifyDuress(g.roster.DuressKey(inner.Author)) == nil {
		duressSigned, sigErr = true, nil
	}
	msg, err := alert.Decode(g.id, ref.keys.Epoch(), inner.Author, inner.Body)
	switch {
	case sigErr != nil && (err != nil || msg.Via == nil):
		return epochRef{}, crypto.Inner{}, nil, reject("%v", sigErr)
	case err != nil:
		return epochRef{}, crypto.Inner{}, nil, reject("%v", err)
	}
	if err := n.checkVia(g, ref.keys.Epoch(), inner, msg, keys, sigErr == nil); err != nil {
		return epochRef{}, crypto.Inner{}, nil, err
	}
	if err := checkSigner(msg, duressSigned); err != nil {
		return epochRef{}, crypto.Inner{}, nil, err
	}
	return ref, inner, msg, nil
}

// admissible checks a message unsealed in ref's epoch against the time,
// the retention window, its author's standing in the roster, the messages
// it names, and, for a Rekey, the epoch it starts.
func (n *Node) admissible(ref epochRef, msg *alert.Message, arrived time.Time, age time.Duration) error {
	g := ref.g
	now := n.now()
	msg.Anchor(sentAt(msg, arrived, age))
	if err := msg.Validate(now); err != nil {
		if alert.IsStale(err) {
			return ignore("%v", err)
		}
		return reject("%v", err)
	}
	if msg.Created.Before(now.Add(-n.cfg.Retention)) {
		return ignore("older than the retention window")
	}
	switch err := g.roster.Authorize(msg); {
	case errors.Is(err, alert.ErrUnknownAuthor), errors.Is(err, alert.ErrRemoved), errors.Is(err, alert.ErrNotAdminYet):
		n.awaitAuthor.Store(true)
		// A removed member's message is dropped, but the peer that passed
		// it on may have done so before it heard of the removal; a
		// promotion or demotion may not have reached one of the two.
		return waiting("%v", err)
	case err != nil:
		return reject("%v", err)
	}
	if err := n.checkRefs(g, msg); err != nil {
		return err
	}
	if rk, ok := msg.Content.(*alert.Rekey); ok {
		if err := checkRekey(ref.keys.Epoch(), rk); err != nil {
			return err
		}
	}
	return nil
}

// sentAt estimates when a message that arrived at arrived was made, by
// this node's clock: its age before that, or, if the age is unknown, what
// its author claims, but never after its arrival.
func sentAt(m *alert.Message, arrived time.Time, age time.Duration) time.Time {
	if age == ageUnknown {
		if m.Created.After(arrived) {
			return arrived
		}
		return m.Created
	}
	return arrived.Add(-max(age, 0))
}

// maxEpochStep bounds how far a Rekey may jump ahead of the epoch it is
// sealed in.
const maxEpochStep = 8

// checkRekey checks a Rekey: it moves the epoch forward, by a little, and
// seals at most one key to each member.
//
// A rekey may name members this node does not know yet: the roster op that
// added one may be sealed in an epoch this node lacks and reach it only
// re-sent in the rekey's new epoch (a fork, see PROTOCOL.md "Forks"), so
// waiting for it could wait for ever. Only an admin can send a rekey, and
// an admin holds the secret anyway.
func checkRekey(sealedIn uint64, rk *alert.Rekey) error {
	if rk.Epoch <= sealedIn || rk.Epoch > sealedIn+maxEpochStep {
		return reject("rekey to epoch %d sent in epoch %d", rk.Epoch, sealedIn)
	}
	if !rk.Origin.IsZero() {
		return reject("a hand-over of an epoch's secret sent to the group")
	}
	seen := make(map[crypto.MemberID]bool, len(rk.Keys))
	for _, k := range rk.Keys {
		if seen[k.Member] {
			return reject("rekey seals twice to one member")
		}
		seen[k.Member] = true
	}
	return nil
}

// commit stores an opened envelope, if it is new, and acts on it. A
// message that changes its group (a roster op, a rekey) is taken in the
// group's turn (turns.go): its change never overlaps another of the
// group's, nor a new epoch or redemption this node makes.
func (n *Node) commit(o *opened) (*alert.Message, error) {
	if !changesGroup(o.msg) {
		return n.commitNow(o) // a plain alert's path allocates nothing more
	}
	return n.commitInTurn(o)
}

// commitInTurn is commit of a message that changes its group.
func (n *Node) commitInTurn(o *opened) (msg *alert.Message, err error) {
	if terr := n.inTurn(o.g, func() { msg, err = n.commitNow(o) }); terr != nil {
		return nil, ignore("%v", terr)
	}
	return msg, err
}

// changesGroup reports whether taking m changes its group's state (its
// roster, epochs or key trees).
func changesGroup(m *alert.Message) bool {
	switch m.Content.(type) {
	case *alert.RosterOp, *alert.Rekey:
		return true
	}
	return false
}

// commitNow is commit; for a message that changes its group it runs in
// the group's turn.
func (n *Node) commitNow(o *opened) (*alert.Message, error) {
	if n.store.Has(o.msg.ID) {
		if err := n.keepAlias(o); err != nil {
			return nil, err
		}
		return o.msg, nil
	}
	if _, ok := o.msg.Content.(*alert.RosterOp); ok {
		if err := n.takeRosterOp(o); err != nil {
			return nil, err
		}
	}
	added, err := n.store.Put(store.Record{Header: n.header(o.g, o.keys, o.msg), Envelope: o.env})
	if err != nil {
		if !errors.Is(err, store.ErrDiskFull) {
			n.log.Error("storing a message", "group", o.g.id.String()[:8], "msg_id", o.msg.ID.Short(), "err", err)
		}
		return nil, ignore("store: %v", err)
	}
	if !added {
		return nil, ignore("duplicate")
	}
	n.handle(o.g, o.msg)
	return o.msg, nil
}

// takeRosterOp adds a received roster op to its group's roster and saves
// the group. It runs in the group's turn.
func (n *Node) takeRosterOp(o *opened) error {
	if _, err := o.g.roster.Add(alert.SignedOp{Epoch: o.keys.Epoch(), Inner: o.inner}); err != nil {
		if errors.Is(err, alert.ErrRosterBusy) || errors.Is(err, alert.ErrRosterLimit) {
			return ignore("roster op: %v", err)
		}
		return reject("roster op: %v", err)
	}
	return n.saveGroup(o.g)
}

// keepAlias takes a copy of a message already held. If this copy is sealed
// in another epoch (its author sent it again after a new epoch started),
// it is kept too, for the members who hold only that epoch's key, and
// accepted, so that it is passed on; otherwise it is a duplicate.
func (n *Node) keepAlias(o *opened) error {
	if added, err := n.store.PutAlias(o.msg.ID, o.keys.Tag(), o.env); err == nil && added {
		return nil
	}
	return ignore("duplicate")
}

// storeBatch stores opened messages that nothing about each other's
// acceptance depends on ([batchable]) in one transaction, and returns the
// outcome commit would give each: handled if new, kept if it is a copy in
// another epoch of a message held, else a duplicate. If the store is full,
// each is committed alone, so that what still fits is stored.
func (n *Node) storeBatch(batch []*opened) []error {
	errs := make([]error, len(batch))
	recs := make([]store.Record, len(batch))
	for k, o := range batch {
		recs[k] = store.Record{Header: n.header(o.g, o.keys, o.msg), Envelope: o.env}
	}
	added, err := n.store.PutBatch(recs)
	for k, o := range batch {
		switch {
		case errors.Is(err, store.ErrFull):
			_, errs[k] = n.commit(o)
		case added[k]:
			// On disk, or in memory while the disk is full.
			n.handle(o.g, o.msg)
		case errors.Is(err, store.ErrDiskFull):
			// Not even kept in memory: sync brings it back once there is
			// room (syncOnRoom).
			errs[k] = ignore("store: %v", err)
		case err != nil:
			n.log.Error("storing a message", "group", o.g.id.String()[:8], "msg_id", o.msg.ID.Short(), "err", err)
			errs[k] = ignore("store: %v", err)
		default:
			errs[k] = n.keepAlias(o)
		}
	}
	return errs
}

// ingestSynced takes envelopes that arrived together by sync through the
// pipeline, in order, with the outcome open and commit would give each one
// after the other, but stores them in as few transactions as it can: one fsync for a
// whole sync message rather than one per envelope. Only plain alerts and
// check-ins wait to be stored together. A message whose checks or effects
// depend on what came before it (a roster change, the end of a check-in, an
// acknowledgement, an overdue alarm, a rekey) is checked again and stored
// alone once everything before it is stored.
//
// ages are the envelopes' ages as the sending node gave them, one per
// envelope (node/internal/syncer checks and bounds them), or nil if it
// gave none.
//
// It stops after more than rejects envelopes were rejected, leaving the
// rest untouched, and returns the outcomes of those it took.
func (n *Node) ingestSynced(envs [][]byte, ages []time.Duration, rejects int) []error {
	errs := make([]error, len(envs))
	taken := len(envs)
	var (
		batch   []*opened
		at      []int // index in envs of each batched message
		inBatch = make(map[alert.ID]bool)
	)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		for k, err := range n.storeBatch(batch) {
			errs[at[k]] = err
		}
		batch, at = batch[:0], at[:0]
		clear(inBatch)
	}
	arrived := n.now() // the ages count back from here
	for i, env := range envs {
		age := ageUnknown
		if len(ages) == len(envs) {
			age = ages[i]
		}
		o, err := n.open(env, arrived, age)
		if err == nil && !batchable(o.msg) && len(batch) > 0 {
			// Storing the batch changes only what checkRefs looks at
			// (which messages are held, the check-ins); nothing else in
			// open depends on plain alerts and check-ins.
			flush()
			err = n.checkRefs(o.g, o.msg)
		}
		switch {
		case err != nil:
			errs[i] = err
		case !batchable(o.msg), n.store.Has(o.msg.ID):
			_, errs[i] = n.commit(o)
		case inBatch[o.msg.ID]:
			errs[i] = ignore("duplicate")
		default:
			inBatch[o.msg.ID] = true
			batch, at = append(batch, o), append(at, i)
		}
		if errors.Is(errs[i], errReject) {
			if rejects--; rejects < 0 {
				taken = i + 1
				break
			}
		}
	}
	flush()
	return errs[:taken]
}

func (n *Node) count(err error) {
	switch {
	case err == nil:
		n.stats.accepted.Add(1)
	case errors.Is(err, errReject):
		n.stats.rejected.Add(1)
	default:
		n.stats.ignored.Add(1)
	}
}

// priority orders messages for sync: alarms and rekeys first. A message
// gets the priority of an alarm only for what this node could check: an
// overdue alarm was checked against its check-in (held, or carried in the
// alarm); a duress ending of a check-in this node does not hold is only
// the end of a check-in, or anyone could put messages ahead of the real
// alarms by naming a check-in nobody holds.
func (n *Node) priority(g *group, m *alert.Message) uint8 {
	switch c := m.Content.(type) {
	case *alert.Alert:
		switch {
		case c.Kind == alert.KindPanic || c.Kind == alert.KindOverdue || c.Kind == alert.KindDuress:
			return 4
		case c.Severity >= alert.SevUrgent:
			return 3
		}
		return 1
	case *alert.CheckInDone:
		if c.Duress && n.endsHeldCheckIn(g, m, c) {
			return 4
		}
		return priorityOrdered
	case *alert.Rekey:
		return 4
	case *alert.RosterOp, *alert.CheckIn:
		return priorityOrdered
	}
	return 1
}

// priorityOrdered is the sync priority of roster ops, check-ins and their
// ends.
const priorityOrdered = 2

// handle acts on a new, stored message. For a message that changes its
// group (changesGroup) it runs in the group's turn.
func (n *Node) handle(g *group, m *alert.Message) {
	n.syncer.Took()
	n.alive.stir(time.Now())
	switch c := m.Content.(type) {
	case *alert.RosterOp:
		if sr, ok := c.Change.(*alert.SetRole); ok {
			n.takeTreeGrant(g, sr)
		}
		n.rosterChanged(g)
	case *alert.Rekey:
		n.handleRekey(g, m, c)
	}
	n.noteCheckIn(m)
	n.showEntry(g, m)
}

// rosterChanged updates who we mesh with and dial after a roster change,
// and the group's epochs. It runs in g's turn.
func (n *Node) rosterChanged(g *group) {
	// A join's epoch first: taking it moves the group's topic, which
	// rebuilds the membership snapshot (syncTopics), with this change in
	// it. If nothing rebuilt the snapshot since the change, it is rebuilt
	// here: a join in a group of 500 then costs one rebuild, not two.
	built := n.accessBuilds.Load()
	n.deriveRatchets(g)
	if n.accessBuilds.Load() == built {
		n.refreshAccess()
	}
	// Nodes of removed members are cut off: at once from pubsub
	// (refreshAccess) and new connections (the gater), and, once they are
	// told of their removal, from existing connections (removal.go).
	for _, p := range n.host.Network().Peers() {
		n.tellRemoved(p)
	}
	n.saveConnectedMembers()
	n.dialer.Poke()
	n.reconsiderEpoch(g)
	// Messages ignored while the author was unknown can come now. (A
	// roster change alone starts no session: in a group of a thousand
	// that would be a thousand rounds of sessions with every peer.)
	if n.awaitAuthor.Swap(false) {
		n.syncer.KickAll()
	}
	if n.isRemoved(g) && !g.removed.Swap(true) {
		n.log.Warn("this member was removed from a group; it cannot read what the group sends from now on, and nothing it sends reaches it", "group", g.id.String()[:8])
		if e, ok := n.removalEntry(g); ok {
			n.feed.Send(e)
		}
	}
}

// isRemoved reports whether this node's member was removed from g.
func (n *Node) isRemoved(g *group) bool {
	me, ok := g.roster.Member(n.me)
	return ok && me.Removed
}
