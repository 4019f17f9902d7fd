package api

import (
	"net/http"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/node"
)

// Membership endpoints:
//
//	POST /v1/groups/{group}/members/{member}/remove
//	POST /v1/groups/{group}/members/{member}/role   {"role": "admin"|"member"}
//	GET  /v1/groups/{group}/invites
//	POST /v1/groups/{group}/invites/{invite}/revoke
//	GET  /v1/verify/{member}                          safety number
//	POST /v1/verify/{member}                          mark verified

func (s *Server) registerMembers() {
	s.mux.HandleFunc("POST /v1/groups/{group}/members/{member}/remove", s.remove)
	s.mux.HandleFunc("POST /v1/groups/{group}/members/{member}/role", s.setRole)
	s.mux.HandleFunc("GET /v1/groups/{group}/invites", s.invites)
	s.mux.HandleFunc("POST /v1/groups/{group}/invites/{invite}/revoke", s.revokeInvite)
	s.mux.HandleFunc("GET /v1/verify/{member}", s.verify)
	s.mux.HandleFunc("POST /v1/verify/{member}", s.verify)
}

func (s *Server) remove(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	res, err := s.n.Remove(r.Context(), gid, r.PathValue("member"))
	s.reply(w, res, err)
}

// RoleRequest is the body of POST .../members/{member}/role.
type RoleRequest struct {
	Role string `json:"role"`
}

func (s *Server) setRole(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	var req RoleRequest
	if !decode(w, r, &req) {
		return
	}
	var role alert.Role
	switch req.Role {
	case "admin":
		role = alert.RoleAdmin
	case "member":
		role = alert.RoleMember
	default:
		writeError(w, errBadRole)
		return
	}
	m, err := s.n.SetRole(r.Context(), gid, r.PathValue("member"), role)
	s.reply(w, m, err)
}

func (s *Server) invites(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	invs, err := s.n.Invites(gid)
	if err != nil {
		s.fail(w, err)
		return
	}
	if invs == nil {
		invs = []node.InviteView{}
	}
	writeJSON(w, invs)
}

func (s *Server) revokeInvite(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	inv, err := s.n.RevokeInvite(r.Context(), gid, r.PathValue("invite"))
	s.reply(w, inv, err)
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	v, err := s.n.Verify(r.PathValue("member"), r.Method == http.MethodPost)
	s.reply(w, v, err)
}
