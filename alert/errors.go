package alert

import (
	"errors"
)

// Errors callers branch on. Validation wraps them with details.
var (
	// ErrMalformed: the body does not decode, is not canonical, or breaks a
	// structural rule. Provably the author's fault.
	ErrMalformed = errors.New("alert: malformed message")
	// ErrInvalid: the body decodes but its content breaks a rule (a limit, a
	// missing field). Provably the author's fault.
	ErrInvalid = errors.New("alert: invalid message")
	// ErrUnknownKind: an alert kind this version does not know.
	ErrUnknownKind = errors.New("alert: unknown kind")
	// ErrUnknownSeverity: a severity word this version does not know.
	ErrUnknownSeverity = errors.New("alert: unknown severity")
	// ErrExpired: the message expired, or is older than the retention window.
	ErrExpired = errors.New("alert: expired")
	// ErrFuture: the message claims a time too far ahead of our clock.
	ErrFuture = errors.New("alert: time too far in the future")
	// ErrNoGroup: no group was named.
	ErrNoGroup = errors.New("alert: no group given")
)

// IsStale reports whether err says the message is out of its time window
// rather than wrong: a receiver ignores such a message instead of punishing
// the peer that forwarded it, since clocks differ.
func IsStale(err error) bool { return errors.Is(err, ErrExpired) || errors.Is(err, ErrFuture) }
