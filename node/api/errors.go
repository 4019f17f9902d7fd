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

// errorCodes maps the errors callers can get to their stable code and
// HTTP status, in one place: the first entry the error matches (errors.Is)
// wins. An error that matches none is "internal" (500) and is logged.
var errorCodes = []struct {
	err    error
	code   string
	status int
}{
	{node.ErrRemovedFromGroup, "removed_from_group", http.StatusForbidden},
	{node.ErrNotAdmin, "not_admin", http.StatusForbidden},
	{node.ErrNotYourCheckIn, "not_your_checkin", http.StatusForbidden},
	{node.ErrAmbiguous, "ambiguous", http.StatusBadRequest},
	{node.ErrNoSuchGroup, "no_such_group", http.StatusNotFound},
	{node.ErrNoSuchMember, "no_such_member", http.StatusNotFound},
	{node.ErrNoSuchMessage, "no_such_message", http.StatusNotFound},
	{node.ErrNoSuchCheckIn, "no_such_checkin", http.StatusNotFound},
	{node.ErrNoOpenCheckIn, "no_open_checkin", http.StatusNotFound},
	{node.ErrNoSuchInvite, "no_such_invite", http.StatusNotFound},
	{node.ErrBadGrant, "bad_grant", http.StatusBadRequest},
	{errNotBridge, "not_a_bridge", http.StatusNotFound},
	{node.ErrCheckInEnded, "checkin_ended", http.StatusConflict},
	{node.ErrConflict, "conflict", http.StatusConflict},
	{node.ErrLastAdmin, "last_admin", http.StatusConflict},
	{node.ErrGroupNameTaken, "group_name_taken", http.StatusConflict},
	{node.ErrSelf, "self", http.StatusBadRequest},
	{node.ErrCheckInRefused, "checkin_refused", http.StatusBadRequest},
	{node.ErrOutOfRange, "out_of_range", http.StatusBadRequest},
	{node.ErrBadMessageID, "bad_message_id", http.StatusBadRequest},
	{node.ErrNotAckable, "not_ackable", http.StatusBadRequest},
	{node.ErrBadAckStatus, "bad_ack_status", http.StatusBadRequest},
	{crypto.ErrBadInvite, "bad_invite", http.StatusBadRequest},
	{node.ErrJoinRefused, "join_refused", http.StatusBadRequest},
	{node.ErrUnreachable, "unreachable", http.StatusBadGateway},
	{node.ErrRedeemerOffline, "redeemer_offline", http.StatusBadGateway},
	{alert.ErrUnknownKind, "unknown_kind", http.StatusBadRequest},
	{alert.ErrUnknownSeverity, "unknown_severity", http.StatusBadRequest},
	{alert.ErrNoGroup, "no_group", http.StatusBadRequest},
	{alert.ErrRosterLimit, "roster_full", http.StatusConflict},
	{alert.ErrInvalid, "invalid", http.StatusBadRequest},
	{store.ErrDiskFull, "disk_full", http.StatusInsufficientStorage},
	{store.ErrFull, "store_full", http.StatusInsufficientStorage},
	// The API's own.
	{errUnauthorized, "unauthorized", http.StatusUnauthorized},
	{errNotLoopback, "not_loopback", http.StatusForbidden},
	{errOtherOrigin, "other_origin", http.StatusForbidden},
	{errBadRequest, "bad_request", http.StatusBadRequest},
	{errBadRole, "bad_role", http.StatusBadRequest},
	{errQRText, "qr_text", http.StatusBadRequest},
	{errPairRefused, "pair_refused", http.StatusForbidden},
	{errPairLocked, "pair_locked", http.StatusTooManyRequests},
	{errBadPIN, "bad_pin", http.StatusBadRequest},
	{errNoSessions, "no_sessions", http.StatusNotFound},
}

// Errors of the API itself.
var (
	errUnauthorized = errors.New("missing or wrong API token")
	errOtherOrigin  = errors.New("requests from other sites are not allowed")
	errBadRequest   = errors.New("bad request")
	errBadRole      = errors.New(`role must be "admin" or "member"`)
	errQRText       = fmt.Errorf("the text for a QR code must have 1 to %d bytes", maxQRText)
)

// codeFor returns err's stable code and HTTP status.
func codeFor(err error) (string, int) {
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code, c.status
		}
	}
	return "internal", http.StatusInternalServerError
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
