package node

import (
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/store"
)

// Config configures a [Node]. The zero value of every optional field is a
// safe default.
type Config struct {
	// Identity is the member this node acts for. Required.
	Identity *crypto.Identity
	// Store holds messages and state. Required. The node does not close it.
	Store *store.Store

	// Host, if set, is used instead of building one (tests pass mocknet
	// hosts). Its key must be Identity.NodeKey(). The node closes it.
	Host host.Host
	// ListenAddrs are the multiaddrs to listen on when building a host.
	// Default: TCP and QUIC on all interfaces, on ports the system picks.
	// An address that cannot be used falls back to a free port, then to
	// every interface ([Node.Listening], Status.Warnings); relay
	// addresses (/p2p-circuit) are left out, as the relay client listens
	// there by itself.
	ListenAddrs []string
	// Libp2p adds options when building a host.
	Libp2p []libp2p.Option

	// Logger receives the node's logs; nil discards them. Logs never contain
	// names, places or message text.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Retention is how long messages are kept and offered to others
	// (default 30 days).
	Retention time.Duration
	// RatePerSecond and RateBurst limit how many live messages one member
	// may send (defaults 5 per second, bursts of 300).
	RatePerSecond float64
	RateBurst     int
	// MDNS enables discovery of member nodes on the local network.
	MDNS bool
	// DialInterval is how often the node tries to reach member nodes it is
	// not connected to (default 10 s).
	DialInterval time.Duration
	// DialTarget bounds the dialer. Zero: the node keeps trying to reach
	// every member node of its groups. Positive: it dials only while it is
	// connected to fewer member nodes than that. Negative: it never dials by
	// itself and keeps only the connections others make or that it is told
	// to make (Join, [host.Host.Connect]); simulations use this to hold a
	// given topology.
	DialTarget int
	// SyncInterval is how often the node syncs with each connected member
	// node, besides on every new connection (default 1 minute), as long as
	// sessions move messages. After each periodic session that moves
	// nothing the interval with that node doubles, up to IdleSyncInterval
	// (default 1 hour, never below SyncInterval).
	SyncInterval     time.Duration
	IdleSyncInterval time.Duration
	// RotateEvery is how old a group's epoch may get before an admin's node
	// starts a new one (default 24 hours). Membership changes start one at
	// once.
	RotateEvery time.Duration
	// TopicGrace is how long the node keeps listening on a retired epoch's
	// topic for members who have not switched yet (default 10 minutes).
	TopicGrace time.Duration
	// AlarmJitter is the longest random wait before this node raises an
	// overdue alarm itself, so that usually one of the members watching a
	// check-in raises it and the others receive it (default 3 s; negative:
	// no wait).
	AlarmJitter time.Duration
	// DiskRetry is how often, while the disk is full, the node tries to
	// write what it holds in memory (default 5 s).
	DiskRetry time.Duration
	// PingInterval is how often a member node that has been quiet is
	// pinged to find out whether the link to it still works (default 15 s;
	// negative: never), and PingTimeout how long it has to answer
	// (default 5 s) before it is disconnected and dialled again (alive.go).
	// Each ping costs about 200 bytes both ways.
	//
	// While nothing happens in the node's groups the pings thin out: a link
	// is pinged once it has been quiet for half as long as the groups have
	// (no message sent or received), but at least PingInterval and at most
	// PingIdleInterval apart (default 5 min; below PingInterval: always
	// PingInterval). So an idle link costs a ping every few minutes instead
	// of four a minute, and a dead idle link is found within
	// PingIdleInterval plus PingTimeout; a message sent is still checked
	// at once on the links it was handed to (delivery.go), and every link
	// is checked at once when this node's addresses change.
	PingInterval     time.Duration
	PingIdleInterval time.Duration
	PingTimeout      time.Duration
	// Relay, if set, makes this node a relay (circuit relay v2) for the
	// member nodes of its groups behind NAT, within these limits
	// (relay.go). Set it on an always-on node with a public address.
	Relay *RelayConfig

	// interfaces lists the machine's interface addresses; nil means
	// systemInterfaceAddrs (addrs.go). Tests set it.
	interfaces func() ([]net.Addr, error)

	// DoorHost, if set, builds the host Join uses to reach the nodes of an
	// invite, with the invite's key as its identity (tests on mocknet pass
	// one). Default: a libp2p host with that key that does not listen.
	DoorHost DoorHostFunc

	// CatchUp is how long a node that starts after a check-in's deadline
	// gives its peers to deliver the "arrived" or the alarm it missed before
	// raising the alarm itself (default 15 s; negative: no wait).
	CatchUp time.Duration
}

// withDefaults returns c with every optional field that is zero (or out of
// range) set to its default.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.RatePerSecond <= 0 {
		c.RatePerSecond = DefaultRatePerSec
	}
	if c.RateBurst <= 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.DialInterval <= 0 {
		c.DialInterval = DefaultDialInterval
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.IdleSyncInterval <= 0 {
		c.IdleSyncInterval = DefaultIdleSync
	}
	c.IdleSyncInterval = max(c.IdleSyncInterval, c.SyncInterval)
	if c.RotateEvery <= 0 {
		c.RotateEvery = DefaultRotateEvery
	}
	if c.TopicGrace <= 0 {
		c.TopicGrace = DefaultTopicGrace
	}
	if c.AlarmJitter == 0 {
		c.AlarmJitter = DefaultAlarmJitter
	}
	if c.DiskRetry <= 0 {
		c.DiskRetry = DefaultDiskRetry
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.PingIdleInterval == 0 {
		c.PingIdleInterval = DefaultPingIdleInterval
	}
	c.PingIdleInterval = max(c.PingIdleInterval, c.PingInterval)
	if c.CatchUp == 0 {
		c.CatchUp = DefaultCatchUp
	}
	c.CatchUp = max(c.CatchUp, 0)
	return c
}
