// Package node runs a takecare node: a libp2p host, one GossipSub topic per
// group, the validation pipeline every received envelope goes through, the
// join protocol, and the feed that the local API serves.
//
// # Pipeline
//
// Every envelope, from gossip or from sync, takes the same path
// ([Node.open], then [Node.commit]): size and key tag, open with the
// group's epoch key, verify the author's signature, decode and validate the
// body, check the author's standing in the roster, drop duplicates, limit
// the author's rate, store, then act on it (roster changes, feed
// subscribers). The GossipSub validator maps the outcome to Accept, Ignore
// (stale, duplicate, not yet known) or Reject (provably bad: cannot open,
// bad signature, removed member, malformed); a plain alert that passed
// every check is accepted before it is stored, so that forwarding it does
// not wait for the disk ([Node.validateGossip]). Nothing is shown, stored
// or forwarded before it passed.
//
// # Privacy on the wire
//
// Pubsub runs with [pubsub.WithNoAuthor] and a content-hash message id, so a
// message carries no origin peer id, sequence number or signature outside the
// envelope. Topic names derive from the epoch secret. Pubsub meshes only with
// member nodes ([pubsub.WithPeerFilter]) and tracks only our topics.
//
// # Check-ins
//
// Every node watches the open check-ins of its groups and, when one's
// deadline passes without an arrival, raises the overdue alarm itself, then
// escalates it if nobody answers (node/internal/checkin, watchdog.go). The
// alarm's id is derived from the check-in and the level, so the many
// raisers collapse into one alarm in every feed.
//
// docs/ARCHITECTURE.md says which file and package holds what.
//
// A Node is safe for concurrent use.
package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/checkin"
	"github.com/takecare-network/takecare/node/internal/feed"
	"github.com/takecare-network/takecare/node/internal/persist"
	"github.com/takecare-network/takecare/node/internal/transport"
	"github.com/takecare-network/takecare/node/ratelimit"
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
	PingInterval time.Duration
	PingTimeout  time.Duration
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

// Default values of [Config].
const (
	DefaultRetention    = 30 * 24 * time.Hour
	DefaultRatePerSec   = 5
	DefaultRateBurst    = 300
	DefaultDialInterval = 10 * time.Second
	DefaultDiskRetry    = 5 * time.Second
)

// userAgent is what identify tells peers: the generic libp2p string.
const userAgent = "go-libp2p"

// mdnsService is the DNS-SD service name: the libp2p default, so that a
// takecare node on a LAN looks like any other libp2p node.
const mdnsService = "_p2p._udp"

// Node is a running takecare node.
type Node struct {
	cfg   Config
	id    *crypto.Identity
	me    crypto.MemberID
	host  host.Host
	ps    *pubsub.PubSub
	store *store.Store
	log   *slog.Logger
	rate  *ratelimit.Limiter[rateKey]
	gate  *transport.Gater

	// access is the membership snapshot the transport reads (gate.go).
	access *transport.Admission

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup // background goroutines
	inflight sync.WaitGroup // stream handlers and validators using the store

	mu     sync.RWMutex
	groups map[crypto.GroupID]*group
	tags   map[crypto.KeyTag]epochRef
	closed bool

	// duressTaken holds the members whose duress warning this node has
	// passed on: their duress nodes are not let in again.
	duressMu    sync.Mutex
	duressTaken map[crypto.MemberID]bool
	// joinLimits bound how often joins are tried (join.go); notices how
	// often a removed member's node is told of its removal (removal.go).
	joinLimits joinLimits
	notices    notices
	foreign    transport.ForeignTopics
	// verified holds the members whose safety number this member compared.
	verifiedMu sync.Mutex
	verified   map[crypto.MemberID]bool
	stats      stats
	feed       feed.Hub[Entry] // followers of the feed
	acks       feed.Acks
	dialer     *dialer
	syncer     *syncer
	started    time.Time

	// checkins indexes check-ins for the watchdog (checkin.go).
	checkins checkin.Index
	// saveVerified writes verified (members.go).
	saveVerified *persist.Saver
	// clocks holds how far other member nodes' clocks are (clock.go).
	clocks clocks

	// reach holds relay slots and known relays, and punches holes
	// (transport.Reach); relay is the relay service when Config.Relay is
	// set (relay.go).
	reach      *transport.Reach
	paths      paths
	relay      *relayv2.Relay
	relayStats relayStats
	rendezvous *rvStore   // a relay's rendezvous records (rendezvous.go)
	relayCodes relayCodes // a relay's codes, if it is in no group (relaygrant.go)
	// hostRef is the host once built, for the address factory, which
	// libp2p may call while building it; ifaces caches the interface
	// addresses it resolves listen addresses with.
	hostRef atomic.Pointer[host.Host]
	ifaceMu sync.Mutex
	ifaces  []ma.Multiaddr
	ifaceAt time.Time

	// toStore holds plain alerts and check-ins that gossip accepted, for
	// storeGossip (ingest.go).
	toStore chan *opened
	// topicReqs are the requests of runTopics, the one goroutine that
	// joins and leaves pubsub topics (topics.go).
	topicReqs chan topicReq
	// diskFullSaid: the log said the disk is full (health.go).
	diskFullSaid atomic.Bool
	// awaitKey and awaitAuthor are set when an envelope was ignored
	// because its epoch key or its author was unknown here: the next
	// epoch key or roster change then starts a sync with every connected
	// member node, to fetch it again (sync.go).
	awaitKey, awaitAuthor atomic.Bool
	// keysTaken counts the epoch keys this node took; a sync session
	// during which it changed is followed by another with the same peer,
	// for the messages of the new epochs.
	keysTaken atomic.Int64
	// deliveries: where this node's member's messages went (delivery.go).
	deliveries deliveries
	// listens: where the node listens, for each address it was told to
	// (listen.go); nil for a host given in Config.
	listens []Listen
	// alive: when member nodes last showed their links work (alive.go).
	alive liveness
	// twins: another device running this profile (twin.go).
	twins twins
	// stopErr is why the node stopped by itself (stopWith), if it did.
	stopErr  atomic.Pointer[error]
	stopOnce sync.Once
}

// stats counts the pipeline's outcomes for received envelopes.
type stats struct {
	accepted, ignored, rejected atomic.Int64
}

type rateKey struct {
	group  crypto.GroupID
	author crypto.MemberID
}

// New starts a node: it builds or adopts the host, starts pubsub, and loads
// the groups saved in the store. Call [Node.Run] to run its background work
// and [Node.Close] to stop it.
func New(cfg Config) (*Node, error) {
	if cfg.Identity == nil || cfg.Store == nil {
		return nil, errors.New("node: Identity and Store are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.RatePerSecond <= 0 {
		cfg.RatePerSecond = DefaultRatePerSec
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = DefaultRateBurst
	}
	if cfg.DialInterval <= 0 {
		cfg.DialInterval = DefaultDialInterval
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.IdleSyncInterval <= 0 {
		cfg.IdleSyncInterval = DefaultIdleSync
	}
	cfg.IdleSyncInterval = max(cfg.IdleSyncInterval, cfg.SyncInterval)
	if cfg.RotateEvery <= 0 {
		cfg.RotateEvery = DefaultRotateEvery
	}
	if cfg.TopicGrace <= 0 {
		cfg.TopicGrace = DefaultTopicGrace
	}
	if cfg.AlarmJitter == 0 {
		cfg.AlarmJitter = DefaultAlarmJitter
	}
	if cfg.DiskRetry <= 0 {
		cfg.DiskRetry = DefaultDiskRetry
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.CatchUp == 0 {
		cfg.CatchUp = DefaultCatchUp
	}
	cfg.CatchUp = max(cfg.CatchUp, 0)
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg:     cfg,
		id:      cfg.Identity,
		me:      cfg.Identity.ID(),
		store:   cfg.Store,
		log:     cfg.Logger,
		rate:    ratelimit.New[rateKey](cfg.RatePerSecond, cfg.RateBurst, 4096),
		ctx:     ctx,
		cancel:  cancel,
		groups:  make(map[crypto.GroupID]*group),
		tags:    make(map[crypto.KeyTag]epochRef),
		started: cfg.Now(),
		toStore: make(chan *opened, storeQueue),

		topicReqs: make(chan topicReq),

		duressTaken: make(map[crypto.MemberID]bool),
	}
	n.access = transport.NewAdmission()
	n.gate = transport.NewGater(n.access, n.noticeDue, n.servesCodes, n.now)
	n.reach = transport.NewReach(n.access, transport.ReachHooks{
		Go:                 func(f func(context.Context)) { n.spawn(func() { f(n.ctx) }) },
		Log:                n.log,
		NeedsRelay:         n.needsRelay,
		PathChanged:        n.notePath,
		RendezvousProtocol: RendezvousProtocol,
		Rendezvous:         n.rendezvousWith,
	})
	n.joinLimits = newJoinLimits()
	n.twins.start()
	n.spawn(n.runTopics)
	if err := n.start(); err != nil {
		cancel()
		if n.host != nil {
			n.host.Close()
		}
		return nil, err
	}
	n.spawn(n.storeGossip)
	return n, nil
}

func (n *Node) start() error {
	h := n.cfg.Host
	if h == nil {
		listen, err := listenAddrs(n.cfg.ListenAddrs)
		if err != nil {
			return err
		}
		opts := []libp2p.Option{
			libp2p.Identity(n.id.NodeKey()),
			// Listening is done below, address by address (listen.go).
			// NoListenAddrs turns the circuit relay transport off unless
			// asked for: member nodes are dialled through relays.
			libp2p.NoListenAddrs,
			libp2p.EnableRelay(),
			libp2p.ConnectionGater(n.gate),
			libp2p.AddrsFactory(n.advertised),
			// The default agent string names the program's Go module; a
			// peer learns nothing from this one.
			libp2p.UserAgent(userAgent),
		}
		h, err = libp2p.New(append(opts, n.cfg.Libp2p...)...)
		if err != nil {
			return fmt.Errorf("node: starting libp2p host: %w", err)
		}
		n.listens = n.listen(h.Network(), listen)
	}
	if h.ID() != n.id.PeerID() {
		return errors.New("node: host key is not the identity's node key")
	}
	n.host = h
	n.hostRef.Store(&h)
	if err := n.reach.Start(h); err != nil {
		return fmt.Errorf("node: starting hole punching: %w", err)
	}
	if n.cfg.Relay != nil {
		if err := n.startRelay(*n.cfg.Relay); err != nil {
			return fmt.Errorf("node: starting the relay service: %w", err)
		}
	}
	n.syncer = newSyncer(n)
	// Pubsub reaches member nodes only, whatever the peer filter lets it
	// do (gate.go).
	ps, err := pubsub.NewGossipSub(n.ctx, transport.NewPubsubHost(h, n.access), append(PubSubOptions(),
		pubsub.WithPeerFilter(n.access.PeerFilter),
		pubsub.WithSubscriptionFilter(transport.NewTopicFilter(n.access, &n.foreign)),
		pubsub.WithRawTracer(transport.NewTracer(n.lostInGossip, n.sentInGossip)),
		pubsub.WithLogger(n.log.With("part", "pubsub")),
	)...)
	if err != nil {
		return fmt.Errorf("node: starting pubsub: %w", err)
	}
	n.ps = ps
	n.dialer = newDialer(n)
	if err := n.loadGroups(); err != nil {
		return err
	}
	if err := n.loadPeers(); err != nil {
		return err
	}
	if err := n.loadRelayCodes(); err != nil {
		return err
	}
	if err := n.loadVerified(); err != nil {
		return err
	}
	n.scan()
	// Serve only once the groups are loaded, so that a peer is never
	// turned away for being unknown while we start.
	h.SetStreamHandler(JoinProtocol, n.handleJoin)
	h.SetStreamHandler(SyncProtocol, n.handleSync)
	h.SetStreamHandler(DuressProtocol, n.handleDuress)
	h.SetStreamHandler(RemovalProtocol, n.handleRemoval)
	h.SetStreamHandler(ping.ID, n.handlePing)
	h.SetStreamHandler(TwinProtocol, n.handleTwin)
	if n.relay != nil {
		h.SetStreamHandler(RendezvousProtocol, n.handleRendezvous)
		h.SetStreamHandler(RelayAuthProtocol, n.handleRelayAuth)
	}
	return nil
}

// scan reads every stored message once at start to rebuild the in-memory
// indexes (acknowledgements, check-ins).
func (n *Node) scan() {
	for _, h := range n.store.Headers(nil) {
		m, err := n.loadMessage(h)
		if err != nil {
			continue
		}
		n.noteCheckIn(m)
	}
}

// PubSubOptions are the GossipSub settings every node runs with, apart from
// the membership filters and the logger: no author, sequence number or
// signature on the wire, a content-hash message id, flood publishing of our
// own messages, no peer exchange, room for the largest envelope, and queues
// deep enough for bursts. They are exported so that a baseline can run the
// very same router without takecare on top (see nodetest.NewRaw).
func PubSubOptions() []pubsub.Option {
	return []pubsub.Option{
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(contentID),
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerExchange(false),
		// GossipSub only, no FloodSub: the router sends a FloodSub peer
		// every message of every topic it announces, which no peer
		// filter stops (gate.go).
		pubsub.WithGossipSubProtocols(gossipSubProtocols, pubsub.GossipSubDefaultFeatures),
		pubsub.WithMaxMessageSize(crypto.MaxEnvelopeSize + 64*1024),
		// Messages wait in these queues: received ones for a validation
		// goroutine, sent ones for each peer's stream. The defaults (32)
		// overflow, and drop messages without a word, as soon as a burst
		// comes faster than they drain: a member sending alerts in quick
		// succession, a gossip reply carrying many. Nearly every message
		// is a 2048-byte envelope, so a full queue of 256 holds half a
		// megabyte.
		pubsub.WithValidateQueueSize(pubsubQueueSize),
		pubsub.WithPeerOutboundQueueSize(pubsubQueueSize),
	}
}

const pubsubQueueSize = 256

// gossipSubProtocols are the pubsub protocols a node speaks: the GossipSub
// versions of [pubsub.GossipSubDefaultProtocols], without FloodSub.
var gossipSubProtocols = []protocol.ID{pubsub.GossipSubID_v13, pubsub.GossipSubID_v12, pubsub.GossipSubID_v11, pubsub.GossipSubID_v10}

// contentID is the pubsub message id: a hash of the envelope and nothing
// else, since messages carry no author or sequence number.
func contentID(m *pb.Message) string {
	h := sha256.Sum256(m.Data)
	return string(h[:])
}

// Run runs the node's background work (reconnecting to members, pruning,
// local discovery) until ctx is done, then closes the node.
func (n *Node) Run(ctx context.Context) error {
	defer n.Close()
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	defer sub.Close()
	// Every new connection counts, not only a change of connectedness: a
	// node that comes back (a phone back in coverage, a restarted daemon)
	// often finds the other side still holding its old, dead connection,
	// so the other side's connectedness never changes.
	conns := &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			n.notePath(c.RemotePeer())
			n.peerConnected(c.RemotePeer())
			n.reach.Connected(c)
			n.reach.DirectUp(c)
		},
		DisconnectedF: func(_ network.Network, c network.Conn) {
			n.notePath(c.RemotePeer())
			n.reach.Disconnected(c.RemotePeer())
			n.peerDisconnected(c.RemotePeer())
			if !n.connected(c.RemotePeer()) {
				n.foreign.Forget(c.RemotePeer())
				n.relayCodes.forget(c.RemotePeer())
			}
		},
	}
	n.host.Network().Notify(conns)
	defer n.host.Network().StopNotify(conns)
	// Connections made before we subscribed get the same treatment.
	for _, p := range n.host.Network().Peers() {
		n.peerConnected(p)
	}
	if n.cfg.MDNS {
		svc := mdns.NewMdnsService(n.host, mdnsService,
			transport.NewMDNSNotifee(n.host.ID(), n.access, n.host.Peerstore(), n.dialer.poke))
		if err := svc.Start(); err != nil {
			n.log.Warn("local discovery unavailable", "err", err)
		} else {
			defer svc.Close()
		}
	}
	n.spawn(func() {
		n.dialer.run(n.ctx)
	})
	n.spawn(func() {
		n.runWatchdog(n.ctx)
	})
	// When this node's addresses change (Wi-Fi to mobile data), its links
	// may all be dead: probe every member node now.
	addrs, err := n.host.EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	defer addrs.Close()
	moved := make(chan struct{}, 1)
	if n.cfg.PingInterval > 0 {
		n.spawn(func() { n.keepAlive(n.ctx, moved) })
	}
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	resync := time.NewTicker(n.cfg.SyncInterval)
	defer resync.Stop()
	disk := time.NewTicker(n.cfg.DiskRetry)
	defer disk.Stop()
	n.prune()
	// A repair scheduled before the node stopped did not happen.
	for _, g := range n.groupList() {
		n.reconsiderEpoch(g)
	}
	n.syncer.kickAll()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.ctx.Done():
			return n.stopped()
		case <-prune.C:
			n.prune()
			n.maintainEpochs()
		case <-resync.C:
			n.syncer.periodic()
		case <-disk.C:
			n.retryStorage()
		case e := <-sub.Out():
			id := e.(event.EvtPeerIdentificationCompleted)
			n.reach.SawUs(id.Peer, id.Conn, id.ObservedAddr)
			n.peerIdentified(id.Peer)
		case <-addrs.Out():
			n.log.Debug("this node's addresses changed: checking every link")
			select {
			case moved <- struct{}{}:
			default:
			}
			n.dialer.poke()
		}
	}
}

// Close stops the node and its host, and waits until nothing uses the
// store any more. It is safe to call more than once.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.feed.Close()
	if n.relay != nil {
		n.relay.Close()
	}
	n.reach.Close()
	err := n.host.Close()
	n.wg.Wait()
	n.inflight.Wait()
	// Gossip accepted but not yet stored (storeGossip has stopped).
	var left []*opened
	for len(n.toStore) > 0 {
		left = append(left, <-n.toStore)
	}
	if len(left) > 0 {
		n.storeBatch(left)
	}
	return err
}

// enter marks the start of work that uses the store from a libp2p
// goroutine; it returns false once the node is closing. Call leave after.
func (n *Node) enter() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return false
	}
	n.inflight.Add(1)
	return true
}

func (n *Node) leave() { n.inflight.Done() }

// spawn runs f in a goroutine that Close waits for, unless the node is
// closing.
func (n *Node) spawn(f func()) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// Host returns the libp2p host.
func (n *Node) Host() host.Host { return n.host }

// Identity returns the member identity.
func (n *Node) Identity() *crypto.Identity { return n.id }

func (n *Node) now() time.Time { return n.cfg.Now() }

func (n *Node) prune() {
	n.pruneRelayCodes()
	deleted, err := n.store.Prune(n.now(), n.cfg.Retention)
	if err != nil {
		n.log.Error("pruning the store", "err", err)
		return
	}
	if deleted > 0 {
		n.log.Info("deleted expired messages", "count", deleted)
	}
}
