package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
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

// relayCodes are the grants a relay that is in no group holds, and the
// peers that proved them, while they are connected. Safe for concurrent
// use.
type relayCodes struct {
	mu    sync.Mutex
	codes map[[16]byte]crypto.RelayCode
	// proved holds, per connected peer, the labels it proved and when
	// each ends.
	proved map[peer.ID]map[[16]byte]time.Time
	// replacedBy maps the label of a code that a newer code of the same
	// group replaced to the newer one's; the replaced code still holds,
	// as the same grant, until retire says (relayReplaceGrace).
	replacedBy map[[16]byte][16]byte
	retire     map[[16]byte]time.Time
	// maxNodes is how many peers may hold proofs of one grant at once
	// (RelayConfig.MaxNodesPerGrant).
	maxNodes int
}

// relayReplaceGrace is how long a relay still takes a code that a newer
// one replaced, as the same grant: member nodes that have not yet learned
// of the new grant reach, through the relay, those that have, and learn
// of it. Then it drops the old code.
const relayReplaceGrace = time.Hour

// RelayCodeView is a relay code as its relay sees it: nothing but a label
// and its end.
type RelayCodeView struct {
	Label   string    `json:"label"` // hex, the first 8 bytes of the grant's label
	Expires time.Time `json:"expires"`
	// Replaced is the label of the code this one replaced (empty: none),
	// which the relay still takes until ReplacedUntil, then drops.
	Replaced      string    `json:"replaced,omitempty"`
	ReplacedUntil time.Time `json:"replaced_until,omitzero"`
}

// codeLabel is how a grant's label is shown: hex, its first 8 bytes.
func codeLabel(l [16]byte) string { return hex.EncodeToString(l[:8]) }

// ErrNoSuchRelayCode: the relay holds no code with that label.
var ErrNoSuchRelayCode = NewError(KindNotFound, "no such relay code")

// AcceptRelayCode makes this node (started as a relay, in no group) relay
// for the member nodes of the group that granted code, until the code
// ends. The code is kept, sealed, in the node's store. If it replaces an
// earlier code (a new grant of the same group), that one still holds, as
// the same grant, for relayReplaceGrace (so that member nodes that have
// not yet learned of the new grant reach those that have), and is then
// dropped as [Node.DropRelayCode] does.
func (n *Node) AcceptRelayCode(code string) (RelayCodeView, error) {
	if n.relay == nil {
		return RelayCodeView{}, ErrNotRelay
	}
	if len(n.groupList()) > 0 {
		return RelayCodeView{}, ErrRelayInGroup
	}
	c, err := crypto.ParseRelayCode(code)
	if err != nil {
		return RelayCodeView{}, err
	}
	if !n.now().Before(c.Expires) {
		return RelayCodeView{}, Errorf(KindInvalid, "node: this relay code ended at %s", c.Expires.UTC().Format(time.RFC3339))
	}
	label := crypto.RelayLabel(c.Secret)
	n.relayCodes.mu.Lock()
	_, replaces := n.relayCodes.codes[c.Replaces]
	replaces = replaces && c.Replaces != label
	full := len(n.relayCodes.codes) >= maxRelayCodes && !replaces
	n.relayCodes.mu.Unlock()
	if full {
		return RelayCodeView{}, Errorf(KindConflict, "node: this relay holds %d codes, as many as it takes", maxRelayCodes)
	}
	if err := n.store.PutBlob(relayCodeKind, label[:], []byte(c.String())); err != nil {
		return RelayCodeView{}, err
	}
	n.relayCodes.add(c)
	v := RelayCodeView{Label: codeLabel(label), Expires: c.Expires.UTC()}
	if until, ok := n.relayCodes.link(c, n.now()); ok {
		v.Replaced, v.ReplacedUntil = codeLabel(c.Replaces), until.UTC()
	}
	return v, nil
}

// DropRelayCode makes this relay forget the code whose label (as
// [Node.RelayCodes] shows it) starts with label, at least 8 hex
// characters: a code whose grant an admin revoked. The nodes that proved
// only codes it no longer holds are disconnected, losing their slots and
// the connections relayed for them. Errors: ErrNotRelay,
// ErrNoSuchRelayCode (also for fewer than 8 characters), ErrAmbiguous.
func (n *Node) DropRelayCode(label string) (RelayCodeView, error) {
	if n.relay == nil {
		return RelayCodeView{}, ErrNotRelay
	}
	label = strings.ToLower(strings.TrimSpace(label))
	var found []crypto.RelayCode
	var labels []string
	if len(label) >= 8 {
		n.relayCodes.mu.Lock()
		for l, c := range n.relayCodes.codes {
			if strings.HasPrefix(hex.EncodeToString(l[:]), label) {
				found = append(found, c)
				labels = append(labels, codeLabel(l))
			}
		}
		n.relayCodes.mu.Unlock()
	}
	switch len(found) {
	case 0:
		return RelayCodeView{}, withParams(ErrNoSuchRelayCode, []string{"ref", label},
			"this relay holds no code %q: give at least 8 characters of a label takecare relay codes shows", label)
	case 1:
	default:
		slices.Sort(labels)
		return RelayCodeView{}, withParams(ErrAmbiguous, []string{"what", "relay code", "ref", label, "candidates", paramList(labels)},
			"relay code %q is %v: %s; give more of the label", label, ErrAmbiguous, paramList(labels))
	}
	l := crypto.RelayLabel(found[0].Secret)
	if err := n.dropRelayCodes([][16]byte{l}); err != nil {
		return RelayCodeView{}, err
	}
	return RelayCodeView{Label: codeLabel(l), Expires: found[0].Expires.UTC()}, nil
}

// dropRelayCodes forgets the codes of labels, in memory and in the store,
// and disconnects the nodes that proved none of the codes left.
func (n *Node) dropRelayCodes(labels [][16]byte) error {
	for _, l := range labels {
		if err := n.store.DeleteBlob(relayCodeKind, l[:]); err != nil {
			return err
		}
	}
	for _, p := range n.relayCodes.drop(labels) {
		if !n.isMemberPeer(p) {
			n.host.Network().ClosePeer(p)
		}
	}
	return nil
}

// RelayCodes lists the codes this relay holds.
func (n *Node) RelayCodes() []RelayCodeView {
	n.relayCodes.mu.Lock()
	defer n.relayCodes.mu.Unlock()
	out := []RelayCodeView{}
	for l := range n.relayCodes.codes {
		out = append(out, RelayCodeView{Label: codeLabel(l), Expires: n.relayCodes.ends(l).UTC()})
	}
	slices.SortFunc(out, func(a, b RelayCodeView) int { return strings.Compare(a.Label, b.Label) })
	return out
}

// loadRelayCodes reads the codes kept in the store, forgetting ended ones.
func (n *Node) loadRelayCodes() error {
	blobs, err := n.store.Blobs(relayCodeKind)
	if err != nil {
		return err
	}
	var loaded []crypto.RelayCode
	for k, v := range blobs {
		c, err := crypto.ParseRelayCode(string(v))
		if err != nil || !n.now().Before(c.Expires) {
			n.store.DeleteBlob(relayCodeKind, []byte(k))
			continue
		}
		n.relayCodes.add(c)
		loaded = append(loaded, c)
	}
	// A code replaced before the relay stopped gets its grace again.
	for _, c := range loaded {
		n.relayCodes.link(c, n.now())
	}
	return nil
}

func (r *relayCodes) add(c crypto.RelayCode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.codes == nil {
		r.codes = make(map[[16]byte]crypto.RelayCode)
	}
	r.codes[crypto.RelayLabel(c.Secret)] = c
}

// link records that c replaces the code it names, if the relay holds
// that one, and returns until when the replaced code still holds.
func (r *relayCodes) link(c crypto.RelayCode, now time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, label := c.Replaces, crypto.RelayLabel(c.Secret)
	if _, ok := r.codes[old]; !ok || old == label {
		return time.Time{}, false
	}
	if r.replacedBy == nil {
		r.replacedBy = make(map[[16]byte][16]byte)
		r.retire = make(map[[16]byte]time.Time)
	}
	r.replacedBy[old] = label
	until, ok := r.retire[old]
	if !ok || now.Add(relayReplaceGrace).Before(until) {
		until = now.Add(relayReplaceGrace)
		r.retire[old] = until
	}
	return until, true
}

// ends returns when the code of label stops holding: its end, or the end
// of its grace once replaced. The caller holds r.mu.
func (r *relayCodes) ends(l [16]byte) time.Time {
	end := r.codes[l].Expires
	if until, ok := r.retire[l]; ok && until.Before(end) {
		end = until
	}
	return end
}

// grant returns the label of the newest code of the grant l belongs to,
// following replacements. The caller holds r.mu.
func (r *relayCodes) grant(l [16]byte) [16]byte {
	for range len(r.replacedBy) {
		next, ok := r.replacedBy[l]
		if !ok {
			break
		}
		l = next
	}
	return l
}

// ended returns the labels of the codes that no longer hold at now.
func (r *relayCodes) ended(now time.Time) [][16]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][16]byte
	for l := range r.codes {
		if !now.Before(r.ends(l)) {
			out = append(out, l)
		}
	}
	return out
}

// pruneRelayCodes drops the codes that ended or whose grace after being
// replaced is over, on a relay.
func (n *Node) pruneRelayCodes() {
	if n.relay == nil {
		return
	}
	if ended := n.relayCodes.ended(n.now()); len(ended) > 0 {
		if err := n.dropRelayCodes(ended); err != nil {
			n.log.Error("dropping ended relay codes", "err", err)
		}
	}
}

// servesCodes reports whether this node is a relay in no group holding a
// relay code that has not ended: then it lets any node connect, to prove
// a code. It has no topic, roster or message to tell.
func (n *Node) servesCodes() bool {
	return n.relay != nil && n.relayCodes.serving(n.now()) && len(n.groupList()) == 0
}

// drop forgets the codes of labels and what peers proved of them, and
// returns the peers that proved some of them and now hold none.
func (r *relayCodes) drop(labels [][16]byte) []peer.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	var lost []peer.ID
	for _, l := range labels {
		delete(r.codes, l)
		delete(r.retire, l)
		delete(r.replacedBy, l)
		for p, proved := range r.proved {
			if _, ok := proved[l]; !ok {
				continue
			}
			delete(proved, l)
			if len(proved) == 0 {
				delete(r.proved, p)
				lost = append(lost, p)
			}
		}
	}
	return lost
}

// serving reports whether the relay holds a code that has not ended.
func (r *relayCodes) serving(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for l := range r.codes {
		if now.Before(r.ends(l)) {
			return true
		}
	}
	return false
}

// check takes the proofs p (this relay is self) sent, and returns how many
// hold.
func (r *relayCodes) check(self, p peer.ID, proofs []*wire.RelayAuthProof, now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok := 0
	for _, pr := range proofs {
		if len(pr.Label) != 16 {
			continue
		}
		label := [16]byte(pr.Label)
		c, known := r.codes[label]
		if !known || !now.Before(r.ends(label)) || !crypto.CheckRelayProof(c.Secret, self, p, pr.Proof) || r.full(r.grant(label), p, now) {
			continue
		}
		if r.proved == nil {
			r.proved = make(map[peer.ID]map[[16]byte]time.Time)
		}
		if r.proved[p] == nil {
			r.proved[p] = make(map[[16]byte]time.Time)
		}
		r.proved[p][label] = r.ends(label)
		ok++
	}
	return ok
}

// full reports whether as many peers other than p as a grant allows hold
// proofs of grant g at now. The caller holds r.mu.
func (r *relayCodes) full(g [16]byte, p peer.ID, now time.Time) bool {
	if r.maxNodes <= 0 {
		return false
	}
	n := 0
	for q, proved := range r.proved {
		if q == p {
			continue
		}
		for l, until := range proved {
			if now.Before(until) && r.grant(l) == g {
				n++
				break
			}
		}
	}
	return n >= r.maxNodes
}

// grantOf returns the grant p's rendezvous records count against: the
// first, in byte order, of the grants it proved that hold at now.
func (r *relayCodes) grantOf(p peer.ID, now time.Time) ([16]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var best [16]byte
	found := false
	for l, until := range r.proved[p] {
		if g := r.grant(l); now.Before(until) && (!found || bytes.Compare(g[:], best[:]) < 0) {
			best, found = g, true
		}
	}
	return best, found
}

// Authorized reports whether p proved a grant that has not ended.
func (r *relayCodes) Authorized(p peer.ID, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, until := range r.proved[p] {
		if now.Before(until) {
			return true
		}
	}
	return false
}

// Together reports whether p and q proved one same grant that has not
// ended (a code, or one it replaced that still holds).
func (r *relayCodes) Together(p, q peer.ID, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for l, until := range r.proved[p] {
		if !now.Before(until) {
			continue
		}
		for m, until := range r.proved[q] {
			if now.Before(until) && r.grant(l) == r.grant(m) {
				return true
			}
		}
	}
	return false
}

// forget drops what p proved, once it is disconnected.
func (r *relayCodes) forget(p peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.proved, p)
}

// handleRelayAuth takes a member node's proofs, on a relay.
func (n *Node) handleRelayAuth(st network.Stream) {
	defer st.Close()
	st.SetDeadline(time.Now().Add(rvTimeout))
	var req wire.RelayAuth
	if err := readDelimited(st, &req, relayAuthMax); err != nil || len(req.Proofs) > maxRelayProofs {
		st.Reset()
		return
	}
	p := st.Conn().RemotePeer()
	ok := n.relayCodes.check(n.host.ID(), p, req.Proofs, n.now())
	if _, err := protodelim.MarshalTo(st, &wire.RelayAuthResult{Accepted: uint32(ok)}); err != nil {
		st.Reset()
	}
}
