package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/store"
)

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
		return fmt.Errorf("a profile already exists in %s", dir)
	}
	*name = strings.TrimSpace(*name)
	if *name == "" {
		return usagef("give your display name with --name NAME")
	}
	if err := alert.ValidName("name", *name); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	pass, err := passphrase(e, "Choose a passphrase for this profile", true)
	if err != nil {
		return err
	}
	prof, err := h.createProfile(*name, pass)
	if errors.Is(err, crypto.ErrKeystoreExists) {
		return fmt.Errorf("a profile already exists in %s", dir)
	}
	if err != nil {
		return err
	}
	st, err := store.Open(h.store(), prof.StorageKey, store.Options{})
	if err != nil {
		return err
	}
	st.Close()
	fmt.Fprintf(e.stderr, "Profile created in %s. Start your node with: takecare run --home %s\n", dir, dir)
	fmt.Fprintf(e.stdout, "member %s\n", prof.Identity.ID())
	return nil
}
