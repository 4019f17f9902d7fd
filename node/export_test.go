package node

import "github.com/takecare-network/takecare/crypto"

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
