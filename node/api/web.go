package api

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	qrcode "github.com/skip2/go-qrcode"
	"github.com/takecare-network/takecare/node"
)

// The web UI: a single page, its script, style sheet and translations,
// embedded in the binary and served on the loopback TCP listener only.
//
// The page itself is served without the token; it reads the token from the
// URL fragment (#token=...), which browsers never send to the server, and
// exchanges it for a session cookie (session.go). No request from another
// site can act with the user's rights (no CSRF): the cookie is
// SameSite=Strict and is accepted only with a header that other origins
// cannot send, and /v1 requests with another Origin are refused. Requests
// whose Host is not a loopback name or address are refused, so a web site
// cannot reach the daemon by pointing its own domain name at 127.0.0.1 (DNS
// rebinding).

//go:embed web
var webFiles embed.FS

// webFS is the web folder as the root of the site.
var webFS = func() fs.FS {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic("bug: embedded web folder: " + err.Error())
	}
	return sub
}()

// webTypes are the files the UI is made of and their content types. Only
// these are served.
var webTypes = map[string]string{
	"index.html": "text/html; charset=utf-8",
	"app.js":     "text/javascript; charset=utf-8",
	"style.css":  "text/css; charset=utf-8",
	"i18n.json":  "application/json; charset=utf-8",
	"icon.svg":   "image/svg+xml",
	// The web app manifest and service worker make the page installable
	// on a phone and let it open when the daemon is not running.
	"manifest.webmanifest": "application/manifest+json",
	"sw.js":                "text/javascript; charset=utf-8",
	"icon-192.png":         "image/png",
	"icon-512.png":         "image/png",
}

// contentSecurityPolicy allows the page to load only its own files and
// talk only to its own origin: no inline script or style, no eval, no
// framing, no form posting anywhere. Images may be blob: URLs, which is
// how the page shows the QR code it fetched with the token.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"

// secureHeaders sets the headers every response of the TCP listener
// carries, page and API alike.
func secureHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	// Nothing is kept in the browser's cache: the page is small and
	// local, and a seized browser profile should not hold the API's
	// answers (names, alert text).
	h.Set("Cache-Control", "no-store")
}

// loopbackHost reports whether a Host header names this machine: localhost
// or a loopback address, with or without a port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errNotLoopback answers requests addressed to another name: a web page
// that rebinds its own domain name to 127.0.0.1 sends its name as Host.
var errNotLoopback = node.NewError(node.KindForbidden, "requests must be addressed to 127.0.0.1, [::1] or localhost")

// tcpHandler is what the loopback TCP listener serves: the web UI at / and
// the API, with the token, under /v1/.
func (s *Server) tcpHandler() http.Handler {
	api := s.requireToken(s.mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w.Header())
		if !loopbackHost(r.Host) {
			writeError(w, errNotLoopback)
			return
		}
		if r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/") {
			if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
				writeError(w, errOtherOrigin)
				return
			}
			if !s.open(w, r) {
				api.ServeHTTP(w, r)
			}
			return
		}
		serveWeb(w, r)
	})
}

// serveWeb serves the embedded files of the web UI.
func serveWeb(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	ctype, ok := webTypes[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(webFS, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ctype)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// QRRequest is the body of POST /v1/qr.
type QRRequest struct {
	Text string `json:"text"`
}

// maxQRText bounds what POST /v1/qr encodes; invite codes are far shorter.
const maxQRText = 1024

// qr answers with the QR code of a text (an invite code) as SVG, so that
// the page can show it without a script library and without sending the
// code anywhere but here.
func (s *Server) qr(w http.ResponseWriter, r *http.Request) {
	var req QRRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Text == "" || len(req.Text) > maxQRText {
		writeError(w, errQRText)
		return
	}
	q, err := qrcode.New(req.Text, qrcode.Medium)
	if err != nil {
		writeError(w, fmt.Errorf("%w: %v", errQRText, err))
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Write(qrSVG(q.Bitmap()))
}

// qrSVG draws a QR bitmap (which includes its quiet zone) as one SVG path,
// a horizontal run of dark modules per segment.
func qrSVG(bm [][]bool) []byte {
	n := len(bm)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bm {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", start, y, x-start, x-start)
		}
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes()
}

// Languages are the languages of the catalogue, the first the default.
var Languages = []string{"en", "es"}

// catalogue is web/i18n.json: for each language, its strings by key.
var catalogue = sync.OnceValue(func() map[string]map[string]string {
	b, err := fs.ReadFile(webFS, "i18n.json")
	if err != nil {
		panic("bug: embedded i18n.json: " + err.Error())
	}
	var c map[string]map[string]string
	if err := json.Unmarshal(b, &c); err != nil {
		panic("bug: embedded i18n.json: " + err.Error())
	}
	return c
})

// Strings returns the strings of a language ("en" or "es"), by key, with
// the English one for a key the language lacks. There is one catalogue
// per language, for the web UI and the command line alike; a string's
// {name} placeholders are its values. The map must not be changed.
func Strings(lang string) map[string]string {
	c := catalogue()
	if lang == Languages[0] || c[lang] == nil {
		return c[Languages[0]]
	}
	out := make(map[string]string, len(c[Languages[0]]))
	for k, v := range c[Languages[0]] {
		out[k] = v
	}
	for k, v := range c[lang] {
		out[k] = v
	}
	return out
}
