package node

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/store"
)

// The error model. Every error the node's methods return wraps a sentinel
// (what exactly went wrong, for callers that branch on it) and has a
// [Kind] (what a caller does about it). The kinds, and how the local API
// and the command line report them, are in one table here; node/api adds
// only each sentinel's stable code for scripts and the web UI.

// Kind is the class of an error: what the person or program that asked can
// do about it. [KindOf] finds the kind of any error.
type Kind uint8

const (
	// KindInternal is a fault of this node (a bug, a damaged file): asking
	// again does not help. It is the kind of any error without another.
	KindInternal Kind = iota
	// KindInvalid: the request is wrong as asked (a bad value, out of
	// range, a mistyped code).
	KindInvalid
	// KindNotFound: it names nothing this node holds.
	KindNotFound
	// KindForbidden: this member may not do it (not an admin, removed,
	// not the author, a wrong passphrase).
	KindForbidden
	// KindConflict: the state of things stands in the way (already done,
	// a name taken, it would leave no admin, a concurrent change won).
	KindConflict
	// KindUnavailable: it cannot be done now (no node reachable, the disk
	// or the store full, the daemon not running); it may work later.
	KindUnavailable
)

// kinds is how each kind is reported: its name (JSON, logs), the local
// API's HTTP status (RFC 9110, section 15) and the command line's exit
// status (0 is success; 2 also means a mistake in the command line).
var kinds = [...]struct {
	name   string
	status int
	exit   int
}{
	KindInternal:    {"internal", http.StatusInternalServerError, 1},
	KindInvalid:     {"invalid", http.StatusBadRequest, 2},
	KindNotFound:    {"not_found", http.StatusNotFound, 3},
	KindForbidden:   {"forbidden", http.StatusForbidden, 4},
	KindConflict:    {"conflict", http.StatusConflict, 5},
	KindUnavailable: {"unavailable", http.StatusServiceUnavailable, 6},
}

func (k Kind) String() string { return kinds[k].name }

// HTTPStatus is the status of the local API's answer for an error of this
// kind.
func (k Kind) HTTPStatus() int { return kinds[k].status }

// ExitCode is the exit status of a command that failed with an error of
// this kind.
func (k Kind) ExitCode() int { return kinds[k].exit }

// KindForStatus returns the kind of an error the local API answered with
// the HTTP status (for its clients): the kind whose HTTPStatus it is, 401
// as forbidden, any other 4xx as invalid, 429 and 5xx other than 500 as
// unavailable.
func KindForStatus(status int) Kind {
	for k, v := range kinds {
		if v.status == status {
			return Kind(k)
		}
	}
	switch {
	case status == http.StatusUnauthorized:
		return KindForbidden
	case status == http.StatusTooManyRequests || status > 500:
		return KindUnavailable
	case status >= 400 && status < 500:
		return KindInvalid
	}
	return KindInternal
}

// kindError is a sentinel error with a kind.
type kindError struct {
	kind Kind
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Kind() Kind    { return e.kind }

// NewError returns a new sentinel error of kind k whose text is msg, for
// packages that add requests of their own to the node's (node/api).
func NewError(k Kind, msg string) error { return &kindError{k, msg} }

// Errorf is [fmt.Errorf] for an error of kind k: it wraps what %w names,
// and [KindOf] reports k for it.
func Errorf(k Kind, format string, a ...any) error { return &kindWrap{k, fmt.Errorf(format, a...)} }

type kindWrap struct {
	kind Kind
	err  error
}

func (e *kindWrap) Error() string { return e.err.Error() }
func (e *kindWrap) Unwrap() error { return e.err }
func (e *kindWrap) Kind() Kind    { return e.kind }

// KindOf returns the kind of err: that of the first error in its tree
// with a method Kind() Kind (every sentinel of this package and of
// node/api has one), else that of the first sentinel of alert, crypto or
// store that it wraps and that foreignKinds lists, else KindInternal. The
// kind of nil is KindInternal too; callers ask only about errors.
func KindOf(err error) Kind {
	var k interface{ Kind() Kind }
	if errors.As(err, &k) {
		return k.Kind()
	}
	for _, f := range foreignKinds {
		if errors.Is(err, f.err) {
			return f.kind
		}
	}
	return KindInternal
}

// foreignKinds gives a kind to the sentinels of other packages that the
// node's methods pass on.
var foreignKinds = []struct {
	err  error
	kind Kind
}{
	{alert.ErrUnknownKind, KindInvalid},
	{alert.ErrUnknownSeverity, KindInvalid},
	{alert.ErrNoGroup, KindInvalid},
	{alert.ErrInvalid, KindInvalid},
	{alert.ErrMalformed, KindInvalid},
	{alert.ErrNotAdmin, KindForbidden},
	{alert.ErrRosterLimit, KindConflict},
	{crypto.ErrBadInvite, KindInvalid},
	{crypto.ErrBadRelayCode, KindInvalid},
	{crypto.ErrSamePassphrase, KindInvalid},
	{crypto.ErrWrongPassphrase, KindForbidden},
	{crypto.ErrNoKeystore, KindNotFound},
	{crypto.ErrKeystoreExists, KindConflict},
	{crypto.ErrKeystoreChanged, KindConflict},
	{store.ErrInUse, KindConflict},
	{store.ErrDiskFull, KindUnavailable},
	{store.ErrFull, KindUnavailable},
}

// Errors of requests that fit none of the more specific sentinels (see
// also groups.go, checkin.go and join.go).
var (
	// ErrNoSuchInvite: no invite of the group has that id or prefix.
	ErrNoSuchInvite = NewError(KindNotFound, "no such invite")
	// ErrConflict: the request asks for what already is, or a concurrent
	// change won.
	ErrConflict = NewError(KindConflict, "conflicting change")
	// ErrLastAdmin: the change would leave the group without an admin.
	ErrLastAdmin = NewError(KindConflict, "the group's only admin")
	// ErrSelf: the request names this node's own member where another
	// is needed.
	ErrSelf = NewError(KindInvalid, "that is you")
	// ErrOutOfRange: a number or duration outside its limits; its
	// parameters "what", "min" and "max" say which and the limits
	// (durations in seconds).
	ErrOutOfRange = NewError(KindInvalid, "out of range")
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
