package node

import (
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/wire"
)

// The relay's side of rendezvous (PROTOCOL.md, "Rendezvous"): the records
// it keeps for the nodes it serves, and its handler. A member node's side
// is in rendezvous.go.

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
