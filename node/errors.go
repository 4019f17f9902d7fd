package node

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of requests that fit none of the more specific sentinels (see
// also groups.go, checkin.go and join.go).
var (
	// ErrNoSuchInvite: no invite of the group has that id or prefix.
	ErrNoSuchInvite = errors.New("no such invite")
	// ErrConflict: the request asks for what already is, or a concurrent
	// change won.
	ErrConflict = errors.New("conflicting change")
	// ErrLastAdmin: the change would leave the group without an admin.
	ErrLastAdmin = errors.New("the group's only admin")
	// ErrSelf: the request names this node's own member where another
	// is needed.
	ErrSelf = errors.New("that is you")
	// ErrOutOfRange: a number or duration outside its limits; its
	// parameters "what", "min" and "max" say which and the limits
	// (durations in seconds).
	ErrOutOfRange = errors.New("out of range")
)

// paramError is an error that carries, next to its English line, the
// values a user interface needs to say the same thing in the reader's own
// language and time zone: the name that was not found, the candidates of
// an ambiguous name, the due time a check-in was refused for. It wraps the
// sentinel that callers branch on (errors.Is works as before); node/api
// sends the sentinel's stable code with these parameters to the web UI.
type paramError struct {
	err    error
	msg    string
	params map[string]string
}

func (e *paramError) Error() string { return e.msg }
func (e *paramError) Unwrap() error { return e.err }

// Params returns the error's parameters: short strings; times are RFC 3339
// in UTC, durations whole seconds, lists joined with ", ".
func (e *paramError) Params() map[string]string { return e.params }

// withParams returns an error that wraps sentinel, reads as the formatted
// English line, and carries params (alternating keys and values).
func withParams(sentinel error, kv []string, format string, a ...any) error {
	p := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	return &paramError{err: sentinel, msg: fmt.Sprintf(format, a...), params: p}
}

// paramTime and paramDur write times and durations as parameters.
func paramTime(t time.Time) string    { return t.UTC().Format(time.RFC3339) }
func paramDur(d time.Duration) string { return fmt.Sprint(int64(d / time.Second)) }
func paramList(items []string) string { return strings.Join(items, ", ") }

// refused is [ErrCheckInRefused] for a reason (a stable word, sent as the
// parameter "reason"), with more parameters in kv.
func refused(reason string, kv []string, format string, a ...any) error {
	return withParams(ErrCheckInRefused, append([]string{"reason", reason}, kv...), "%v: %s", ErrCheckInRefused, fmt.Sprintf(format, a...))
}

func lastAdmin(name string) error {
	return withParams(ErrLastAdmin, []string{"name", name}, "%s is the group's only admin", name)
}
