package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node"
)

// TestMetrics: the counters a volunteer watches, in the Prometheus text
// format, with counts only: no member, group or peer is named.
func TestMetrics(t *testing.T) {
	st := node.Status{
		Name: "Vol", Peers: 2, Messages: 7,
		Groups: []node.GroupInfo{{Name: "istmo", ID: "0123456789abcdef"}},
		Paths: []node.PathView{
			{Name: "Ana", MemberID: "aaaa", Path: node.PathDirect},
			{Name: "Beto", MemberID: "bbbb", Path: node.PathRelayed, Via: "Vol"},
			{Name: "Carmen", MemberID: "cccc", Path: node.PathUnreachable},
		},
		Relay:     &node.RelayStats{Reservations: 2, Circuits: 1, Bytes: 15816, Refused: 3},
		HolePunch: node.PunchStats{Succeeded: 4, Failed: 1},
	}
	var b strings.Builder
	writeMetrics(&b, st)
	out := b.String()
	for _, want := range []string{
		"takecare_member_nodes{path=\"direct\"} 1\n",
		"takecare_member_nodes{path=\"relayed\"} 1\n",
		"takecare_member_nodes{path=\"unreachable\"} 1\n",
		"takecare_peers 2\n",
		"takecare_relay_reservations 2\n",
		"takecare_relay_circuits 1\n",
		"takecare_relay_bytes_total 15816\n",
		"takecare_relay_refused_total 3\n",
		"takecare_hole_punch_succeeded_total 4\n",
		"# TYPE takecare_relay_bytes_total counter\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
	for _, name := range []string{"Vol", "Ana", "Beto", "Carmen", "istmo", "0123456789", "aaaa"} {
		if strings.Contains(out, name) {
			t.Errorf("metrics name %q:\n%s", name, out)
		}
	}
	// A node that is no relay has no relay counters.
	st.Relay = nil
	b.Reset()
	writeMetrics(&b, st)
	if strings.Contains(b.String(), "takecare_relay_reservations") {
		t.Errorf("a node that is no relay shows relay counters:\n%s", b.String())
	}
}

// TestServeMetrics: GET /metrics answers in the text format; nothing else
// is served.
func TestServeMetrics(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveMetrics(ctx, l, func() node.Status { return node.Status{Peers: 3} }) }()
	get := func(path string) (int, string) {
		res, err := http.Get("http://" + l.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "takecare_peers 3\n") {
		t.Errorf("GET /metrics: %d\n%s", code, body)
	}
	if code, _ := get("/"); code != 404 {
		t.Errorf("GET /: %d, want 404", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the metrics server did not stop")
	}
}
