package api_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
)

// sessionServer serves n's web UI with sessions kept in file, accepting
// pass as the profile's passphrase, on addr; it returns the address and a
// function that stops it.
func sessionServer(t *testing.T, n *node.Node, addr, token, file, pass string) (string, func()) {
	t.Helper()
	srv := api.NewServer(n, nil, token, nil)
	if err := srv.EnableSessions(file, func(p []byte) bool { return string(p) == pass }); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, l); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return l.Addr().String(), stop
}

// send makes a request with the given headers and cookie.
func send(t *testing.T, method, url string, body any, cookie *http.Cookie, hdr map[string]string) (*http.Response, api.ErrorBody) {
	t.Helper()
	var r *strings.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	} else {
		r = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, url, r)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.ErrorBody
	json.NewDecoder(resp.Body).Decode(&e)
	return resp, e
}

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "takecare_session" {
			return c
		}
	}
	t.Fatalf("%s: no session cookie set (headers %v)", resp.Status, resp.Header)
	return nil
}

// TestWebSession: a browser that came once with the token stays signed in
// with a cookie that scripts cannot read, other sites cannot use, and that
// outlives a restart of the daemon; a browser without it pairs again with
// a PIN or the passphrase, a limited number of times.
func TestWebSession(t *testing.T) {
	t.Parallel()
	nd := oneNode(t)
	file := filepath.Join(t.TempDir(), "web-sessions.json")
	token := strings.Repeat("ab", 24)
	addr, stop := sessionServer(t, nd.Node, "127.0.0.1:0", token, file, "correct horse")
	base := "http://" + addr
	page := map[string]string{"X-Takecare": "1"}

	// Without anything, nothing.
	if resp, e := send(t, "GET", base+"/v1/status", nil, nil, page); resp.StatusCode != 401 || e.Code != "unauthorized" {
		t.Fatalf("no credentials: %s %q", resp.Status, e.Code)
	}
	// The token buys a session.
	resp, _ := send(t, "POST", base+"/v1/session", struct{}{}, nil, map[string]string{"Authorization": "Bearer " + token})
	c := sessionCookie(t, resp)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || c.MaxAge < 300*24*3600 {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, no Domain, a year", c)
	}
	cookie := &http.Cookie{Name: c.Name, Value: c.Value}
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"from the page", page, 200},
		{"without the page's header", nil, 401},
		{"from another site", map[string]string{"X-Takecare": "1", "Origin": "http://evil.example"}, 403},
		{"from another port of this machine", map[string]string{"X-Takecare": "1", "Origin": "http://127.0.0.1:1"}, 403},
	} {
		if resp, _ := send(t, "GET", base+"/v1/status", nil, cookie, tc.hdr); resp.StatusCode != tc.want {
			t.Errorf("cookie %s: %s, want %d", tc.name, resp.Status, tc.want)
		}
	}
	if resp, _ := send(t, "POST", base+"/v1/groups", api.CreateGroupRequest{Name: "juchitan"}, cookie, nil); resp.StatusCode != 401 {
		t.Errorf("a form post with the cookie alone: %s", resp.Status)
	}

	// The file keeps no cookie in clear, and is the owner's alone.
	b, _ := os.ReadFile(file)
	if strings.Contains(string(b), c.Value) {
		t.Error("the sessions file holds the cookie's value")
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("sessions file: %v %v", fi.Mode(), err)
	}

	// The daemon restarts: the browser is still signed in.
	stop()
	addr, _ = sessionServer(t, nd.Node, addr, token, file, "correct horse")
	if resp, _ := send(t, "GET", base+"/v1/status", nil, cookie, page); resp.StatusCode != 200 {
		t.Fatalf("after a restart: %s", resp.Status)
	}
	var st api.SessionState
	resp, err := http.DefaultClient.Do(mustReq(t, "GET", base+"/v1/session", cookie))
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if !st.Paired || st.PIN || !st.Passphrase {
		t.Errorf("session state %+v", st)
	}

	// A PIN: digits only.
	if resp, e := send(t, "POST", base+"/v1/pin", api.PINRequest{PIN: "12a4"}, cookie, page); resp.StatusCode != 400 || e.Code != "bad_pin" {
		t.Errorf("PIN 12a4: %s %q", resp.Status, e.Code)
	}
	if resp, _ := send(t, "POST", base+"/v1/pin", api.PINRequest{PIN: "2468"}, cookie, page); resp.StatusCode != 200 {
		t.Fatalf("set PIN: %s", resp.Status)
	}
	// Signing out ends the session.
	send(t, "POST", base+"/v1/session/end", struct{}{}, cookie, page)
	if resp, _ := send(t, "GET", base+"/v1/status", nil, cookie, page); resp.StatusCode != 401 {
		t.Errorf("after signing out: %s", resp.Status)
	}
	// Pairing again with the PIN, or the passphrase, gives a new session.
	for _, secret := range []string{"2468", "correct horse"} {
		resp, _ := send(t, "POST", base+"/v1/pair", api.PairRequest{Secret: secret}, nil, page)
		if resp.StatusCode != 200 {
			t.Fatalf("pair with %q: %s", secret, resp.Status)
		}
		c := sessionCookie(t, resp)
		if resp, _ := send(t, "GET", base+"/v1/status", nil, &http.Cookie{Name: c.Name, Value: c.Value}, page); resp.StatusCode != 200 {
			t.Errorf("session from pairing with %q: %s", secret, resp.Status)
		}
	}
	// Guessing is limited: after five wrong tries even the right PIN waits.
	for i := range 5 {
		if resp, e := send(t, "POST", base+"/v1/pair", api.PairRequest{Secret: "000" + string(rune('0'+i))}, nil, page); resp.StatusCode != 403 || e.Code != "pair_refused" {
			t.Fatalf("wrong PIN %d: %s %q", i, resp.Status, e.Code)
		}
	}
	if resp, e := send(t, "POST", base+"/v1/pair", api.PairRequest{Secret: "2468"}, nil, page); resp.StatusCode != 429 || e.Code != "pair_locked" {
		t.Errorf("right PIN after five wrong ones: %s %q, want 429 pair_locked", resp.Status, e.Code)
	}
}

// mustReq is a GET as the page makes it, with the cookie.
func mustReq(t *testing.T, method, url string, c *http.Cookie) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(c)
	req.Header.Set("X-Takecare", "1")
	return req
}
