// Command takecare is the whole of takecare: the command line, the daemon
// (`takecare run`) and a narrated demonstration (`takecare demo`).
//
// Run `takecare help` for the commands. docs/GUIDE.md is the user guide.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // local times in every zone, even where the system has no zone files

	"github.com/takecare-network/takecare/node"
)

// env is what a command runs with: its streams and environment, so that
// tests can run commands in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

type command struct {
	name    string
	usage   string // arguments and flags
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"init", "[--home DIR] [--name NAME]", "create your identity and encrypted profile", cmdInit},
		{"run", "[--home DIR] [--listen MADDR]... [--api ADDR] [--mdns=false] [--verbose] [--hook CMD]... [--hook-timeout DUR] [--relay] [--metrics ADDR]", "run the node (foreground)", cmdRun},
		{"status", "[--json]", "show this node, its groups and who is reachable", cmdStatus},
		{"group", "create NAME | list [--json]", "create or list groups", cmdGroup},
		{"invite", "GROUP [--uses N] [--ttl DUR] [--qr] [--json] | GROUP --list | GROUP --revoke ID", "make, list or revoke invite codes", cmdInvite},
		{"join", "CODE", "join a group with an invite code", cmdJoin},
		{"members", "GROUP [--json] [--promote MEMBER] [--demote MEMBER]", "list a group's members; admins change roles", cmdMembers},
		{"remove", "GROUP MEMBER", "remove a member; the group gets a new key they cannot read", cmdRemove},
		{"verify", "MEMBER [--confirm]", "show the safety number to compare with a member in person", cmdVerify},
		{"alert", "GROUP --kind KIND --severity SEV [--region R] [--place P] [--text T] [--ttl DUR] [--json]", "send a danger alert", cmdAlert},
		{"panic", "[GROUP] [WORDS...] [--text T] [--all] [--json]", "send a panic alert (critical); the group may be left out if you are in one only", cmdPanic},
		{"checkin", "start GROUP --to PLACE --due TIME|DUR [--from PLACE] [--grace DUR] [--escalate-after DUR] [--escalate-to GROUP] [--text T] | done [ID] [--duress] | list [GROUP] [--json]",
			"say where you are going; if you do not arrive in time, the group is alerted", cmdCheckin},
		{"ack", "ID [--status seen|responding|unable]", "tell the sender you have seen an alert, or are responding", cmdAck},
		{"feed", "[GROUP] [--region R] [--follow] [--json]", "show alerts", cmdFeed},
		{"report", "GROUP [--since DATE] [--by month,kind,region] [--min N] [--svg FILE] [--json]", "count the group's alerts for publishing (admins; small counts hidden)", cmdReport},
		{"sms", smsUsage, "the SMS bridge: grant a bridge, enrol a member, set safe lines", cmdSMS},
		{"relay", relayUsage, "relays that are not members: grant one to a group (admins), accept a code (on the relay)", cmdRelay},
		{"ui", "", "print the address of the web UI (the daemon must run with --api)", cmdUI},
		{"repair", "[--json]", "mend a damaged store: keep what can be read, fetch the rest from your groups", cmdRepair},
		{"wipe", "[--yes]", "destroy this profile's keys and data", cmdWipe},
		{"duress", "[--clear]", "set a duress passphrase: it warns your groups, wipes this profile and opens an empty one", cmdDuress},
		{"demo", "[--nodes N] [--keep]", "run a small network on this machine, narrated", cmdDemo},
	}
}

func main() {
	dropPassphraseEnv(os.Args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	code := run(ctx, e, os.Args[1:])
	stop()
	os.Exit(code)
}

// run runs one command line and returns the exit code: 0, 2 for a mistake
// in the command line, or the exit code of the error's kind
// ([node.Kind.ExitCode]). Errors are printed as one line on stderr.
func run(ctx context.Context, e *env, args []string) int {
	e = &env{stdin: e.stdin, stdout: safeWriter{e.stdout}, stderr: safeWriter{e.stderr}, getenv: e.getenv}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(e.stdout, "takecare", version)
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, e, args[1:])
			if err == nil {
				return 0
			}
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(e.stdout, "usage: takecare %s %s\n", c.name, c.usage)
				return 0
			}
			var ue usageError
			if errors.As(err, &ue) {
				fmt.Fprintf(e.stderr, "takecare %s: %v\nusage: takecare %s %s\n", c.name, ue.err, c.name, c.usage)
				return 2
			}
			fmt.Fprintf(e.stderr, "takecare %s: %s\n", c.name, oneLine(err))
			return node.KindOf(err).ExitCode()
		}
	}
	fmt.Fprintf(e.stderr, "takecare: unknown command %q (try: takecare help)\n", args[0])
	return 2
}

const version = "0.1.0"

func usage(w io.Writer) {
	fmt.Fprintln(w, "takecare — encrypted peer-to-peer alerts for people who look after each other")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: takecare COMMAND [arguments]")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n           %s\n", c.name, c.summary, c.usage)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every command takes --home DIR (or TAKECARE_HOME) to choose the profile folder.")
	fmt.Fprintln(w, "The passphrase comes from --passphrase-file FILE, TAKECARE_PASSPHRASE or a prompt.")
}

// usageError is a mistake in the command line.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// oneLine keeps an error message on a single line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
