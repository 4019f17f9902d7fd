// Package syncer is store-and-forward sync between member nodes
// (docs/PROTOCOL.md, "Sync"): a [Scheduler] that decides when to run a
// session with which node, and the sessions themselves, which prove the
// epoch keys both sides hold, reconcile the messages each holds in them
// (node/reconcile), ask for and send what the other lacks, and hand over
// whole the epochs the other node lacks and can take with it.
//
// # What sync asks of the node
//
// The node answers through small interfaces, declared here and grouped
// by job: [Peers] (the member nodes to sync with, a stream to one),
// [Scopes] (the epochs shared with a node, the messages offered in one),
// [Pipeline] (taking what arrives, as gossip is taken), [Handover] (the
// epochs of a group that a message starts, and whom a rekey reached) and
// [Notes] (what the node records of a session: the other clock, what was
// handed over, the last good session). Sync reads the store
// (store.Store, safe for concurrent use) itself: the ids it holds, their
// headers and envelopes.
//
// # Concurrency
//
// A [Scheduler] is safe for concurrent use; it runs at most one session
// per pair of nodes, on goroutines started by [Config].Spawn, which end
// when the scheduler's context does. A session is used by the one
// goroutine that runs it. The interfaces above are called from session
// goroutines, several at once, and must be safe for concurrent use; sync
// holds none of its locks while it calls them.
package syncer

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/reconcile"
	"github.com/takecare-network/takecare/store"
)

// Protocol is the libp2p protocol id of store-and-forward sync.
const Protocol protocol.ID = "/takecare/sync/1.0.0"

// Defaults of [Config].
const (
	DefaultInterval = time.Minute // Config.Interval
	DefaultIdle     = time.Hour   // Config.IdleMax
)

// Limits of one sync session.
const (
	version        = 1
	maxMessage     = 8 << 20 // bytes of one protocol message
	envelopeBudget = 2 << 20 // bytes of envelopes per message
	maxScopes      = 256
	maxWants       = 16384        // ids asked for in one message
	maxEnvelopes   = 50000        // envelopes received in one session
	maxAsked       = maxEnvelopes // ids asked for in one session; the rest in the next
	maxQueued      = maxEnvelopes // envelopes queued to send in one session; the rest in the next
	maxRejects     = 64           // rejected envelopes before giving up on a peer
	sessionTimeout = 10 * time.Minute
	maxInbound     = 16
	kickDebounce   = 200 * time.Millisecond
	proofLabel     = "takecare/v1/sync-proof\x00"
	roleInitiator  = 'I'
	roleResponder  = 'R'
	nonceSize      = 32
)

var (
	// ErrBusy means a session with that node is already running.
	ErrBusy = errors.New("sync: a session with that node is already running")
	// errTooManyRejects ends a session whose peer sent more than
	// maxRejects envelopes that the pipeline rejected.
	errTooManyRejects = errors.New("sync: too many rejected envelopes")
)

// Stats describes one sync session.
type Stats struct {
	Scopes        int           `json:"scopes"`         // epochs reconciled
	Messages      int           `json:"messages"`       // protocol messages, both directions, after the handshake
	BytesSent     int64         `json:"bytes_sent"`     // on the stream, all included
	BytesReceived int64         `json:"bytes_received"` // on the stream, all included
	Sent          int           `json:"sent"`           // envelopes sent
	Received      int           `json:"received"`       // envelopes received
	Accepted      int           `json:"accepted"`       // received envelopes that were new and valid
	EnvelopeBytes int64         `json:"envelope_bytes"` // bytes of the envelopes received
	Duration      time.Duration `json:"duration"`
	// Partial: the session reached its limit of messages to ask for or to
	// send; another session follows at once for the rest.
	Partial bool `json:"partial,omitempty"`
}

// Epoch is an epoch a session may reconcile: its keys, and the group it
// belongs to, which sync only hands back to the node.
type Epoch struct {
	Group crypto.GroupID
	Keys  *crypto.EpochKeys
}

// Start is an epoch of a group that one message starts: a join's add,
// from which a member derives it by the ratchet, or a rekey, which seals
// or wraps its secret for some members.
type Start struct {
	By   alert.ID          // the message that starts it
	Keys *crypto.EpochKeys // the epoch's keys
	// From is the epoch a join ratcheted it from; zero for a rekey.
	From crypto.KeyTag
}

// Peers is who sync runs sessions with, and how it reaches them.
type Peers interface {
	// Syncable returns the member nodes of this node's groups that are
	// connected now, this node excluded.
	Syncable() []peer.ID
	// Connected reports whether p is connected now.
	Connected(p peer.ID) bool
	// Open opens a sync stream ([Protocol]) to p.
	Open(ctx context.Context, p peer.ID) (network.Stream, error)
}

// Scopes is what a session reads of the node's groups: the epochs it may
// reconcile with a node, and the messages it offers in one.
type Scopes interface {
	// Shared returns, per group in which p is a member node, the epochs
	// of the group this node holds the key of, in any order.
	Shared(p peer.ID) [][]Epoch
	// Offered returns the messages this node holds in epoch e that sync
	// offers at now: within the retention window, not expired, not
	// written by a member since removed.
	Offered(e Epoch, now time.Time) []reconcile.Item
}

// Pipeline is the receive pipeline, the path gossip takes too.
type Pipeline interface {
	// Take takes envs, the envelopes of one sync message; ages[i] is how
	// long before now envelope i was made, by the sender's account, or
	// negative if it gave none. It returns an outcome per envelope taken
	// (nil: new and valid), in order, and stops after maxRejects
	// rejections, so it may return fewer. What was ignored only for want
	// of a key or a roster op that another envelope of envs brings is
	// taken again within Take.
	Take(envs [][]byte, ages []time.Duration, maxRejects int) []error
	// Rejected reports whether an outcome of Take is a rejection (bad
	// signature, not a member: what the sender should not have sent).
	Rejected(err error) bool
}

// Handover is what a session asks of a group to hand over the epochs the
// other node lacks ("Epochs the other node lacks").
type Handover interface {
	// Starts returns the epochs of group g that a message starts.
	Starts(g crypto.GroupID) []Start
	// Reaches reports whether the rekey that started epoch tag of group
	// g sealed or wrapped its secret for the member whose node is p.
	Reaches(g crypto.GroupID, tag crypto.KeyTag, p peer.ID) bool
}

// Notes is what the node records of a session.
type Notes interface {
	// Clock notes that p's clock was offset ahead of this node's at at.
	Clock(p peer.ID, offset time.Duration, at time.Time)
	// Handed notes that a session handed message id, of group g, to p.
	Handed(g crypto.GroupID, id alert.ID, p peer.ID)
	// Synced notes a session with p that ended well.
	Synced(p peer.ID)
}

// Config is what a [Scheduler] is made of. Self, Store, Now, Spawn and the
// five interfaces are required.
type Config struct {
	Self      peer.ID          // this node: of two sessions started at once, the lower id's goes on
	Store     *store.Store     // the messages sync offers, asks for and sends
	Now       func() time.Time // this node's clock
	Retention time.Duration    // how far back messages are offered
	Interval  time.Duration    // of the periodic sessions (DefaultInterval)
	IdleMax   time.Duration    // the longest interval between two idle nodes (DefaultIdle)
	// KeysTaken counts the epoch keys the node took: a session during
	// which it took one is followed by another.
	KeysTaken *atomic.Int64
	// Spawn runs a function on a goroutine the node owns.
	Spawn func(func())
	Log   *slog.Logger

	Peers    Peers
	Scopes   Scopes
	Pipeline Pipeline
	Handover Handover
	Notes    Notes
}
