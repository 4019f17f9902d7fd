package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

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
		v := g.state()
		epochs := slices.Collect(maps.Values(v.epochs))
		slices.SortFunc(epochs, func(a, b *epoch) int { return b.since.Compare(a.since) })
		for i, e := range epochs {
			if i < rvLookupEpochs {
				lookup = append(lookup, rvPoint{g, e.keys})
			}
			if i < rvRegisterEpochs && g.sealedToCurrent(v, e) {
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

// sealedToCurrent reports whether e's secret went to current members
// only: it reached no outsider, and everyone it reached one by one is
// known here as a current member. v is g's view e is in.
func (g *group) sealedToCurrent(v *groupView, e *epoch) bool {
	if e.aud == nil || g.sealedToOutsider(v, e) {
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
