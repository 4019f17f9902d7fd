package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/takecare-network/takecare/node"
)

// Relays that are not members (PROTOCOL.md, "Relays that are not members"):
//
//	GET  /v1/groups/{group}/relays                  the relays granted to the group
//	POST /v1/groups/{group}/relays                  RelayGrantRequest → node.GrantedRelay (admins)
//	POST /v1/groups/{group}/relays/{relay}/revoke   → node.RelayView (admins)
//	GET  /v1/relay/codes                            on a relay: the codes it holds
//	POST /v1/relay/codes                            on a relay: RelayCodeRequest → node.RelayCodeView
//	POST /v1/relay/codes/{label}/drop               on a relay: drop a code → node.RelayCodeView

func (s *Server) registerRelays() {
	s.mux.HandleFunc("GET /v1/groups/{group}/relays", s.relays)
	s.mux.HandleFunc("POST /v1/groups/{group}/relays", s.grantRelay)
	s.mux.HandleFunc("POST /v1/groups/{group}/relays/{relay}/revoke", s.revokeRelay)
	s.mux.HandleFunc("GET /v1/relay/codes", s.relayCodes)
	s.mux.HandleFunc("POST /v1/relay/codes", s.acceptRelayCode)
	s.mux.HandleFunc("POST /v1/relay/codes/{label}/drop", s.dropRelayCode)
}

// RelayGrantRequest is the body of POST /v1/groups/{group}/relays.
type RelayGrantRequest struct {
	// Addr is where the relay listens, with its peer id:
	// /ip4/203.0.113.5/tcp/4001/p2p/12D3Koo….
	Addr string `json:"addr"`
	Name string `json:"name"`
	// TTL is how long the grant lasts (0: 90 days).
	TTL Duration `json:"ttl"`
}

// RelayCodeRequest is the body of POST /v1/relay/codes.
type RelayCodeRequest struct {
	Code string `json:"code"`
}

func (s *Server) relays(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	rs, err := s.n.Relays(gid)
	s.reply(w, rs, err)
}

func (s *Server) grantRelay(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	var req RelayGrantRequest
	if !decode(w, r, &req) {
		return
	}
	g, err := s.n.GrantRelay(r.Context(), gid, req.Addr, req.Name, time.Duration(req.TTL))
	s.reply(w, g, err)
}

func (s *Server) revokeRelay(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	v, err := s.n.RevokeRelay(r.Context(), gid, r.PathValue("relay"))
	s.reply(w, v, err)
}

func (s *Server) relayCodes(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, s.n.RelayCodes())
}

func (s *Server) acceptRelayCode(w http.ResponseWriter, r *http.Request) {
	var req RelayCodeRequest
	if !decode(w, r, &req) {
		return
	}
	v, err := s.n.AcceptRelayCode(req.Code)
	s.reply(w, v, err)
}

func (s *Server) dropRelayCode(w http.ResponseWriter, r *http.Request) {
	v, err := s.n.DropRelayCode(r.PathValue("label"))
	s.reply(w, v, err)
}

// Relays lists the relays granted to a group.
func (c *Client) Relays(ctx context.Context, group string) ([]node.RelayView, error) {
	var rs []node.RelayView
	err := c.do(ctx, "GET", groupPath(group, "/relays"), nil, &rs)
	return rs, err
}

// GrantRelay grants the relay at addr to a group (admins only) and
// returns its code.
func (c *Client) GrantRelay(ctx context.Context, group string, req RelayGrantRequest) (node.GrantedRelay, error) {
	var g node.GrantedRelay
	err := c.do(ctx, "POST", groupPath(group, "/relays"), req, &g)
	return g, err
}

// RevokeRelay withdraws a relay's grant (admins only).
func (c *Client) RevokeRelay(ctx context.Context, group, relay string) (node.RelayView, error) {
	var v node.RelayView
	err := c.do(ctx, "POST", groupPath(group, "/relays/"+url.PathEscape(relay)+"/revoke"), struct{}{}, &v)
	return v, err
}

// AcceptRelayCode has a relay (in no group) take a relay code.
func (c *Client) AcceptRelayCode(ctx context.Context, code string) (node.RelayCodeView, error) {
	var v node.RelayCodeView
	err := c.do(ctx, "POST", "/v1/relay/codes", RelayCodeRequest{Code: code}, &v)
	return v, err
}

// RelayCodes lists the codes a relay holds.
func (c *Client) RelayCodes(ctx context.Context) ([]node.RelayCodeView, error) {
	var vs []node.RelayCodeView
	err := c.do(ctx, "GET", "/v1/relay/codes", nil, &vs)
	return vs, err
}

// DropRelayCode has a relay forget the code whose label starts with label
// (at least 8 hex characters).
func (c *Client) DropRelayCode(ctx context.Context, label string) (node.RelayCodeView, error) {
	var v node.RelayCodeView
	err := c.do(ctx, "POST", "/v1/relay/codes/"+url.PathEscape(label)+"/drop", struct{}{}, &v)
	return v, err
}
