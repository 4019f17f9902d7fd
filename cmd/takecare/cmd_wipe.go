package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
)

// cmdWipe destroys the profile: it stops a running daemon, destroys the
// keystore (which makes everything else unreadable) and the store, and
// removes the folder's other files.
func cmdWipe(ctx context.Context, e *env, args []string) error {
	f := newFlags("wipe", e)
	yes := f.Bool("yes", false, "do not ask for confirmation")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	dir, err := f.homeDir()
	if err != nil {
		return err
	}
	h := home{dir}
	if !h.exists() {
		if _, err := os.Stat(h.store()); err != nil {
			return node.Errorf(node.KindNotFound, "no profile in %s", dir)
		}
	}
	if !*yes && !confirmed(fmt.Sprintf("Destroy all keys and alerts in %s? This cannot be undone.", dir)) {
		return node.Errorf(node.KindInvalid, "not confirmed (use --yes to wipe without asking)")
	}
	c := api.NewClient(dir)
	if api.SocketExists(dir) && c.Running(ctx) {
		c.Shutdown(ctx)
		// Wait for the daemon to let go of the store.
		for i := 0; i < 50 && api.SocketExists(dir); i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := h.destroy(); err != nil {
		return err
	}
	for _, p := range []string{h.config(), h.token(), h.socket()} {
		os.Remove(p)
	}
	os.Remove(dir) // only if empty
	fmt.Fprintf(e.stdout, "wiped %s\n", dir)
	return nil
}
