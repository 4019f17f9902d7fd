// Package hooks runs a local command for every new entry of a node's feed,
// so that a volunteer can drive a siren, a radio, an e-mail or anything else
// from what reaches the node (`takecare run --hook CMD`, docs/GUIDE.md,
// "Local hooks").
//
// Each entry (a new alert, alarm, check-in or arrival, or a message again
// with a new acknowledgement in its acks; not a message shown again for
// another change, such as its delivery) is written as one JSON object,
// the same fields as `takecare feed --json` prints, followed by a newline,
// to the standard input of the command, which runs with /bin/sh -c. One
// command runs at a time, in the order the entries arrived, each for at most
// [Config.Timeout]; entries wait in a queue of [Config.Queue] places, and
// when it is full new entries are dropped and counted. A failing, slow or
// hanging command is logged (its exit status, never its output or the
// entry: logs hold no names, places or texts) and never blocks the node.
//
// A [Runner] is safe for concurrent use.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/takecare-network/takecare/node"
)

// Defaults of [Config].
const (
	DefaultTimeout = 30 * time.Second
	DefaultQueue   = 64
	// MaxTimeout bounds Config.Timeout: a hook is for a quick action.
	MaxTimeout = 10 * time.Minute
)

// waitDelay is how long a command that timed out, or whose children keep
// its output open, is given after being killed before the runner moves on.
const waitDelay = 2 * time.Second

// Config configures a [Runner]. The zero value of every optional field is
// a safe default.
type Config struct {
	// Command is the shell command line to run for each entry. Required.
	Command string
	// Timeout bounds one run; the command (and its process group) is
	// killed when it passes. Default [DefaultTimeout], at most
	// [MaxTimeout].
	Timeout time.Duration
	// Queue is how many entries may wait while the command runs; beyond
	// it, new entries are dropped and counted. Default [DefaultQueue].
	Queue int
	// Logger receives failures; nil discards them.
	Logger *slog.Logger
}

// Stats counts what a [Runner] did.
type Stats struct {
	Ran     int64 `json:"ran"`     // runs that exited with status 0
	Failed  int64 `json:"failed"`  // runs that failed, timed out or could not start
	Dropped int64 `json:"dropped"` // entries dropped because the queue was full
}

// Runner runs one hook command for the entries it is given.
type Runner struct {
	cfg                  Config
	log                  *slog.Logger
	ran, failed, dropped atomic.Int64
}

// New checks cfg and returns a runner. It returns an error if the command
// is empty or a limit is out of range.
func New(cfg Config) (*Runner, error) {
	cfg.Command = strings.TrimSpace(cfg.Command)
	if cfg.Command == "" {
		return nil, errors.New("hooks: the hook command is empty")
	}
	switch {
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultTimeout
	case cfg.Timeout < 0 || cfg.Timeout > MaxTimeout:
		return nil, fmt.Errorf("hooks: the hook timeout must be between 1s and %s", MaxTimeout)
	}
	switch {
	case cfg.Queue == 0:
		cfg.Queue = DefaultQueue
	case cfg.Queue < 0:
		return nil, errors.New("hooks: the hook queue cannot be negative")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg, log: log}, nil
}

// Stats returns the runner's counts so far.
func (r *Runner) Stats() Stats {
	return Stats{Ran: r.ran.Load(), Failed: r.failed.Load(), Dropped: r.dropped.Load()}
}

// Run runs the command for every entry received from entries until ctx
// ends or entries is closed. When entries is closed, it runs what is queued
// and returns; when ctx ends, it kills the run under way, drops the queue
// and returns. Receiving never waits for a command: entries that find the
// queue full are dropped.
func (r *Runner) Run(ctx context.Context, entries <-chan node.Entry) {
	queue := make(chan node.Entry, r.cfg.Queue)
	shown := newShown(maxShown)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-queue:
				if !ok {
					return
				}
				r.runOne(ctx, e)
			}
		}
	}()
	defer func() { <-done }()
	defer close(queue)
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-entries:
			if !ok {
				return
			}
			if !shown.news(e) {
				continue
			}
			select {
			case queue <- e:
			default:
				r.dropped.Add(1)
				r.log.Warn("hook queue full: entry dropped", "msg_id", short(e.ID), "queue", r.cfg.Queue)
			}
		}
	}
}

// maxShown is how many entries a runner remembers it ran for: as many as
// a follower can fall behind (node/internal/feed's Buffer).
const maxShown = 1024

// shown remembers, for the latest entries a runner took, what their
// acknowledgements were. A feed sends an entry again when anything of it
// changes (its delivery, for this node's own messages); a hook runs for a
// new entry and for a new acknowledgement only.
type shown struct {
	acks  map[string]string // entry id to ackKey of its acks
	order []string          // oldest first
	max   int
}

func newShown(max int) *shown { return &shown{acks: make(map[string]string), max: max} }

// news reports whether e is new or has acknowledgements it did not have
// when last seen, and remembers it.
func (s *shown) news(e node.Entry) bool {
	k := ackKey(e.Acks)
	old, seen := s.acks[e.ID]
	if seen && old == k {
		return false
	}
	if !seen {
		if len(s.order) == s.max {
			delete(s.acks, s.order[0])
			s.order = s.order[1:]
		}
		s.order = append(s.order, e.ID)
	}
	s.acks[e.ID] = k
	return true
}

// ackKey names a set of acknowledgements: who, what and when, in order.
func ackKey(acks []node.AckEntry) string {
	var b strings.Builder
	for _, a := range acks {
		fmt.Fprintf(&b, "%s\x00%s\x00%d\x00", a.AuthorID, a.Status, a.Time.UnixNano())
	}
	return b.String()
}

// runOne runs the command once with e on its standard input.
func (r *Runner) runOne(ctx context.Context, e node.Entry) {
	line, err := json.Marshal(e)
	if err != nil {
		r.failed.Add(1)
		r.log.Error("hook: encoding an entry", "msg_id", short(e.ID), "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", r.cfg.Command)
	cmd.Stdin = bytes.NewReader(append(line, '\n'))
	// The hook's output is its own business: it may repeat the entry,
	// which logs must not hold.
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	killGroup(cmd)
	cmd.WaitDelay = waitDelay
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case err == nil:
		r.ran.Add(1)
		r.log.Debug("hook ran", "msg_id", short(e.ID), "took", took)
	case errors.Is(ctx.Err(), context.Canceled):
		r.log.Debug("hook stopped with the node", "msg_id", short(e.ID))
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.failed.Add(1)
		r.log.Warn("hook timed out and was killed", "msg_id", short(e.ID), "timeout", r.cfg.Timeout)
	default:
		r.failed.Add(1)
		r.log.Warn("hook failed", "msg_id", short(e.ID), "took", took, "err", err)
	}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
