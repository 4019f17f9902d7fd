package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/wire"
)

// JoinProtocol is the libp2p protocol id of the join protocol.
const JoinProtocol protocol.ID = "/takecare/join/1.0.0"

// Limits of the join protocol.
const (
	maxJoinRequest  = 16 << 10
	maxJoinResponse = 32 << 20
	joinTimeout     = 30 * time.Second

	DefaultInviteUses = 1
	DefaultInviteTTL  = 24 * time.Hour
	MaxInviteTTL      = 30 * 24 * time.Hour
	MaxInviteUses     = 1000
)

// Errors a joiner sees.
var (
	ErrAlreadyMember = errors.New("you are already a member of this group")
	ErrJoinRefused   = errors.New("the invite was refused")
	ErrUnreachable   = errors.New("could not reach the inviting node")
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
// The invite is announced to the group so that any admin's node can redeem
// it.
func (n *Node) CreateInvite(ctx context.Context, gid crypto.GroupID, uses int, ttl time.Duration) (Invite, error) {
	g, err := n.group(gid)
	if err != nil {
		return Invite{}, err
	}
	if !n.isAdmin(g) {
		return Invite{}, ErrNotAdmin
	}
	if uses == 0 {
		uses = DefaultInviteUses
	}
	if ttl == 0 {
		ttl = DefaultInviteTTL
	}
	if uses < 1 || uses > MaxInviteUses {
		return Invite{}, fmt.Errorf("uses must be between 1 and %d", MaxInviteUses)
	}
	if ttl < time.Second || ttl > MaxInviteTTL {
		return Invite{}, fmt.Errorf("an invite must last between 1s and %s", MaxInviteTTL)
	}
	inv := crypto.NewInvite(gid, n.host.ID(), n.shareableAddrs())
	expires := n.now().Add(ttl)
	op := &alert.RosterOp{Parents: g.roster.Heads(), Change: &alert.NewInvite{ID: inv.ID, Key: inv.PublicKey(), Uses: uses, Expires: expires}}
	if _, err := n.send(ctx, g, op); err != nil {
		return Invite{}, err
	}
	return Invite{Code: inv.Code(), ID: inv.ID.String(), Group: g.roster.Name(), Uses: uses, Expires: expires.UTC()}, nil
}

func (n *Node) isAdmin(g *group) bool {
	m, ok := g.roster.Member(n.me)
	return ok && !m.Removed && m.Role == alert.RoleAdmin
}

// Join redeems an invite code: it reaches the node in the code, proves it
// holds the code, and receives the group's roster and current epoch secret.
func (n *Node) Join(ctx context.Context, code string) (GroupInfo, error) {
	inv, err := crypto.ParseInviteCode(code)
	if err != nil {
		return GroupInfo{}, err
	}
	if _, err := n.group(inv.Group); err == nil {
		return GroupInfo{}, ErrAlreadyMember
	}
	member, err := alert.EncodeMember(n.memberInfo())
	if err != nil {
		return GroupInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	if err := n.host.Connect(ctx, peer.AddrInfo{ID: inv.Peer, Addrs: inv.Addrs}); err != nil {
		return GroupInfo{}, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	s, err := n.host.NewStream(ctx, inv.Peer, JoinProtocol)
	if err != nil {
		return GroupInfo{}, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	req := &wire.JoinRequest{Group: inv.Group[:], Invite: inv.ID[:], Member: member, Proof: inv.SignJoin(member)}
	if _, err := protodelim.MarshalTo(s, req); err != nil {
		return GroupInfo{}, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	s.CloseWrite()
	var resp wire.JoinResponse
	if err := readDelimited(s, &resp, maxJoinResponse); err != nil {
		return GroupInfo{}, fmt.Errorf("%w: no answer: %v", ErrUnreachable, err)
	}
	if resp.Error != "" {
		return GroupInfo{}, fmt.Errorf("%w: %s", ErrJoinRefused, resp.Error)
	}
	return n.acceptJoin(inv, &resp)
}

func (n *Node) acceptJoin(inv crypto.Invite, resp *wire.JoinResponse) (GroupInfo, error) {
	var ops []alert.SignedOp
	for _, o := range resp.Roster {
		in, err := crypto.ParseInner(o.Inner)
		if err != nil {
			return GroupInfo{}, fmt.Errorf("%w: bad roster: %v", ErrJoinRefused, err)
		}
		ops = append(ops, alert.SignedOp{Epoch: o.Epoch, Inner: in})
	}
	roster, err := alert.LoadRoster(inv.Group, ops)
	if err != nil {
		return GroupInfo{}, fmt.Errorf("%w: bad roster: %v", ErrJoinRefused, err)
	}
	if m, ok := roster.Member(n.me); !ok || m.Removed {
		return GroupInfo{}, fmt.Errorf("%w: the roster does not include you", ErrJoinRefused)
	}
	secret, err := n.id.OpenEpochSecret(inv.Group, resp.Epoch, resp.SealedSecret)
	if err != nil {
		return GroupInfo{}, fmt.Errorf("%w: %v", ErrJoinRefused, err)
	}
	g := newGroup(inv.Group, roster, n.now())
	g.epochs[resp.Epoch] = crypto.NewEpochKeys(inv.Group, resp.Epoch, secret)
	g.since[resp.Epoch] = n.now()
	g.current = resp.Epoch
	for _, pa := range resp.Peers {
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
	if err := n.saveGroup(g); err != nil {
		return GroupInfo{}, err
	}
	if err := n.addGroup(g); err != nil {
		return GroupInfo{}, err
	}
	n.log.Info("joined a group", "group", g.id.String()[:8])
	return n.groupInfo(g), nil
}

// handleJoin serves the join protocol on an admin's node.
func (n *Node) handleJoin(s network.Stream) {
	if !n.enter() {
		s.Reset()
		return
	}
	defer n.leave()
	defer s.Close()
	s.SetDeadline(time.Now().Add(joinTimeout))
	resp := n.redeem(s)
	if _, err := protodelim.MarshalTo(s, resp); err != nil {
		s.Reset()
	}
}

func (n *Node) redeem(s network.Stream) *wire.JoinResponse {
	refuse := func(format string, a ...any) *wire.JoinResponse {
		n.log.Info("refused a join", "peer", s.Conn().RemotePeer(), "reason", fmt.Sprintf(format, a...))
		return &wire.JoinResponse{Error: fmt.Sprintf(format, a...)}
	}
	var req wire.JoinRequest
	if err := readDelimited(s, &req, maxJoinRequest); err != nil {
		return refuse("malformed request")
	}
	gid, err := crypto.GroupIDFromBytes(req.Group)
	if err != nil {
		return refuse("malformed request")
	}
	g, err := n.group(gid)
	if err != nil || !n.isAdmin(g) {
		return refuse("this node cannot redeem invites to that group")
	}
	var iid crypto.InviteID
	if len(req.Invite) != len(iid) {
		return refuse("malformed request")
	}
	copy(iid[:], req.Invite)

	// One redemption at a time, so that uses are counted exactly.
	n.joinMu.Lock()
	defer n.joinMu.Unlock()
	inv, ok := g.roster.Invite(iid)
	if !ok {
		return refuse("unknown invite")
	}
	if err := crypto.VerifyJoin(inv.Key, gid, iid, req.Member, req.Proof); err != nil {
		return refuse("the invite proof does not verify")
	}
	member, err := alert.DecodeMember(req.Member)
	if err != nil {
		return refuse("malformed member record")
	}
	if member.Peer != s.Conn().RemotePeer() {
		return refuse("the member record names another node")
	}
	if err := alert.ValidName("member name", member.Name); err != nil {
		return refuse("%v", err)
	}
	if m, ok := g.roster.Member(member.ID()); !ok || m.Removed {
		if err := inv.Usable(n.now()); err != nil {
			return refuse("%v", err)
		}
		op := &alert.RosterOp{Parents: g.roster.Heads(), Change: &alert.AddMember{Member: member, Invite: iid}}
		if _, err := n.send(n.ctx, g, op); err != nil {
			return refuse("could not add the member: %v", err)
		}
		n.log.Info("member joined", "group", gid.String()[:8])
	}
	keys := g.currentKeys()
	sealed, err := crypto.SealEpochSecret(member.Keys, gid, keys.Epoch(), keys.Secret())
	if err != nil {
		return refuse("could not seal the group key")
	}
	resp := &wire.JoinResponse{Epoch: keys.Epoch(), SealedSecret: sealed}
	for _, op := range g.roster.Ops() {
		resp.Roster = append(resp.Roster, &wire.SignedOp{Epoch: op.Epoch, Inner: op.Inner.Marshal()})
	}
	resp.Peers = append(resp.Peers, n.peerAddrs(n.host.ID(), n.shareableAddrs()))
	for _, p := range n.memberPeers(g) {
		if p != member.Peer {
			resp.Peers = append(resp.Peers, n.peerAddrs(p, n.host.Peerstore().Addrs(p)))
		}
	}
	return resp
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

// readDelimited reads one length-delimited message of at most max bytes.
func readDelimited(r io.Reader, m proto.Message, max int) error {
	return protodelim.UnmarshalOptions{MaxSize: int64(max)}.UnmarshalFrom(bufio.NewReader(r), m)
}
