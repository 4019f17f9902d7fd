package node

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/wire"
)

// Relays that are not members (PROTOCOL.md, "Relays that are not
// members"): an admin grants a node that is in no group (an organisation's
// always-on server) the right to relay for the group. The grant goes in the
// roster, with a secret; the relay's operator gets the secret as a relay
// code. Member nodes prove to the relay that they know the secret
// (/takecare/relay-auth/1.0.0); the relay then gives them slots and relays
// between two nodes that proved the same grant, and keeps their rendezvous
// records. It never holds a roster, a key of the group, or a topic name.

// RelayAuthProtocol is the protocol id member nodes prove a grant with.
const RelayAuthProtocol protocol.ID = "/takecare/relay-auth/1.0.0"

const (
	// maxRelayProofs bounds the proofs of one RelayAuth.
	maxRelayProofs = 16
	// maxRelayCodes bounds the codes a relay holds.
	maxRelayCodes = 256
	// Durations of a grant.
	DefaultRelayGrant = 90 * 24 * time.Hour
	MaxRelayGrant     = 366 * 24 * time.Hour
	relayAuthMax      = maxRelayProofs*64 + 16
	relayCodeKind     = "relay-code"
)

// Errors of relay grants.
var (
	// ErrNoSuchRelay: no relay granted to the group matches.
	ErrNoSuchRelay = NewError(KindNotFound, "no such relay")
	// ErrNotRelay: the node was not started as a relay (--relay).
	ErrNotRelay = NewError(KindConflict, "this node is not a relay")
	// ErrRelayInGroup: a node that is in a group relays for its groups'
	// member nodes already; relay codes are for nodes in no group.
	ErrRelayInGroup = NewError(KindConflict, "this node is in a group")
)

// RelayView is a relay granted to a group, as its members see it.
type RelayView struct {
	Name    string    `json:"name"`
	Peer    string    `json:"peer"`
	Addrs   []string  `json:"addrs"`
	By      string    `json:"by"` // the admin who granted it
	Expires time.Time `json:"expires"`
	Revoked bool      `json:"revoked"`
	// Usable is whether members use it now (not revoked, not expired).
	Usable bool `json:"usable"`
	// Path is how this node reaches it now: "direct" or "unreachable".
	Path string `json:"path"`
	// Label names the grant's code at the relay, as `takecare relay
	// codes` on the relay shows it (hex, 16 characters): its operator
	// drops a revoked grant's code by it (takecare relay drop).
	Label string `json:"label"`
}

// GrantedRelay answers [Node.GrantRelay]: the relay, and the code its
// operator gives their node (takecare relay accept).
type GrantedRelay struct {
	RelayView
	Code string `json:"code"`
	// Replaces is the label of the earlier grant's code, which the relay
	// drops an hour after it takes this one (empty: none).
	Replaces string `json:"replaces,omitempty"`
}

// GrantRelay lets the node at addr (a multiaddr ending in /p2p/PEER,
// where it listens; it must be in no group), called name, relay for
// group gid's member nodes for ttl (0: DefaultRelayGrant; at most
// MaxRelayGrant). Admins only. A new grant for the same relay replaces the
// earlier one, with a new code that names the earlier code: the relay
// drops that one an hour after it takes the new one, so that whoever
// still knows the earlier secret (a member removed since) can no longer
// prove it.
func (n *Node) GrantRelay(ctx context.Context, gid crypto.GroupID, addr, name string, ttl time.Duration) (GrantedRelay, error) {
	g, err := n.adminGroup(gid)
	if err != nil {
		return GrantedRelay{}, err
	}
	if ttl == 0 {
		ttl = DefaultRelayGrant
	}
	if ttl < time.Hour || ttl > MaxRelayGrant {
		return GrantedRelay{}, withParams(ErrOutOfRange, []string{"what", "relay_ttl", "min", "3600", "max", fmt.Sprint(int64(MaxRelayGrant.Seconds()))},
			"a relay grant lasts from 1 hour to %d days", int(MaxRelayGrant.Hours()/24))
	}
	m, err := ma.NewMultiaddr(strings.TrimSpace(addr))
	if err != nil {
		return GrantedRelay{}, Errorf(KindInvalid, "node: relay address %q: %v", addr, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil || len(info.Addrs) == 0 {
		return GrantedRelay{}, Errorf(KindInvalid, "node: relay address %q: give where it listens and its peer id, e.g. /ip4/203.0.113.5/tcp/4001/p2p/12D3Koo…", addr)
	}
	if info.ID == n.host.ID() || g.isMemberPeer(info.ID) {
		return GrantedRelay{}, Errorf(KindInvalid, "node: %s is a member node of %s: it relays for the group already (takecare run --relay)", shortPeer(info.ID), g.roster.Name())
	}
	code := crypto.NewRelayCode(n.now().Add(ttl))
	for _, st := range g.roster.Relays() {
		if st.Relay == info.ID {
			code.Replaces = crypto.RelayLabel(st.Secret)
		}
	}
	grant := &alert.GrantRelay{Relay: info.ID, Name: strings.TrimSpace(name), Addrs: info.Addrs, Secret: code.Secret, Expires: code.Expires}
	if len(grant.Addrs) > alert.MaxRelayAddrs {
		grant.Addrs = grant.Addrs[:alert.MaxRelayAddrs]
	}
	op := &alert.RosterOp{Parents: g.roster.Heads(), Change: grant}
	if _, err := n.send(ctx, g, op); err != nil {
		return GrantedRelay{}, err
	}
	for _, st := range g.roster.Relays() {
		if st.Relay == info.ID {
			out := GrantedRelay{RelayView: n.relayView(g, st), Code: code.String()}
			if code.Replaces != ([16]byte{}) {
				out.Replaces = codeLabel(code.Replaces)
			}
			return out, nil
		}
	}
	return GrantedRelay{}, fmt.Errorf("node: bug: the grant of %s is not in the roster", info.ID)
}

// RevokeRelay withdraws the grant of a relay of group gid (admins only);
// ref is its name or a prefix of its peer id.
func (n *Node) RevokeRelay(ctx context.Context, gid crypto.GroupID, ref string) (RelayView, error) {
	g, err := n.adminGroup(gid)
	if err != nil {
		return RelayView{}, err
	}
	st, err := relayRefs.one(g.roster.Relays(), ref, g.roster.Name())
	if err != nil {
		return RelayView{}, err
	}
	if st.Revoked {
		return RelayView{}, withParams(ErrConflict, []string{"ref", st.Name}, "relay %s is already revoked", st.Name)
	}
	op := &alert.RosterOp{Parents: g.roster.Heads(), Change: &alert.RevokeRelay{Relay: st.Relay}}
	if _, err := n.send(ctx, g, op); err != nil {
		return RelayView{}, err
	}
	for _, s := range g.roster.Relays() {
		if s.Relay == st.Relay {
			return n.relayView(g, s), nil
		}
	}
	return RelayView{}, ErrNoSuchRelay
}

// Relays lists the relays granted to group gid, revoked and expired ones
// included.
func (n *Node) Relays(gid crypto.GroupID) ([]RelayView, error) {
	g, err := n.group(gid)
	if err != nil {
		return nil, err
	}
	out := []RelayView{}
	for _, st := range g.roster.Relays() {
		out = append(out, n.relayView(g, st))
	}
	return out, nil
}

func (n *Node) relayView(g *group, st alert.RelayState) RelayView {
	v := RelayView{Name: st.Name, Peer: st.Relay.String(), By: n.memberName(g, st.By), Expires: st.Expires.UTC(),
		Revoked: st.Revoked, Usable: st.Usable(n.now()), Path: PathUnreachable, Label: codeLabel(crypto.RelayLabel(st.Secret))}
	for _, a := range st.Addrs {
		v.Addrs = append(v.Addrs, a.String())
	}
	if n.connected(st.Relay) {
		v.Path = PathDirect
	}
	return v
}

// relayRefs resolves references to a group's relays (resolve.go).
var relayRefs = resolver[alert.RelayState]{
	what: "relay", word: "relay", notFound: ErrNoSuchRelay, minPrefix: minRefPrefix,
	name:  func(s alert.RelayState) string { return s.Name },
	id:    func(s alert.RelayState) string { return strings.ToLower(s.Relay.String()) },
	label: func(s alert.RelayState) string { return s.Name + " (" + s.Relay.String()[:12] + ")" },
}

// grantedRelays returns, for every group this node is a current member
// of, its relays usable at now, by peer.
func (n *Node) grantedRelays(now time.Time) map[peer.ID][]groupGrant {
	out := make(map[peer.ID][]groupGrant)
	for _, g := range n.groupList() {
		if me, ok := g.roster.Member(n.me); !ok || me.Removed {
			continue
		}
		for _, st := range g.roster.Relays() {
			if st.Usable(now) {
				out[st.Relay] = append(out[st.Relay], groupGrant{g, st})
			}
		}
	}
	return out
}

type groupGrant struct {
	g  *group
	st alert.RelayState
}

// grantsRelay reports whether g grants p the right to relay at now.
func (g *group) grantsRelay(p peer.ID, now time.Time) bool {
	return slices.ContainsFunc(g.roster.Relays(), func(st alert.RelayState) bool { return st.Relay == p && st.Usable(now) })
}

// authRelay proves to relay p, which this node's groups granted, that this
// node is a member node of them, then uses it as a relay (transport.Reach).
func (n *Node) authRelay(ctx context.Context, p peer.ID) error {
	req := &wire.RelayAuth{}
	for _, gg := range n.grantedRelays(n.now())[p] {
		label := crypto.RelayLabel(gg.st.Secret)
		proof := crypto.RelayProof(gg.st.Secret, p, n.host.ID())
		req.Proofs = append(req.Proofs, &wire.RelayAuthProof{Label: label[:], Proof: proof[:]})
		if len(req.Proofs) == maxRelayProofs {
			break
		}
	}
	if len(req.Proofs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, rvTimeout)
	defer cancel()
	st, err := n.host.NewStream(network.WithNoDial(ctx, "relay auth"), p, RelayAuthProtocol)
	if err != nil {
		return err
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(rvTimeout))
	if _, err := protodelim.MarshalTo(st, req); err != nil {
		st.Reset()
		return err
	}
	var res wire.RelayAuthResult
	if err := readDelimitedFrom(bufio.NewReader(st), &res, 64); err != nil {
		st.Reset()
		return err
	}
	if res.Accepted == 0 {
		return fmt.Errorf("the relay took none of %d grants (it has no code for them, or they ended)", len(req.Proofs))
	}
	n.reach.Identified(p)
	return nil
}
