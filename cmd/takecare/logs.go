package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/term"

	"github.com/takecare-network/takecare/node"
)

// What the daemon's terminal shows. By default, a person reads it: a short
// summary when the node starts, a line when the number of member nodes it
// is connected to changes, and warnings and errors in plain words. With
// --verbose it shows the node's logs (log/slog text, from debug up).

// humanHandler is a slog.Handler that writes warnings and errors as one
// line each: "15:04 warning: saving the config (err=...)".
type humanHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	attrs []slog.Attr
}

func newHumanHandler(w io.Writer) *humanHandler { return &humanHandler{mu: &sync.Mutex{}, w: w} }

func (h *humanHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *humanHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	level := "warning"
	if r.Level >= slog.LevelError {
		level = "error"
	}
	fmt.Fprintf(&b, "%s %s: %s", r.Time.Local().Format("15:04"), level, r.Message)
	var details []string
	add := func(a slog.Attr) bool {
		if a.Key != "" {
			details = append(details, a.Key+"="+a.Value.String())
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	if len(details) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(details, ", "))
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *humanHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &humanHandler{mu: h.mu, w: h.w, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

// WithGroup is not needed for one-line summaries: attributes keep their
// own keys.
func (h *humanHandler) WithGroup(string) slog.Handler { return h }

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	if s, ok := w.(safeWriter); ok {
		w = s.w
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// daemonLogger returns the logger of `takecare run`.
func daemonLogger(w io.Writer, verbose bool) *slog.Logger {
	if verbose {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(newHumanHandler(w))
}

// startSummary is what the daemon's terminal shows once the node runs.
// Names (the member's, the groups') are shown only when w is a terminal,
// where a person reads them; standard error sent to a file or a service
// manager's journal is a log, and logs name no one: they are on disk
// (docs/THREAT_MODEL.md, section 6).
func startSummary(w io.Writer, f *flags, st node.Status, web string, verbose bool) {
	now := time.Now()
	if !isTerminal(w) {
		st.Name = ""
		for i := range st.Groups {
			st.Groups[i].Name = "#" + st.Groups[i].ID[:8]
		}
	}
	if st.Name != "" {
		fmt.Fprintf(w, "takecare is running for %s (member %s) since %s.\n", st.Name, st.MemberID[:12], clockZone(st.Since, now))
	} else {
		fmt.Fprintf(w, "takecare is running (member %s) since %s.\n", st.MemberID[:12], clockZone(st.Since, now))
	}
	for _, warn := range st.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn.Text)
	}
	if len(st.Groups) == 0 {
		fmt.Fprintf(w, "No groups yet: create one (%s) or join one (%s).\n", f.hint("group", "create", "NAME"), f.hint("join", "CODE"))
	}
	for _, g := range st.Groups {
		fmt.Fprintf(w, "Group %s: %s, %s.\n", g.Name, g.Role, count(g.Members, "member", "members"))
	}
	if st.Relay != nil {
		if pub := publicAddrs(st.Addrs); len(pub) > 0 {
			fmt.Fprintf(w, "Relaying for your groups' member nodes behind NAT, at %s.\n", strings.Join(pub, ", "))
		} else {
			fmt.Fprintln(w, "Relaying for your groups' member nodes behind NAT, but this machine has no public address: they reach it only if your router forwards its port (TCP and UDP) to it.")
		}
	}
	if web != "" {
		fmt.Fprintf(w, "To use it from a browser, open the web UI in a browser on this machine: %s\n", web)
		fmt.Fprintln(w, "Keep that address to yourself: it gives full use of your node.")
	}
	if verbose {
		fmt.Fprintf(w, "peer %s\n", st.Peer)
		for _, a := range st.Addrs {
			fmt.Fprintf(w, "listening on %s\n", a)
		}
		fmt.Fprintln(w, "Stop with Ctrl-C.")
		return
	}
	fmt.Fprintln(w, "Stop with Ctrl-C. To see the node's logs, start it with --verbose.")
}

// publicAddrs are the addresses among addrs (multiaddrs) that the
// internet can reach, if nothing blocks them.
func publicAddrs(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		if m, err := ma.NewMultiaddr(a); err == nil && manet.IsPublicAddr(m) {
			out = append(out, a)
		}
	}
	return out
}

// watchPeers writes a line whenever the number of member nodes this node
// is connected to changes, until ctx is done.
func watchPeers(ctx context.Context, w io.Writer, n *node.Node, every time.Duration) {
	last := n.Status().Peers
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if p := n.Status().Peers; p != last {
			last = p
			fmt.Fprintf(w, "%s connected to %s\n", time.Now().Format("15:04"), count(p, "member node", "member nodes"))
		}
	}
}
