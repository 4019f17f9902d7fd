package node

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/syncer"
	"github.com/takecare-network/takecare/store"
)

// KeysForTest returns a group's current epoch keys, so that tests can play
// a member (or someone who stole the key) crafting envelopes by hand.
func (n *Node) KeysForTest(gid crypto.GroupID) *crypto.EpochKeys {
	g, err := n.group(gid)
	if err != nil {
		return nil
	}
	return g.currentKeys()
}

// PruneForTest runs retention now.
func (n *Node) PruneForTest() { n.prune() }

// HasKeyForTest reports whether the node holds the epoch key with this tag.
func (n *Node) HasKeyForTest(tag crypto.KeyTag) bool {
	_, ok := n.keys.lookup(tag)
	return ok
}

// MaintainForTest runs the periodic epoch upkeep now.
func (n *Node) MaintainForTest() { n.maintainEpochs() }

// IngestForTest takes an envelope through the pipeline as sync does, and
// counts the outcome.
func (n *Node) IngestForTest(env []byte) error {
	o, err := n.open(env, n.now(), ageUnknown)
	if err == nil {
		_, err = n.commit(o)
	}
	n.count(err)
	return err
}

// IngestLiveForTest takes an envelope through the pipeline as gossip does
// (made now, by this node's clock), without the rate limit.
func (n *Node) IngestLiveForTest(env []byte) error {
	o, err := n.open(env, n.now(), 0)
	if err == nil {
		_, err = n.commit(o)
	}
	n.count(err)
	return err
}

// SignedCheckInForTest returns a check-in this node holds as an overdue
// alarm sent to group to would carry it.
func (n *Node) SignedCheckInForTest(id alert.ID, to crypto.GroupID) *alert.SignedCheckIn {
	t, ok := n.checkins.Get(id)
	g, err := n.group(to)
	if !ok || err != nil {
		return nil
	}
	no, err := n.overdueNotice(g, t)
	if err != nil {
		return nil
	}
	return no.CheckIn
}

// IngestSyncedForTest takes envelopes through the pipeline as the
// envelopes of one sync message.
func (n *Node) IngestSyncedForTest(envs [][]byte) []error {
	return n.ingestSynced(envs, nil, len(envs))
}

// Rejected reports whether an outcome of the pipeline is a rejection.
func Rejected(err error) bool { return errors.Is(err, errReject) }

// RosterHeadsForTest returns the parents this node would give its next
// roster op in a group.
func (n *Node) RosterHeadsForTest(gid crypto.GroupID) []alert.ID {
	g, err := n.group(gid)
	if err != nil {
		return nil
	}
	return g.roster.Heads()
}

// SendOrderForTest returns ids of messages held in the order sync sends
// them.
func (n *Node) SendOrderForTest(ids []alert.ID) []alert.ID {
	out := slices.Clone(ids)
	syncer.SendOrder(n.store, out)
	return out
}

// AddMemberForTest adds a member to a group through this admin's node,
// with no invite, and starts a new epoch that includes it, as a join does:
// tests use it to give a hand-made peer a member's standing.
func (n *Node) AddMemberForTest(ctx context.Context, gid crypto.GroupID, m alert.MemberInfo) error {
	g, err := n.adminGroup(gid)
	if err != nil {
		return err
	}
	if _, err := n.send(ctx, g, &alert.RosterOp{Parents: g.roster.Heads(), Change: &alert.AddMember{Member: m}}); err != nil {
		return err
	}
	_, _, err = n.rekey(ctx, g)
	return err
}

// RendezvousPointsForTest returns the points this node would register at
// and look up at relay rel.
func (n *Node) RendezvousPointsForTest(rel peer.ID) (register, lookup [][32]byte) {
	reg, look := n.rvPoints(rel)
	for _, p := range reg {
		register = append(register, p.keys.RendezvousPoint())
	}
	for _, p := range look {
		lookup = append(lookup, p.keys.RendezvousPoint())
	}
	return register, lookup
}

// BehindNATForTest makes c's node see only a private address on its
// interfaces, as behind a home router, so that it takes relay slots.
func BehindNATForTest(c *Config) {
	c.interfaces = func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.IPv4(192, 168, 1, 10), Mask: net.CIDRMask(24, 32)}}, nil
	}
}

// TopicPeersForTest returns the peers this node's pubsub counts on topic.
func (n *Node) TopicPeersForTest(topic string) []peer.ID { return n.ps.ListPeers(topic) }

// RelayProvedForTest reports whether peer p proved, to this relay, the
// grant whose code's label (as RelayCodes shows it) is label.
func (n *Node) RelayProvedForTest(p peer.ID, label string) bool {
	n.relayCodes.mu.Lock()
	defer n.relayCodes.mu.Unlock()
	for l := range n.relayCodes.proved[p] {
		if codeLabel(l) == label {
			return true
		}
	}
	return false
}

// RekeyForTest returns the Rekey that started the epoch this node sends in
// now, if it holds it, and nil for an epoch started otherwise (the
// founding one, or a join's ratchet).
func (n *Node) RekeyForTest(gid crypto.GroupID) *alert.Rekey {
	g, err := n.group(gid)
	if err != nil {
		return nil
	}
	id := g.state().current.rekey
	keys := n.heldIn(id)
	if keys == nil {
		return nil
	}
	env, err := n.store.EnvelopeIn(id, keys.Tag())
	if err != nil {
		return nil
	}
	in, err := keys.Open(env)
	if err != nil {
		return nil
	}
	m, err := alert.Decode(gid, keys.Epoch(), in.Author, in.Body)
	if err != nil {
		return nil
	}
	rk, _ := m.Content.(*alert.Rekey)
	return rk
}

// EpochTagsForTest returns the key tags of every epoch of a group this
// node holds.
func (n *Node) EpochTagsForTest(gid crypto.GroupID) []crypto.KeyTag {
	g, err := n.group(gid)
	if err != nil {
		return nil
	}
	var out []crypto.KeyTag
	for tag := range g.state().epochs {
		out = append(out, tag)
	}
	return out
}

// HoldsTreeSecretForTest reports whether the node holds the secret of the
// key tree of the epoch it sends in.
func (n *Node) HoldsTreeSecretForTest(gid crypto.GroupID) bool {
	g, err := n.group(gid)
	if err != nil {
		return false
	}
	t := g.state().activeTree()
	return t != nil && t.secret != nil
}

// SyncSessionsForTest counts the sync sessions that ended well, started by
// this node or by a peer.
func (n *Node) SyncSessionsForTest() int64 { return n.syncer.Sessions() }

// SyncDueForTest returns how long until the periodic sync session with p
// is due by its backed-off interval alone (0 if none is scheduled yet).
func (n *Node) SyncDueForTest(p peer.ID) time.Duration { return n.syncer.Due(p) }

// EpochKeysForTest returns the keys of the epoch with this tag, if the node
// holds them.
func (n *Node) EpochKeysForTest(tag crypto.KeyTag) *crypto.EpochKeys {
	ref, _ := n.keys.lookup(tag)
	return ref.keys
}

// DowngradeGroupForTest saves a group as format 1 did, every epoch and
// roster op inside the group's own blob, and deletes their blobs of their
// own, as a node of that version would have left its store. Call it while
// nothing changes the group.
func (n *Node) DowngradeGroupForTest(gid crypto.GroupID) error {
	g, err := n.group(gid)
	if err != nil {
		return err
	}
	v := g.state()
	tag := v.current.keys.Tag()
	st := groupState{Joined: g.joined, Current: tag[:]}
	var blobs []store.Blob
	for tag, e := range v.epochs {
		st.Epochs = append(st.Epochs, epochStateOf(v, e))
		blobs = append(blobs, store.Blob{Kind: blobEpoch, Key: itemKey(g.id, tag[:]), Delete: true})
	}
	for _, op := range g.roster.Ops() {
		st.Roster = append(st.Roster, opState{Epoch: op.Epoch, Inner: op.Inner.Marshal()})
		id := alert.ContentID(g.id, op.Inner.Author, op.Inner.Body)
		blobs = append(blobs, store.Blob{Kind: blobRosterOp, Key: itemKey(g.id, id[:]), Delete: true})
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return n.store.PutBlobs(append(blobs, store.Blob{Kind: blobGroup, Key: gid[:], Value: b}))
}

// RekeyNowForTest starts a new epoch of a group, as a removal does, and
// returns its number.
func (n *Node) RekeyNowForTest(ctx context.Context, gid crypto.GroupID) (uint64, error) {
	g, err := n.group(gid)
	if err != nil {
		return 0, err
	}
	_, next, err := n.rekey(ctx, g)
	return next, err
}

// UpdateTopicsForTest brings the node's subscriptions to a group's topics
// in line with its epochs.
func (n *Node) UpdateTopicsForTest(gid crypto.GroupID) error {
	g, err := n.group(gid)
	if err != nil {
		return err
	}
	return n.updateTopics(g)
}

// TopicsForTest returns the topics the node holds a subscription to for a
// group, and every topic its pubsub has joined.
func (n *Node) TopicsForTest(gid crypto.GroupID) (group, joined []string) {
	g, err := n.group(gid)
	if err != nil {
		return nil, nil
	}
	for _, ts := range g.state().topics {
		group = append(group, ts.name)
	}
	return group, n.ps.GetTopics()
}

// HoldTurnForTest takes a turn of the group and holds it until release is
// called: what runs in the group's turn waits meanwhile.
func (n *Node) HoldTurnForTest(gid crypto.GroupID) (release func()) {
	g, err := n.group(gid)
	if err != nil {
		panic(err)
	}
	holding, done := make(chan struct{}), make(chan struct{})
	go n.inTurn(g, func() {
		close(holding)
		<-done
	})
	<-holding
	return func() { close(done) }
}

// CurrentReachForTest returns how many members the secret of the epoch the
// node sends in reached one by one, or -1 if the node cannot tell.
func (n *Node) CurrentReachForTest(gid crypto.GroupID) int {
	g, err := n.group(gid)
	if err != nil {
		return -1
	}
	a := g.state().current.aud
	if a == nil {
		return -1
	}
	return len(a.all())
}
