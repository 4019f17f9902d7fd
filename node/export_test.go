package node

import (
	"errors"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
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
	n.mu.RLock()
	defer n.mu.RUnlock()
	_, ok := n.tags[tag]
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
	t, ok := n.checkins.get(id)
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
	return n.ingestSynced(envs, nil, maxSyncRejects)
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
