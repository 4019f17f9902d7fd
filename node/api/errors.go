package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/store"
)

// Every error answer has the body
//
//	{"error": "one English line", "code": "no_such_group", "params": {"ref": "juchitan"}}
//
// code is stable: scripts and the web UI branch on it, and the web UI
// words the error in the reader's language from code and params (its
// catalogue has a key "error.CODE" for every code below). params holds
// short strings: times in RFC 3339, durations in whole seconds, lists
// joined with ", ". "error" is for people reading English (the command
// line prints it) and may change.

// ErrorBody is the body of an error answer.
type ErrorBody struct {
	Error  string            `json:"error"`
	Code   string            `json:"code"`
	Params map[string]string `json:"params,omitempty"`
}

// errorCodes gives the errors callers can get their stable code, in one
// place: the first entry the error matches (errors.Is) wins. The HTTP
// status is that of the error's kind ([node.KindOf], [node.Kind.HTTPStatus])
// unless the entry names another. An error that matches none is
// "internal" and is logged.
var errorCodes = []struct {
	err    error
	code   string
	status int // 0: the kind's
}{
	{node.ErrRemovedFromGroup, "removed_from_group", 0},
	{node.ErrNotAdmin, "not_admin", 0},
	{node.ErrNotYourCheckIn, "not_your_checkin", 0},
	{node.ErrAmbiguous, "ambiguous", 0},
	{node.ErrNoSuchGroup, "no_such_group", 0},
	{node.ErrNoSuchMember, "no_such_member", 0},
	{node.ErrNoSuchMessage, "no_such_message", 0},
	{node.ErrNoSuchCheckIn, "no_such_checkin", 0},
	{node.ErrNoOpenCheckIn, "no_open_checkin", 0},
	{node.ErrNoSuchInvite, "no_such_invite", 0},
	{node.ErrNoSuchRelay, "no_such_relay", 0},
	{node.ErrNoSuchRelayCode, "no_such_relay_code", 0},
	{node.ErrNotRelay, "not_a_relay", 0},
	{node.ErrRelayInGroup, "relay_in_group", 0},
	{crypto.ErrBadRelayCode, "bad_relay_code", 0},
	{node.ErrBadGrant, "bad_grant", 0},
	{errNotBridge, "not_a_bridge", 0},
	{node.ErrCheckInEnded, "checkin_ended", 0},
	{node.ErrConflict, "conflict", 0},
	{node.ErrLastAdmin, "last_admin", 0},
	{node.ErrGroupNameTaken, "group_name_taken", 0},
	{node.ErrSelf, "self", 0},
	{node.ErrCheckInRefused, "checkin_refused", 0},
	{node.ErrOutOfRange, "out_of_range", 0},
	{node.ErrBadMessageID, "bad_message_id", 0},
	{node.ErrNotAckable, "not_ackable", 0},
	{node.ErrBadAckStatus, "bad_ack_status", 0},
	{crypto.ErrBadInvite, "bad_invite", 0},
	{node.ErrJoinRefused, "join_refused", 0},
	{node.ErrUnreachable, "unreachable", 0},
	{node.ErrRedeemerOffline, "redeemer_offline", 0},
	{alert.ErrUnknownKind, "unknown_kind", 0},
	{alert.ErrUnknownSeverity, "unknown_severity", 0},
	{alert.ErrNoGroup, "no_group", 0},
	{alert.ErrRosterLimit, "roster_full", 0},
	{alert.ErrInvalid, "invalid", 0},
	{store.ErrDiskFull, "disk_full", 0},
	{store.ErrFull, "store_full", 0},
	// The API's own.
	{errUnauthorized, "unauthorized", http.StatusUnauthorized},
	{errNotLoopback, "not_loopback", 0},
	{errOtherOrigin, "other_origin", 0},
	{errBadRequest, "bad_request", 0},
	{errBadRole, "bad_role", 0},
	{errQRText, "qr_text", 0},
	{errPairRefused, "pair_refused", 0},
	{errPairLocked, "pair_locked", http.StatusTooManyRequests},
	{errBadPIN, "bad_pin", 0},
	{errNoSessions, "no_sessions", 0},
}

// Errors of the API itself.
var (
	errUnauthorized = node.NewError(node.KindForbidden, "missing or wrong API token")
	errOtherOrigin  = node.NewError(node.KindForbidden, "requests from other sites are not allowed")
	errBadRequest   = node.NewError(node.KindInvalid, "bad request")
	errBadRole      = node.NewError(node.KindInvalid, `role must be "admin" or "member"`)
	errQRText       = node.NewError(node.KindInvalid, fmt.Sprintf("the text for a QR code must have 1 to %d bytes", maxQRText))
)

// codeFor returns err's stable code and HTTP status.
func codeFor(err error) (string, int) {
	status := node.KindOf(err).HTTPStatus()
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			if c.status != 0 {
				status = c.status
			}
			return c.code, status
		}
	}
	return "internal", status
}

// paramsOf returns the parameters err carries (see node's errors), if any.
func paramsOf(err error) map[string]string {
	var p interface{ Params() map[string]string }
	if errors.As(err, &p) {
		return p.Params()
	}
	return nil
}

func writeError(w http.ResponseWriter, err error) {
	code, status := codeFor(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(ErrorBody{Error: userMessage(err), Code: code, Params: paramsOf(err)})
}

// userMessage strips package prefixes ("alert: ", "node: ") that mean
// nothing to a user.
func userMessage(err error) string {
	return pkgPrefix.ReplaceAllString(err.Error(), "$1")
}

var pkgPrefix = regexp.MustCompile(`(^|: )(?:alert|node|crypto|store): `)
