package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/takecare-network/takecare/node"
)

// Check-ins and acknowledgements:
//
//	POST /v1/groups/{group}/checkins     CheckInRequest → SentResponse
//	POST /v1/checkins/{id}/done          {"duress"} → node.DoneResult
//	POST /v1/checkins/done               the same, for your only open check-in
//	GET  /v1/checkins?group=             JSON array of node.CheckInView
//	POST /v1/messages/{id}/acks          {"status"} → node.AckResult
//
// {id} is a full message id or a unique prefix of at least 6 hex digits.

func (s *Server) routeCheckIns() {
	s.mux.HandleFunc("POST /v1/groups/{group}/checkins", s.startCheckIn)
	s.mux.HandleFunc("POST /v1/checkins/{id}/done", s.doneCheckIn)
	s.mux.HandleFunc("POST /v1/checkins/done", s.doneCheckIn)
	s.mux.HandleFunc("GET /v1/checkins", s.checkIns)
	s.mux.HandleFunc("POST /v1/messages/{id}/acks", s.ack)
}

// CheckInRequest is the body of POST /v1/groups/{group}/checkins.
type CheckInRequest struct {
	From string    `json:"from,omitempty"`
	To   string    `json:"to"`
	Due  time.Time `json:"due"` // RFC 3339
	// Grace after the due time before the alarm; absent means the default
	// (5 minutes), "0s" means none.
	Grace         *Duration `json:"grace,omitempty"`
	EscalateAfter Duration  `json:"escalate_after,omitempty"`
	EscalateTo    string    `json:"escalate_to,omitempty"` // a group name or id
	Text          string    `json:"text,omitempty"`
}

func (s *Server) startCheckIn(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	var req CheckInRequest
	if !decode(w, r, &req) {
		return
	}
	nr := node.CheckInRequest{
		From: req.From, To: req.To, Due: req.Due, EscalateAfter: time.Duration(req.EscalateAfter),
		EscalateTo: req.EscalateTo, Text: req.Text,
	}
	if req.Grace != nil {
		g := time.Duration(*req.Grace)
		nr.Grace = &g
	}
	id, err := s.n.StartCheckIn(r.Context(), gid, nr)
	s.reply(w, SentResponse{ID: id.String()}, err)
}

// DoneRequest is the body of POST /v1/checkins/{id}/done.
type DoneRequest struct {
	Duress bool `json:"duress,omitempty"`
}

func (s *Server) doneCheckIn(w http.ResponseWriter, r *http.Request) {
	var req DoneRequest
	if !decode(w, r, &req) {
		return
	}
	res, err := s.n.DoneCheckIn(r.Context(), r.PathValue("id"), req.Duress)
	s.reply(w, res, err)
}

func (s *Server) checkIns(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.queryGroup(w, r)
	if !ok {
		return
	}
	cs, err := s.n.CheckIns(gid)
	s.reply(w, cs, err)
}

// AckRequest is the body of POST /v1/messages/{id}/acks.
type AckRequest struct {
	Status string `json:"status,omitempty"` // seen (default), responding or unable
}

func (s *Server) ack(w http.ResponseWriter, r *http.Request) {
	var req AckRequest
	if !decode(w, r, &req) {
		return
	}
	res, err := s.n.Ack(r.Context(), r.PathValue("id"), req.Status)
	s.reply(w, res, err)
}

// StartCheckIn announces a check-in and returns its id.
func (c *Client) StartCheckIn(ctx context.Context, group string, req CheckInRequest) (string, error) {
	var r SentResponse
	err := c.do(ctx, "POST", groupPath(group, "/checkins"), req, &r)
	return r.ID, err
}

// DoneCheckIn marks a check-in (id or prefix; empty: your only open one) as
// arrived.
func (c *Client) DoneCheckIn(ctx context.Context, id string, duress bool) (node.DoneResult, error) {
	path := "/v1/checkins/done"
	if id != "" {
		path = "/v1/checkins/" + url.PathEscape(id) + "/done"
	}
	var r node.DoneResult
	err := c.do(ctx, "POST", path, DoneRequest{Duress: duress}, &r)
	return r, err
}

// CheckIns lists the open check-ins of a group, or of every group.
func (c *Client) CheckIns(ctx context.Context, group string) ([]node.CheckInView, error) {
	path := "/v1/checkins"
	if group != "" {
		path += "?" + url.Values{"group": {group}}.Encode()
	}
	var cs []node.CheckInView
	err := c.do(ctx, "GET", path, nil, &cs)
	return cs, err
}

// Ack acknowledges a message (id or prefix) with a status.
func (c *Client) Ack(ctx context.Context, id, status string) (node.AckResult, error) {
	var r node.AckResult
	err := c.do(ctx, "POST", "/v1/messages/"+url.PathEscape(id)+"/acks", AckRequest{Status: status}, &r)
	return r, err
}
