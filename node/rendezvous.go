package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/transport"
	"github.com/takecare-network/takecare/node/internal/wire"
)

// Rendezvous (PROTOCOL.md, "Rendezvous"): every relay keeps, for the nodes
// it serves, sealed records of where they can be reached, under points
// derived from their groups' epoch keys. A node that meets a relay leaves
// its record there for each of its groups the relay serves, and reads the
// others' records: when every member's address changed while they were
// offline, the group finds itself again through any relay its members
// still reach.

// RendezvousProtocol is the protocol id of rendezvous.
const RendezvousProtocol protocol.ID = "/takecare/rendezvous/1.0.0"

const (
	// rvMaxPoints bounds the registrations, and the look-ups, of one
	// request.
	rvMaxPoints = 64
	// rvMaxPerPoint bounds the nodes whose records a relay keeps under
	// one point; rvMaxRecords the records it keeps in all.
	rvMaxPerPoint = 64
	rvMaxRecords  = 8192
	// rvMaxFound bounds the records of one answer.
	rvMaxFound = 256
	// rvTTL is how long a relay keeps a record; nodes renew theirs every
	// rvInterval while connected to it.
	rvTTL      = 30 * time.Minute
	rvInterval = 10 * time.Minute
	// rvMaxAddrs bounds the addresses of one record.
	rvMaxAddrs = 8
	// rvRegisterEpochs and rvLookupEpochs bound, per group, the epochs a
	// node registers under and looks up (the newest).
	rvRegisterEpochs = 16
	rvLookupEpochs   = 32
	// Sizes of a request and of an answer, framing included.
	rvMaxRequest  = 2*rvMaxPoints*(crypto.RendezvousSealedSize+64) + 64
	rvMaxResponse = rvMaxFound*(crypto.RendezvousSealedSize+64) + 64
	rvTimeout     = 30 * time.Second
)

// rvStore is a relay's rendezvous records. Safe for concurrent use.
type rvStore struct {
	mu      sync.Mutex
	byPoint map[[32]byte]map[peer.ID]rvEntry
	byPeer  map[peer.ID][][32]byte
	total   int
	// On a relay in no group, the records of a node that proved a relay
	// code count against its grant (grantOf), and one grant's nodes hold
	// at most perGrant records (byGrant): whoever knows a grant's
	// secret can make up nodes.
	perGrant int
	grantOf  map[peer.ID][16]byte
	byGrant  map[[16]byte]int
}

type rvEntry struct {
	record  []byte
	expires time.Time
}

func newRVStore() *rvStore {
	return &rvStore{byPoint: make(map[[32]byte]map[peer.ID]rvEntry), byPeer: make(map[peer.ID][][32]byte),
		grantOf: make(map[peer.ID][16]byte), byGrant: make(map[[16]byte]int)}
}

// serve answers one request of p at time now. grant, if not nil, is the
// grant p's records count against (p is not a member node).
func (s *rvStore) serve(p peer.ID, grant *[16]byte, req *wire.RendezvousRequest, now time.Time) *wire.RendezvousResponse {
	if len(req.Register) > rvMaxPoints || len(req.Lookup) > rvMaxPoints {
		return &wire.RendezvousResponse{Status: wire.RendezvousStatus_RENDEZVOUS_BAD}
	}
	for _, r := range req.Register {
		if len(r.Point) != 32 || len(r.Record) != crypto.RendezvousSealedSize {
			return &wire.RendezvousResponse{Status: wire.RendezvousStatus_RENDEZVOUS_BAD}
		}
	}
	for _, l := range req.Lookup {
		if len(l) != 32 {
			return &wire.RendezvousResponse{Status: wire.RendezvousStatus_RENDEZVOUS_BAD}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(now)
	s.drop(p)
	status := wire.RendezvousStatus_RENDEZVOUS_OK
	switch {
	case s.total+len(req.Register) > rvMaxRecords,
		grant != nil && s.byGrant[*grant]+len(req.Register) > s.perGrant:
		status = wire.RendezvousStatus_RENDEZVOUS_FULL
	default:
		if grant != nil && len(req.Register) > 0 {
			s.grantOf[p] = *grant
		}
		for _, r := range req.Register {
			pt := [32]byte(r.Point)
			at := s.byPoint[pt]
			if at == nil {
				at = make(map[peer.ID]rvEntry)
				s.byPoint[pt] = at
			}
			if _, dup := at[p]; dup || len(at) >= rvMaxPerPoint {
				continue
			}
			at[p] = rvEntry{record: slices.Clone(r.Record), expires: now.Add(rvTTL)}
			s.byPeer[p] = append(s.byPeer[p], pt)
			s.total++
			if grant != nil {
				s.byGrant[*grant]++
			}
		}
	}
	resp := &wire.RendezvousResponse{Status: status}
	for _, l := range req.Lookup {
		pt := [32]byte(l)
		for q, e := range s.byPoint[pt] {
			if q == p {
				continue
			}
			if len(resp.Found) == rvMaxFound {
				return resp
			}
			resp.Found = append(resp.Found, &wire.RendezvousRecordAt{Point: l, Record: e.record})
		}
	}
	return resp
}

// drop forgets p's records. The caller holds s.mu.
func (s *rvStore) drop(p peer.ID) {
	for _, pt := range s.byPeer[p] {
		if at := s.byPoint[pt]; at != nil {
			if _, ok := at[p]; ok {
				delete(at, p)
				s.total--
				s.uncharge(p)
			}
			if len(at) == 0 {
				delete(s.byPoint, pt)
			}
		}
	}
	delete(s.byPeer, p)
	delete(s.grantOf, p)
}

// uncharge counts one record of p less against its grant. The caller
// holds s.mu.
func (s *rvStore) uncharge(p peer.ID) {
	g, ok := s.grantOf[p]
	if !ok {
		return
	}
	if s.byGrant[g]--; s.byGrant[g] <= 0 {
		delete(s.byGrant, g)
	}
}

// prune forgets expired records. The caller holds s.mu.
func (s *rvStore) prune(now time.Time) {
	for pt, at := range s.byPoint {
		for q, e := range at {
			if now.After(e.expires) {
				delete(at, q)
				s.total--
				s.uncharge(q)
				s.byPeer[q] = slices.DeleteFunc(s.byPeer[q], func(x [32]byte) bool { return x == pt })
				if len(s.byPeer[q]) == 0 {
					delete(s.byPeer, q)
					delete(s.grantOf, q)
				}
			}
		}
		if len(at) == 0 {
			delete(s.byPoint, pt)
		}
	}
}

// count returns how many records the store holds, for status.
func (s *rvStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// handleRendezvous serves one rendezvous request, on a relay.
func (n *Node) handleRendezvous(st network.Stream) {
	defer st.Close()
	st.SetDeadline(time.Now().Add(rvTimeout))
	p := st.Conn().RemotePeer()
	var req wire.RendezvousRequest
	if err := readDelimited(st, &req, rvMaxRequest); err != nil {
		st.Reset()
		return
	}
	resp := &wire.RendezvousResponse{Status: wire.RendezvousStatus_RENDEZVOUS_REFUSED}
	switch {
	case n.relay == nil:
	case n.isMemberPeer(p):
		resp = n.rendezvous.serve(p, nil, &req, n.now())
	default:
		if g, ok := n.relayCodes.grantOf(p, n.now()); ok {
			resp = n.rendezvous.serve(p, &g, &req, n.now())
		}
	}
	if _, err := protodelim.MarshalTo(st, resp); err != nil {
		st.Reset()
	}
}

// relayServes reports whether this node, a relay, serves p: p is the node
// of a current member of one of its groups, or proved one of its relay
// codes.
func (n *Node) relayServes(p peer.ID) bool {
	return n.relay != nil && (n.isMemberPeer(p) || n.relayCodes.Authorized(p, n.now()))
}

// rvPoint is one point a node registers at or looks up, with the keys
// that open its records.
type rvPoint struct {
	g    *group
	keys *crypto.EpochKeys
}

// rendezvousWith exchanges records with relay rel now, then every
// rvInterval while connected to it (transport.Reach starts it).
func (n *Node) rendezvousWith(ctx context.Context, rel peer.ID) {
	soon := rvSoon
	for {
		missing, err := n.rendezvousOnce(ctx, rel)
		if err != nil {
			n.log.Debug("rendezvous", "peer", rel, "err", err)
		}
		// While member nodes of those groups are still out of reach,
		// look again soon: they may leave their records a moment later.
		wait := rvInterval
		if missing {
			wait, soon = soon, min(2*soon, rvInterval)
		} else {
			soon = rvSoon
		}
		if !transport.SleepConnected(n.host, ctx, rel, wait) {
			return
		}
	}
}

// rvSoon is the first wait before looking again while member nodes are
// out of reach; it doubles up to rvInterval.
const rvSoon = 5 * time.Second

// rendezvousOnce leaves this node's record at relay rel for each group rel
// serves it in, and learns where the other member nodes can be reached.
// It reports whether member nodes of those groups are still not
// connected.
func (n *Node) rendezvousOnce(ctx context.Context, rel peer.ID) (missing bool, err error) {
	register, lookup := n.rvPoints(rel)
	if len(lookup) == 0 {
		return false, nil
	}
	for _, pt := range lookup {
		for _, m := range pt.g.roster.Members() {
			if m.Peer != n.host.ID() && !n.connected(m.Peer) {
				missing = true
			}
		}
	}
	req, points, err := n.rvRequest(register, lookup)
	if err != nil {
		return missing, err
	}
	resp, err := n.rvExchange(ctx, rel, req)
	if err != nil {
		return missing, err
	}
	if resp.Status != wire.RendezvousStatus_RENDEZVOUS_OK {
		// A full relay still answers the look-ups.
		n.log.Debug("rendezvous refused", "peer", rel, "status", resp.Status.String())
	}
	n.rvLearn(resp, points)
	return missing, nil
}

// rvRequest builds the request that registers this node's record at the
// points of register and looks up those of lookup, and returns it with
// the look-ups by point.
func (n *Node) rvRequest(register, lookup []rvPoint) (*wire.RendezvousRequest, map[[32]byte]rvPoint, error) {
	rec, err := proto.Marshal(n.rvRecord())
	if err != nil {
		return nil, nil, err
	}
	req := &wire.RendezvousRequest{}
	for _, pt := range register {
		sealed, err := pt.keys.SealRendezvous(rec)
		if err != nil {
			return nil, nil, err
		}
		at := pt.keys.RendezvousPoint()
		req.Register = append(req.Register, &wire.RendezvousRecordAt{Point: at[:], Record: sealed})
	}
	points := make(map[[32]byte]rvPoint)
	for _, pt := range lookup {
		at := pt.keys.RendezvousPoint()
		points[at] = pt
		req.Lookup = append(req.Lookup, at[:])
	}
	return req, points, nil
}

// rvExchange sends req to relay rel, on a connection that stands, and
// reads its answer.
func (n *Node) rvExchange(ctx context.Context, rel peer.ID, req *wire.RendezvousRequest) (*wire.RendezvousResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, rvTimeout)
	defer cancel()
	st, err := n.host.NewStream(network.WithNoDial(ctx, "rendezvous"), rel, RendezvousProtocol)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(rvTimeout))
	if _, err := protodelim.MarshalTo(st, req); err != nil {
		st.Reset()
		return nil, err
	}
	var resp wire.RendezvousResponse
	if err := readDelimitedFrom(bufio.NewReader(st), &resp, rvMaxResponse); err != nil {
		st.Reset()
		return nil, err
	}
	return &resp, nil
}

// rvLearn gives the dialer the addresses of the member nodes whose records
// resp holds, and dials those not connected now.
func (n *Node) rvLearn(resp *wire.RendezvousResponse, points map[[32]byte]rvPoint) {
	learnt := 0
	for _, f := range resp.Found {
		pt, ok := points[[32]byte(f.Point)]
		if !ok {
			continue
		}
		p, addrs, err := openRVRecord(pt.keys, f.Record)
		if err != nil || p == n.host.ID() || !pt.g.isMemberPeer(p) {
			continue
		}
		n.dialer.Learn(p, addrs)
		if !n.connected(p) {
			n.dialer.RetryNow(p)
			learnt++
		}
	}
	if learnt > 0 {
		n.dialer.Poke()
	}
}

// rvPoints returns, for each group relay rel serves this node in (rel is
// the node of one of its current members, or a relay it granted), the
// points to register at
// (the newest epochs whose secret went to current members only: a
// removed member, who holds the older keys, cannot read where the others
// are now) and to look up (the newest epochs held).
func (n *Node) rvPoints(rel peer.ID) (register, lookup []rvPoint) {
	for _, g := range n.groupList() {
		if me, ok := g.roster.Member(n.me); !ok || me.Removed || !(g.isMemberPeer(rel) || g.grantsRelay(rel, n.now())) {
			continue
		}
		g.mu.Lock()
		epochs := make([]*epoch, 0, len(g.epochs))
		for _, e := range g.epochs {
			epochs = append(epochs, e)
		}
		g.mu.Unlock()
		slices.SortFunc(epochs, func(a, b *epoch) int { return b.since.Compare(a.since) })
		for i, e := range epochs {
			if i < rvLookupEpochs {
				lookup = append(lookup, rvPoint{g, e.keys})
			}
			if i < rvRegisterEpochs && g.sealedToCurrent(e) {
				register = append(register, rvPoint{g, e.keys})
			}
		}
	}
	if len(register) > rvMaxPoints {
		register = register[:rvMaxPoints]
	}
	if len(lookup) > rvMaxPoints {
		lookup = lookup[:rvMaxPoints]
	}
	return register, lookup
}

// isMemberPeer reports whether p is the node of a current member of g.
func (g *group) isMemberPeer(p peer.ID) bool {
	return slices.ContainsFunc(g.roster.Members(), func(m alert.Member) bool { return m.Peer == p })
}

// sealedToCurrent reports whether e's secret went to current members
// only: it reached no outsider, and everyone it reached one by one is
// known here as a current member.
func (g *group) sealedToCurrent(e *epoch) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e.aud == nil || g.sealedToOutsider(e) {
		return false
	}
	for id := range e.aud.all() {
		if m, ok := g.roster.Member(id); !ok || m.Removed {
			return false
		}
	}
	return true
}

// rvRecord is this node's rendezvous record: its public addresses (those
// of its interfaces and those member nodes saw), its addresses through
// the relays it holds a slot on, then its other addresses; at most
// rvMaxAddrs.
func (n *Node) rvRecord() *wire.RendezvousRecord {
	var pub, circ, other []ma.Multiaddr
	add := func(list *[]ma.Multiaddr, a ma.Multiaddr) {
		for _, l := range [][]ma.Multiaddr{pub, circ, other} {
			if slices.ContainsFunc(l, a.Equal) {
				return
			}
		}
		*list = append(*list, a)
	}
	for _, a := range n.reach.PunchAddrs() {
		add(&pub, a)
	}
	for _, a := range n.host.Addrs() {
		switch {
		case transport.IsCircuit(a) || manet.IsIPLoopback(a) || manet.IsIP6LinkLocal(a):
		case manet.IsPublicAddr(a):
			add(&pub, a)
		default:
			add(&other, a)
		}
	}
	for _, rel := range n.reach.SlotRelays() {
		suffix := ma.StringCast("/p2p/" + rel.String() + "/p2p-circuit")
		for _, a := range n.host.Peerstore().Addrs(rel) {
			if manet.IsPublicAddr(a) && !transport.IsCircuit(a) {
				add(&circ, a.Encapsulate(suffix))
			}
		}
	}
	rec := &wire.RendezvousRecord{Peer: []byte(n.host.ID()), Time: n.now().UnixMilli()}
	for _, a := range slices.Concat(pub, circ, other) {
		if len(rec.Addrs) == rvMaxAddrs {
			break
		}
		rec.Addrs = append(rec.Addrs, a.Bytes())
		if proto.Size(rec) > crypto.RendezvousRecordMax {
			rec.Addrs = rec.Addrs[:len(rec.Addrs)-1]
			break
		}
	}
	return rec
}

// errRVRecord is a record that opens but does not parse.
var errRVRecord = errors.New("node: malformed rendezvous record")

// openRVRecord opens a sealed record with keys and returns the node it
// names and its addresses (at most rvMaxAddrs, each a valid multiaddr).
func openRVRecord(keys *crypto.EpochKeys, sealed []byte) (peer.ID, []ma.Multiaddr, error) {
	plain, err := keys.OpenRendezvous(sealed)
	if err != nil {
		return "", nil, err
	}
	return parseRVRecord(plain)
}

// parseRVRecord parses an opened record.
func parseRVRecord(plain []byte) (peer.ID, []ma.Multiaddr, error) {
	var rec wire.RendezvousRecord
	if err := proto.Unmarshal(plain, &rec); err != nil {
		return "", nil, fmt.Errorf("%w: %v", errRVRecord, err)
	}
	p, err := peer.IDFromBytes(rec.Peer)
	if err != nil || len(rec.Addrs) > rvMaxAddrs {
		return "", nil, errRVRecord
	}
	addrs := make([]ma.Multiaddr, 0, len(rec.Addrs))
	for _, b := range rec.Addrs {
		a, err := ma.NewMultiaddrBytes(b)
		if err != nil {
			return "", nil, fmt.Errorf("%w: %v", errRVRecord, err)
		}
		addrs = append(addrs, a)
	}
	return p, addrs, nil
}
