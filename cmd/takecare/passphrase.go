package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/match"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
)

// maxSecretFile bounds what --passphrase-file reads.
const maxSecretFile = 4096

// readSecretFile reads a passphrase from path ("-": standard input), then
// closes it. One trailing line ending is dropped. A regular file that
// others can read is refused, as ssh refuses such a key.
func readSecretFile(e *env, path string) ([]byte, error) {
	var r io.Reader = e.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
			return nil, node.Errorf(node.KindInvalid, "%s can be read by others (mode %v): make it private with chmod 600", path, fi.Mode().Perm())
		}
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase: %w", err)
	}
	if len(b) > maxSecretFile {
		clear(b)
		return nil, node.Errorf(node.KindInvalid, "%s holds more than %d bytes: not a passphrase", path, maxSecretFile)
	}
	p := bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	if len(p) == 0 {
		return nil, node.Errorf(node.KindInvalid, "%s holds no passphrase", path)
	}
	return p, nil
}

// minGuesses is the least a passphrase may cost to guess, by zxcvbn's
// estimate: 10^10 guesses, its "safely unguessable" score of 3 against an
// offline attacker facing a slow hash such as Argon2id. A seized, powered-
// off device is protected by the passphrase alone.
const minGuesses = 1e10

// checkStrength refuses a passphrase that zxcvbn (Wheeler, USENIX
// Security 2016; the trustelem Go port) estimates can be guessed in fewer
// than minGuesses tries, with a one-line reason that does not repeat the
// passphrase. hints are words the passphrase should not be built from
// (the display name). It judges the normalised form.
func checkStrength(what string, pass []byte, hints ...string) error {
	norm := crypto.NormalizePassphrase(pass)
	defer clear(norm)
	if len(bytes.TrimSpace(norm)) == 0 {
		return node.Errorf(node.KindInvalid, "the %s is only spaces", what)
	}
	r := zxcvbn.PasswordStrength(string(norm), append(hints, "takecare"))
	if r.Guesses >= minGuesses {
		return nil
	}
	return node.Errorf(node.KindInvalid, "the %s is too easy to guess (%s; about 10^%d guesses, want 10^%d): use four or five unrelated words, or a longer sentence only you would write",
		what, weakness(r), int(math.Log10(math.Max(r.Guesses, 1))), int(math.Log10(minGuesses)))
}

// weakness names what makes a passphrase guessable: the part of zxcvbn's
// best guessing sequence that covers the most of it.
func weakness(r zxcvbn.Result) string {
	var worst *match.Match
	for _, m := range r.Sequence {
		if m.Pattern != "bruteforce" && (worst == nil || m.J-m.I > worst.J-worst.I) {
			worst = m
		}
	}
	if worst == nil {
		return "too short"
	}
	switch worst.Pattern {
	case "dictionary":
		switch worst.DictionaryName {
		case "user_inputs":
			return "it is built from your name or the program's"
		case "passwords":
			return "it is built from a common password"
		}
		return "it is built from a common word or name"
	case "spatial":
		return "it is a keyboard pattern"
	case "repeat":
		return "it repeats itself"
	case "sequence":
		return "it is a sequence such as abc or 123"
	case "regex", "date":
		return "it is built from a year or a date"
	}
	return strings.ReplaceAll(worst.Pattern, "_", " ")
}
