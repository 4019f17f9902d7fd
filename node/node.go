// Package node runs a takecare node: a libp2p host, one GossipSub topic per
// group, the validation pipeline every received envelope goes through, the
// join protocol, and the feed that the local API serves.
//
// # Pipeline
//
// Every envelope, from gossip or from sync (node/internal/syncer, which
// asks the node through the small interfaces answered in syncing.go),
// takes the same path ([Node.open], then [Node.commit]): size and key
// tag, open with the group's epoch key, verify the author's signature,
// decode and validate the body, check the author's standing in the
// roster, drop duplicates, limit the author's rate, store, then act on it
// (roster changes, feed subscribers). The GossipSub validator maps the outcome to Accept, Ignore
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
// # Groups and concurrency
//
// Each group is changed by one goroutine at a time, its turn (turns.go):
// received roster ops and rekeys, this node's own roster ops, new epochs,
// redemptions, ratchets, key erasure and topic changes are jobs of the
// group's turn, run in the order they came. After each change the turn
// publishes an immutable view of the group (its epochs, key trees, topics
// and warning; the roster publishes its own), which everything else reads
// without a lock: the GossipSub validator, the senders of alerts, sync and
// the API never wait for a job of the turn. The node's group map and its
// keyring (key tag → epoch) are published the same way.
//
// docs/ARCHITECTURE.md says which file and package holds what.
//
// A Node is safe for concurrent use.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/checkin"
	"github.com/takecare-network/takecare/node/internal/feed"
	"github.com/takecare-network/takecare/node/internal/join"
	"github.com/takecare-network/takecare/node/internal/persist"
	"github.com/takecare-network/takecare/node/internal/syncer"
	"github.com/takecare-network/takecare/node/internal/transport"
	"github.com/takecare-network/takecare/node/ratelimit"
	"github.com/takecare-network/takecare/store"
)

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
	// accessMu makes refreshAccess build and publish one snapshot at a
	// time, so that a snapshot built from an older state is never
	// published after a newer one.
	accessMu sync.Mutex
	// duressPeers caches DuressKey.PeerID for buildAccess, which derives
	// every member's on each roster change; under accessMu.
	duressPeers map[crypto.DuressKey]peer.ID
	// accessBuilds counts the snapshots refreshAccess began to build, each
	// counted before it reads anything: one counted after a caller looked
	// is built from a state at least as new as what that caller saw.
	accessBuilds atomic.Uint64

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup // background goroutines
	inflight sync.WaitGroup // stream handlers and validators using the store

	// closeMu guards closed: work that Close must wait for starts under
	// its read lock (enter, spawn), so that none starts once Close began.
	closeMu sync.RWMutex
	closed  bool
	// groups holds the node's groups by id. It is read without a lock
	// (the validator, senders, the API); addGroup, the one writer,
	// publishes a changed copy under groupsMu. Groups are added
	// rarely (founding, joining, loading), and read on every message.
	groups   atomic.Pointer[map[crypto.GroupID]*group]
	groupsMu sync.Mutex
	// keys finds an envelope's epoch by its key tag, without a lock
	// (keyring.go).
	keys keyring

	// duressTaken holds the members whose duress warning this node has
	// passed on: their duress nodes are not let in again.
	duressMu    sync.Mutex
	duressTaken map[crypto.MemberID]bool
	// door serves the join protocol (door.go); memberJoins bounds how
	// often a member asks to join again; notices how often a removed
	// member's node is told of its removal (removal.go).
	door        *join.Door
	memberJoins *ratelimit.Limiter[crypto.MemberID]
	notices     notices
	foreign     transport.ForeignTopics
	// verified holds the members whose safety number this member compared.
	verifiedMu sync.Mutex
	verified   map[crypto.MemberID]bool
	stats      stats
	feed       feed.Hub[Entry] // followers of the feed
	acks       feed.Acks
	dialer     *transport.Dialer
	syncer     *syncer.Scheduler
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
	// diskFullSaid: the log said the disk is full (health.go).
	diskFullSaid atomic.Bool
	// awaitKey and awaitAuthor are set when an envelope was ignored
	// because its epoch key or its author was unknown here: the next
	// epoch key or roster change then starts a sync with every connected
	// member node, to fetch it again (node/internal/syncer).
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
	cfg = cfg.withDefaults()
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
		started: cfg.Now(),
		toStore: make(chan *opened, storeQueue),

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
	n.memberJoins = newMemberJoins()
	n.twins.start()
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
		var err error
		if h, err = n.newHost(); err != nil {
			return err
		}
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
	n.syncer = n.newSyncer()
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
	n.dialer = transport.NewDialer(transport.DialerConfig{
		Host: h, Admission: n.access, Reach: n.reach, Log: n.log, Now: n.now,
		Interval: n.cfg.DialInterval, Target: n.cfg.DialTarget,
	})
	for _, load := range []func() error{n.loadGroups, n.loadPeers, n.loadRelayCodes, n.loadVerified} {
		if err := load(); err != nil {
			return err
		}
	}
	n.scan()
	n.serve(h)
	return nil
}

// serve sets the handlers of the node's stream protocols on h. It is
// called once the groups are loaded, so that a peer is never turned away
// for being unknown while the node starts.
func (n *Node) serve(h host.Host) {
	n.door = join.NewDoor(doorGroups{find: n.findInvite, answer: n.answerJoin}, h, n.log, n.now)
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

// Close stops the node and its host, and waits until nothing uses the
// store any more. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeMu.Lock()
	if n.closed {
		n.closeMu.Unlock()
		return nil
	}
	n.closed = true
	n.closeMu.Unlock()
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
	n.closeMu.RLock()
	defer n.closeMu.RUnlock()
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
	n.closeMu.RLock()
	defer n.closeMu.RUnlock()
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
