package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
)

// cmdUI prints the address of the running daemon's web UI with the token
// in the URL fragment, ready to open in a browser on this machine. The
// fragment never leaves the browser: the page reads the token from it and
// sends it in a header.
func cmdUI(ctx context.Context, e *env, args []string) error {
	f := newFlags("ui", e)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	h, err := f.profile()
	if err != nil {
		return err
	}
	c := api.NewClient(h.dir)
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if st.Web == "" {
		return node.Errorf(node.KindUnavailable, "the daemon is not serving the web UI; restart it with: %s", f.hint("run", "--api", "127.0.0.1:7420"))
	}
	b, err := os.ReadFile(h.token())
	if err != nil {
		return fmt.Errorf("reading the web UI's token: %w", err)
	}
	fmt.Fprintln(e.stderr, "Open this address in a browser on this machine. Keep it to yourself: it gives full use of your node.")
	fmt.Fprintln(e.stdout, webURL(st.Web, strings.TrimSpace(string(b))))
	return nil
}

// webURL is the web UI's address with the token in the fragment.
func webURL(base, token string) string { return base + "#token=" + token }
