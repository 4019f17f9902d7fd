package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node/api"
)

// TestRelayUnit: the command line of the systemd unit in docs starts a
// relay whose metrics answer on loopback (with this machine's paths and
// free ports put in).
func TestRelayUnit(t *testing.T) {
	t.Parallel()
	unit, err := os.ReadFile("../../docs/takecare-relay.service")
	if err != nil {
		t.Fatal(err)
	}
	var exec string
	for _, line := range strings.Split(strings.ReplaceAll(string(unit), "\\\n", " "), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			exec = v
		}
	}
	args := strings.Fields(exec)
	if len(args) < 2 || filepath.Base(args[0]) != "takecare" || args[1] != "run" {
		t.Fatalf("ExecStart %q does not run takecare run", exec)
	}
	dir := t.TempDir()
	home, pass := filepath.Join(dir, "home"), filepath.Join(dir, "passphrase")
	const phrase = "correct horse battery staple"
	if err := os.WriteFile(pass, []byte(phrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	metrics := freePort(t)
	replace := map[string]string{
		"/var/lib/takecare":                   home,
		"${CREDENTIALS_DIRECTORY}/passphrase": pass,
		"/ip4/0.0.0.0/tcp/4001":               "/ip4/127.0.0.1/tcp/0",
		"/ip4/0.0.0.0/udp/4001/quic-v1":       "/ip4/127.0.0.1/udp/0/quic-v1",
		"127.0.0.1:9421":                      metrics,
	}
	args = args[1:]
	for i, a := range args {
		if r, ok := replace[a]; ok {
			args[i] = r
			delete(replace, a)
		}
	}
	if len(replace) > 0 {
		t.Fatalf("ExecStart %q lacks %v", exec, replace)
	}
	var stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr, getenv: func(k string) string {
		if k == "TAKECARE_PASSPHRASE" {
			return phrase
		}
		return ""
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code := run(ctx, e, []string{"init", "--home", home, "--name", "Vol"}); code != 0 {
		t.Fatalf("init: %s", stderr.String())
	}
	e.getenv = func(string) string { return "" } // the unit gives a file
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() { done <- run(runCtx, e, args) }()
	defer func() {
		stop()
		if code := <-done; code != 0 {
			t.Errorf("takecare run exited %d: %s", code, stderr.String())
		}
	}()
	c := api.NewClient(home)
	for {
		st, err := c.Status(ctx)
		if err == nil && st.Relay != nil {
			break
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("takecare run exited %d: %s", code, stderr.String())
		case <-ctx.Done():
			t.Fatalf("no relay: %v %+v", err, st.Relay)
		case <-time.After(100 * time.Millisecond):
		}
	}
	res, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), "takecare_relay_reservations 0\n") {
		t.Errorf("metrics:\n%s", body)
	}
}

// freePort returns a loopback address with a port free now.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
