package node

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/transport"
)

// Path health: how this node reaches each member node now.

// Ways a member node is reached ([PathView.Path]).
const (
	PathDirect      = "direct"      // a direct connection
	PathRelayed     = "relayed"     // only through a relay ([PathView.Via])
	PathUnreachable = "unreachable" // no connection
)

// PathView is how this node reaches one other member's node.
type PathView struct {
	Name     string   `json:"name"`
	MemberID string   `json:"member_id"`
	Groups   []string `json:"groups"` // the groups both are in, by name
	// Path is "direct", "relayed" or "unreachable".
	Path string `json:"path"`
	// Via names the relay of a relayed path: a member's name, the name
	// of a relay the group granted, or "relay " and the first 12
	// characters of its peer id for another.
	Via string `json:"via,omitempty"`
	// Since is when the path became what it is, as this node saw it
	// (zero: not since this node started).
	Since time.Time `json:"since"`
	// LastSync is when the last sync session with that node ended well
	// (zero: not since this node started).
	LastSync time.Time `json:"last_sync"`
}

// paths remembers since when each member node is reached the way it is,
// and the last good sync with it.
type paths struct {
	mu   sync.Mutex
	by   map[peer.ID]pathRec
	sync map[peer.ID]time.Time
}

type pathRec struct {
	path  string
	via   peer.ID
	since time.Time
}

// pathTo says how p is reached now: direct if any connection to it is
// direct, else relayed through the relay of its first relayed connection.
func (n *Node) pathTo(p peer.ID) (string, peer.ID) {
	path, via := transport.PathTo(n.host.Network(), p)
	switch path {
	case transport.Direct:
		return PathDirect, ""
	case transport.Relayed:
		return PathRelayed, via
	}
	return PathUnreachable, ""
}

// notePath records a change in how p is reached; the node calls it on
// every connection and disconnection.
func (n *Node) notePath(p peer.ID) {
	path, via := n.pathTo(p)
	n.paths.mu.Lock()
	defer n.paths.mu.Unlock()
	if n.paths.by == nil {
		n.paths.by = make(map[peer.ID]pathRec)
	}
	old, ok := n.paths.by[p]
	if ok && old.path == path && old.via == via {
		return
	}
	n.paths.by[p] = pathRec{path: path, via: via, since: n.now()}
}

// synced records a sync session with p that ended well.
func (n *Node) synced(p peer.ID) {
	n.paths.mu.Lock()
	defer n.paths.mu.Unlock()
	if n.paths.sync == nil {
		n.paths.sync = make(map[peer.ID]time.Time)
	}
	n.paths.sync[p] = n.now()
}

// memberPath is how p, the node of a member, is reached now: the path,
// the relay's name for a relayed one (names maps member nodes to their
// members' names), since when, and the last good sync. The caller holds
// n.paths.mu.
func (n *Node) memberPath(p peer.ID, names map[peer.ID]string) (path, via string, since, lastSync time.Time) {
	path, relay := n.pathTo(p)
	if rec, ok := n.paths.by[p]; ok && rec.path == path && rec.via == relay {
		since = rec.since
	}
	if path == PathRelayed {
		via = names[relay]
		if via == "" {
			via = "relay " + relay.String()[:min(12, len(relay.String()))]
		}
	}
	return path, via, since, n.paths.sync[p]
}

// Paths tells, for every other current member of this node's groups, how
// its node is reached now, since when, and when the two last synced;
// sorted by name, then member id.
func (n *Node) Paths() []PathView {
	type entry struct {
		view PathView
		peer peer.ID
	}
	byMember := make(map[crypto.MemberID]*entry)
	names := n.memberNames()
	for _, g := range n.groupList() {
		if me, ok := g.roster.Member(n.me); !ok || me.Removed {
			continue
		}
		for _, m := range g.roster.Members() {
			if m.ID() == n.me {
				continue
			}
			e := byMember[m.ID()]
			if e == nil {
				e = &entry{view: PathView{Name: m.Name, MemberID: m.ID().String()}, peer: m.Peer}
				byMember[m.ID()] = e
			}
			e.view.Groups = append(e.view.Groups, g.roster.Name())
		}
	}
	out := make([]PathView, 0, len(byMember))
	n.paths.mu.Lock()
	defer n.paths.mu.Unlock()
	for _, e := range byMember {
		v := e.view
		v.Path, v.Via, v.Since, v.LastSync = n.memberPath(e.peer, names)
		slices.Sort(v.Groups)
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b PathView) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.MemberID, b.MemberID)
	})
	return out
}

// memberNames maps the node of every member of this node's groups to the
// member's name, and every relay they granted to its name, to name
// relays.
func (n *Node) memberNames() map[peer.ID]string {
	names := make(map[peer.ID]string)
	for _, g := range n.groupList() {
		for _, st := range g.roster.Relays() {
			names[st.Relay] = st.Name
		}
		for _, m := range g.roster.Members() {
			names[m.Peer] = m.Name
		}
	}
	return names
}
