package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/join"
	"github.com/takecare-network/takecare/node/internal/transport"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/ratelimit"
)

// The admin node's side of a join (PROTOCOL.md, "Join"): what the door
// (node/internal/join, which speaks the protocol) asks of the groups, the
// redemption of an invite (in the group's turn), the ratchet add, and what
// the joiner is sent. The joiner's side is in join.go.

// handleJoin serves the join protocol (node/internal/join). It answers
// only the door peer of an invite this node knows (a joiner) and, for a
// joiner passed on by another admin's node, member nodes: anyone else has
// the stream reset without a byte.
func (n *Node) handleJoin(s network.Stream) {
	if !n.enter() {
		s.Reset()
		return
	}
	defer n.leave()
	remote := s.Conn().RemotePeer()
	a := n.access.Load()
	var door *transport.Door
	if d, ok := a.Doors[remote]; ok {
		door = &d
	} else if !a.Members[remote] {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(join.Timeout))
	if err := n.door.Serve(n.ctx, s, door); err != nil {
		n.log.Debug("join session ended badly", "peer", remote, "err", err)
		s.Reset()
		return
	}
	s.Close()
}

// doorGroups is what the door asks of the groups (join.Redeemer).
type doorGroups struct {
	find   func(from peer.ID, door bool, gid crypto.GroupID, iid crypto.InviteID) (alert.InviteState, peer.ID, error)
	answer func(gid crypto.GroupID, inv alert.InviteState, member alert.MemberInfo, check bool) *wire.JoinResponse
}

func (d doorGroups) Find(from peer.ID, door bool, gid crypto.GroupID, iid crypto.InviteID) (alert.InviteState, peer.ID, error) {
	return d.find(from, door, gid, iid)
}

func (d doorGroups) Answer(gid crypto.GroupID, inv alert.InviteState, member alert.MemberInfo, check bool) *wire.JoinResponse {
	return d.answer(gid, inv, member, check)
}

// findInvite finds the invite a joiner's hello names (join.Redeemer): in a
// group this node's member administers, made by an admin who still is
// one. A member node passing a joiner on must be one of the group's.
func (n *Node) findInvite(from peer.ID, door bool, gid crypto.GroupID, iid crypto.InviteID) (alert.InviteState, peer.ID, error) {
	g, err := n.group(gid)
	if err != nil || !n.isAdmin(g) {
		return alert.InviteState{}, "", join.Refuse(wire.JoinStatus_JOIN_UNKNOWN_INVITE, "this node cannot redeem invites to that group")
	}
	if !door && !g.isMemberPeer(from) {
		return alert.InviteState{}, "", join.ErrNotForPeer // only a member node of the group passes joiners on
	}
	inv, ok := g.roster.Invite(iid)
	if !ok {
		return alert.InviteState{}, "", join.Refuse(wire.JoinStatus_JOIN_UNKNOWN_INVITE, "unknown invite")
	}
	author, ok := g.roster.Member(inv.By)
	if !ok || author.Removed || author.Role != alert.RoleAdmin {
		return alert.InviteState{}, "", join.Refuse(wire.JoinStatus_JOIN_VOID, "the admin who made this invite is no longer an admin of the group; ask for a new invite")
	}
	return inv, author.Peer, nil
}

// answerJoin answers a join request whose proof verified (join.Redeemer):
// a check with the member's standing, a join with its redemption.
func (n *Node) answerJoin(gid crypto.GroupID, inv alert.InviteState, member alert.MemberInfo, check bool) *wire.JoinResponse {
	g, err := n.group(gid)
	if err != nil {
		return join.Refuse(wire.JoinStatus_JOIN_UNKNOWN_INVITE, "this node cannot redeem invites to that group").Response()
	}
	if check {
		return n.joinStanding(g, member)
	}
	return n.redeem(g, inv, member)
}

// joinStanding answers a check: whether the group, as this node sees it,
// counts the member.
func (n *Node) joinStanding(g *group, member alert.MemberInfo) *wire.JoinResponse {
	m, ok := g.roster.Member(member.ID())
	switch {
	case ok && m.Removed:
		return &wire.JoinResponse{Status: wire.JoinStatus_JOIN_REMOVED, Detail: "you were removed from the group"}
	case ok:
		return &wire.JoinResponse{Status: wire.JoinStatus_JOIN_ALREADY_MEMBER}
	}
	if _, known := g.roster.Keys(member.ID()); known {
		return &wire.JoinResponse{Status: wire.JoinStatus_JOIN_VOID, Detail: "the admin who added you had no right to any more"}
	}
	return &wire.JoinResponse{Status: wire.JoinStatus_JOIN_NOT_KNOWN, Detail: "this node has not heard of your joining"}
}

// redeem admits a joiner whose proof verified: a new member (the invite
// must be usable) is added and a new epoch starts for everyone; a current
// member gets what it needs, and nothing changes; a removed member gets
// nothing.
func (n *Node) redeem(g *group, inv alert.InviteState, member alert.MemberInfo) *wire.JoinResponse {
	refuse := func(status wire.JoinStatus, format string, a ...any) *wire.JoinResponse {
		return &wire.JoinResponse{Status: status, Detail: fmt.Sprintf(format, a...)}
	}
	if err := alert.ValidName("member name", member.Name); err != nil {
		return refuse(wire.JoinStatus_JOIN_BAD_PROOF, "%v", err)
	}
	// One redemption of the group at a time, so that uses are counted
	// exactly, and none while this node starts a new epoch of it.
	var resp *wire.JoinResponse
	if err := n.inTurn(g, func() { resp = n.redeemInTurn(g, inv, member, refuse) }); err != nil {
		return refuse(wire.JoinStatus_JOIN_FAILED, "%v", err)
	}
	return resp
}

// redeemInTurn is the part of redeem that runs in g's turn.
func (n *Node) redeemInTurn(g *group, inv alert.InviteState, member alert.MemberInfo, refuse func(wire.JoinStatus, string, ...any) *wire.JoinResponse) *wire.JoinResponse {
	if m, ok := g.roster.Member(member.ID()); ok {
		switch {
		case m.Removed:
			return refuse(wire.JoinStatus_JOIN_REMOVED, "you were removed from this group")
		case m.Peer != member.Peer:
			return refuse(wire.JoinStatus_JOIN_FAILED, "you are in this group with another node (%s); a profile can be in use on one device only", shortPeer(m.Peer))
		}
		// What it receives is the whole roster: a member asking again and
		// again gets it a few times, then is told to wait.
		if !n.memberJoins.Allow(member.ID(), n.now()) {
			return refuse(wire.JoinStatus_JOIN_BUSY, "you are already a member and asked again too often; try again in a minute")
		}
		resp := n.joinState(g, member, nil)
		resp.Status = wire.JoinStatus_JOIN_ALREADY_MEMBER
		return resp
	}
	if err := inv.Usable(n.now()); err != nil {
		return refuse(wire.JoinStatus_JOIN_INVITE_CLOSED, "%v", err)
	}
	e, err := n.admit(g, inv, member)
	if err != nil {
		return refuse(wire.JoinStatus_JOIN_FAILED, "%v", err)
	}
	n.log.Info("member joined", "group", g.id.String()[:8])
	resp := n.joinState(g, member, e)
	if resp.Rekey == nil {
		return refuse(wire.JoinStatus_JOIN_FAILED, "could not hand over the group key")
	}
	return resp
}

// admit adds a new member by the join ratchet (PROTOCOL.md, "Joins"): an
// add that names the current epoch and the number of the next, from which
// every member derives the joiner's epoch by itself, and the joiner's
// position in the key tree if this node holds the tree's secret. It
// returns the joiner's epoch. The members already there receive the add
// and nothing else.
func (n *Node) admit(g *group, inv alert.InviteState, member alert.MemberInfo) (*epoch, error) {
	// It runs in g's turn (redeem): one new epoch at a time on this node
	// (see rekeyInTurn).
	v := g.state()
	cur, _, next := g.nextEpoch(v)
	// An epoch whose secret went to someone no longer a member must not
	// be ratcheted from: the joiner's epoch would be theirs too. Such a
	// join starts a fresh epoch, as a repair would.
	fresh := g.sealedToOutsider(v, cur)
	add := &alert.AddMember{Member: member, Invite: inv.ID}
	if !fresh {
		add.Ratchet = &alert.Ratchet{From: cur.keys.Tag(), Epoch: next}
	}
	if t := v.trees[cur.tree]; t != nil && t.secret != nil {
		add.Seat = &alert.Seat{Tree: t.id, Position: g.seatingOf(t).upto}
	}
	if add.Seat != nil && add.Seat.Position >= crypto.TreePositions {
		add.Seat = nil // the tree is full: the member is sealed to one by one
	}
	msg, err := n.sendOpInTurn(n.ctx, g, &alert.RosterOp{Parents: g.roster.Heads(), Change: add})
	if err != nil {
		return nil, fmt.Errorf("could not add the member: %w", err)
	}
	if fresh {
		if _, _, err := n.rekeyInTurn(n.ctx, g); err != nil {
			return nil, fmt.Errorf("could not start a new group key: %w", err)
		}
		return g.state().current, nil
	}
	for _, e := range g.state().epochs {
		if e.rekey == msg.ID {
			return e, nil
		}
	}
	return nil, errors.New("could not start the new member's group key")
}

// joinState is what a joiner receives: every roster op, where member
// nodes can be reached (this node first), the founders of the key tree of
// epoch e, and the hand-over of e's secret (and the joiner's path keys):
// for a new member the epoch its add started, for a member already in the
// group the current one.
func (n *Node) joinState(g *group, member alert.MemberInfo, e *epoch) *wire.JoinResponse {
	resp := &wire.JoinResponse{}
	for _, op := range g.roster.Ops() {
		resp.Roster = append(resp.Roster, &wire.SignedOp{Epoch: op.Epoch, Inner: op.Inner.Marshal()})
	}
	resp.Peers = append(resp.Peers, n.peerAddrs(n.host.ID(), n.shareableAddrs()))
	for _, p := range n.memberPeers(g) {
		if p != member.Peer {
			resp.Peers = append(resp.Peers, n.peerAddrs(p, n.host.Peerstore().Addrs(p)))
		}
	}
	v := g.state()
	if e == nil {
		e = v.current
	}
	t := v.trees[e.tree]
	if t != nil {
		for _, f := range t.founders {
			resp.Seats = append(resp.Seats, f[:])
		}
	}
	resp.Epoch = e.number()
	rk, err := n.handOver(g, e, t, member)
	if err != nil {
		n.log.Warn("handing over a group key", "group", g.id.String()[:8], "err", err)
		return resp
	}
	resp.Rekey = rk
	return resp
}

// handOver returns the Rekey that gives member the secret of epoch e,
// started by what e.rekey names (its origin), and, if the member has a
// seat in tree t and this node holds t's secret, the member's path keys.
// It is signed in e, and travels only in a join response.
func (n *Node) handOver(g *group, e *epoch, t *groupTree, member alert.MemberInfo) (*wire.SignedOp, error) {
	sealed, err := crypto.SealEpochSecret(member.Keys, g.id, e.number(), e.keys.Secret())
	if err != nil {
		return nil, err
	}
	k := alert.SealedKey{Member: member.ID(), Sealed: sealed}
	rk := &alert.Rekey{Epoch: e.number(), Origin: e.rekey}
	if t != nil {
		rk.Tree = &alert.TreeRekey{Tree: t.id}
		rand.Read(rk.Tree.Nonce[:])
		if p, seated := g.seatingOf(t).of[member.ID()]; seated && t.secret != nil {
			pk := t.secret.PathKeys(g.id, t.id, p)
			if k.Path, err = crypto.SealPathKeys(member.Keys, g.id, &pk); err != nil {
				return nil, err
			}
		}
	}
	rk.Keys = []alert.SealedKey{k}
	body, err := alert.Encode(n.now(), rk)
	if err != nil {
		return nil, err
	}
	return &wire.SignedOp{Epoch: e.number(), Inner: n.id.SignBody(g.id, e.number(), body).Marshal()}, nil
}

func (n *Node) peerAddrs(p peer.ID, addrs []ma.Multiaddr) *wire.PeerAddrs {
	pa := &wire.PeerAddrs{Peer: []byte(p)}
	for _, a := range addrs {
		if len(pa.Addrs) < transport.MaxPeerAddrs {
			pa.Addrs = append(pa.Addrs, a.Bytes())
		}
	}
	return pa
}

// memberJoins bounds how often a current member may ask to join again
// (what it receives is the whole roster). A join can start a new epoch
// only for a new member, so the epochs a code can cause are bounded by its
// uses; how often a peer may start a session is bounded by the door
// (node/internal/join).
func newMemberJoins() *ratelimit.Limiter[crypto.MemberID] {
	return ratelimit.New[crypto.MemberID](0.1, 3, 4096)
}
