// Package transport holds the parts of a node that face libp2p: who may
// connect and what a connected peer may use (the membership snapshot
// [Access] and its holder [Admission], the connection [Gater], the host
// GossipSub runs on [PubsubHost], its subscription filter [TopicFilter]),
// the relay's [RelayACL], and local discovery ([MDNSNotifee]).
//
// It knows nothing of groups, rosters or keys: package node builds each
// [Access] from its groups and publishes it with [Admission.Publish]; the
// parts here read the current one without locks. What they need from the
// rest of the node is passed in as functions.
//
// An [Access] is immutable once published. [Admission], [Gater],
// [PubsubHost], [TopicFilter], [ForeignTopics], [RelayACL] and
// [MDNSNotifee] are safe for concurrent use.
package transport

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/crypto"
)

// Access is a snapshot of which peers are what to this node (PROTOCOL.md,
// "Admission"), rebuilt whenever a roster or an epoch changes. It is not
// changed once published.
type Access struct {
	// ByTopic maps each of our topics to the member nodes of its group.
	ByTopic map[string]map[peer.ID]bool
	// Members are the member nodes of any of our groups.
	Members map[peer.ID]bool
	// Removed are the nodes of removed members, in none of our groups.
	Removed map[peer.ID]bool
	// Duress are the duress nodes of current members whose warning this
	// node has not taken.
	Duress map[peer.ID]bool
	// Doors are the door peers of the invites this node knows.
	Doors map[peer.ID]Door
	// Relays are the relays this node's groups granted (not members),
	// with where they listen.
	Relays map[peer.ID][]ma.Multiaddr
	// Grants names, per granted relay, the grants this node proves to it
	// (their labels, joined), so that a change is seen.
	Grants map[peer.ID]string

	// changed is closed when a newer snapshot replaces this one.
	changed chan struct{}
}

// Door is the invite a door peer may ask about, until when.
type Door struct {
	Group  crypto.GroupID
	Invite crypto.InviteID
	Until  time.Time
}

// NewAccess returns an empty snapshot, to be filled and then published.
func NewAccess() *Access {
	return &Access{
		ByTopic: make(map[string]map[peer.ID]bool),
		Members: make(map[peer.ID]bool),
		Removed: make(map[peer.ID]bool),
		Duress:  make(map[peer.ID]bool),
		Doors:   make(map[peer.ID]Door),
		Relays:  make(map[peer.ID][]ma.Multiaddr),
		Grants:  make(map[peer.ID]string),
		changed: make(chan struct{}),
	}
}

// OpenDoor returns the invite p is the door peer of, if its door is open
// at now.
func (a *Access) OpenDoor(p peer.ID, now time.Time) (Door, bool) {
	d, ok := a.Doors[p]
	return d, ok && now.Before(d.Until)
}

// ShareGroup reports whether p and q are member nodes of one same group.
func (a *Access) ShareGroup(p, q peer.ID) bool {
	for _, set := range a.ByTopic {
		if set[p] && set[q] {
			return true
		}
	}
	return false
}

// Admission holds the current [Access]. Readers never wait: a snapshot is
// replaced whole (copy on write).
type Admission struct{ cur atomic.Pointer[Access] }

// NewAdmission returns an Admission whose snapshot is empty: nobody is
// admitted until the first [Admission.Publish].
func NewAdmission() *Admission {
	ad := &Admission{}
	ad.cur.Store(NewAccess())
	return ad
}

// Load returns the current snapshot. The caller must not change it.
func (ad *Admission) Load() *Access { return ad.cur.Load() }

// Publish makes a the current snapshot, wakes those waiting for a change
// ([Admission.WaitMember]), and returns the one it replaced.
func (ad *Admission) Publish(a *Access) (old *Access) {
	old = ad.cur.Swap(a)
	close(old.changed)
	return old
}

// IsMember reports whether p is a member node of one of our groups.
func (ad *Admission) IsMember(p peer.ID) bool { return ad.Load().Members[p] }

// PeerFilter lets pubsub mesh and gossip on a topic only with the member
// nodes of that topic's group (pubsub.WithPeerFilter).
func (ad *Admission) PeerFilter(p peer.ID, topic string) bool {
	return ad.Load().ByTopic[topic][p]
}

// ErrNotMemberNode is what pubsub is told when it tries to reach a peer
// that is not a member node.
var ErrNotMemberNode = errors.New("node: not a member node")

// WaitMember returns once p is a member node, or [ErrNotMemberNode] once
// it is removed or no longer connected on net, or ctx's error once ctx is
// done.
func (ad *Admission) WaitMember(ctx context.Context, net network.Network, p peer.ID) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		a := ad.Load()
		if a.Members[p] {
			return nil
		}
		if a.Removed[p] || net.Connectedness(p) != network.Connected {
			return ErrNotMemberNode
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.changed:
		case <-tick.C:
		}
	}
}
