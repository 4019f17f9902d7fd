package node

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/join"
	"github.com/takecare-network/takecare/node/internal/wire"
)

// Removal notices (PROTOCOL.md, "Removal notice"). A member removed while
// its node was off learns of it from the first member node it meets, not
// only from the admin who removed it: every member node lets a removed
// member's node connect once in a while, sends it the signed removal with
// the roster ops before it that it lacks, and closes the connection. The
// removed node checks the ops like any others, and from then on says it
// was removed (status, feed) and refuses to send. It learns nothing about
// the group after its removal.

// RemovalProtocol is the libp2p protocol id of removal notices.
const RemovalProtocol protocol.ID = "/takecare/removed/1.0.0"

const (
	// noticeInterval is how often a removed member's node is let in to be
	// told again.
	noticeInterval   = 10 * time.Minute
	maxRemovalOffer  = 64
	maxRosterHeads   = 1 << 20
	maxRemovalNotice = join.MaxResponse
	noticeTimeout    = 30 * time.Second
	maxNoticePeers   = 4096
)

// notices records which removed members' nodes were told, and when, and
// which are being told now; and which peers are telling this node now.
type notices struct {
	mu      sync.Mutex
	last    map[peer.ID]time.Time
	busy    map[peer.ID]bool
	reading map[peer.ID]bool
}

// readNotice marks a notice from p as being read, and reports whether
// none from p was already: a node reads one notice per peer at a time, so
// that a peer cannot make it hold many notices at once.
func (n *Node) readNotice(p peer.ID) bool {
	n.notices.mu.Lock()
	defer n.notices.mu.Unlock()
	if n.notices.reading[p] {
		return false
	}
	if n.notices.reading == nil {
		n.notices.reading = make(map[peer.ID]bool)
	}
	n.notices.reading[p] = true
	return true
}

func (n *Node) noticeRead(p peer.ID) {
	n.notices.mu.Lock()
	defer n.notices.mu.Unlock()
	delete(n.notices.reading, p)
}

// noticeDue reports whether p may be let in to be told now: it was not
// told in the last noticeInterval.
func (n *Node) noticeDue(p peer.ID) bool {
	n.notices.mu.Lock()
	defer n.notices.mu.Unlock()
	last, ok := n.notices.last[p]
	return !ok || n.now().Sub(last) >= noticeInterval
}

// startNotice marks p as being told, and reports whether it is due and not
// being told already.
func (n *Node) startNotice(p peer.ID) bool {
	now := n.now()
	n.notices.mu.Lock()
	defer n.notices.mu.Unlock()
	if last, ok := n.notices.last[p]; (ok && now.Sub(last) < noticeInterval) || n.notices.busy[p] {
		return false
	}
	if n.notices.busy == nil {
		n.notices.busy = make(map[peer.ID]bool)
		n.notices.last = make(map[peer.ID]time.Time)
	}
	n.notices.busy[p] = true
	return true
}

// endNotice records the end of telling p; only a notice p answered counts
// as told (one sent on a connection that died tells no one).
func (n *Node) endNotice(p peer.ID, told bool) {
	now := n.now()
	n.notices.mu.Lock()
	defer n.notices.mu.Unlock()
	delete(n.notices.busy, p)
	if !told {
		return
	}
	if len(n.notices.last) >= maxNoticePeers {
		for q, t := range n.notices.last {
			if now.Sub(t) >= noticeInterval {
				delete(n.notices.last, q)
			}
		}
	}
	if len(n.notices.last) < maxNoticePeers {
		n.notices.last[p] = now
	}
}

// removedIn returns, for each group in which this node's member is current
// and p is the node of a removed member, that member.
func (n *Node) removedIn(p peer.ID) map[*group]alert.Member {
	out := make(map[*group]alert.Member)
	for _, g := range n.groupList() {
		if me, ok := g.roster.Member(n.me); !ok || me.Removed {
			continue
		}
		for _, m := range g.roster.RemovedMembers() {
			if m.Peer == p && !m.Removal.IsZero() {
				out[g] = m
			}
		}
	}
	return out
}

// tellRemoved tells p, if it is the node of a member removed from one of
// our groups, that it was removed, and then closes the connection unless p
// is also a member node of another group.
func (n *Node) tellRemoved(p peer.ID) {
	groups := n.removedIn(p)
	if len(groups) == 0 || !n.startNotice(p) {
		return
	}
	n.spawn(func() {
		told := false
		for g, m := range groups {
			if err := n.sendNotice(p, g, m); err != nil {
				n.log.Debug("telling a removed member's node", "peer", p, "group", g.id.String()[:8], "err", err)
				continue
			}
			told = true
			n.log.Info("told a removed member's node of its removal", "peer", p, "group", g.id.String()[:8])
		}
		n.endNotice(p, told)
		if !n.isMemberPeer(p) {
			n.host.Network().ClosePeer(p)
		}
	})
}

// sendNotice runs the notice protocol with p for its member m's removal
// from g.
func (n *Node) sendNotice(p peer.ID, g *group, m alert.Member) error {
	ctx, cancel := context.WithTimeout(n.ctx, noticeTimeout)
	defer cancel()
	s, err := n.host.NewStream(ctx, p, RemovalProtocol)
	if err != nil {
		return err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(noticeTimeout))
	if _, err := protodelim.MarshalTo(s, &wire.RemovalOffer{Group: g.id[:]}); err != nil {
		s.Reset()
		return err
	}
	var heads wire.RosterHeads
	if err := readDelimited(s, &heads, maxRosterHeads); err != nil {
		s.Reset()
		return err
	}
	var have []alert.ID
	for _, h := range heads.Heads {
		if id, err := alert.IDFromBytes(h); err == nil {
			have = append(have, id)
		}
	}
	notice := &wire.RemovalNotice{}
	for _, op := range g.roster.Proof(m.Removal, have) {
		notice.Ops = append(notice.Ops, &wire.SignedOp{Epoch: op.Epoch, Inner: op.Inner.Marshal()})
	}
	if _, err := protodelim.MarshalTo(s, notice); err != nil {
		s.Reset()
		return err
	}
	// The other side closes once it has read the notice: only then may
	// the connection be closed without losing it.
	s.CloseWrite()
	if _, err := s.Read(make([]byte, 1)); err != io.EOF {
		s.Reset()
		return fmt.Errorf("no acknowledgement: %v", err)
	}
	return nil
}

// handleRemoval receives a removal notice from a node that is a member
// node of the group as this node sees it, and takes the roster ops in it.
func (n *Node) handleRemoval(s network.Stream) {
	if !n.enter() {
		s.Reset()
		return
	}
	defer n.leave()
	from := s.Conn().RemotePeer()
	if !n.readNotice(from) {
		s.Reset()
		return
	}
	defer n.noticeRead(from)
	s.SetDeadline(time.Now().Add(noticeTimeout))
	r := bufio.NewReader(s)
	var offer wire.RemovalOffer
	if err := readDelimitedFrom(r, &offer, maxRemovalOffer); err != nil {
		s.Reset()
		return
	}
	gid, err := crypto.GroupIDFromBytes(offer.Group)
	if err != nil {
		s.Reset()
		return
	}
	g, err := n.group(gid)
	if err != nil || !g.isMemberPeer(s.Conn().RemotePeer()) {
		n.log.Debug("refused a removal notice", "peer", s.Conn().RemotePeer(), "group", gid.String()[:8], "err", err)
		s.Reset()
		return
	}
	heads := &wire.RosterHeads{}
	for _, h := range g.roster.Heads() {
		heads.Heads = append(heads.Heads, h[:])
	}
	if _, err := protodelim.MarshalTo(s, heads); err != nil {
		s.Reset()
		return
	}
	var notice wire.RemovalNotice
	if err := readDelimitedFrom(r, &notice, maxRemovalNotice); err != nil {
		n.log.Debug("reading a removal notice", "peer", s.Conn().RemotePeer(), "err", err)
		s.Reset()
		return
	}
	s.Close()
	if err := n.takeRosterOps(g, notice.Ops); err != nil {
		n.log.Warn("a removal notice did not apply", "peer", s.Conn().RemotePeer(), "group", gid.String()[:8], "err", err)
	}
}

// takeRosterOps adds signed roster ops that came outside an envelope (a
// removal notice) to a group's roster, each checked as [alert.Roster.Add]
// checks it, and acts on the change, in the group's turn.
func (n *Node) takeRosterOps(g *group, ops []*wire.SignedOp) (err error) {
	if terr := n.inTurn(g, func() {
		changed, aerr := addRosterOps(g.roster, ops)
		if !changed {
			err = aerr
			return
		}
		if err = n.saveGroup(g); err != nil {
			return
		}
		n.rosterChanged(g)
		err = aerr
	}); terr != nil {
		return terr
	}
	return err
}

// addRosterOps adds signed roster ops to r, in order, and reports whether
// any was new and the first error.
func addRosterOps(r *alert.Roster, ops []*wire.SignedOp) (changed bool, first error) {
	for _, o := range ops {
		in, err := crypto.ParseInner(o.Inner)
		if err == nil {
			var added bool
			added, err = r.Add(alert.SignedOp{Epoch: o.Epoch, Inner: in})
			changed = changed || added
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return changed, first
}

// removalEntry is the feed entry that tells this node's member it was
// removed from g, if it was.
func (n *Node) removalEntry(g *group) (Entry, bool) {
	me, ok := g.roster.Member(n.me)
	if !ok || !me.Removed {
		return Entry{}, false
	}
	by := n.memberName(g, me.RemovedBy)
	return Entry{
		ID: me.Removal.String(), Group: g.roster.Name(), GroupID: g.id.String(),
		Kind: KindRemoved, Severity: alert.SevWarning.String(),
		Text:   fmt.Sprintf("%s removed you from %s. You no longer receive what the group sends, and nothing you send reaches it.", by, g.roster.Name()),
		Author: by, AuthorID: me.RemovedBy.String(), Created: me.RemovedAt.UTC(),
		Expires: me.RemovedAt.Add(n.cfg.Retention).UTC(), Acks: []AckEntry{},
	}, true
}

// KindRemoved is the feed kind of the entry that tells this node's member
// it was removed from a group.
const KindRemoved = "removed"

// removedGroups lists the groups this node's member was removed from.
func (n *Node) removedGroups() []*group {
	return slices.DeleteFunc(n.groupList(), func(g *group) bool {
		me, ok := g.roster.Member(n.me)
		return !ok || !me.Removed
	})
}
