package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/transport"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/ratelimit"
)

// JoinProtocol is the libp2p protocol id of the join protocol
// (PROTOCOL.md, "Join").
const JoinProtocol protocol.ID = "/takecare/join/2.0.0"

// Limits of the join protocol.
const (
	joinVersion      = 2
	maxJoinHello     = 256
	maxJoinChallenge = 4 << 10
	maxJoinRequest   = 16 << 10
	maxJoinResponse  = 32 << 20
	joinTimeout      = 30 * time.Second

	DefaultInviteUses = 1
	DefaultInviteTTL  = 24 * time.Hour
	MaxInviteTTL      = 30 * 24 * time.Hour
	MaxInviteUses     = 1000
)

// Errors a joiner sees. A refusal wraps [ErrJoinRefused] (or
// [ErrRemovedFromGroup]) with the reason the node gave.
var (
	ErrJoinRefused = NewError(KindInvalid, "the invite was refused")
	ErrUnreachable = NewError(KindUnavailable, "could not reach a node that can redeem the invite (it may be offline)")
	// ErrRedeemerOffline: the nodes of the code that answered cannot reach
	// the node that redeems the invite (the admin's node that made it).
	ErrRedeemerOffline = NewError(KindUnavailable, "the node of the admin who made this invite cannot be reached now")
)

// Invite describes a new invite.
type Invite struct {
	Code    string    `json:"code"`
	ID      string    `json:"id"`
	Group   string    `json:"group"`
	Uses    int       `json:"uses"`
	Expires time.Time `json:"expires"`
}

// CreateInvite makes an invite to a group that this node's member admins.
// The invite is announced to the group. Only this node redeems it, so that
// its uses are counted exactly however the network is split; the other
// admins' nodes the code names pass a joiner on to this one when the
// joiner cannot reach it directly (PROTOCOL.md, "Invites").
func (n *Node) CreateInvite(ctx context.Context, gid crypto.GroupID, uses int, ttl time.Duration) (Invite, error) {
	g, err := n.adminGroup(gid)
	if err != nil {
		return Invite{}, err
	}
	if uses == 0 {
		uses = DefaultInviteUses
	}
	if ttl == 0 {
		ttl = DefaultInviteTTL
	}
	if uses < 1 || uses > MaxInviteUses {
		return Invite{}, withParams(ErrOutOfRange, []string{"what", "uses", "min", "1", "max", fmt.Sprint(MaxInviteUses)}, "uses must be between 1 and %d", MaxInviteUses)
	}
	if ttl < time.Second || ttl > MaxInviteTTL {
		return Invite{}, withParams(ErrOutOfRange, []string{"what", "invite_ttl", "min", "1", "max", paramDur(MaxInviteTTL)}, "an invite must last between 1s and %s", MaxInviteTTL)
	}
	inv := crypto.NewInvite(gid, n.host.ID(), n.shareableAddrs())
	// Other admins' nodes pass joiners on to this one, and confirm to a
	// joiner afterwards that the group counts it.
	for _, m := range g.roster.Members() {
		if m.Role != alert.RoleAdmin || m.ID() == n.me || len(inv.Also) == 3 {
			continue
		}
		if addrs := n.dialer.addrsOf(m.Peer); len(addrs) > 0 {
			inv.Also = append(inv.Also, peer.AddrInfo{ID: m.Peer, Addrs: addrs})
		}
	}
	expires := n.now().Add(ttl)
	op := &alert.RosterOp{Parents: g.roster.Heads(), Change: &alert.NewInvite{ID: inv.ID, Key: inv.PublicKey(), Uses: uses, Expires: expires}}
	if _, err := n.send(ctx, g, op); err != nil {
		return Invite{}, err
	}
	return Invite{Code: inv.Code(), ID: inv.ID.String(), Group: g.roster.Name(), Uses: uses, Expires: expires.UTC()}, nil
}

// adminGroup returns a group this node's member administers.
func (n *Node) adminGroup(gid crypto.GroupID) (*group, error) {
	g, err := n.group(gid)
	if err != nil {
		return nil, err
	}
	if !n.isAdmin(g) {
		return nil, ErrNotAdmin
	}
	return g, nil
}

func (n *Node) isAdmin(g *group) bool {
	m, ok := g.roster.Member(n.me)
	return ok && !m.Removed && m.Role == alert.RoleAdmin
}

// JoinResult is what [Node.Join] did.
type JoinResult struct {
	GroupInfo
	// Already is true when this member already was a member of the group:
	// the group did not change, and no new epoch was started.
	Already bool `json:"already"`
	// ConfirmedBy counts the other admins' nodes named in the code that
	// confirmed that the group counts this member.
	ConfirmedBy int `json:"confirmed_by"`
	// Warning, when set, says why what this node was given may not be the
	// group its other members are in.
	Warning string `json:"warning,omitempty"`
}

// Join redeems an invite code. It reaches the nodes the code names as the
// invite's door peer, proves that it holds the code and this member's keys
// over a fresh challenge, and receives the group's roster and the key of an
// epoch started for it (or, for a member already in the group, the current
// one, with nothing changed). It then asks the code's other nodes whether
// the group counts it, and warns if one says it does not.
//
// Errors: [crypto.ErrBadInvite] for a damaged code; [ErrRemovedFromGroup]
// for a member who was removed; [ErrJoinRefused] with the reason for a
// refused invite; [ErrRedeemerOffline] or [ErrUnreachable] when no node
// that can redeem it answered.
func (n *Node) Join(ctx context.Context, code string) (JoinResult, error) {
	inv, err := crypto.ParseInviteCode(code)
	if err != nil {
		return JoinResult{}, err
	}
	if old, err := n.group(inv.Group); err == nil {
		if me, ok := old.roster.Member(n.me); ok && me.Removed {
			return JoinResult{}, n.removedError(old)
		}
	}
	door, err := n.doorHost(inv)
	if err != nil {
		return JoinResult{}, fmt.Errorf("node: joining: %w", err)
	}
	defer door.Close()
	nodes := append([]peer.AddrInfo{{ID: inv.Peer, Addrs: inv.Addrs}}, inv.Also...)
	var (
		unreachable []string
		offline     bool
	)
	for _, ai := range nodes {
		resp, err := n.askToJoin(ctx, door, ai, inv, false)
		if err != nil {
			unreachable = append(unreachable, fmt.Sprintf("%s: %s", shortPeer(ai.ID), shortErr(err)))
			continue
		}
		switch resp.Status {
		case wire.JoinStatus_JOIN_OK, wire.JoinStatus_JOIN_ALREADY_MEMBER:
			res, err := n.acceptJoin(inv, resp)
			if err != nil {
				return JoinResult{}, err
			}
			n.afterJoin(ctx, door, inv, ai.ID, resp, &res)
			return res, nil
		case wire.JoinStatus_JOIN_UNAVAILABLE:
			// Another node of the code may reach the redeemer.
			offline = true
			unreachable = append(unreachable, fmt.Sprintf("%s: %s", shortPeer(ai.ID), remoteText(resp.Detail, maxRefusal)))
			continue
		}
		return JoinResult{}, n.refusal(inv.Group, resp)
	}
	if offline {
		return JoinResult{}, fmt.Errorf("%w; try again later, or ask an admin whose node is on for a new invite (%s)", ErrRedeemerOffline, strings.Join(unreachable, "; "))
	}
	return JoinResult{}, fmt.Errorf("%w: %s", ErrUnreachable, strings.Join(unreachable, "; "))
}

// refusal turns a refusal into the error a joiner sees.
func (n *Node) refusal(gid crypto.GroupID, resp *wire.JoinResponse) error {
	if resp.Status == wire.JoinStatus_JOIN_REMOVED {
		if g, err := n.group(gid); err == nil {
			return n.removedError(g)
		}
		return fmt.Errorf("%w: a removed profile cannot join again; make a new profile (takecare init --home DIR) and ask for a new invite", ErrRemovedFromGroup)
	}
	detail := remoteText(resp.Detail, maxRefusal)
	if detail == "" {
		detail = resp.Status.String()
	}
	return fmt.Errorf("%w: %s", ErrJoinRefused, detail)
}

// removedError says that this member was removed from g, and, if this
// node holds the removal, by whom and when.
func (n *Node) removedError(g *group) error {
	when := ""
	if me, ok := g.roster.Member(n.me); ok && me.Removed {
		when = fmt.Sprintf(" by %s on %s", n.memberName(g, me.RemovedBy), me.RemovedAt.UTC().Format("2006-01-02 15:04 MST"))
	}
	return fmt.Errorf("%w (%s)%s; a removed profile cannot join again: make a new profile (takecare init --home DIR) and ask for a new invite",
		ErrRemovedFromGroup, g.roster.Name(), when)
}

// askToJoin runs the join protocol with one node of the code, from the
// door host: a join, or with check set, a question whether the group
// counts this member.
func (n *Node) askToJoin(ctx context.Context, door host.Host, ai peer.AddrInfo, inv crypto.Invite, check bool) (*wire.JoinResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	if err := door.Connect(ctx, ai); err != nil {
		return nil, err
	}
	s, err := door.NewStream(ctx, ai.ID, JoinProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	r := bufio.NewReader(s)
	if _, err := protodelim.MarshalTo(s, &wire.JoinHello{Version: joinVersion, Group: inv.Group[:], Invite: inv.ID[:], Check: check}); err != nil {
		return nil, err
	}
	var ch wire.JoinChallenge
	if err := readDelimitedFrom(r, &ch, maxJoinChallenge); err != nil {
		return nil, fmt.Errorf("no answer: %v", err)
	}
	if ch.Status != wire.JoinStatus_JOIN_OK {
		return &wire.JoinResponse{Status: ch.Status, Detail: ch.Detail}, nil
	}
	member, err := alert.EncodeMember(n.memberInfo())
	if err != nil {
		return nil, err
	}
	proof, err := inv.ProveJoin(n.id, ch.Nonce, member)
	if err != nil {
		return nil, err
	}
	req := &wire.JoinRequest{Member: member, InviteSig: proof.Invite, MemberSig: proof.Member, NodeSig: proof.Node}
	if _, err := protodelim.MarshalTo(s, req); err != nil {
		return nil, err
	}
	s.CloseWrite()
	var resp wire.JoinResponse
	if err := readDelimitedFrom(r, &resp, maxJoinResponse); err != nil {
		return nil, fmt.Errorf("no answer: %v", err)
	}
	return &resp, nil
}

// doorHost builds the libp2p host that reaches the nodes of an invite: its
// identity is the invite key (the invite's door peer), so that those nodes
// let in only holders of a code they redeem, and their answers reach no one
// else. It is closed after the join.
func (n *Node) doorHost(inv crypto.Invite) (host.Host, error) {
	if n.cfg.DoorHost != nil {
		return n.cfg.DoorHost(inv.DoorKey())
	}
	return libp2p.New(
		libp2p.Identity(inv.DoorKey()),
		libp2p.NoListenAddrs,
		libp2p.DisableRelay(),
		libp2p.UserAgent(userAgent),
	)
}

// DoorHostFunc builds the host a joiner uses to reach the nodes of an
// invite, with the given key (see [Config.DoorHost]).
type DoorHostFunc func(key p2pcrypto.PrivKey) (host.Host, error)

func (n *Node) acceptJoin(inv crypto.Invite, resp *wire.JoinResponse) (JoinResult, error) {
	already := resp.Status == wire.JoinStatus_JOIN_ALREADY_MEMBER
	var ops []alert.SignedOp
	for _, o := range resp.Roster {
		in, err := crypto.ParseInner(o.Inner)
		if err != nil {
			return JoinResult{}, fmt.Errorf("%w: bad roster: %v", ErrJoinRefused, err)
		}
		ops = append(ops, alert.SignedOp{Epoch: o.Epoch, Inner: in})
	}
	old, err := n.group(inv.Group)
	held := err == nil
	if held {
		// Keep what this node holds too: the response may lack an op
		// this node already has.
		ops = append(ops, old.roster.Ops()...)
	}
	roster, skipped, err := alert.LoadRoster(inv.Group, ops)
	if err != nil {
		return JoinResult{}, fmt.Errorf("%w: bad roster: %v", ErrJoinRefused, err)
	}
	for _, err := range skipped {
		n.log.Warn("left out a roster op the admin's node sent", "group", inv.Group.String()[:8], "err", err)
	}
	if m, ok := roster.Member(n.me); !ok || m.Removed {
		return JoinResult{}, fmt.Errorf("%w: the roster does not include you", ErrJoinRefused)
	}
	e, tree, err := n.joinedEpoch(inv.Group, roster, resp)
	switch {
	case err == nil:
	case already && held:
		// A member asking again whose node already holds the group, and
		// whose key for the current epoch did not come: it keeps its own.
		n.rememberPeers(resp.Peers)
		return JoinResult{GroupInfo: n.groupInfo(old), Already: true}, nil
	case already:
		return JoinResult{}, fmt.Errorf("%w: you are already a member of %q, but the node could not send you its current key (%v); try again in a minute", ErrJoinRefused, roster.Name(), err)
	default:
		return JoinResult{}, fmt.Errorf("%w: %v", ErrJoinRefused, err)
	}
	g := newGroup(inv.Group, roster, n.now())
	g.epochs[e.keys.Tag()] = e
	g.current = e
	if tree != nil {
		g.trees[tree.id] = tree
	}
	if held {
		n.mergeOld(g, old)
	}
	n.rememberPeers(resp.Peers)
	if err := n.saveGroup(g); err != nil {
		return JoinResult{}, err
	}
	if err := n.addGroup(g); err != nil {
		return JoinResult{}, err
	}
	if already {
		n.log.Info("asked to join a group this member is in", "group", g.id.String()[:8])
	} else {
		n.log.Info("joined a group", "group", g.id.String()[:8])
	}
	return JoinResult{GroupInfo: n.groupInfo(g), Already: already}, nil
}

// rememberPeers records where the member nodes a join response names can
// be reached.
func (n *Node) rememberPeers(pas []*wire.PeerAddrs) {
	for _, pa := range pas {
		p, err := peer.IDFromBytes(pa.Peer)
		if err != nil || p == n.host.ID() {
			continue
		}
		var addrs []ma.Multiaddr
		for _, ab := range pa.Addrs {
			if a, err := ma.NewMultiaddrBytes(ab); err == nil {
				addrs = append(addrs, a)
			}
		}
		n.rememberPeer(p, addrs)
	}
}

// afterJoin runs once a join was accepted: it connects this node to the
// node that redeemed it (so that the group's traffic starts at once, also
// on a node that does not dial by itself), then asks the code's other nodes
// whether the group counts this member, and warns if one says it does not:
// the node that let it in may hold a stale copy of the group (its admin
// was removed since).
func (n *Node) afterJoin(ctx context.Context, door host.Host, inv crypto.Invite, via peer.ID, resp *wire.JoinResponse, res *JoinResult) {
	if len(resp.Peers) > 0 {
		if redeemer, err := peer.IDFromBytes(resp.Peers[0].Peer); err == nil {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			n.host.Connect(cctx, peer.AddrInfo{ID: redeemer, Addrs: n.dialer.addrsOf(redeemer)})
			cancel()
		}
	}
	var others []peer.AddrInfo
	for _, ai := range append([]peer.AddrInfo{{ID: inv.Peer, Addrs: inv.Addrs}}, inv.Also...) {
		if ai.ID != via && ai.ID != inv.Peer {
			others = append(others, ai)
		}
	}
	for _, ai := range others {
		verdict := n.checkJoin(ctx, door, ai, inv)
		switch verdict.Status {
		case wire.JoinStatus_JOIN_ALREADY_MEMBER:
			res.ConfirmedBy++
		case wire.JoinStatus_JOIN_VOID, wire.JoinStatus_JOIN_REMOVED:
			res.Warning = fmt.Sprintf("the node of another admin of %q (%s) says the group does not count you: %s. What you were given may be an old copy of the group kept by someone who is no longer its admin. Do not send anything sensitive; check with the group's admins in person.",
				res.Name, shortPeer(ai.ID), remoteText(verdict.Detail, maxRefusal))
		}
	}
	if res.Warning != "" {
		n.log.Warn("another admin's node does not confirm this join", "group", inv.Group.String()[:8])
		if g, err := n.group(inv.Group); err == nil {
			n.setWarning(g, res.Warning)
			res.GroupInfo = n.groupInfo(g)
		}
	}
}

// checkJoin asks one node of the code whether the group counts this member.
// A node that has not heard of the join yet is asked again a few times.
func (n *Node) checkJoin(ctx context.Context, door host.Host, ai peer.AddrInfo, inv crypto.Invite) *wire.JoinResponse {
	var resp *wire.JoinResponse
	for try := range 4 {
		if try > 0 {
			select {
			case <-ctx.Done():
				return resp
			case <-time.After(time.Duration(try) * time.Second):
			}
		}
		r, err := n.askToJoin(ctx, door, ai, inv, true)
		if err != nil {
			return &wire.JoinResponse{Status: wire.JoinStatus_JOIN_UNAVAILABLE, Detail: shortErr(err)}
		}
		resp = r
		if r.Status != wire.JoinStatus_JOIN_NOT_KNOWN {
			return r
		}
	}
	return resp
}

// mergeOld carries the epoch keys of a group this node held before into the
// group it joined again, so that its history still opens, and leaves the
// old group's topics.
func (n *Node) mergeOld(g, old *group) {
	now := n.now()
	old.mu.Lock()
	for tag, e := range old.epochs {
		if _, ok := g.epochs[tag]; !ok {
			if e.retired.IsZero() {
				e.retired = now
			}
			g.epochs[tag] = e
		}
	}
	g.joined = old.joined
	g.warning = old.warning
	old.mu.Unlock()
	// The better of the two is current: a member asking again may already
	// hold a newer epoch than the one it was sent.
	g.mu.Lock()
	g.chooseCurrentLocked(now)
	g.mu.Unlock()
	if err := n.leaveTopics(old); err != nil {
		n.log.Warn("leaving the topics of a group replaced", "err", err)
	}
}

// joinedEpoch checks the hand-over an admin sent with a join response
// (a Rekey with an origin, PROTOCOL.md "Join") and opens the joiner's key
// in it, and its path keys of the group's key tree if there are any. The
// epoch reaches, as far as the joiner can tell, the roster's current
// members.
func (n *Node) joinedEpoch(gid crypto.GroupID, roster *alert.Roster, resp *wire.JoinResponse) (*epoch, *groupTree, error) {
	if resp.Rekey == nil {
		return nil, nil, errors.New("no group key")
	}
	in, err := crypto.ParseInner(resp.Rekey.Inner)
	if err != nil {
		return nil, nil, err
	}
	author, ok := roster.Member(in.Author)
	if !ok || author.Removed || author.Role != alert.RoleAdmin {
		return nil, nil, errors.New("the group key is not from an admin")
	}
	if err := in.Verify(author.Keys, gid, resp.Rekey.Epoch); err != nil {
		return nil, nil, err
	}
	m, err := alert.Decode(gid, resp.Rekey.Epoch, in.Author, in.Body)
	if err != nil {
		return nil, nil, err
	}
	if err := m.Validate(m.Created); err != nil {
		return nil, nil, err
	}
	m.Anchor(n.now()) // made just now, whatever the admin's clock says
	rk, ok := m.Content.(*alert.Rekey)
	if !ok || rk.Epoch != resp.Epoch || len(rk.Keys) != 1 || rk.Keys[0].Member != n.me {
		return nil, nil, errors.New("the group key is not for you and the announced epoch")
	}
	k := rk.Keys[0]
	secret, err := n.id.OpenEpochSecret(gid, rk.Epoch, k.Sealed)
	if err != nil {
		return nil, nil, err
	}
	e := &epoch{keys: crypto.NewEpochKeys(gid, rk.Epoch, secret), rekey: rk.Origin, since: m.Local(m.Created), aud: listAudience()}
	if rk.Origin.IsZero() {
		e.rekey = m.ID
	}
	for _, mem := range roster.Members() {
		e.aud.members[mem.ID()] = true
	}
	var t *groupTree
	if rk.Tree != nil {
		e.tree = rk.Tree.Tree
		t = &groupTree{id: rk.Tree.Tree}
		for _, f := range resp.Seats {
			id, err := crypto.MemberIDFromBytes(f)
			if err != nil {
				return nil, nil, err
			}
			t.founders = append(t.founders, id)
		}
		if k.Path != nil {
			pk, err := n.id.OpenPathKeys(gid, t.id, k.Path)
			if err != nil {
				return nil, nil, err
			}
			t.path = &pk
		}
	}
	return e, t, nil
}

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
		if len(pa.Addrs) < maxPeerAddrs {
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

// readDelimited reads one length-delimited message of at most max bytes.
func readDelimited(r io.Reader, m proto.Message, max int) error {
	return readDelimitedFrom(bufio.NewReader(r), m, max)
}

// readDelimitedFrom is readDelimited on a reader kept across messages.
// The framing is protodelim's (a uvarint length, then the message). The
// memory it takes grows with the bytes that arrive, not with the length
// the peer announces: a peer that announces max bytes and sends a few
// makes this node hold a few (protodelim allocates the whole announced
// length as soon as a buffer's worth has come). It returns io.EOF if the
// stream ends before the message starts.
func readDelimitedFrom(r *bufio.Reader, m proto.Message, max int) error {
	size, err := binary.ReadUvarint(r)
	if err != nil {
		return err
	}
	if size > uint64(max) {
		return fmt.Errorf("node: a message of %d bytes is over the limit of %d", size, max)
	}
	var b bytes.Buffer
	b.Grow(int(min(size, 64<<10)))
	if _, err := io.CopyN(&b, r, int64(size)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return proto.Unmarshal(b.Bytes(), m)
}

// shortPeer names a node in a message for people: the last characters of
// its peer id.
func shortPeer(p peer.ID) string {
	s := p.String()
	if len(s) > 8 {
		s = "…" + s[len(s)-8:]
	}
	return "node " + s
}

// shortErr keeps the first line of a libp2p error, which repeats itself.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
