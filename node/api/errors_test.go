package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node/api"
)

// TestErrorCodes: every error reaches a client as a stable code with the
// parameters needed to word it in another language, and with its HTTP
// status; the English line is still there for the command line.
func TestErrorCodes(t *testing.T) {
	t.Parallel()
	nt := oneNode(t)
	if _, err := nt.CreateGroup(context.Background(), "juchitan"); err != nil {
		t.Fatal(err)
	}
	me := nt.Status().MemberID
	base, token := webServer(t, nt.Node)
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for _, tc := range []struct {
		name, method, path string
		token              string
		body               any
		status             int
		code               string
		params             map[string]string // those that must be there
		english            string            // part of the English line
	}{
		{"no token", "GET", "/v1/status", "", nil, 401, "unauthorized", nil, "token"},
		{"no such group", "POST", "/v1/groups/nowhere/alerts", token, api.AlertRequest{Kind: "danger", Severity: "urgent"},
			404, "no_such_group", map[string]string{"ref": "nowhere"}, `no such group "nowhere"`},
		{"unknown kind", "POST", "/v1/groups/juchitan/alerts", token, api.AlertRequest{Kind: "flood", Severity: "urgent"},
			400, "unknown_kind", nil, "unknown kind"},
		{"ttl out of range", "POST", "/v1/groups/juchitan/alerts", token, api.AlertRequest{Kind: "danger", Severity: "urgent", TTL: api.Duration(1000 * time.Hour)},
			400, "out_of_range", map[string]string{"what": "ttl", "min": "1"}, "ttl must be between"},
		{"damaged invite", "POST", "/v1/join", token, api.JoinRequest{Code: "TC1-AAAA"}, 400, "bad_invite", nil, "damaged or mistyped"},
		{"name taken", "POST", "/v1/groups", token, api.CreateGroupRequest{Name: "juchitan"},
			409, "group_name_taken", map[string]string{"name": "juchitan"}, "already in a group"},
		{"check-in in the past", "POST", "/v1/groups/juchitan/checkins", token, api.CheckInRequest{To: "Ixtepec", Due: past},
			400, "checkin_refused", map[string]string{"reason": "due_passed", "due": past.Format(time.RFC3339)}, "has already passed"},
		{"check-in nowhere", "POST", "/v1/groups/juchitan/checkins", token, api.CheckInRequest{Due: time.Now().Add(time.Hour)},
			400, "checkin_refused", map[string]string{"reason": "no_destination"}, "say where you are going"},
		{"no open check-in", "POST", "/v1/checkins/done", token, api.DoneRequest{}, 404, "no_open_checkin", nil, "no open check-in"},
		{"too many uses", "POST", "/v1/groups/juchitan/invites", token, api.InviteRequest{Uses: 100000},
			400, "out_of_range", map[string]string{"what": "uses"}, "uses must be between"},
		{"remove yourself", "POST", "/v1/groups/juchitan/members/" + me + "/remove", token, struct{}{}, 400, "self", nil, "remove yourself"},
		{"no such member", "POST", "/v1/groups/juchitan/members/Zacarias/remove", token, struct{}{},
			404, "no_such_member", map[string]string{"ref": "Zacarias", "group": "juchitan"}, "no such member"},
		{"bad role", "POST", "/v1/groups/juchitan/members/" + me + "/role", token, api.RoleRequest{Role: "king"}, 400, "bad_role", nil, "role must be"},
		{"bad JSON", "POST", "/v1/groups", token, map[string]int{"nom": 1}, 400, "bad_request", nil, "bad request"},
		{"bad answer", "POST", "/v1/messages/" + strings.Repeat("ab", 32) + "/acks", token, api.AckRequest{Status: "maybe"},
			400, "bad_ack_status", nil, "unknown status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := call(t, tc.method, base+tc.path, tc.token, "", tc.body)
			var e api.ErrorBody
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("%s: body %s: %v", resp.Status, body, err)
			}
			if resp.StatusCode != tc.status || e.Code != tc.code {
				t.Fatalf("got %d %q (%s), want %d %q", resp.StatusCode, e.Code, e.Error, tc.status, tc.code)
			}
			for k, v := range tc.params {
				if e.Params[k] != v {
					t.Errorf("param %s = %q, want %q (all: %v)", k, e.Params[k], v, e.Params)
				}
			}
			if !strings.Contains(e.Error, tc.english) || strings.Contains(e.Error, "node: ") {
				t.Errorf("English line %q, want it to say %q", e.Error, tc.english)
			}
		})
	}

	// The command line's client gets the same.
	dir := serveUnix(t, api.NewServer(nt.Node, nil, "", nil))
	_, err := api.NewClient(dir).Alert(context.Background(), "nowhere", api.AlertRequest{Kind: "danger", Severity: "urgent"})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != "no_such_group" || !maps.Equal(ae.Params, map[string]string{"ref": "nowhere"}) {
		t.Errorf("client error %#v", err)
	}
}
