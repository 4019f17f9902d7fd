package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	extraCmds["noenvsecret"] = noEnvSecret
}

// noenvsecret HOME SECRET: the daemon of HOME (found as the peer of its
// API socket) has no SECRET in its environment (/proc/PID/environ).
func noEnvSecret(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: noenvsecret HOME SECRET")
	}
	c, err := net.Dial("unix", filepath.Join(ts.MkAbs(args[0]), "api.sock"))
	ts.Check(err)
	defer c.Close()
	raw, err := c.(*net.UnixConn).SyscallConn()
	ts.Check(err)
	var cred *syscall.Ucred
	raw.Control(func(fd uintptr) {
		cred, err = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	ts.Check(err)
	environ, err := os.ReadFile("/proc/" + strconv.Itoa(int(cred.Pid)) + "/environ")
	ts.Check(err)
	if !bytes.Contains(environ, []byte("TAKECARE_HOME=")) && !bytes.Contains(environ, []byte("HOME=")) {
		ts.Fatalf("read an empty environment: the test proves nothing")
	}
	if bytes.Contains(environ, []byte(args[1])) != neg {
		ts.Fatalf("the daemon's environment (pid %d) holds the passphrase: %v", cred.Pid, !neg)
	}
}
