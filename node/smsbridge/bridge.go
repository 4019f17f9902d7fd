// Package smsbridge lets a member's node carry alerts both ways between a
// group and people who have SMS but no data (docs/GUIDE.md, "SMS bridge";
// docs/PROTOCOL.md, "Bridges").
//
// Out: panics, duress warnings, escalated overdue alarms and critical
// alerts of a group are sent by SMS to the group's safe lines (numbers of a
// lawyer or an accompaniment organisation, set on the bridge by an admin of
// the group), with as much content as the group chose ([ContentNone],
// [ContentShort] by default, [ContentFull]): the carrier reads every SMS.
//
// In: a member without data sends an SMS (PÁNICO, SALGO Ixtepec 18:00,
// LLEGUÉ, VISTO; or PANIC, LEAVING, ARRIVED, SEEN; see [Parse]) from the
// number enrolled on the bridge, with their code: a TOTP code (RFC 6238,
// six digits every 30 s, from an authenticator app) or a PIN. The bridge
// sends the message on the member's behalf, with the grant the member
// signed ([node.Node.SendVia]), so every feed shows it as the member's,
// "via SMS through" the bridge. A wrong code, an unknown number, a
// replayed SMS and a number over its rate are refused and counted
// ([Stats]). The member's duress PIN does what was asked and warns the
// group, as the duress passphrase does.
//
// The SMS themselves go through a [Backend]: gammu-smsd's files service
// ([Gammu]), or the local HTTP API of the Android app SMS Gateway for
// Android ([Gateway]). The bridge talks to the node only through its
// public methods and feed. Its own state (safe lines, enrolled members,
// codes) is one sealed blob in the node's store.
//
// A Bridge is safe for concurrent use.
package smsbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/internal/persist"
	"github.com/takecare-network/takecare/node/ratelimit"
	"github.com/takecare-network/takecare/store"
)

// How much of an alert a safe line's SMS says (the carrier reads it).
const (
	ContentNone  = "none"  // "takecare: urgent alert in your group, open the app"
	ContentShort = "short" // kind, place, time
	ContentFull  = "full"  // kind, who, place, time, text
)

// Limits of the bridge.
const (
	// MaxLines is how many safe lines a group may have.
	MaxLines = 5
	// MaxMembers is how many members one bridge enrols.
	MaxMembers = 500
	// smsPerHour and smsBurst bound what one number may send.
	smsPerHour = 20
	smsBurst   = 6
	// maxBadCodes wrong codes from one number in badCodeWindow lock it
	// out until the window has passed.
	maxBadCodes   = 5
	badCodeWindow = time.Hour
	// seenFor is how long a PIN-mode SMS is remembered against replay.
	seenFor   = 7 * 24 * time.Hour
	maxSeen   = 10000
	outMaxAge = 6 * time.Hour // older entries are not sent to safe lines
	blobKind  = "smsbridge"
)

// Incoming is one received SMS.
type Incoming struct {
	From string    // the sender's number as the network gives it
	Text string    // the text, UTF-8
	Sent time.Time // when the network says it was sent (zero: unknown)
	// Key identifies this SMS at its backend (a spool file name, a
	// gateway message id): a copy with the same key is a replay.
	Key string
}

// Backend sends and receives SMS.
type Backend interface {
	// Send queues an SMS to number.
	Send(ctx context.Context, number, text string) error
	// Receive delivers received SMS to fn until ctx ends; an SMS is not
	// received again once fn returned for it.
	Receive(ctx context.Context, fn func(Incoming)) error
}

// Config configures a [Bridge].
type Config struct {
	Node    *node.Node
	Store   *store.Store // the node's store: the bridge keeps its state sealed in it
	Backend Backend
	// Location is the zone of the times members write ("18:00");
	// nil: time.Local.
	Location *time.Location
	Logger   *slog.Logger
	Now      func() time.Time // nil: time.Now
}

// Stats counts what the bridge did, since it started.
type Stats struct {
	Accepted     int64 `json:"accepted"`      // SMS carried out
	UnknownFrom  int64 `json:"unknown_from"`  // from a number no member enrolled
	BadCode      int64 `json:"bad_code"`      // wrong or missing code, or locked out
	Replayed     int64 `json:"replayed"`      // a code or an SMS used before
	RateLimited  int64 `json:"rate_limited"`  // over the number's rate
	Unparsed     int64 `json:"unparsed"`      // from an enrolled number, not understood
	Failed       int64 `json:"failed"`        // understood, but the node refused it
	SentLines    int64 `json:"sent_lines"`    // SMS handed to the backend for safe lines
	SendFailures int64 `json:"send_failures"` // SMS the backend refused
}

// Bridge carries alerts between a node's groups and SMS.
type Bridge struct {
	cfg  Config
	log  *slog.Logger
	rate *ratelimit.Limiter[string]

	save *persist.Saver // writes st into the store

	mu  sync.Mutex // guards st and bad
	st  state
	bad map[string][]time.Time // wrong codes by number

	sentMu sync.Mutex
	sent   map[string]bool // entries sent to safe lines

	accepted, unknownFrom, badCode, replayed, rateLimited, unparsed, failed, sentLines, sendFailures atomic.Int64
}

// state is what the bridge keeps, as one sealed blob.
type state struct {
	Groups  map[string]*Lines `json:"groups"` // by group id
	Members []*Enrolment      `json:"members"`
	Seen    map[string]int64  `json:"seen"` // hash of a PIN-mode SMS → Unix ms
}

// Lines are a group's safe lines and what their SMS say.
type Lines struct {
	Numbers []string `json:"numbers"`
	Content string   `json:"content"`
	Lang    string   `json:"lang"` // es or en
	SetBy   string   `json:"set_by"`
}

// Enrolment is a member who may use the bridge by SMS.
type Enrolment struct {
	Group    string    `json:"group"`  // group id
	Member   string    `json:"member"` // member id
	Number   string    `json:"number"`
	Mode     string    `json:"mode"`   // totp or pin
	Secret   string    `json:"secret"` // base32 TOTP secret, or the PIN
	Duress   string    `json:"duress"` // duress PIN
	LastStep int64     `json:"last_step"`
	Via      alert.Via `json:"via"`
}

// New loads the bridge's state from the store.
func New(cfg Config) (*Bridge, error) {
	if cfg.Node == nil || cfg.Store == nil {
		return nil, errors.New("smsbridge: a node and its store are required")
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bridge{cfg: cfg, log: log, rate: ratelimit.New[string](smsPerHour/3600.0, smsBurst, 4096),
		bad: map[string][]time.Time{}, sent: map[string]bool{}}
	blobs, err := cfg.Store.Blobs(blobKind)
	if err != nil {
		return nil, err
	}
	if raw, ok := blobs["state"]; ok {
		if err := json.Unmarshal(raw, &b.st); err != nil {
			return nil, fmt.Errorf("smsbridge: reading its state: %w", err)
		}
	}
	if b.st.Groups == nil {
		b.st.Groups = map[string]*Lines{}
	}
	if b.st.Seen == nil {
		b.st.Seen = map[string]int64{}
	}
	b.save = persist.New(b.snapshot, func(raw []byte) error { return cfg.Store.PutBlob(blobKind, []byte("state"), raw) })
	return b, nil
}

// Stats returns the counts so far.
func (b *Bridge) Stats() Stats {
	return Stats{Accepted: b.accepted.Load(), UnknownFrom: b.unknownFrom.Load(), BadCode: b.badCode.Load(),
		Replayed: b.replayed.Load(), RateLimited: b.rateLimited.Load(), Unparsed: b.unparsed.Load(),
		Failed: b.failed.Load(), SentLines: b.sentLines.Load(), SendFailures: b.sendFailures.Load()}
}

// snapshot is the saved form of the bridge's state.
func (b *Bridge) snapshot() ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return json.Marshal(b.st)
}

// Run sends the groups' urgent alerts to their safe lines and carries out
// received SMS, until ctx ends.
func (b *Bridge) Run(ctx context.Context) error {
	f := b.cfg.Node.Follow(node.FeedQuery{})
	defer f.Stop()
	errc := make(chan error, 1)
	go func() { errc <- b.cfg.Backend.Receive(ctx, func(in Incoming) { b.Handle(ctx, in) }) }()
	for {
		select {
		case <-ctx.Done():
			<-errc
			return nil
		case err := <-errc:
			return err
		case e, ok := <-f.C:
			if !ok {
				<-ctx.Done()
				return nil
			}
			b.forward(ctx, e)
		}
	}
}
