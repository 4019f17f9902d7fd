//go:build unix

package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
)

// dropPassphraseEnv makes `takecare run` forget TAKECARE_PASSPHRASE: a
// variable stays readable in /proc/PID/environ (by the same user and root)
// for the whole life of the process, even after os.Unsetenv, because the
// kernel shows the memory the process started with. So the daemon starts
// itself again (execve) with an environment without it, and hands the
// passphrase over through a pipe, named on the new command line as
// --passphrase-file /dev/fd/N, which it reads and closes. If that fails it
// goes on as it is. It returns only if it did not re-execute.
func dropPassphraseEnv(args []string) {
	const v = "TAKECARE_PASSPHRASE"
	pass, ok := os.LookupEnv(v)
	if !ok || len(args) < 2 || args[1] != "run" {
		return
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, v+"=") })
	path, err := exec.LookPath(args[0])
	if err != nil {
		if path, err = os.Executable(); err != nil {
			return
		}
	}
	next := slices.Clone(args)
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(strings.TrimLeft(a, "-"), "passphrase-file") }) && pass != "" {
		r, w, err := os.Pipe()
		if err != nil {
			return
		}
		// The passphrase is far smaller than a pipe's buffer: the write
		// does not wait for a reader.
		if _, err := w.WriteString(pass); err != nil {
			r.Close()
			w.Close()
			return
		}
		w.Close()
		// Keep the read end open across execve.
		if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, r.Fd(), syscall.F_SETFD, 0); errno != 0 {
			r.Close()
			return
		}
		next = append(next, "--passphrase-file", fmt.Sprintf("/dev/fd/%d", r.Fd()))
	}
	syscall.Exec(path, next, env)
	// Only on failure: go on with the environment as it is.
}
