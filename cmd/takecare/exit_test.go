package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitCodes: a failed command exits with the code of its error's kind
// (node.Kind), so that a script can tell a mistake in what it asked from
// a daemon that is not running or a refusal; the error is one line on
// stderr.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	home := filepath.Join(t.TempDir(), "A")
	pass := "correct horse battery staple"
	ctx := context.Background()
	call := func(passphrase string, args ...string) (int, string) {
		var out, errb bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string {
			if k == "TAKECARE_PASSPHRASE" {
				return passphrase
			}
			return ""
		}}
		return run(ctx, e, args), errb.String()
	}
	if code, stderr := call(pass, "init", "--home", home, "--name", "Ana"); code != 0 {
		t.Fatalf("init: exit %d: %s", code, stderr)
	}
	for _, tc := range []struct {
		name       string
		passphrase string
		args       []string
		code       int
		says       string
	}{
		{"usage", pass, []string{"alert", "--home", home, "--nope"}, 2, "usage:"},
		{"weak passphrase", "password", []string{"init", "--home", filepath.Join(t.TempDir(), "B"), "--name", "Beto"}, 2, "too easy to guess"},
		{"no profile", pass, []string{"wipe", "--home", filepath.Join(t.TempDir(), "C"), "--yes"}, 3, "no profile"},
		{"keystore exists", pass, []string{"init", "--home", home, "--name", "Ana"}, 5, "already exists"},
		{"wrong passphrase", "not the passphrase", []string{"run", "--home", home, "--mdns=false"}, 4, "wrong passphrase"},
		{"daemon not running", pass, []string{"feed", "--home", home}, 6, "not running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := call(tc.passphrase, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.says) || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
				t.Errorf("exit %d, stderr %q; want exit %d saying %q", code, stderr, tc.code, tc.says)
			}
		})
	}
}
