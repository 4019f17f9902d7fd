package hooks_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/hooks"
	"github.com/takecare-network/takecare/node/nodetest"
)

// lines reads the JSON lines a hook appended to path.
func lines(t *testing.T, path string) []node.Entry {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []node.Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e node.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("hook got a line that is not a feed entry: %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An alert sent by another member, and then an acknowledgement of it, run
// the hook on this node with the entry as `feed --json` prints it.
func TestHookRunsForAlertAndAck(t *testing.T) {
	nt := nodetest.New(t, 2, nodetest.Options{})
	gid := nt.Group("juchitan")
	a, b := nt.Nodes[0], nt.Nodes[1]
	out := filepath.Join(t.TempDir(), "out.jsonl")
	r, err := hooks.New(hooks.Config{Command: "cat >> '" + out + "'"})
	if err != nil {
		t.Fatal(err)
	}
	f := a.Follow(node.FeedQuery{})
	defer f.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, f.C); close(done) }()
	defer func() { cancel(); <-done }()

	id, err := b.SendAlert(context.Background(), gid, node.AlertRequest{Kind: "danger", Severity: "urgent", Region: "istmo", Text: "Armed men at the crossroads"})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the hook to see the alert", func() bool { return len(lines(t, out)) >= 1 })
	got := lines(t, out)[0]
	feed, err := a.Feed(node.FeedQuery{Group: gid})
	if err != nil || len(feed) != 1 {
		t.Fatalf("feed: %v %v", feed, err)
	}
	want, _ := json.Marshal(feed[0])
	have, _ := json.Marshal(got)
	if string(want) != string(have) {
		t.Fatalf("hook entry differs from the feed's:\n got %s\nwant %s", have, want)
	}
	if got.ID != id.String() || got.Kind != "danger" || got.Author != b.Identity.Name() {
		t.Fatalf("hook entry: %+v", got)
	}

	if _, err := a.Ack(context.Background(), id.String(), "responding"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the hook to see the acknowledgement", func() bool { return len(lines(t, out)) >= 2 })
	acked := lines(t, out)[1]
	if acked.ID != id.String() || len(acked.Acks) != 1 || acked.Acks[0].Status != "responding" {
		t.Fatalf("acknowledged entry: %+v", acked)
	}
	// The line is written before the command exits and is counted.
	waitUntil(t, "both runs to be counted", func() bool { s := r.Stats(); return s.Ran+s.Failed+s.Dropped >= 2 })
	if s := r.Stats(); s.Ran != 2 {
		t.Fatalf("stats %+v, %d lines: want 2 runs, one for the alert and one for the acknowledgement", s, len(lines(t, out)))
	}
	if s := r.Stats(); s.Failed != 0 || s.Dropped != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// A message the feed shows again for another change than a new
// acknowledgement (its delivery, for one's own) runs no hook again; a new
// acknowledgement, or a member changing theirs, does.
func TestHookRunsOncePerChange(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out.jsonl")
	r, err := hooks.New(hooks.Config{Command: "cat >> '" + out + "'"})
	if err != nil {
		t.Fatal(err)
	}
	entries := make(chan node.Entry)
	done := make(chan struct{})
	go func() { r.Run(context.Background(), entries); close(done) }()
	id := strings.Repeat("ab", 32)
	at := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
	ana := node.AckEntry{Author: "Ana", AuthorID: strings.Repeat("0a", 32), Status: "responding", Time: at}
	arrived := ana
	arrived.Status, arrived.Time = "on site", at.Add(time.Minute)
	for _, e := range []node.Entry{
		{ID: id, Kind: "panic"}, // runs
		{ID: id, Kind: "panic", Delivery: &node.Delivery{Stored: true}},                 // delivery only
		{ID: id, Kind: "panic", Acks: []node.AckEntry{ana}},                             // runs: a new ack
		{ID: id, Kind: "panic", Acks: []node.AckEntry{ana}, Delivery: &node.Delivery{}}, // the same ack
		{ID: id, Kind: "panic", Acks: []node.AckEntry{arrived}},                         // runs: Ana's changed
		{ID: strings.Repeat("cd", 32), Kind: "danger"},                                  // runs: another message
	} {
		entries <- e
	}
	close(entries)
	<-done
	got := lines(t, out)
	if s := r.Stats(); s.Ran != 4 || len(got) != 4 {
		t.Fatalf("stats %+v, %d lines: want 4 runs", s, len(got))
	}
	if len(got[1].Acks) != 1 || got[2].Acks[0].Status != "on site" || got[3].Kind != "danger" {
		t.Fatalf("runs: %+v", got)
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A command that fails or hangs is logged, killed when it hangs, and the
// next entry still runs; the log names neither the entry's text nor the
// hook's output.
func TestHookFailureAndTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	var logs syncBuffer
	script := `read -r x; case "$x" in *hang*) sleep 60;; *fail*) echo "secret $x" >&2; exit 3;; esac; echo ok >> '` + out + `'`
	r, err := hooks.New(hooks.Config{Command: script, Timeout: 3 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	entries := make(chan node.Entry)
	done := make(chan struct{})
	go func() { r.Run(context.Background(), entries); close(done) }()
	for i, text := range []string{"please fail", "please hang", "fine"} {
		entries <- node.Entry{ID: fmt.Sprintf("%064x", i), Text: text}
	}
	close(entries)
	<-done
	if s := r.Stats(); s.Ran != 1 || s.Failed != 2 {
		t.Fatalf("stats %+v, want 1 ran and 2 failed", s)
	}
	if b, _ := os.ReadFile(out); string(b) != "ok\n" {
		t.Fatalf("the entry after the failures did not run: %q", b)
	}
	l := logs.String()
	for _, want := range []string{"hook failed", "exit status 3", "hook timed out"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
	for _, leak := range []string{"please", "secret"} {
		if strings.Contains(l, leak) {
			t.Errorf("log holds %q:\n%s", leak, l)
		}
	}
}

// However slow the command, the runner keeps taking entries: what does not
// fit the queue is dropped and counted, never waited for.
func TestHookQueueIsBounded(t *testing.T) {
	t.Parallel()
	r, err := hooks.New(hooks.Config{Command: "sleep 60", Timeout: time.Minute, Queue: 2})
	if err != nil {
		t.Fatal(err)
	}
	entries := make(chan node.Entry) // unbuffered: each send waits for the runner
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, entries); close(done) }()
	const sent = 50
	for i := range sent {
		select {
		case entries <- node.Entry{ID: fmt.Sprintf("%064x", i)}:
		case <-time.After(30 * time.Second):
			t.Fatalf("the runner stopped taking entries after %d", i)
		}
	}
	cancel()
	<-done // the run under way is killed with the context
	s := r.Stats()
	// One runs, two wait, the rest are dropped.
	if s.Dropped < sent-3 {
		t.Fatalf("stats %+v: want at least %d dropped", s, sent-3)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]hooks.Config{
		"empty":        {Command: "  "},
		"long timeout": {Command: "true", Timeout: time.Hour},
		"neg timeout":  {Command: "true", Timeout: -time.Second},
		"neg queue":    {Command: "true", Queue: -1},
	} {
		if _, err := hooks.New(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
