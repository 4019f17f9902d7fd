package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestSafeWriter: what reaches the terminal carries no control character
// and no bidirectional override, and JSON stays the same data.
func TestSafeWriter(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := safeWriter{&b}
	in := "Ana\x1b]0;pwned\x07 \u202eanA nimda\u202c\r\n\tok ñ \u0085\u2066x\u2069\n"
	if n, err := w.Write([]byte(in)); err != nil || n != len(in) {
		t.Fatalf("Write: %d, %v", n, err)
	}
	got := b.String()
	for _, r := range got {
		if unsafeRune(r) {
			t.Fatalf("%q reached the terminal in %q", r, got)
		}
	}
	if want := `Ana\u001b]0;pwned\u0007 \u202eanA nimda\u202c\u000d` + "\n\tok ñ " + `\u0085\u2066x\u2069` + "\n"; got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// JSON: the escape is JSON's own, so the value is unchanged.
	b.Reset()
	v := map[string]string{"name": "\u202eanA nimda"}
	json.NewEncoder(w).Encode(v)
	var back map[string]string
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back["name"] != v["name"] {
		t.Fatalf("JSON through the writer: %q, %v", b.String(), err)
	}
}

// TestRunWritesSafely: every command's output goes through the safe
// writer, errors included (an error can carry a string from another
// device, such as the reason a join was refused).
func TestRunWritesSafely(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	run(context.Background(), e, []string{"status", "--home", t.TempDir() + "/\x1b[2J\u202e"})
	if strings.ContainsAny(errb.String()+out.String(), "\x1b\u202e") || !strings.Contains(errb.String(), `\u001b[2J\u202e`) {
		t.Fatalf("stderr %q", errb.String())
	}
}
