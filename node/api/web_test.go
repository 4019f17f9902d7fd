package api_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
	"github.com/takecare-network/takecare/node/nodetest"
)

// webServer serves n's API and web UI on a fresh loopback TCP port, as
// `takecare run --api 127.0.0.1:0` does, and returns its base URL and
// token.
func webServer(t testing.TB, n *node.Node) (base, token string) {
	t.Helper()
	b := make([]byte, 24)
	rand.Read(b)
	token = hex.EncodeToString(b)
	addr, _ := serveAt(t, n, "127.0.0.1:0", token)
	return "http://" + addr, token
}

// serveAt serves n's API and web UI on addr until the test ends or stop is
// called, and returns the address it listens on.
func serveAt(t testing.TB, n *node.Node, addr, token string) (string, func()) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := api.NewServer(n, nil, token, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return l.Addr().String(), stop
}

// serveUnix serves srv on a unix socket in a new folder (as the daemon
// does in its home folder) until the test ends, and returns the folder.
func serveUnix(t testing.TB, srv *api.Server) string {
	t.Helper()
	// A short path: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "tc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("unix", filepath.Join(dir, api.SocketName))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done })
	return dir
}

// call sends a request and returns the response with its body read.
func call(t testing.TB, method, url, token, host string, body any) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func oneNode(t *testing.T) *nodetest.Node {
	nt := nodetest.New(t, 1, nodetest.Options{})
	return nt.Nodes[0]
}

// TestWebPageHeaders: the page is served without the token, with a strict
// content security policy and the other protective headers.
func TestWebPageHeaders(t *testing.T) {
	t.Parallel()
	base, _ := webServer(t, oneNode(t).Node)
	for _, path := range []string{"/", "/app.js", "/style.css", "/i18n.json", "/icon.svg", "/sw.js", "/manifest.webmanifest", "/icon-192.png"} {
		t.Run(path, func(t *testing.T) {
			resp, body := call(t, "GET", base+path, "", "", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %s", path, resp.Status)
			}
			if len(body) == 0 {
				t.Fatalf("GET %s: empty", path)
			}
			h := resp.Header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "form-action 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("Content-Security-Policy allows inline code or eval: %q", csp)
			}
			for k, v := range map[string]string{
				"X-Frame-Options":        "DENY",
				"Referrer-Policy":        "no-referrer",
				"X-Content-Type-Options": "nosniff",
				"Cache-Control":          "no-store",
			} {
				if got := h.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if h.Get("Set-Cookie") != "" {
				t.Errorf("the page sets a cookie")
			}
		})
	}
	resp, _ := call(t, "GET", base+"/", "", "", nil)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("page Content-Type %q", ct)
	}
	resp, _ = call(t, "GET", base+"/app.js", "", "", nil)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("script Content-Type %q", ct)
	}
	for _, path := range []string{"/nothing.html", "/../server.go", "/web/app.js"} {
		if resp, _ := call(t, "GET", base+path, "", "", nil); resp.StatusCode != 404 {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
	if resp, _ := call(t, "POST", base+"/", "", "", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %s", resp.Status)
	}
}

// TestWebAPIToken: every API call on the TCP listener needs the token in
// an Authorization header; a wrong or missing one gets 401.
func TestWebAPIToken(t *testing.T) {
	t.Parallel()
	base, token := webServer(t, oneNode(t).Node)
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"none", "", 401},
		{"wrong", "Bearer " + strings.Repeat("0", len(token)), 401},
		{"prefix of the token", "Bearer " + token[:len(token)-1], 401},
		{"token without Bearer", token, 401},
		{"basic", "Basic " + token, 401},
		{"right", "Bearer " + token, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, ep := range []struct{ method, path string }{
				{"GET", "/v1/status"}, {"GET", "/v1/groups"}, {"GET", "/v1/feed"}, {"GET", "/v1/checkins"},
			} {
				req, _ := http.NewRequest(ep.method, base+ep.path, nil)
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Errorf("%s %s: %s, want %d", ep.method, ep.path, resp.Status, tc.want)
				}
				if resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("%s %s: Cache-Control %q", ep.method, ep.path, resp.Header.Get("Cache-Control"))
				}
			}
		})
	}
	// Nothing that changes anything gets through without it either.
	resp, body := call(t, "POST", base+"/v1/groups", "", "", api.CreateGroupRequest{Name: "juchitan"})
	if resp.StatusCode != 401 || !strings.Contains(string(body), "token") {
		t.Errorf("create group without token: %s %s", resp.Status, body)
	}
	resp, body = call(t, "GET", base+"/v1/groups", token, "", nil)
	var gs []node.GroupInfo
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	json.Unmarshal(body, &gs)
	if len(gs) != 0 {
		t.Errorf("a group was created without the token: %+v", gs)
	}
}

// TestWebRefusesOtherHosts: a request whose Host is not a loopback name is
// refused, page and API alike, even with the token (DNS rebinding); and a
// cross-origin API call is refused.
func TestWebRefusesOtherHosts(t *testing.T) {
	t.Parallel()
	base, token := webServer(t, oneNode(t).Node)
	port := base[strings.LastIndex(base, ":")+1:]
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:" + port, true},
		{"localhost:" + port, true},
		{"LOCALHOST:" + port, true},
		{"[::1]:" + port, true},
		{"127.0.0.2:" + port, true},
		{"evil.example:" + port, false},
		{"evil.example", false},
		{"localhost.evil.example:" + port, false},
		{"192.168.1.10:" + port, false},
		{"0.0.0.0:" + port, false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			for _, path := range []string{"/", "/app.js", "/v1/status"} {
				resp, body := call(t, "GET", base+path, token, tc.host, nil)
				if tc.ok && resp.StatusCode != 200 {
					t.Errorf("GET %s with Host %s: %s %s", path, tc.host, resp.Status, body)
				}
				if !tc.ok && (resp.StatusCode != 403 || !strings.Contains(string(body), "127.0.0.1")) {
					t.Errorf("GET %s with Host %s: %s %s, want 403", path, tc.host, resp.Status, body)
				}
			}
		})
	}
	req, _ := http.NewRequest("POST", base+"/v1/groups", strings.NewReader(`{"name":"x"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Origin", "http://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("cross-origin POST: %s, want 403", resp.Status)
	}
}

// TestUnixSocketServesNoPage: the unix socket serves the API alone, with
// no token, and no web page.
func TestUnixSocketServesNoPage(t *testing.T) {
	t.Parallel()
	nd := oneNode(t)
	srv := api.NewServer(nd.Node, nil, "some-token-for-tcp-only-0123456789", nil)
	dir := serveUnix(t, srv)
	sock := filepath.Join(dir, api.SocketName)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Get("http://takecare/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET / on the unix socket: %s, want 404", resp.Status)
	}
	st, err := api.NewClient(dir).Status(context.Background())
	if err != nil {
		t.Fatalf("status on the unix socket without a token: %v", err)
	}
	if st.Web != "" {
		t.Errorf("status names a web UI that is not served: %q", st.Web)
	}
	// Once a TCP listener serves the UI too, status says where.
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, tl)
	want := "http://" + tl.Addr().String() + "/"
	deadline := time.Now().Add(5 * time.Second)
	for st.Web != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		st, _ = api.NewClient(dir).Status(context.Background())
	}
	if st.Web != want {
		t.Errorf("status web = %q, want %q", st.Web, want)
	}
}

// TestWebAlertAndFeedStream: through the TCP listener, with the token, an
// alert sent at one node shows in another node's live feed stream, and an
// answer to it comes back on the same stream with its acks.
func TestWebAlertAndFeedStream(t *testing.T) {
	t.Parallel()
	nt := nodetest.New(t, 2, nodetest.Options{})
	nt.ConnectAll()
	gid := nt.Group("juchitan")
	baseA, tokA := webServer(t, nt.Nodes[0].Node)
	baseB, tokB := webServer(t, nt.Nodes[1].Node)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", baseB+"/v1/feed?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+tokB)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("feed: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	lines := make(chan node.Entry, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var e node.Entry
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.ID != "" {
				lines <- e
			}
		}
		close(lines)
	}()

	r, body := call(t, "POST", baseA+"/v1/groups/juchitan/alerts", tokA, "", api.AlertRequest{
		Kind: "checkpoint", Severity: "urgent", Region: "istmo", Place: "km 12", Text: "Armed men stopping cars", TTL: api.Duration(3 * time.Hour),
	})
	if r.StatusCode != 200 {
		t.Fatalf("send alert: %s %s", r.Status, body)
	}
	var sent api.SentResponse
	json.Unmarshal(body, &sent)

	next := func(what string, ok func(node.Entry) bool) node.Entry {
		t.Helper()
		for {
			select {
			case e, open := <-lines:
				if !open {
					t.Fatalf("feed stream ended before %s", what)
				}
				if ok(e) {
					return e
				}
			case <-ctx.Done():
				t.Fatalf("no %s on the feed stream", what)
			}
		}
	}
	e := next("alert", func(e node.Entry) bool { return e.ID == sent.ID })
	if e.Text != "Armed men stopping cars" || e.Kind != "checkpoint" || e.Severity != "urgent" || e.Author != "member-00" ||
		e.Group != "juchitan" || e.GroupID != gid.String() || e.Place != "km 12" || e.Region != "istmo" {
		t.Errorf("entry on B's stream: %+v", e)
	}

	// B answers through its own web API; the answer shows on B's stream.
	r, body = call(t, "POST", baseB+"/v1/messages/"+sent.ID[:8]+"/acks", tokB, "", api.AckRequest{Status: "responding"})
	if r.StatusCode != 200 {
		t.Fatalf("ack: %s %s", r.Status, body)
	}
	e = next("ack", func(e node.Entry) bool { return e.ID == sent.ID && len(e.Acks) == 1 })
	if a := e.Acks[0]; a.Author != "member-01" || a.Status != "responding" {
		t.Errorf("ack on the stream: %+v", a)
	}
}

// TestWebQR: the QR endpoint answers SVG that draws the code's modules.
func TestWebQR(t *testing.T) {
	t.Parallel()
	base, token := webServer(t, oneNode(t).Node)
	resp, body := call(t, "POST", base+"/v1/qr", token, "", api.QRRequest{Text: "TC1-ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("qr: %s %s %s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	var svg struct {
		XMLName xml.Name `xml:"svg"`
		ViewBox string   `xml:"viewBox,attr"`
		Path    struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(body, &svg); err != nil {
		t.Fatalf("not SVG: %v", err)
	}
	if !regexp.MustCompile(`^0 0 \d+ \d+$`).MatchString(svg.ViewBox) || strings.Count(svg.Path.D, "M") < 100 {
		t.Errorf("QR SVG viewBox %q with %d runs", svg.ViewBox, strings.Count(svg.Path.D, "M"))
	}
	for _, bad := range []string{"", strings.Repeat("A", 5000)} {
		if resp, _ := call(t, "POST", base+"/v1/qr", token, "", api.QRRequest{Text: bad}); resp.StatusCode != 400 {
			t.Errorf("qr of %d bytes: %s", len(bad), resp.Status)
		}
	}
	if resp, _ := call(t, "POST", base+"/v1/qr", "", "", api.QRRequest{Text: "x"}); resp.StatusCode != 401 {
		t.Errorf("qr without token: %s", resp.Status)
	}
}

// TestWebAssets checks the embedded files: everything the page loads is
// there and served; every string the script and page use is translated in
// both languages; the script stores nothing but the token and the
// language, builds no HTML from text, and loads nothing from elsewhere.
func TestWebAssets(t *testing.T) {
	t.Parallel()
	read := func(name string) string {
		b, err := api.WebFile(name)
		if err != nil {
			t.Fatalf("%s is not embedded: %v", name, err)
		}
		return string(b)
	}
	page, script, style := read("index.html"), read("app.js"), read("style.css")

	// The page loads its own files only.
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("page refers to %d files", len(refs))
	}
	for _, m := range refs {
		if strings.Contains(m[1], ":") || strings.HasPrefix(m[1], "//") {
			t.Errorf("page loads %q from elsewhere", m[1])
			continue
		}
		read(m[1])
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(page) {
		t.Errorf("page has an inline script")
	}
	if regexp.MustCompile(`\sstyle=|\son[a-z]+=`).MatchString(page) {
		t.Errorf("page has an inline style or event handler")
	}
	for name, text := range map[string]string{"index.html": page, "app.js": script, "style.css": style} {
		if m := regexp.MustCompile(`https?://|@import|url\(`).FindString(text); m != "" {
			t.Errorf("%s refers to %q: nothing may load from elsewhere", name, m)
		}
	}
	for _, bad := range []string{"localStorage", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "document.cookie", "indexedDB"} {
		if strings.Contains(script, bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
	if !strings.Contains(script, "h.Authorization = 'Bearer ' + token") || !strings.Contains(script, "'X-Takecare': '1'") {
		t.Errorf("app.js does not send the token in an Authorization header, or the X-Takecare header")
	}

	// Translations: the same keys, none empty, in both languages.
	var tr map[string]map[string]string
	if err := json.Unmarshal([]byte(read("i18n.json")), &tr); err != nil {
		t.Fatalf("i18n.json: %v", err)
	}
	en, es := tr["en"], tr["es"]
	if len(tr) != 2 || len(en) < 100 {
		t.Fatalf("i18n.json has languages %v, %d English strings", slices.Sorted(maps.Keys(tr)), len(en))
	}
	for k, v := range en {
		if strings.TrimSpace(v) == "" {
			t.Errorf("en %q is empty", k)
		}
		if s, ok := es[k]; !ok || strings.TrimSpace(s) == "" {
			t.Errorf("%q has no Spanish", k)
		} else if placeholders(s) != placeholders(v) {
			t.Errorf("%q: Spanish placeholders %s, English %s", k, placeholders(s), placeholders(v))
		}
	}
	for k := range es {
		if _, ok := en[k]; !ok {
			t.Errorf("%q has no English", k)
		}
	}
	namespaces := map[string]bool{}
	for k := range en {
		namespaces[k[:strings.Index(k, ".")]] = true
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`'([a-z]+\.[a-z_.]*[a-z_])'`).FindAllStringSubmatch(script, -1) {
		if namespaces[m[1][:strings.Index(m[1], ".")]] {
			used[m[1]] = true
		}
	}
	for _, m := range regexp.MustCompile(`data-i18n="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		used[m[1]] = true
	}
	// The command line words its feed from the same catalogue.
	cli, err := filepath.Glob("../../cmd/takecare/*.go")
	if err != nil || len(cli) == 0 {
		t.Fatalf("the command line's sources: %v", err)
	}
	for _, f := range cli {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"([a-z]+\.[a-z_]*[a-z_])"`).FindAllStringSubmatch(string(b), -1) {
			if namespaces[m[1][:strings.Index(m[1], ".")]] {
				used[m[1]] = true
			}
		}
	}
	for _, s := range []string{"seen", "responding", "unable"} {
		used["answer."+s] = true // the command line builds these
	}
	// Keys the script builds from the domain's words.
	for _, k := range alert.UserKinds {
		used["kind."+string(k)] = true
	}
	for _, k := range []string{"panic", "overdue", "duress", "checkin", "arrived", node.KindRemoved} {
		used["kind."+k] = true
	}
	for _, s := range []string{"info", "warning", "urgent", "critical"} {
		used["severity."+s] = true
	}
	for _, s := range []string{"seen", "responding", "unable"} {
		used["ack."+s] = true
		used["ack.button."+s] = true
	}
	// Errors: the page words every code the API sends (errText builds
	// "error."+code, and a sub-key for the reason or the kind of thing).
	for _, c := range append(api.ErrorCodes(), "network", "status", "unexpected") {
		used["error."+c] = true
	}
	for _, r := range refusalReasons(t) {
		used["error.checkin_refused."+r] = true
	}
	for _, w := range []string{"uses", "ttl", "invite_ttl"} {
		used["error.out_of_range."+w] = true
	}
	used["error.ambiguous.checkin"] = true
	// Paths: pathText builds "path."+path, with "_for" when it knows
	// since when.
	for _, p := range []string{node.PathDirect, node.PathRelayed, node.PathUnreachable} {
		used["path."+p] = true
		used["path."+p+"_for"] = true
	}
	// Warnings: renderWarnings builds "warning."+code.
	for _, c := range node.WarningCodes {
		used["warning."+c] = true
	}
	for _, w := range node.ListenWhy {
		used["warning.why."+w] = true
	}
	for k := range en {
		if strings.HasPrefix(k, "time.") && strings.HasSuffix(k, "_h1") {
			used[k] = used[strings.TrimSuffix(k, "_h1")]
		}
	}
	if len(used) < 100 {
		t.Fatalf("found only %d keys in use", len(used))
	}
	for k := range used {
		if _, ok := en[k]; !ok {
			t.Errorf("key %q is used but not translated", k)
		}
	}
	for k := range en {
		base := strings.TrimSuffix(k, "_one")
		if !used[k] && !used[base] {
			t.Errorf("key %q is translated but never used", k)
		}
	}

	// The kinds offered are exactly the kinds a member can send.
	m := regexp.MustCompile(`var KINDS = \[([^\]]*)\]`).FindStringSubmatch(script)
	if m == nil {
		t.Fatal("no KINDS in app.js")
	}
	var kinds []string
	for _, q := range regexp.MustCompile(`'([a-z]+)'`).FindAllStringSubmatch(m[1], -1) {
		kinds = append(kinds, q[1])
	}
	var want []string
	for _, k := range alert.UserKinds {
		want = append(want, string(k))
	}
	if !slices.Equal(kinds, want) {
		t.Errorf("app.js KINDS %v, alert.UserKinds %v", kinds, want)
	}
	// The duress choice is never named on screen.
	for k, v := range es {
		if strings.Contains(strings.ToLower(en[k]+v), "duress") || (strings.Contains(k, "checkin.") && strings.Contains(strings.ToLower(en[k]+v), "forced")) {
			t.Errorf("%q names duress on the check-in screen: %q / %q", k, en[k], v)
		}
	}
}

// refusalReasons returns the reasons node gives for refusing a check-in,
// read from its source: each is a parameter the page must word.
func refusalReasons(t *testing.T) []string {
	b, err := os.ReadFile("../checkin.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`refused\("([a-z_]+)"`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	if len(out) < 5 {
		t.Fatalf("found %d reasons for refusing a check-in in node/checkin.go", len(out))
	}
	return out
}

func placeholders(s string) string {
	ps := regexp.MustCompile(`\{\w+\}`).FindAllString(s, -1)
	slices.Sort(ps)
	return strings.Join(slices.Compact(ps), ",")
}
