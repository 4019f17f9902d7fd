package node

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// Delivery says what became of a message this node's member sent, as far
// as this node can know: whether it is on this device's disk, which member
// nodes it was handed to (by gossip when it was sent, or later by sync),
// and who has acknowledged it. A member node that was handed a message
// stores it and passes it on; only an acknowledgement says that a person
// saw it.
type Delivery struct {
	// Stored is false while the message waits in memory because the disk
	// is full (see Status.Storage).
	Stored bool `json:"stored"`
	// Members is how many other members the group had when it was sent.
	// Zero means nobody can ever receive it: someone who joins later reads
	// nothing sent before.
	Members int `json:"members"`
	// HandedTo lists the member nodes this node handed it to, first
	// first.
	HandedTo []Handover `json:"handed_to"`
	// Queued is true while it was handed to no member node although the
	// group has other members: it goes out when one is reachable.
	Queued bool `json:"queued"`
	// Tracked is false when the node restarted since the message was sent:
	// whom it was handed to before is not known.
	Tracked bool `json:"tracked"`
	// Acks are the acknowledgements, the latest of each member.
	Acks []AckEntry `json:"acks"`
}

// Handover is one member node a message was handed to.
type Handover struct {
	Name     string    `json:"name"`
	MemberID string    `json:"member_id"`
	Time     time.Time `json:"time"`
	By       string    `json:"by"` // "gossip" (when sent, or when gossip passed it on later) or "sync" (later)
}

// handoverBy says how a message was handed to a member node.
const (
	byGossip = "gossip"
	bySync   = "sync"
)

// maxTracked bounds how many of its member's messages a node remembers
// the delivery of: the oldest are forgotten first.
const maxTracked = 1024

// deliveries remembers, for the latest messages this node's member sent,
// which member nodes they were handed to. It lives in memory: a restart
// forgets it (Delivery.Tracked).
type deliveries struct {
	mu    sync.Mutex
	byID  map[alert.ID]*tracking
	byEnv map[string]alert.ID // GossipSub message id (contentID) of each tracked envelope
	order []alert.ID          // oldest first
	// queued counts the tracked messages handed to nobody yet: while it
	// is zero, GossipSub's sends are not looked at.
	queued atomic.Int64
}

type tracking struct {
	g       *group
	env     string // GossipSub message id of its envelope
	members int
	to      map[crypto.MemberID]handover
}

type handover struct {
	Handover
	peer peer.ID
}

// track starts tracking a message of this node's member, sent to group g
// in envelope env, with members other members.
func (n *Node) track(g *group, id alert.ID, env []byte, members int) {
	d := &n.deliveries
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byID == nil {
		d.byID = make(map[alert.ID]*tracking)
		d.byEnv = make(map[string]alert.ID)
	}
	if _, ok := d.byID[id]; ok {
		return
	}
	mid := contentID(&pb.Message{Data: env})
	d.byID[id] = &tracking{g: g, env: mid, members: members, to: make(map[crypto.MemberID]handover)}
	d.queued.Add(1)
	d.byEnv[mid] = id
	d.order = append(d.order, id)
	if len(d.order) > maxTracked {
		if len(d.byID[d.order[0]].to) == 0 {
			d.queued.Add(-1)
		}
		delete(d.byEnv, d.byID[d.order[0]].env)
		delete(d.byID, d.order[0])
		d.order = slices.Delete(d.order, 0, 1)
	}
}

// gossiped records that GossipSub sent one of the tracked envelopes to p
// after it was published: a queued message that a member node asked for
// once it was reachable again (GossipSub's IHAVE and IWANT). Called from
// GossipSub's event loop (sentInGossip), so it looks up a map and
// nothing more unless the envelope is tracked.
func (n *Node) gossiped(mid string, p peer.ID) {
	d := &n.deliveries
	if d.queued.Load() == 0 {
		return
	}
	d.mu.Lock()
	id, ok := d.byEnv[mid]
	var g *group
	if ok {
		g = d.byID[id].g
	}
	d.mu.Unlock()
	if !ok || !n.handedOver(g, id, []peer.ID{p}, byGossip) {
		return
	}
	if h, ok := n.store.Header(id); ok {
		if m, err := n.loadMessage(h); err == nil {
			n.showEntry(g, m) // no longer queued
		}
	}
}

// handedOver records that a tracked message went to the given member
// nodes. It reports whether this is the first time it went anywhere: the
// feed should then show it again, no longer queued.
func (n *Node) handedOver(g *group, id alert.ID, peers []peer.ID, by string) bool {
	if len(peers) == 0 {
		return false
	}
	now := n.now()
	d := &n.deliveries
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.byID[id]
	if t == nil {
		return false
	}
	first := len(t.to) == 0
	for _, m := range g.roster.Members() {
		if m.ID() == n.me || !slices.Contains(peers, m.Peer) {
			continue
		}
		if _, ok := t.to[m.ID()]; !ok {
			t.to[m.ID()] = handover{Handover{Name: m.Name, MemberID: m.ID().String(), Time: now.UTC(), By: by}, m.Peer}
		}
	}
	if first && len(t.to) > 0 {
		d.queued.Add(-1)
		return true
	}
	return false
}

// confirmHandover pings, together, the member nodes that gossip handed
// message id to when it was sent. One that does not answer within
// Config.PingTimeout sits behind a dead link and did not get it: it comes
// off the list, and is disconnected and dialled again (sync then brings
// it the message). The answer to the person who sent it waits for this,
// so that it says who really has it.
func (n *Node) confirmHandover(ctx context.Context, id alert.ID) {
	if n.cfg.PingInterval < 0 {
		return
	}
	d := &n.deliveries
	d.mu.Lock()
	var peers []peer.ID
	if t := d.byID[id]; t != nil {
		for _, h := range t.to {
			peers = append(peers, h.peer)
		}
	}
	d.mu.Unlock()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		dead []peer.ID
	)
	for _, p := range peers {
		wg.Go(func() {
			if n.probe(ctx, p) != nil {
				mu.Lock()
				dead = append(dead, p)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(dead) == 0 || ctx.Err() != nil {
		return
	}
	d.mu.Lock()
	if t := d.byID[id]; t != nil {
		for m, h := range t.to {
			if slices.Contains(dead, h.peer) {
				delete(t.to, m)
			}
		}
	}
	d.mu.Unlock()
	for _, p := range dead {
		n.linkLost(p)
	}
}

// syncedOwn records that a sync session handed message id to p, if it is
// one of this node's member's messages.
func (n *Node) syncedOwn(g *group, id alert.ID, p peer.ID) {
	h, ok := n.store.Header(id)
	if !ok || h.Author != n.me || !n.handedOver(g, id, []peer.ID{p}, bySync) {
		return
	}
	if m, err := n.loadMessage(h); err == nil {
		n.showEntry(g, m)
	}
}

// delivery reports what became of message id of group g, sent by this
// node's member.
func (n *Node) delivery(g *group, id alert.ID) Delivery {
	dv := Delivery{Stored: !n.store.Unsaved(id), HandedTo: []Handover{}, Acks: n.ackEntries(g, id)}
	d := &n.deliveries
	d.mu.Lock()
	if t := d.byID[id]; t != nil {
		dv.Tracked, dv.Members = true, t.members
		for _, h := range t.to {
			dv.HandedTo = append(dv.HandedTo, h.Handover)
		}
	}
	d.mu.Unlock()
	slices.SortFunc(dv.HandedTo, func(a, b Handover) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	dv.Queued = dv.Tracked && len(dv.HandedTo) == 0 && dv.Members > 0
	return dv
}

// Delivery reports what became of an alert this node's member sent (see
// [Delivery]). It fails with ErrNoSuchMessage if the node holds no such
// alert of its member's.
func (n *Node) Delivery(id alert.ID) (Delivery, error) {
	h, ok := n.store.Header(id)
	if !ok || h.Author != n.me {
		return Delivery{}, ErrNoSuchMessage
	}
	g, err := n.group(h.Group)
	if err != nil {
		return Delivery{}, err
	}
	// Only alerts: answers to a check-in's end could give away one under
	// duress (feed.go).
	if m, err := n.loadMessage(h); err != nil {
		return Delivery{}, err
	} else if _, ok := m.Content.(*alert.Alert); !ok {
		return Delivery{}, ErrNoSuchMessage
	}
	return n.delivery(g, id), nil
}

// recipients is how many current members of g other than this node's
// member could read what it sends now.
func (n *Node) recipients(g *group) int {
	count := 0
	for _, m := range g.roster.Members() {
		if m.ID() != n.me {
			count++
		}
	}
	return count
}
