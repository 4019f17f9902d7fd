package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/takecare-network/takecare/node"
	"golang.org/x/term"
)

// flags is a flag set that also accepts flags after positional arguments
// (`takecare invite juchitan --uses 2`) and always has --home.
type flags struct {
	*flag.FlagSet
	e        *env
	home     *string
	passFile *string
}

func newFlags(name string, e *env) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flags{
		FlagSet:  fs,
		e:        e,
		home:     fs.String("home", "", "profile folder (default $TAKECARE_HOME or ~/.takecare)"),
		passFile: fs.String("passphrase-file", "", "read the passphrase from this file (- for standard input, /dev/fd/N for a file descriptor)"),
	}
}

// parse parses args and returns the positional arguments.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		args = f.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// hint is a command line to suggest to the user: "takecare NAME ARGS...",
// with the --home that this command was given, if any, at the end (every
// command takes flags after its arguments), so that it can be pasted as it
// is.
func (f *flags) hint(name string, args ...string) string {
	parts := []string{"takecare", name}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	if *f.home != "" {
		parts = append(parts, "--home", shellQuote(*f.home))
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it. Upper-case words
// such as NAME stand for what the user fills in and are left alone.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// given reports whether the flag called name was set on the command line.
func (f *flags) given(name string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// homeDir returns the profile folder: --home, else $TAKECARE_HOME, else
// ~/.takecare.
func (f *flags) homeDir() (string, error) {
	h := *f.home
	if h == "" {
		h = f.e.getenv("TAKECARE_HOME")
	}
	if h == "" {
		u, err := os.UserHomeDir()
		if err != nil {
			return "", node.Errorf(node.KindInvalid, "no home folder: use --home DIR")
		}
		h = filepath.Join(u, ".takecare")
	}
	return filepath.Abs(h)
}

// passphrase reads the passphrase from the file given with
// --passphrase-file, else TAKECARE_PASSPHRASE, else, on a terminal, from a
// prompt without echo. confirm asks twice.
func (f *flags) passphrase(prompt string, confirm bool) ([]byte, error) {
	return secret(f.e, *f.passFile, "TAKECARE_PASSPHRASE", prompt, confirm)
}

// secret reads a passphrase from file (if not ""), else the environment
// variable envVar, else, on a terminal, from a prompt without echo.
// confirm asks twice.
func secret(e *env, file, envVar, prompt string, confirm bool) ([]byte, error) {
	if file != "" {
		return readSecretFile(e, file)
	}
	if p := e.getenv(envVar); p != "" {
		return []byte(p), nil
	}
	return promptTerminal(envVar, prompt, confirm)
}

func promptTerminal(envVar, prompt string, confirm bool) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		return nil, node.Errorf(node.KindInvalid, "no passphrase: set %s or run in a terminal", envVar)
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt+": ")
	p, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, node.Errorf(node.KindInvalid, "empty passphrase")
	}
	if confirm {
		fmt.Fprint(tty, "Again, to be sure: ")
		q, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		if string(p) != string(q) {
			return nil, node.Errorf(node.KindInvalid, "the two passphrases differ")
		}
	}
	return p, nil
}

// confirmed asks a yes/no question on the terminal.
func confirmed(question string) bool {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		return false
	}
	defer tty.Close()
	fmt.Fprint(tty, question+" [type yes]: ")
	var answer string
	fmt.Fscanln(tty, &answer)
	return strings.EqualFold(strings.TrimSpace(answer), "yes")
}
