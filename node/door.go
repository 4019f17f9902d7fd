package node

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/transport"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/ratelimit"
)

// The admin node's side of a join (PROTOCOL.md, "Join"): the door
// protocol's handler and session, the redemption of an invite (in the
// group's turn), the ratchet add, and what the joiner is sent. The
// joiner's side is in join.go.

// handleJoin serves the join protocol. It answers only the door peer of an
// invite this node knows (a joiner) and, for a joiner passed on by another
// admin's node, member nodes: anyone else has the stream reset without a
// byte.
func (n *Node) handleJoin(s network.Stream) {
	if !n.enter() {
		s.Reset()
		return
	}
	defer n.leave()
	remote := s.Conn().RemotePeer()
	a := n.access.Load()
	d, isDoor := a.Doors[remote]
	if !isDoor && !a.Members[remote] {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(joinTimeout))
	js := &joinSession{n: n, s: s, r: bufio.NewReader(s), remote: remote, door: isDoor}
	if err := js.serve(d); err != nil {
		n.log.Debug("join session ended badly", "peer", remote, "err", err)
		s.Reset()
		return
	}
	s.Close()
}

// joinSession is the admin node's side of one join stream.
type joinSession struct {
	n      *Node
	s      network.Stream
	r      *bufio.Reader
	remote peer.ID
	door   bool
}

// errJoinStream ends a session without an answer: the stream is reset.
var errJoinStream = errors.New("join: not for this peer")

func (js *joinSession) refuse(status wire.JoinStatus, format string, a ...any) error {
	detail := fmt.Sprintf(format, a...)
	js.n.log.Info("refused a join", "peer", js.remote, "status", status, "reason", detail)
	_, err := protodelim.MarshalTo(js.s, &wire.JoinChallenge{Status: status, Detail: detail})
	return err
}

func (js *joinSession) serve(d transport.Door) error {
	n := js.n
	var hello wire.JoinHello
	if err := readDelimitedFrom(js.r, &hello, maxJoinHello); err != nil {
		return err
	}
	gid, iid, err := parseJoinHello(&hello)
	if err != nil {
		return js.refuse(wire.JoinStatus_JOIN_FAILED, "%v", err)
	}
	if js.door && (d.Group != gid || d.Invite != iid) {
		return errJoinStream // a door peer asks only about its own invite
	}
	g, err := n.group(gid)
	if err != nil || !n.isAdmin(g) {
		return js.refuse(wire.JoinStatus_JOIN_UNKNOWN_INVITE, "this node cannot redeem invites to that group")
	}
	if !js.door && !g.hasMemberPeer(js.remote) {
		return errJoinStream // only a member node of the group passes joiners on
	}
	now := n.now()
	if !n.joinLimits.peer.Allow(js.remote, now) {
		return js.refuse(wire.JoinStatus_JOIN_BUSY, "too many attempts with this invite; try again in a minute")
	}
	inv, ok := g.roster.Invite(iid)
	if !ok {
		return js.refuse(wire.JoinStatus_JOIN_UNKNOWN_INVITE, "unknown invite")
	}
	author, ok := g.roster.Member(inv.By)
	if !ok || author.Removed || author.Role != alert.RoleAdmin {
		return js.refuse(wire.JoinStatus_JOIN_VOID, "the admin who made this invite is no longer an admin of the group; ask for a new invite")
	}
	if !hello.Check && author.Peer != n.host.ID() {
		// Only the node of the admin who made the invite redeems it.
		if !js.door {
			return js.refuse(wire.JoinStatus_JOIN_UNAVAILABLE, "only the node that made the invite redeems it")
		}
		return js.relay(author.Peer, &hello)
	}

	nonce := make([]byte, crypto.JoinNonceSize)
	rand.Read(nonce)
	if _, err := protodelim.MarshalTo(js.s, &wire.JoinChallenge{Nonce: nonce}); err != nil {
		return err
	}
	var req wire.JoinRequest
	if err := readDelimitedFrom(js.r, &req, maxJoinRequest); err != nil {
		return err
	}
	answer := func(resp *wire.JoinResponse) error {
		if resp.Status != wire.JoinStatus_JOIN_OK && resp.Status != wire.JoinStatus_JOIN_ALREADY_MEMBER {
			n.log.Info("refused a join", "peer", js.remote, "status", resp.Status, "reason", resp.Detail)
		}
		_, err := protodelim.MarshalTo(js.s, resp)
		return err
	}
	member, refused := checkJoinRequest(gid, inv, nonce, &req)
	if refused != nil {
		return answer(refused)
	}
	if hello.Check {
		return answer(n.joinStanding(g, member))
	}
	return answer(n.redeem(g, inv, member))
}

// parseJoinHello checks a hello's version and returns the group and
// invite it names.
func parseJoinHello(h *wire.JoinHello) (crypto.GroupID, crypto.InviteID, error) {
	var iid crypto.InviteID
	if h.Version != joinVersion {
		return crypto.GroupID{}, iid, fmt.Errorf("join protocol version %d is not supported (this node speaks %d)", h.Version, joinVersion)
	}
	gid, err := crypto.GroupIDFromBytes(h.Group)
	if err != nil || len(h.Invite) != len(iid) {
		return crypto.GroupID{}, iid, errors.New("malformed request")
	}
	copy(iid[:], h.Invite)
	return gid, iid, nil
}

// checkJoinRequest checks a join request against the invite (as the roster
// holds it) and the challenge this node sent: the member record decodes,
// and the invite key, the member's signing key and the key of the node the
// record names all signed the transcript. It returns the record, or the
// refusal to send.
func checkJoinRequest(gid crypto.GroupID, inv alert.InviteState, nonce []byte, req *wire.JoinRequest) (alert.MemberInfo, *wire.JoinResponse) {
	member, err := alert.DecodeMember(req.Member)
	if err != nil {
		return alert.MemberInfo{}, &wire.JoinResponse{Status: wire.JoinStatus_JOIN_BAD_PROOF, Detail: "malformed member record"}
	}
	proof := crypto.JoinProof{Invite: req.InviteSig, Member: req.MemberSig, Node: req.NodeSig}
	if err := crypto.VerifyJoin(inv.Key, gid, inv.ID, nonce, req.Member, member.Keys, member.Peer, proof); err != nil {
		return alert.MemberInfo{}, &wire.JoinResponse{Status: wire.JoinStatus_JOIN_BAD_PROOF, Detail: "the proof does not verify (" + userErr(err) + ")"}
	}
	return member, nil
}

// userErr drops the package prefix of an error for a message to a person.
func userErr(err error) string {
	s := err.Error()
	for _, p := range []string{"crypto: ", "alert: ", "node: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

// relay passes a joiner on to the node that redeems its invite and copies
// the rest of the session both ways.
func (js *joinSession) relay(to peer.ID, hello *wire.JoinHello) error {
	n := js.n
	ctx, cancel := context.WithTimeout(n.ctx, joinTimeout)
	defer cancel()
	out, err := n.host.NewStream(ctx, to, JoinProtocol)
	if err != nil {
		return js.refuse(wire.JoinStatus_JOIN_UNAVAILABLE, "the node of the admin who made this invite cannot be reached from here now")
	}
	defer out.Close()
	out.SetDeadline(time.Now().Add(joinTimeout))
	if _, err := protodelim.MarshalTo(out, hello); err != nil {
		out.Reset()
		return js.refuse(wire.JoinStatus_JOIN_UNAVAILABLE, "the node of the admin who made this invite cannot be reached from here now")
	}
	n.log.Debug("passing a joiner on", "to", to)
	done := make(chan struct{})
	go func() {
		// Joiner to redeemer: what the joiner sent after its hello.
		io.Copy(out, io.LimitReader(js.r, maxJoinRequest))
		out.CloseWrite()
		close(done)
	}()
	// Redeemer to joiner: the challenge and the response.
	_, err = io.Copy(js.s, io.LimitReader(out, maxJoinChallenge+maxJoinResponse+64))
	<-done
	return err
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
		if !n.joinLimits.member.Allow(member.ID(), n.now()) {
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
	g.mu.Lock()
	cur, _, next := g.nextEpochLocked()
	// An epoch whose secret went to someone no longer a member must not
	// be ratcheted from: the joiner's epoch would be theirs too. Such a
	// join starts a fresh epoch, as a repair would.
	fresh := g.sealedToOutsider(cur)
	add := &alert.AddMember{Member: member, Invite: inv.ID}
	if !fresh {
		add.Ratchet = &alert.Ratchet{From: cur.keys.Tag(), Epoch: next}
	}
	if t := g.trees[cur.tree]; t != nil && t.secret != nil {
		add.Seat = &alert.Seat{Tree: t.id, Position: g.seatingOf(t).upto}
	}
	g.mu.Unlock()
	if add.Seat != nil && add.Seat.Position >= crypto.TreePositions {
		add.Seat = nil // the tree is full: the member is sealed to one by one
	}
	msg, err := n.send(n.ctx, g, &alert.RosterOp{Parents: g.roster.Heads(), Change: add})
	if err != nil {
		return nil, fmt.Errorf("could not add the member: %w", err)
	}
	if fresh {
		if _, _, err := n.rekeyInTurn(n.ctx, g); err != nil {
			return nil, fmt.Errorf("could not start a new group key: %w", err)
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.current, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, e := range g.epochs {
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
	g.mu.Lock()
	if e == nil {
		e = g.current
	}
	t := g.trees[e.tree]
	g.mu.Unlock()
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

// hasMemberPeer reports whether p is the node of a current member of g.
func (g *group) hasMemberPeer(p peer.ID) bool {
	return slices.ContainsFunc(g.roster.Members(), func(m alert.Member) bool { return m.Peer == p })
}

// joinLimits bound how often joins are tried: per connected peer when a
// session starts (each attempt costs little and a flood is refused), and
// per member for a current member asking again (what it receives is the
// whole roster). A door peer's identity is its invite's key, so counting
// per peer counts per invite for joiners; a member node passing joiners on
// is counted as itself, so that no member can use up the attempts of an
// invite (every member knows its id from the roster). A join can start a
// new epoch only for a new member, so the epochs a code can cause are
// bounded by its uses.
type joinLimits struct {
	peer   *ratelimit.Limiter[peer.ID]
	member *ratelimit.Limiter[crypto.MemberID]
}

func newJoinLimits() joinLimits {
	return joinLimits{
		peer:   ratelimit.New[peer.ID](4, 64, 1024),
		member: ratelimit.New[crypto.MemberID](0.1, 3, 4096),
	}
}
