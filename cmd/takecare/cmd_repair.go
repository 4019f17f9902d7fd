package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/store"
)

// repairReport is what `takecare repair --json` prints.
type repairReport struct {
	Repaired bool `json:"repaired"` // false: nothing was damaged
	store.RepairReport
	Groups int `json:"groups"` // groups whose saved state was kept
	// ConfigSetAside is where a config.json that was not valid JSON was
	// moved.
	ConfigSetAside string `json:"config_set_aside,omitempty"`
}

// cmdRepair mends a profile whose store (or config) is damaged: the daemon
// refuses to start on it and says to run this. The keystore is never
// touched. What the store lost comes back from the groups' members by sync
// once the node runs again.
func cmdRepair(ctx context.Context, e *env, args []string) error {
	f := newFlags("repair", e)
	asJSON := f.Bool("json", false, "print what was kept as JSON")
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
	if err := checkNotRunning(ctx, h); err != nil {
		return fmt.Errorf("%w: stop it first", err)
	}
	var out repairReport
	if _, err := h.loadConfig(); errors.Is(err, errBadConfig) {
		aside := h.config() + ".damaged"
		if err := os.Rename(h.config(), aside); err != nil {
			return err
		}
		out.ConfigSetAside = aside
	}
	pass, err := f.passphrase("Passphrase", false)
	if err != nil {
		return err
	}
	ks, err := crypto.OpenKeystore(h.keys(), pass)
	clear(pass)
	if err != nil {
		return err
	}
	defer ks.Close()
	if ks.Duress() != nil {
		// Under duress nothing is touched (the duress passphrase opens no
		// storage key): the next start does what a duress passphrase does.
		return printRepair(e, out, *asJSON)
	}
	prof := ks.Profile()
	st, err := store.Open(h.store(), prof.StorageKey, store.Options{})
	switch {
	case errors.Is(err, store.ErrInUse):
		return node.Errorf(node.KindConflict, "another takecare daemon is using %s: stop it first", h.dir)
	case err == nil:
		st.Close()
		return printRepair(e, out, *asJSON)
	case !errors.Is(err, store.ErrDamaged):
		return err
	}
	out.Repaired = true
	out.RepairReport, err = store.Repair(h.store(), prof.StorageKey, store.Options{})
	if err != nil {
		return err
	}
	st, err = store.Open(h.store(), prof.StorageKey, store.Options{})
	if err != nil {
		return fmt.Errorf("the repaired store does not open: %w", err)
	}
	out.Groups, err = node.SavedGroups(st)
	st.Close()
	if err != nil {
		return err
	}
	return printRepair(e, out, *asJSON)
}

func printRepair(e *env, r repairReport, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(e.stdout).Encode(r)
	}
	if r.ConfigSetAside != "" {
		fmt.Fprintf(e.stderr, "config.json was not valid: it is set aside as %s, and the node starts with its default settings.\n", r.ConfigSetAside)
	}
	if !r.Repaired {
		fmt.Fprintln(e.stdout, "the store is not damaged: nothing to repair")
		return nil
	}
	if r.Damage > 0 {
		fmt.Fprintf(e.stderr, "The store was damaged: %d %s could not be read.\n", r.Damage, plural(r.Damage, "part", "parts"))
	}
	fmt.Fprintf(e.stderr, "Kept %d %s and the saved state of %d %s (keys, members, addresses).\n",
		r.Messages, plural(r.Messages, "message", "messages"), r.Groups, plural(r.Groups, "group", "groups"))
	if r.Groups == 0 {
		fmt.Fprintln(e.stderr, "No group could be recovered: ask a member of each of your groups for a new invite (takecare join CODE).")
	} else {
		fmt.Fprintln(e.stderr, "Start your node (takecare run): it fetches what was lost from your groups' members.")
	}
	if r.SetAside != "" {
		fmt.Fprintf(e.stderr, "The damaged file is kept as %s; delete it once all is well (takecare wipe destroys it too).\n", r.SetAside)
	}
	fmt.Fprintf(e.stdout, "repaired: kept %d %s and %d %s\n", r.Messages, plural(r.Messages, "message", "messages"), r.Groups, plural(r.Groups, "group", "groups"))
	return nil
}
