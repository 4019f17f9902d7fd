package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/store"
)

var errProfileExists = node.NewError(node.KindConflict, "a profile already exists")

func cmdInit(ctx context.Context, e *env, args []string) error {
	f := newFlags("init", e)
	name := f.String("name", "", "your display name, as the group will see it")
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
	if h.exists() {
		return fmt.Errorf("%w in %s", errProfileExists, dir)
	}
	*name = strings.TrimSpace(*name)
	if *name == "" {
		return usagef("give your display name with --name NAME")
	}
	if err := alert.ValidName("name", *name); err != nil {
		return err
	}
	// Ask for the passphrase before anything is written, and undo what was
	// written if a later step fails: a failed init leaves no half-made
	// profile that the next init would refuse.
	pass, err := f.passphrase("Choose a passphrase for this profile", true)
	if err != nil {
		return err
	}
	defer clear(pass)
	if err := checkStrength("passphrase", pass, *name); err != nil {
		return err
	}
	_, statErr := os.Stat(dir)
	made := errors.Is(statErr, fs.ErrNotExist)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	prof, err := func() (*crypto.Profile, error) {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, err
		}
		ks, err := h.createProfile(*name, pass)
		if errors.Is(err, crypto.ErrKeystoreExists) {
			return nil, fmt.Errorf("%w in %s", errProfileExists, dir)
		}
		if err != nil {
			return nil, err
		}
		defer ks.Close()
		prof := ks.Profile()
		st, err := store.Open(h.store(), prof.StorageKey, store.Options{})
		if err != nil {
			return nil, err
		}
		return prof, st.Close()
	}()
	if err != nil {
		if made {
			os.RemoveAll(dir)
		} else if !errors.Is(err, errProfileExists) {
			os.Remove(h.keys())
			os.Remove(h.store())
		}
		return err
	}
	fmt.Fprintf(e.stderr, "Profile created in %s. Start your node with: %s\n", dir, f.hint("run"))
	fmt.Fprintf(e.stdout, "member %s\n", prof.Identity.ID())
	return nil
}
