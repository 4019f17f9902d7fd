package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/internal/persist"
)

// Sessions of the web UI: a person who never opens a terminal must be able
// to close the browser, come back and send a panic.
//
// The first visit, with the token in the address (as `takecare run` and
// `takecare ui` print it), exchanges the token for a session cookie:
//
//	POST /v1/session          (with the token) → Set-Cookie, {"paired": true, "pin": false}
//	GET  /v1/session          (no credentials needed) → {"paired": bool, "pin": bool}
//	POST /v1/pair             {"secret"} a PIN or the profile's passphrase → Set-Cookie
//	POST /v1/pin              {"pin"}: set a PIN of 4 to 12 digits ("" removes it)
//	POST /v1/session/end      forget this browser's session
//
// The cookie is named takecare_session, holds 32 random bytes, and is
// HttpOnly (scripts cannot read it), SameSite=Strict (other sites' pages do
// not send it), host-only on the loopback address (no Domain), and lasts a
// year. Requests that authenticate with it must also carry the header
// "X-Takecare: 1", which a page of another origin cannot send without a
// CORS preflight that this server never grants; with the Origin check of
// every /v1 request, this also keeps out other servers on this machine's
// loopback (same site, another port). The node keeps only the SHA-256 of
// each session, and the PIN as Argon2id with a salt, in a file of the home
// folder (mode 0600). A PIN or passphrase may be tried pairTries times;
// then each further try waits, twice as long each time, up to an hour.

const (
	sessionCookie = "takecare_session"
	sessionMaxAge = 365 * 24 * time.Hour
	maxSessions   = 64
	pairTries     = 5
	pairLockout   = time.Minute
	maxLockout    = time.Hour
)

// Errors of pairing.
var (
	errPairRefused = node.NewError(node.KindForbidden, "that PIN or passphrase is not right")
	errPairLocked  = node.NewError(node.KindUnavailable, "too many wrong tries: wait and try again")
	errBadPIN      = node.NewError(node.KindInvalid, "a PIN has 4 to 12 digits")
	errNoSessions  = node.NewError(node.KindNotFound, "this node keeps no web sessions")
)

// sessions holds the web UI's sessions and PIN, saved in one file.
type sessions struct {
	path       string
	passphrase func([]byte) bool // checks the profile's passphrase; nil: not accepted

	save *persist.Saver // writes state to path

	mu     sync.Mutex
	state  sessionFile
	fails  int
	locked time.Time  // no pairing before this
	pairMu sync.Mutex // one passphrase check (Argon2id, 64 MiB) at a time
}

type sessionFile struct {
	Sessions []savedSession `json:"sessions"`
	PIN      *savedPIN      `json:"pin,omitempty"`
}

type savedSession struct {
	Hash    string    `json:"hash"` // hex SHA-256 of the cookie value
	Created time.Time `json:"created"`
}

type savedPIN struct {
	Salt string `json:"salt"`
	Hash string `json:"hash"`
}

// EnableSessions lets the web UI keep a browser signed in with a
// long-lived cookie, kept (as hashes) in the file at path, and re-pair a
// browser with a PIN or, when passphrase is not nil, with the profile's
// passphrase (passphrase reports whether one is right). Call it before
// Serve.
func (s *Server) EnableSessions(path string, passphrase func([]byte) bool) error {
	ss := &sessions{path: path, passphrase: passphrase}
	ss.save = persist.New(ss.snapshot, ss.write)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &ss.state); err != nil {
			return fmt.Errorf("%s is damaged: %v (delete it to sign every browser out)", path, err)
		}
	}
	s.sessions = ss
	return nil
}

// snapshot is the sessions file as it is now.
func (ss *sessions) snapshot() ([]byte, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return json.Marshal(ss.state)
}

// write replaces the sessions file with b.
func (ss *sessions) write(b []byte) error {
	tmp := ss.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, ss.path)
}

func hashSession(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:])
}

// valid reports whether a cookie value is a live session.
func (ss *sessions) valid(v string, now time.Time) bool {
	if len(v) != 64 {
		return false
	}
	want := hashSession(v)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, s := range ss.state.Sessions {
		if subtle.ConstantTimeCompare([]byte(s.Hash), []byte(want)) == 1 && now.Sub(s.Created) < sessionMaxAge {
			return true
		}
	}
	return false
}

// create makes a new session and returns its cookie value.
func (ss *sessions) create(now time.Time) (string, error) {
	b := make([]byte, 32)
	rand.Read(b)
	v := hex.EncodeToString(b)
	ss.mu.Lock()
	kept := ss.state.Sessions[:0]
	for _, s := range ss.state.Sessions {
		if now.Sub(s.Created) < sessionMaxAge {
			kept = append(kept, s)
		}
	}
	if len(kept) >= maxSessions {
		kept = kept[len(kept)-maxSessions+1:]
	}
	ss.state.Sessions = append(kept, savedSession{Hash: hashSession(v), Created: now.UTC()})
	ss.mu.Unlock()
	return v, ss.save.Save()
}

func (ss *sessions) end(v string) error {
	want := hashSession(v)
	ss.mu.Lock()
	kept := ss.state.Sessions[:0]
	for _, s := range ss.state.Sessions {
		if s.Hash != want {
			kept = append(kept, s)
		}
	}
	ss.state.Sessions = kept
	ss.mu.Unlock()
	return ss.save.Save()
}

// pinHash stretches a PIN with Argon2id (RFC 9106) over 32 MiB. That
// memory is garbage once it returns: it is collected and handed back to
// the system at once, where an idle daemon would otherwise keep it until
// the garbage collector's next forced cycle, minutes later.
func pinHash(pin, salt []byte) []byte {
	h := argon2.IDKey(pin, salt, 3, 32*1024, 1, 32)
	debug.FreeOSMemory()
	return h
}

func (ss *sessions) setPIN(pin string) error {
	if pin != "" && (len(pin) < 4 || len(pin) > 12 || strings.Trim(pin, "0123456789") != "") {
		return errBadPIN
	}
	var p *savedPIN
	if pin != "" {
		salt := make([]byte, 16)
		rand.Read(salt)
		p = &savedPIN{Salt: hex.EncodeToString(salt), Hash: hex.EncodeToString(pinHash([]byte(pin), salt))}
	}
	ss.mu.Lock()
	ss.state.PIN = p
	ss.mu.Unlock()
	return ss.save.Save()
}

func (ss *sessions) hasPIN() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.state.PIN != nil
}

// pair checks a PIN or passphrase, within the limit of tries.
func (ss *sessions) pair(secret []byte, now time.Time) error {
	ss.pairMu.Lock()
	defer ss.pairMu.Unlock()
	ss.mu.Lock()
	if now.Before(ss.locked) {
		ss.mu.Unlock()
		return errPairLocked
	}
	pin := ss.state.PIN
	ss.mu.Unlock()
	ok := false
	if pin != nil {
		salt, _ := hex.DecodeString(pin.Salt)
		want, _ := hex.DecodeString(pin.Hash)
		ok = subtle.ConstantTimeCompare(pinHash(secret, salt), want) == 1
	}
	if !ok && ss.passphrase != nil && len(secret) > 0 {
		ok = ss.passphrase(secret)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ok {
		ss.fails = 0
		return nil
	}
	ss.fails++
	if ss.fails >= pairTries {
		wait := pairLockout << min(ss.fails-pairTries, 6)
		ss.locked = now.Add(min(wait, maxLockout))
	}
	return errPairRefused
}

// sessionOK reports whether r carries a live session cookie and the
// header that proves it comes from the page itself.
func (s *Server) sessionOK(r *http.Request) bool {
	if s.sessions == nil || r.Header.Get("X-Takecare") != "1" {
		return false
	}
	c, err := r.Cookie(sessionCookie)
	return err == nil && s.sessions.valid(c.Value, time.Now())
}

func setSessionCookie(w http.ResponseWriter, v string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: v, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// SessionState is the answer of GET and POST /v1/session.
type SessionState struct {
	Paired bool `json:"paired"` // this browser has a live session
	PIN    bool `json:"pin"`    // a PIN is set
	// Passphrase says whether the profile's passphrase can pair a browser.
	Passphrase bool `json:"passphrase"`
}

// PairRequest is the body of POST /v1/pair.
type PairRequest struct {
	Secret string `json:"secret"`
}

// PINRequest is the body of POST /v1/pin.
type PINRequest struct {
	PIN string `json:"pin"`
}

func (s *Server) sessionState(r *http.Request) SessionState {
	return SessionState{Paired: s.sessionOK(r), PIN: s.sessions.hasPIN(), Passphrase: s.sessions.passphrase != nil}
}

// routeSessions adds the session endpoints. getSession and pair need no
// credentials (a browser without a session calls them); the others go
// through the token or session check like every other endpoint.
func (s *Server) routeSessions() {
	s.mux.HandleFunc("POST /v1/session", func(w http.ResponseWriter, r *http.Request) {
		if s.sessions == nil {
			s.fail(w, errNoSessions)
			return
		}
		v, err := s.sessions.create(time.Now())
		if err != nil {
			s.fail(w, err)
			return
		}
		setSessionCookie(w, v, sessionMaxAge)
		writeJSON(w, SessionState{Paired: true, PIN: s.sessions.hasPIN(), Passphrase: s.sessions.passphrase != nil})
	})
	s.mux.HandleFunc("POST /v1/pin", func(w http.ResponseWriter, r *http.Request) {
		var req PINRequest
		if !decode(w, r, &req) {
			return
		}
		if s.sessions == nil {
			s.fail(w, errNoSessions)
			return
		}
		if err := s.sessions.setPIN(req.PIN); err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, s.sessionState(r))
	})
	s.mux.HandleFunc("POST /v1/session/end", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(sessionCookie); err == nil && s.sessions != nil {
			if err := s.sessions.end(c.Value); err != nil {
				s.fail(w, err)
				return
			}
		}
		setSessionCookie(w, "", -time.Second)
		writeJSON(w, struct{}{})
	})
}

// open are the endpoints that need no token or session.
func (s *Server) open(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/session":
		if s.sessions == nil {
			writeJSON(w, SessionState{})
			return true
		}
		writeJSON(w, s.sessionState(r))
		return true
	case r.Method == http.MethodPost && r.URL.Path == "/v1/pair":
		var req PairRequest
		if !decode(w, r, &req) {
			return true
		}
		if s.sessions == nil {
			s.fail(w, errNoSessions)
			return true
		}
		secret := []byte(req.Secret)
		err := s.sessions.pair(secret, time.Now())
		clear(secret)
		if err != nil {
			s.fail(w, err)
			return true
		}
		v, err := s.sessions.create(time.Now())
		if err != nil {
			s.fail(w, err)
			return true
		}
		setSessionCookie(w, v, sessionMaxAge)
		writeJSON(w, SessionState{Paired: true, PIN: s.sessions.hasPIN(), Passphrase: s.sessions.passphrase != nil})
		return true
	}
	return false
}
