package main

import (
	"context"
	"fmt"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
)

// cmdDuress sets or clears a duress passphrase. Opened with it, `takecare
// run` warns the groups, wipes the real profile and shows an empty one.
func cmdDuress(ctx context.Context, e *env, args []string) error {
	f := newFlags("duress", e)
	clearIt := f.Bool("clear", false, "remove the duress passphrase")
	duressFile := f.String("duress-passphrase-file", "", "read the duress passphrase from this file (- for standard input)")
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
	if api.NewClient(h.dir).Running(ctx) {
		// The daemon keeps the keystore open and rewrites it.
		return node.Errorf(node.KindConflict, "stop the daemon of %s first (takecare duress changes the keystore it holds open)", h.dir)
	}
	pass, err := f.passphrase("Passphrase", false)
	if err != nil {
		return err
	}
	defer clear(pass)
	if *clearIt {
		if err := crypto.ClearDuress(h.keys(), pass); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "duress passphrase removed")
		return nil
	}
	duress, err := secret(e, *duressFile, "TAKECARE_DURESS_PASSPHRASE", "Choose a duress passphrase (give it if you are ever forced to unlock)", true)
	if err != nil {
		return err
	}
	defer clear(duress)
	if err := checkStrength("duress passphrase", duress); err != nil {
		return err
	}
	if err := crypto.SetDuress(h.keys(), pass, duress); err != nil {
		return err
	}
	fmt.Fprintln(e.stderr, "Duress passphrase set. If you are forced to unlock takecare, give it instead of your passphrase:")
	fmt.Fprintln(e.stderr, "your groups are warned, this profile is wiped, and an empty one opens under the same name.")
	fmt.Fprintln(e.stderr, "On its own the duress passphrase opens nothing of this profile, even on a copy of this device.")
	fmt.Fprintln(e.stdout, "duress passphrase set")
	return nil
}
