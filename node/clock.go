package node

// Clocks: how far other member nodes' clocks are from this one's, learned
// in the hello of every sync session (docs/PROTOCOL.md, "Time"). Nothing
// the node decides trusts another clock: offsets serve to warn the person
// whose clock is off, and to read a check-in's deadline by its author's
// clock as this node's clock would show it.

import (
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/crypto"
)

const (
	// ClockTolerance is how far this node's clock may be from the other
	// member nodes' before the node warns its person.
	ClockTolerance = time.Minute
	// clockFresh is how long a measured offset is used.
	clockFresh = time.Hour
	// maxClockPeers bounds how many nodes' offsets are kept.
	maxClockPeers = 1024
)

// ClockStatus says whether this node's clock agrees with the other member
// nodes' it has met, for `takecare status` and the web UI.
type ClockStatus struct {
	// Off is true when the clock differs by more than ClockTolerance from
	// the median of the member nodes' clocks compared: the person should
	// set the right time.
	Off bool `json:"off"`
	// OffsetSeconds is how far ahead of that median this clock is;
	// negative when it is behind.
	OffsetSeconds int64 `json:"offset_seconds"`
	// Peers is how many member nodes the node compared its clock with in
	// the last hour; with none, Off is false and nothing is known.
	Peers int `json:"peers"`
}

type clockSample struct {
	offset time.Duration // their clock minus ours
	at     time.Time     // our clock, when measured
}

// clocks holds the offsets measured with each member node. The zero value
// is ready to use; it is safe for concurrent use.
type clocks struct {
	mu   sync.Mutex
	peer map[peer.ID]clockSample
}

// note records that p's clock is offset ahead of ours, as measured at now.
func (c *clocks) note(p peer.ID, offset time.Duration, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peer == nil {
		c.peer = make(map[peer.ID]clockSample)
	}
	if _, ok := c.peer[p]; !ok && len(c.peer) >= maxClockPeers {
		var oldest peer.ID
		for q, s := range c.peer {
			if oldest == "" || s.at.Before(c.peer[oldest].at) {
				oldest = q
			}
		}
		delete(c.peer, oldest)
	}
	c.peer[p] = clockSample{offset: offset, at: now}
}

// of returns p's offset if it was measured in the last hour.
func (c *clocks) of(p peer.ID, now time.Time) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.peer[p]
	if !ok || now.Sub(s.at) > clockFresh || s.at.After(now) {
		return 0, false
	}
	return s.offset, true
}

// status compares this clock with the median of the fresh offsets. Of two
// middle values, the one nearer to this clock is taken: with two other
// nodes, one of which agrees, this clock is not the one that is off; with a
// single other node, neither can tell, and both are told.
func (c *clocks) status(now time.Time) ClockStatus {
	c.mu.Lock()
	var offs []time.Duration
	for _, s := range c.peer {
		if now.Sub(s.at) <= clockFresh && !s.at.After(now) {
			offs = append(offs, s.offset)
		}
	}
	c.mu.Unlock()
	if len(offs) == 0 {
		return ClockStatus{}
	}
	slices.Sort(offs)
	med := offs[len(offs)/2]
	if len(offs)%2 == 0 {
		if lo := offs[len(offs)/2-1]; lo.Abs() < med.Abs() {
			med = lo
		}
	}
	return ClockStatus{Off: med.Abs() > ClockTolerance, OffsetSeconds: int64(-med.Round(time.Second) / time.Second), Peers: len(offs)}
}

// offset is how far ahead of the others this clock is, when it is off.
func (st ClockStatus) offset() time.Duration {
	if !st.Off {
		return 0
	}
	return time.Duration(st.OffsetSeconds) * time.Second
}

// claimedTime converts a time on a member's clock to this node's, by as
// much as the clock of that member's node was found off; if it was not
// measured lately, the time is taken as it is.
func (n *Node) claimedTime(member crypto.MemberID, t time.Time) time.Time {
	p, ok := n.memberPeer(member)
	if !ok {
		return t
	}
	off, ok := n.clocks.of(p, n.now())
	if !ok {
		return t
	}
	return t.Add(-off)
}

// memberPeer returns the node of a member of any of this node's groups.
func (n *Node) memberPeer(member crypto.MemberID) (peer.ID, bool) {
	for _, g := range n.groupList() {
		if m, ok := g.roster.Member(member); ok {
			return m.Peer, true
		}
	}
	return "", false
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
