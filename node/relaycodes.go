package node

import (
	"bytes"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/wire"
)

// The relay's side of relay grants (PROTOCOL.md, "Relays that are not
// members"): the relay codes a relay in no group holds, the proofs member
// nodes make of them (/takecare/relay-auth/1.0.0), and whom they let it
// serve.

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
