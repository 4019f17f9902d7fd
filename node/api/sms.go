package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/smsbridge"
)

// SMS bridge endpoints (node/smsbridge):
//
//	POST /v1/groups/{group}/sms/grant     {"bridge", "days"} → {"code"}: a grant for a bridge, on any member's node
//	POST /v1/sms/enrol                    {"code", "number", "mode"} → smsbridge.Enrolled, once; bridge only
//	GET  /v1/sms/members                  enrolled members, without codes; bridge only
//	POST /v1/sms/members/{group}/{member}/remove
//	GET  /v1/groups/{group}/sms/lines     safe lines; bridge, admins only
//	POST /v1/groups/{group}/sms/lines     {"numbers", "content", "lang"}
//	GET  /v1/sms/status                   smsbridge.Stats; bridge only

// errNotBridge: the daemon runs no SMS bridge.
var errNotBridge = node.NewError(node.KindNotFound, "this node is not an SMS bridge (set \"sms\" in its config.json and restart it)")

// EnableSMS serves the endpoints of an SMS bridge run by this daemon.
func (s *Server) EnableSMS(b *smsbridge.Bridge) { s.sms.Store(b) }

func (s *Server) routeSMS() {
	s.mux.HandleFunc("POST /v1/groups/{group}/sms/grant", s.smsGrant)
	s.mux.HandleFunc("POST /v1/sms/enrol", s.bridged(s.smsEnrol))
	s.mux.HandleFunc("GET /v1/sms/members", s.bridged(s.smsMembers))
	s.mux.HandleFunc("POST /v1/sms/members/{group}/{member}/remove", s.bridged(s.smsRemove))
	s.mux.HandleFunc("GET /v1/groups/{group}/sms/lines", s.bridged(s.smsLines))
	s.mux.HandleFunc("POST /v1/groups/{group}/sms/lines", s.bridged(s.smsLines))
	s.mux.HandleFunc("GET /v1/sms/status", s.bridged(s.smsStatus))
}

// bridged serves h only on a daemon that runs a bridge.
func (s *Server) bridged(h func(http.ResponseWriter, *http.Request, *smsbridge.Bridge)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b := s.sms.Load()
		if b == nil {
			s.fail(w, errNotBridge)
			return
		}
		h(w, r, b)
	}
}

// GrantRequest is the body of POST /v1/groups/{group}/sms/grant.
type GrantRequest struct {
	Bridge string `json:"bridge"` // member name or id prefix
	Days   int    `json:"days,omitempty"`
}

// GrantResponse carries a grant code.
type GrantResponse struct {
	Code    string    `json:"code"`
	Bridge  string    `json:"bridge"`
	Expires time.Time `json:"expires"`
}

func (s *Server) smsGrant(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	var req GrantRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Days == 0 {
		req.Days = 90
	}
	bridge, name, err := s.n.ResolveMember(gid, req.Bridge)
	if err != nil {
		s.fail(w, err)
		return
	}
	v, err := s.n.Grant(gid, bridge, time.Now().Add(time.Duration(req.Days)*24*time.Hour))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, GrantResponse{Code: smsbridge.GrantCode(gid, s.n.Identity().ID(), v), Bridge: name, Expires: v.Expires.UTC()})
}

// EnrolRequest is the body of POST /v1/sms/enrol.
type EnrolRequest struct {
	Code   string `json:"code"`
	Number string `json:"number"`
	Mode   string `json:"mode,omitempty"` // totp (default) or pin
}

func (s *Server) smsEnrol(w http.ResponseWriter, r *http.Request, b *smsbridge.Bridge) {
	var req EnrolRequest
	if !decode(w, r, &req) {
		return
	}
	gid, member, v, err := smsbridge.ParseGrantCode(req.Code)
	if err != nil {
		s.fail(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	out, err := b.Enrol(gid, member, v, req.Number, req.Mode)
	s.reply(w, out, err)
}

func (s *Server) smsMembers(w http.ResponseWriter, r *http.Request, b *smsbridge.Bridge) {
	writeJSON(w, b.Members())
}

func (s *Server) smsRemove(w http.ResponseWriter, r *http.Request, b *smsbridge.Bridge) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	member, _, err := s.n.ResolveMember(gid, r.PathValue("member"))
	if err != nil {
		s.fail(w, err)
		return
	}
	removed, err := b.Unenrol(gid, member)
	s.reply(w, map[string]bool{"removed": removed}, err)
}

// LinesRequest is the body of POST /v1/groups/{group}/sms/lines.
type LinesRequest struct {
	Numbers []string `json:"numbers"`
	Content string   `json:"content,omitempty"`
	Lang    string   `json:"lang,omitempty"`
}

func (s *Server) smsLines(w http.ResponseWriter, r *http.Request, b *smsbridge.Bridge) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	if r.Method == http.MethodGet {
		l, err := b.LinesOf(gid)
		s.reply(w, l, err)
		return
	}
	var req LinesRequest
	if !decode(w, r, &req) {
		return
	}
	l, err := b.SetLines(gid, req.Numbers, req.Content, req.Lang)
	s.reply(w, l, err)
}

func (s *Server) smsStatus(w http.ResponseWriter, r *http.Request, b *smsbridge.Bridge) {
	writeJSON(w, b.Stats())
}
