// Package api is the daemon's local API: JSON over HTTP, served on a unix
// socket in the home folder (mode 0600) and, optionally, on a loopback TCP
// address that requires a token and also serves the web UI. [Client] is
// what the command line uses.
//
// Endpoints (all under /v1, JSON in and out; errors as [ErrorBody], a
// stable code with parameters, listed in errors.go, with the HTTP status of
// the error's [node.Kind]):
//
//	GET  /v1/status                      node.Status and "web": the web UI's URL, if served
//	GET  /v1/groups                      POST /v1/groups {"name"}
//	POST /v1/groups/{group}/invites      {"uses", "ttl"}
//	POST /v1/join                        {"code"}
//	GET  /v1/groups/{group}/members
//	POST /v1/groups/{group}/alerts       node.AlertRequest
//	POST /v1/groups/{group}/panic        {"text"}
//	                                     (alerts and panics answer SentResponse: the id and the delivery)
//	GET  /v1/feed?group=&region=&follow=1  JSON Lines
//	POST /v1/groups/{group}/checkins     CheckInRequest
//	POST /v1/checkins/{id}/done          {"duress"}   (/v1/checkins/done: your only open one)
//	GET  /v1/checkins?group=
//	POST /v1/messages/{id}/acks          {"status"}
//	POST /v1/qr                          {"text"} → the text's QR code as image/svg+xml
//	POST /v1/shutdown
//	GET  /v1/groups/{group}/report       public counts, admins only (report.go)
//	.../sms/...                           the SMS bridge (sms.go)
//
// {group} is a group name or a prefix of its id; {id} is a message id or a
// unique prefix of at least 6 hex digits. members.go and checkin.go list
// the membership and check-in endpoints.
//
// # The loopback listener and the web UI
//
// On a TCP listener (which `takecare run --api` allows on loopback
// addresses only) the server also serves the web UI, a single page with
// its script, style sheet and translations embedded from web/:
//
//	GET  /                               the page (also /app.js, /style.css, /i18n.json, /icon.svg)
//
// The page is served without the token. Every /v1 request needs
// "Authorization: Bearer TOKEN", or a web session (session.go): the page
// reads the token from its URL fragment (#token=..., which browsers do not
// send to servers) on the first visit and exchanges it for a long-lived
// HttpOnly, SameSite=Strict cookie that is accepted only with the header
// "X-Takecare: 1" (which other sites cannot send). Every request whose Host header is not localhost
// or a loopback address is refused with 403 (DNS rebinding), as is a /v1
// request whose Origin is another site. Every response carries a
// Content-Security-Policy of default-src 'self' (no inline script, no
// eval, no framing), X-Frame-Options DENY, Referrer-Policy no-referrer,
// X-Content-Type-Options nosniff and Cache-Control no-store. The unix
// socket serves the API alone, without a token and without the page.
//
// A [Server] is safe for concurrent use and may serve several listeners.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/smsbridge"
)

// Server serves the API of one node. One server may serve several
// listeners at once.
type Server struct {
	n        *node.Node
	log      *slog.Logger
	token    string
	mux      *http.ServeMux
	shutdown func()
	web      atomic.Pointer[string]           // the web UI's URL, once a TCP listener serves it
	sessions *sessions                        // the web UI's sessions; nil: token only (see EnableSessions)
	sms      atomic.Pointer[smsbridge.Bridge] // the SMS bridge, if this daemon runs one (sms.go)
}

// NewServer returns a server for n. token is required on every API request
// that does not arrive on a unix socket (with an empty token, TCP listeners
// refuse every API request). shutdown is called when a client asks the
// daemon to stop. A nil log discards.
func NewServer(n *node.Node, log *slog.Logger, token string, shutdown func()) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{n: n, log: log, token: token, mux: http.NewServeMux(), shutdown: shutdown}
	s.mux.HandleFunc("GET /v1/status", s.status)
	s.mux.HandleFunc("GET /v1/groups", s.groups)
	s.mux.HandleFunc("POST /v1/groups", s.createGroup)
	s.mux.HandleFunc("POST /v1/groups/{group}/invites", s.invite)
	s.mux.HandleFunc("POST /v1/join", s.join)
	s.mux.HandleFunc("GET /v1/groups/{group}/members", s.members)
	s.mux.HandleFunc("POST /v1/groups/{group}/alerts", s.alert)
	s.mux.HandleFunc("POST /v1/groups/{group}/panic", s.panic)
	s.mux.HandleFunc("GET /v1/feed", s.feed)
	s.routeCheckIns()
	s.mux.HandleFunc("POST /v1/shutdown", s.stop)
	s.mux.HandleFunc("POST /v1/qr", s.qr)
	s.registerMembers()
	s.registerRelays()
	s.routeSessions()
	s.routeReport()
	s.routeSMS()
	return s
}

type ctxKey struct{}

// Serve serves on l until ctx is done. A unix socket serves the API alone.
// A TCP listener (which the caller keeps on a loopback address) also serves
// the web UI at /, refuses requests whose Host is not a loopback name, and
// requires the token on every API request.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	_, isUnix := l.(*net.UnixListener)
	h := http.Handler(s.mux)
	if !isUnix {
		h = s.tcpHandler()
		u := "http://" + l.Addr().String() + "/"
		s.web.CompareAndSwap(nil, &u)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// requireToken lets a request through with the token, or with a web
// session (see session.go).
func (s *Server) requireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tokenOK := ok && s.token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
		if !tokenOK && !s.sessionOK(r) {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeError(w, errUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// maxRequest bounds request bodies.
const maxRequest = 64 << 10

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// reply answers v, or the error.
func (s *Server) reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, v)
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	if _, status := codeFor(err); status == http.StatusInternalServerError {
		s.log.Error("api", "err", err)
	}
	writeError(w, err)
}

func (s *Server) group(w http.ResponseWriter, r *http.Request) (crypto.GroupID, bool) {
	gid, err := s.n.ResolveGroup(r.PathValue("group"))
	if err != nil {
		s.fail(w, err)
		return gid, false
	}
	return gid, true
}

// queryGroup resolves the group in ?group=; none means every group (the
// zero id).
func (s *Server) queryGroup(w http.ResponseWriter, r *http.Request) (crypto.GroupID, bool) {
	g := r.URL.Query().Get("group")
	if g == "" {
		return crypto.GroupID{}, true
	}
	gid, err := s.n.ResolveGroup(g)
	if err != nil {
		s.fail(w, err)
		return gid, false
	}
	return gid, true
}

// Status is the answer to GET /v1/status: the node's status and, when the
// daemon serves the web UI, its address.
type Status struct {
	node.Status
	// Web is the URL of the web UI (without the token), or empty.
	Web string `json:"web,omitempty"`
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st := Status{Status: s.n.Status()}
	if u := s.web.Load(); u != nil {
		st.Web = *u
	}
	writeJSON(w, st)
}

func (s *Server) groups(w http.ResponseWriter, r *http.Request) {
	gs := s.n.Groups()
	if gs == nil {
		gs = []node.GroupInfo{}
	}
	writeJSON(w, gs)
}

// CreateGroupRequest is the body of POST /v1/groups.
type CreateGroupRequest struct {
	Name string `json:"name"`
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) {
	var req CreateGroupRequest
	if !decode(w, r, &req) {
		return
	}
	info, err := s.n.CreateGroup(r.Context(), req.Name)
	s.reply(w, info, err)
}

// InviteRequest is the body of POST /v1/groups/{group}/invites.
type InviteRequest struct {
	Uses int      `json:"uses,omitempty"`
	TTL  Duration `json:"ttl,omitempty"`
}

func (s *Server) invite(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	var req InviteRequest
	if !decode(w, r, &req) {
		return
	}
	inv, err := s.n.CreateInvite(r.Context(), gid, req.Uses, time.Duration(req.TTL))
	s.reply(w, inv, err)
}

// JoinRequest is the body of POST /v1/join.
type JoinRequest struct {
	Code string `json:"code"`
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if !decode(w, r, &req) {
		return
	}
	info, err := s.n.Join(r.Context(), req.Code)
	s.reply(w, info, err)
}

func (s *Server) members(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	ms, err := s.n.Members(gid)
	s.reply(w, ms, err)
}

// AlertRequest is the body of POST /v1/groups/{group}/alerts.
type AlertRequest struct {
	Kind     string   `json:"kind"`
	Severity string   `json:"severity"`
	Region   string   `json:"region,omitempty"`
	Place    string   `json:"place,omitempty"`
	Text     string   `json:"text,omitempty"`
	TTL      Duration `json:"ttl,omitempty"`
	// Mistake: an all clear that says a panic was sent by mistake, in
	// each reader's language (node.AlertRequest.Mistake).
	Mistake bool `json:"mistake,omitempty"`
}

// SentResponse answers a request that sent a message. Alerts and panics
// carry their delivery: stored on this device or not, handed to which
// member nodes, or queued until one is reachable.
type SentResponse struct {
	ID       string         `json:"id"`
	Delivery *node.Delivery `json:"delivery,omitempty"`
}

// sent answers a request that sent alert id.
func (s *Server) sent(w http.ResponseWriter, id alert.ID, err error) {
	if err != nil {
		s.fail(w, err)
		return
	}
	d, err := s.n.Delivery(id)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, SentResponse{ID: id.String(), Delivery: &d})
}

func (s *Server) alert(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	var req AlertRequest
	if !decode(w, r, &req) {
		return
	}
	id, err := s.n.SendAlert(r.Context(), gid, node.AlertRequest{
		Kind: req.Kind, Severity: req.Severity, Region: req.Region, Place: req.Place, Text: req.Text, TTL: time.Duration(req.TTL),
		Mistake: req.Mistake,
	})
	s.sent(w, id, err)
}

// PanicRequest is the body of POST /v1/groups/{group}/panic.
type PanicRequest struct {
	Text string `json:"text,omitempty"`
}

func (s *Server) panic(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	var req PanicRequest
	if !decode(w, r, &req) {
		return
	}
	id, err := s.n.Panic(r.Context(), gid, req.Text)
	s.sent(w, id, err)
}

// feed writes matching entries as JSON Lines; with follow=1 it then keeps
// the response open and writes new entries as they arrive.
func (s *Server) feed(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.queryGroup(w, r)
	if !ok {
		return
	}
	q := node.FeedQuery{Group: gid, Region: r.URL.Query().Get("region")}
	follow := r.URL.Query().Get("follow") == "1"
	var f *node.Follower
	if follow {
		// Subscribe before reading the backlog so nothing falls between.
		f = s.n.Follow(q)
		defer f.Stop()
	}
	entries, err := s.n.Feed(q)
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	// An entry is written again only when it changed (a new answer, a
	// message of one's own no longer queued): the backlog and the
	// follower overlap.
	sent := make(map[string][32]byte, len(entries))
	write := func(e node.Entry) {
		b, _ := json.Marshal(e)
		if h := sha256.Sum256(b); sent[e.ID] != h {
			sent[e.ID] = h
			w.Write(append(b, '\n'))
		}
	}
	for _, e := range entries {
		write(e)
	}
	if !follow {
		return
	}
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	keepalive := time.NewTicker(30 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			// An empty line keeps idle connections from being cut.
			w.Write([]byte("\n"))
		case e, ok := <-f.C:
			if !ok {
				return
			}
			write(e)
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, struct{}{})
	if s.shutdown != nil {
		go s.shutdown()
	}
}

// Duration is a time.Duration that travels in JSON as a string like "90s".
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
