package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/join"
	"github.com/takecare-network/takecare/node/internal/wire"
)

// JoinProtocol is the libp2p protocol id of the join protocol
// (PROTOCOL.md, "Join").
const JoinProtocol = join.Protocol

// Limits of invites.
const (
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
	member, err := alert.EncodeMember(n.memberInfo())
	if err != nil {
		return nil, err
	}
	return join.Ask(ctx, door, ai, inv, n.id, member, check)
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

// acceptJoin takes the group a join response gives: its roster (with
// what this node held of it before), the epoch handed over, and where its
// member nodes are.
func (n *Node) acceptJoin(inv crypto.Invite, resp *wire.JoinResponse) (JoinResult, error) {
	already := resp.Status == wire.JoinStatus_JOIN_ALREADY_MEMBER
	old, err := n.group(inv.Group)
	held := err == nil
	roster, err := n.joinedRoster(inv.Group, resp, old)
	if err != nil {
		return JoinResult{}, err
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
	g.change(func(v *groupView) {
		v.put(e)
		v.current = e
		if tree != nil {
			v.trees[tree.id] = tree
		}
	})
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

// joinedRoster loads the roster a join response gives, with the ops of
// old, the group this node held before (nil if none): the response may
// lack an op this node already has. The roster must count this member.
func (n *Node) joinedRoster(gid crypto.GroupID, resp *wire.JoinResponse, old *group) (*alert.Roster, error) {
	var ops []alert.SignedOp
	for _, o := range resp.Roster {
		in, err := crypto.ParseInner(o.Inner)
		if err != nil {
			return nil, fmt.Errorf("%w: bad roster: %v", ErrJoinRefused, err)
		}
		ops = append(ops, alert.SignedOp{Epoch: o.Epoch, Inner: in})
	}
	if old != nil {
		ops = append(ops, old.roster.Ops()...)
	}
	roster, skipped, err := alert.LoadRoster(gid, ops)
	if err != nil {
		return nil, fmt.Errorf("%w: bad roster: %v", ErrJoinRefused, err)
	}
	for _, err := range skipped {
		n.log.Warn("left out a roster op the admin's node sent", "group", gid.String()[:8], "err", err)
	}
	if m, ok := roster.Member(n.me); !ok || m.Removed {
		return nil, fmt.Errorf("%w: the roster does not include you", ErrJoinRefused)
	}
	return roster, nil
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
			n.host.Connect(cctx, peer.AddrInfo{ID: redeemer, Addrs: n.dialer.AddrsOf(redeemer)})
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
// old group's topics. g is not yet known to the rest of the node.
func (n *Node) mergeOld(g, old *group) {
	now := n.now()
	was := old.state()
	g.joined = old.joined
	g.change(func(v *groupView) {
		for tag, e := range was.epochs {
			if _, ok := v.epochs[tag]; !ok {
				if e.retired.IsZero() {
					e = e.retiredAt(now)
				}
				v.put(e)
			}
		}
		v.warning = was.warning
		// The better of the two is current: a member asking again may
		// already hold a newer epoch than the one it was sent.
		g.chooseCurrent(v, now)
	})
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
