package main

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"takecare": func() { main() },
	})
}

// extraCmds are script commands that exist on some systems only.
var extraCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){}

// TestScripts runs the command-line scripts in testdata/script: real
// daemons as separate processes, driven by the real command line.
func TestScripts(t *testing.T) {
	t.Parallel()
	cmds := map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"waitdaemon":   waitDaemon,
		"stdoutvar":    stdoutVar,
		"stdoutfind":   stdoutFind,
		"waitfeed":     waitFeed,
		"waitmembers":  waitMembers,
		"nocleartext":  noClearText,
		"waitrole":     waitRole,
		"stdoutinvite": stdoutInvite,
		"webcheck":     webCheck,
		"waitnewer":    waitNewer,
		"waitfile":     waitFile,
		"truncate":     truncateFile,
		"holdport":     holdPort,
	}
	maps.Copy(cmds, extraCmds)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("TAKECARE_PASSPHRASE", "correct horse battery staple")
			e.Setenv("HOME", e.WorkDir)
			return nil
		},
		Cmds: cmds,
	})
}

// waitdaemon HOME [TIMEOUT]: wait until the daemon of HOME answers, for
// at most TIMEOUT (default 90s: opening the keystore is Argon2id by design,
// about 1 s on an idle machine, and under the race detector with several
// daemons starting at once on two cores it has taken over 30 s).
func waitDaemon(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 && len(args) != 2 {
		ts.Fatalf("usage: waitdaemon HOME [TIMEOUT]")
	}
	wait := 90 * time.Second
	if len(args) == 2 {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		wait = d
	}
	c := api.NewClient(ts.MkAbs(args[0]))
	deadline := time.Now().Add(wait)
	for !c.Running(context.Background()) {
		if time.Now().After(deadline) {
			ts.Fatalf("daemon of %s did not start", args[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitnewer FILE REF: wait until FILE was modified after REF.
func waitNewer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitnewer FILE REF")
	}
	ref, err := os.Stat(ts.MkAbs(args[1]))
	ts.Check(err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fi, err := os.Stat(ts.MkAbs(args[0])); err == nil && fi.ModTime().After(ref.ModTime()) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s was not modified after %s", args[0], args[1])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stdoutvar NAME: set NAME to the last line of the previous command's
// standard output.
func stdoutVar(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: stdoutvar NAME")
	}
	lines := strings.Split(strings.TrimSpace(ts.ReadFile("stdout")), "\n")
	ts.Setenv(args[0], strings.TrimSpace(lines[len(lines)-1]))
}

// stdoutfind NAME REGEXP: set NAME to the first group that REGEXP captures
// in the previous command's standard output.
func stdoutFind(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: stdoutfind NAME REGEXP")
	}
	m := regexp.MustCompile(args[1]).FindStringSubmatch(ts.ReadFile("stdout"))
	if len(m) < 2 {
		ts.Fatalf("stdout does not match %s", args[1])
	}
	ts.Setenv(args[0], m[1])
}

// waitfeed HOME REGEXP: wait until an entry of HOME's feed, as JSON,
// matches REGEXP.
func waitFeed(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitfeed HOME REGEXP")
	}
	re := regexp.MustCompile(args[1])
	c := api.NewClient(ts.MkAbs(args[0]))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		found := false
		c.Feed(context.Background(), api.FeedOptions{}, func(e node.Entry) error {
			b, _ := json.Marshal(e)
			if re.Match(b) {
				found = true
			}
			return nil
		})
		if found {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("no feed entry of %s matched %s", args[0], args[1])
}

// waitfile FILE REGEXP: wait until FILE (written by a command in the
// background) matches REGEXP.
func waitFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitfile FILE REGEXP")
	}
	re := regexp.MustCompile(args[1])
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(ts.MkAbs(args[0])); err == nil && re.Match(b) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(ts.MkAbs(args[0]))
	ts.Fatalf("%s did not come to match %s; it holds:\n%s", args[0], args[1], b)
}

// waitmembers HOME GROUP N: wait until HOME sees N members in GROUP, each
// reachable.
func waitMembers(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: waitmembers HOME GROUP N")
	}
	want, _ := strconv.Atoi(args[2])
	c := api.NewClient(ts.MkAbs(args[0]))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		gs, _ := c.Groups(context.Background())
		for _, g := range gs {
			if g.Name == args[1] && g.Members == want && g.Reachable == want-1 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("%s never saw %d reachable members in %s", args[0], want, args[1])
}

// nocleartext DIR WORD...: no file under DIR contains any WORD.
func noClearText(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: nocleartext DIR WORD...")
	}
	dir := ts.MkAbs(args[0])
	if _, err := os.Stat(dir); err != nil {
		ts.Fatalf("%v", err)
	}
	found, files, err := grepTree(dir, args[1:])
	if err != nil {
		ts.Fatalf("%v", err)
	}
	if files == 0 {
		ts.Fatalf("no files under %s", dir)
	}
	if len(found) > 0 {
		ts.Fatalf("plaintext at rest: %s", strings.Join(found, "; "))
	}
}

// holdport PORT: another program listens on 127.0.0.1:PORT (TCP) until
// the script ends.
func holdPort(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: holdport PORT")
	}
	l, err := net.Listen("tcp4", "127.0.0.1:"+args[0])
	if err != nil {
		ts.Fatalf("%v", err)
	}
	ts.Defer(func() { l.Close() })
}

// truncate FILE SIZE: cut FILE to SIZE bytes.
func truncateFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: truncate FILE SIZE")
	}
	size, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil {
		ts.Fatalf("%v", err)
	}
	ts.Check(os.Truncate(ts.MkAbs(args[0]), size))
}

// waitrole HOME GROUP ROLE: wait until HOME's role in GROUP is ROLE.
func waitRole(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: waitrole HOME GROUP ROLE")
	}
	c := api.NewClient(ts.MkAbs(args[0]))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		gs, _ := c.Groups(context.Background())
		for _, g := range gs {
			if g.Name == args[1] && g.Role == args[2] {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("%s never became %s in %s", args[0], args[2], args[1])
}

// stdoutinvite NAME: set NAME to the first 8 characters of the id of the
// first invite in the previous command's JSON list.
func stdoutInvite(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: stdoutinvite NAME")
	}
	var invs []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &invs); err != nil || len(invs) == 0 {
		ts.Fatalf("no invite list in stdout: %v", err)
	}
	ts.Setenv(args[0], invs[0].ID[:8])
}

// webcheck stdout NAME: the previous command's standard output is the web
// UI address that `takecare ui` printed. The page answers there without
// the token; the API answers with the token from the address (as NAME's
// node) and refuses without.
func webCheck(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: webcheck stdout NAME")
	}
	base, token, ok := strings.Cut(strings.TrimSpace(ts.ReadFile(args[0])), "#token=")
	if !ok {
		ts.Fatalf("no token in the address")
	}
	get := func(path, token string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ts.Fatalf("%v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, page := get("", "")
	if resp.StatusCode != 200 || !strings.Contains(string(page), "app.js") || resp.Header.Get("Content-Security-Policy") == "" {
		ts.Fatalf("page: %s", resp.Status)
	}
	if resp, _ := get("v1/status", ""); resp.StatusCode != 401 {
		ts.Fatalf("status without the token: %s", resp.Status)
	}
	resp, b := get("v1/status", token)
	var st struct{ Name string }
	if resp.StatusCode != 200 || json.Unmarshal(b, &st) != nil || st.Name != args[1] {
		ts.Fatalf("status with the token: %s %s", resp.Status, b)
	}
}
