package node

import (
	"sync/atomic"
	"time"

	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/takecare-network/takecare/node/internal/transport"
)

// A volunteer's node relays for member nodes behind NAT: circuit relay v2
// (libp2p spec relay/circuit-v2.md) for the member nodes of its groups only
// (PROTOCOL.md, "Relays").

// RelayConfig turns a node into a relay for the member nodes of its groups
// and bounds what it gives. The zero value of each field is its default.
type RelayConfig struct {
	// MaxReservations is how many nodes may hold a slot at once (default
	// 128).
	MaxReservations int
	// MaxCircuits is how many relayed connections one node may have
	// through this relay at once (default 16).
	MaxCircuits int
	// MaxReservationsPerIP is how many slots may be held from one IP
	// address (default 32: members behind one carrier-grade NAT share
	// it).
	MaxReservationsPerIP int
	// ReservationTTL is how long a slot lasts unless renewed (default
	// 1 hour; members renew it before it ends).
	ReservationTTL time.Duration
	// BufferSize is the size in bytes of each direction's buffer of a
	// relayed connection (default 16 KiB).
	BufferSize int
	// MaxNodesPerGrant is, on a relay in no group, how many nodes may
	// prove one group's grant at once (default 64): whoever knows its
	// secret can make up node identities, and one group must not take
	// the slots of the others. Their rendezvous records are bounded to
	// 16 per node allowed.
	MaxNodesPerGrant int
}

// Defaults of [RelayConfig].
const (
	DefaultRelayReservations      = 128
	DefaultRelayCircuits          = 16
	DefaultRelayReservationsPerIP = 32
	DefaultRelayReservationTTL    = time.Hour
	DefaultRelayBuffer            = 16 << 10
	DefaultRelayNodesPerGrant     = 64
)

// resources are the relay's limits: the defaults of go-libp2p except
// where RelayConfig says otherwise, and no limit on a circuit's duration
// or bytes, since only member nodes get one and GossipSub and sync need
// a connection that is not limited.
func (c RelayConfig) resources() relayv2.Resources {
	rc := relayv2.DefaultResources()
	rc.Limit = nil
	rc.MaxReservations = orDefault(c.MaxReservations, DefaultRelayReservations)
	rc.MaxCircuits = orDefault(c.MaxCircuits, DefaultRelayCircuits)
	rc.MaxReservationsPerIP = orDefault(c.MaxReservationsPerIP, DefaultRelayReservationsPerIP)
	rc.MaxReservationsPerASN = max(rc.MaxReservationsPerASN, rc.MaxReservations)
	rc.ReservationTTL = c.ReservationTTL
	if rc.ReservationTTL <= 0 {
		rc.ReservationTTL = DefaultRelayReservationTTL
	}
	rc.BufferSize = orDefault(c.BufferSize, DefaultRelayBuffer)
	return rc
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// startRelay starts the relay service on the node's host. It is not
// started by libp2p's own switch (which waits until the host believes it
// is publicly reachable, something a node with few peers may never
// learn): a volunteer says it is one.
func (n *Node) startRelay(c RelayConfig) error {
	r, err := relayv2.New(n.host,
		relayv2.WithResources(c.resources()),
		relayv2.WithInfiniteLimits(),
		relayv2.WithACL(transport.NewRelayACL(n.access, &n.relayCodes, n.now)),
		relayv2.WithMetricsTracer(&n.relayStats),
	)
	if err != nil {
		return err
	}
	n.relay = r
	n.relayCodes.maxNodes = orDefault(c.MaxNodesPerGrant, DefaultRelayNodesPerGrant)
	n.rendezvous = newRVStore()
	n.rendezvous.perGrant = n.relayCodes.maxNodes * rvRegisterEpochs
	return nil
}

// RelayStats counts what a relay does, never for whom.
type RelayStats struct {
	// Reservations is the number of slots held now.
	Reservations int64 `json:"reservations"`
	// Circuits is the number of relayed connections open now.
	Circuits int64 `json:"circuits"`
	// Bytes is how many bytes the relay has passed on since it started.
	Bytes int64 `json:"bytes"`
	// Refused counts reservations and circuits refused since it started
	// (not a member node, over a limit).
	Refused int64 `json:"refused"`
	// Records is the number of rendezvous records held now
	// (rendezvous.go).
	Records int64 `json:"rendezvous_records"`
	// Codes is the number of relay codes held (grants of groups this
	// node is not in; relaygrant.go).
	Codes int64 `json:"codes"`
}

// relayStats is the relay's metrics tracer (relayv2.MetricsTracer).
type relayStats struct {
	reservations, circuits, bytes, refused atomic.Int64
}

var _ relayv2.MetricsTracer = (*relayStats)(nil)

func (s *relayStats) RelayStatus(bool)               {}
func (s *relayStats) ConnectionOpened()              { s.circuits.Add(1) }
func (s *relayStats) ConnectionClosed(time.Duration) { s.circuits.Add(-1) }
func (s *relayStats) BytesTransferred(n int)         { s.bytes.Add(int64(n)) }
func (s *relayStats) ReservationClosed(n int)        { s.reservations.Add(-int64(n)) }
func (s *relayStats) ConnectionRequestHandled(st pbv2.Status) {
	if st != pbv2.Status_OK {
		s.refused.Add(1)
	}
}
func (s *relayStats) ReservationAllowed(renewal bool) {
	if !renewal {
		s.reservations.Add(1)
	}
}
func (s *relayStats) ReservationRequestHandled(st pbv2.Status) {
	if st != pbv2.Status_OK {
		s.refused.Add(1)
	}
}

func (s *relayStats) snapshot() RelayStats {
	return RelayStats{
		Reservations: s.reservations.Load(), Circuits: s.circuits.Load(),
		Bytes: s.bytes.Load(), Refused: s.refused.Load(),
	}
}

// RelayStats returns what this node relays, or nil if it is not a relay.
func (n *Node) RelayStats() *RelayStats {
	if n.relay == nil {
		return nil
	}
	s := n.relayStats.snapshot()
	s.Records = int64(n.rendezvous.count())
	s.Codes = int64(len(n.RelayCodes()))
	return &s
}
