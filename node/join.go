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
	ErrJoinRefused = errors.New("the invite was refused")
	ErrUnreachable = errors.New("could not reach a node that can redeem the invite (it may be offline)")
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
	// Other admins' nodes can redeem it too, if this one is off.
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

// Join redeems an invite code: it reaches the node in the code, proves it
// holds the code, and receives the group's roster and current epoch secret.
func (n *Node) Join(ctx context.Context, code string) (GroupInfo, error) {
	inv, err := crypto.ParseInviteCode(code)
	if err != nil {
		return GroupInfo{}, err
	}
	// Joining a group this node is already in is allowed: a member who was
	// removed and invited again, or a node off for so long that no member
	// holds its epochs any more, joins again and keeps its history.
	member, err := alert.EncodeMember(n.memberInfo())
	if err != nil {
		return GroupInfo{}, err
	}
	req := &wire.JoinRequest{Group: inv.Group[:], Invite: inv.ID[:], Member: member, Proof: inv.SignJoin(member)}
	// The node that made the invite first, then the other admins' nodes
	// the code names, until one answers.
	var errs []error
	for _, ai := range append([]peer.AddrInfo{{ID: inv.Peer, Addrs: inv.Addrs}}, inv.Also...) {
		resp, err := n.askToJoin(ctx, ai, req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if resp.Error != "" {
			return GroupInfo{}, fmt.Errorf("%w: %s", ErrJoinRefused, remoteText(resp.Error, maxRefusal))
		}
		return n.acceptJoin(inv, resp)
	}
	return GroupInfo{}, fmt.Errorf("%w: %v", ErrUnreachable, errors.Join(errs...))
}

// askToJoin runs the join protocol with one node.
func (n *Node) askToJoin(ctx context.Context, ai peer.AddrInfo, req *wire.JoinRequest) (*wire.JoinResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	if err := n.host.Connect(ctx, ai); err != nil {
		return nil, err
	}
	s, err := n.host.NewStream(ctx, ai.ID, JoinProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if _, err := protodelim.MarshalTo(s, req); err != nil {
		return nil, err
	}
	s.CloseWrite()
	var resp wire.JoinResponse
	if err := readDelimited(s, &resp, maxJoinResponse); err != nil {
		return nil, fmt.Errorf("no answer: %v", err)
	}
	return &resp, nil
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
	roster, skipped, err := alert.LoadRoster(inv.Group, ops)
	if err != nil {
		return GroupInfo{}, fmt.Errorf("%w: bad roster: %v", ErrJoinRefused, err)
	}
	for _, err := range skipped {
		n.log.Warn("left out a roster op the admin's node sent", "group", inv.Group.String()[:8], "err", err)
	}
	if m, ok := roster.Member(n.me); !ok || m.Removed {
		return GroupInfo{}, fmt.Errorf("%w: the roster does not include you", ErrJoinRefused)
	}
	e, err := n.joinedEpoch(inv.Group, roster, resp)
	if err != nil {
		return GroupInfo{}, fmt.Errorf("%w: %v", ErrJoinRefused, err)
	}
	g := newGroup(inv.Group, roster, n.now())
	g.epochs[e.keys.Tag()] = e
	g.current = e
	if old, err := n.group(inv.Group); err == nil {
		n.mergeOld(g, old)
	}
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
	old.mu.Unlock()
	old.topicMu.Lock()
	defer old.topicMu.Unlock()
	old.mu.Lock()
	topics := old.topics
	old.topics = make(map[crypto.KeyTag]*topicSub)
	old.mu.Unlock()
	for _, ts := range topics {
		n.unsubscribe(ts)
	}
}

// joinedEpoch checks the Rekey an admin started for a joiner and opens the
// joiner's key in it.
func (n *Node) joinedEpoch(gid crypto.GroupID, roster *alert.Roster, resp *wire.JoinResponse) (*epoch, error) {
	if resp.Rekey == nil {
		return nil, errors.New("no group key")
	}
	in, err := crypto.ParseInner(resp.Rekey.Inner)
	if err != nil {
		return nil, err
	}
	author, ok := roster.Member(in.Author)
	if !ok || author.Removed || author.Role != alert.RoleAdmin {
		return nil, errors.New("the group key is not from an admin")
	}
	if err := in.Verify(author.Keys, gid, resp.Rekey.Epoch); err != nil {
		return nil, err
	}
	m, err := alert.Decode(gid, resp.Rekey.Epoch, in.Author, in.Body)
	if err != nil {
		return nil, err
	}
	m.Anchor(n.now()) // made just now, whatever the admin's clock says
	rk, ok := m.Content.(*alert.Rekey)
	if !ok || rk.Epoch != resp.Epoch {
		return nil, errors.New("the group key is not for the announced epoch")
	}
	e, err := n.epochFromRekey(gid, m, rk)
	if errors.Is(err, errNotSealedToMe) {
		return nil, errors.New("the group key was not sealed to you")
	}
	return e, err
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
	// A new epoch for everyone, the joiner included: the joiner reads
	// nothing sent before it joined.
	signed, next, err := n.rekey(n.ctx, g)
	if err != nil {
		return refuse("could not start a new group key: %v", err)
	}
	resp := &wire.JoinResponse{Epoch: next, Rekey: &wire.SignedOp{Epoch: signed.Epoch, Inner: signed.Inner.Marshal()}}
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
