package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
	"github.com/takecare-network/takecare/store"
)

// Sync benchmarks: a node that missed syncBenchAlerts alerts catches up
// from a member, and two members that already agree sync again. Run them
// with
//
//	go test -run '^$' -bench Sync -benchtime 3x ./node
//
// Besides time per session they report the bytes on the wire per byte of
// envelope the node lacked, protocol messages per session (after the
// two-message handshake) and bytes per session.

const syncBenchAlerts = 10000

// syncPair is two members: A holds syncBenchAlerts alerts that B lacks;
// restore takes B back to that state.
type syncPair struct {
	net     *nodetest.Net
	a, b    *nodetest.Node
	missed  int
	restore func()
}

func newSyncPair(b *testing.B, latency time.Duration) *syncPair {
	b.Helper()
	net := nodetest.New(b, 2, nodetest.Options{Latency: latency, Static: true})
	gid := net.FormGroup("sync")
	p := &syncPair{net: net, a: net.Nodes[0], b: net.Nodes[1]}
	// B never receives what A sent before B joined, sealed in epochs B has
	// no key for.
	before := lacks(p.a, p.b)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < syncBenchAlerts; k += 8 {
				_, err := p.a.SendAlert(context.Background(), gid, node.AlertRequest{
					Kind: "danger", Severity: "warning", Region: "istmo", Text: fmt.Sprintf("alert %d", k),
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	p.missed = lacks(p.a, p.b) - before
	snapshot := b.TempDir() + "/store.db"
	p.b.Stop()
	copyFile(b, p.b.StorePath(), snapshot)
	p.restore = func() {
		p.b.Stop()
		copyFile(b, snapshot, p.b.StorePath())
		p.b.Start()
	}
	p.b.Start()
	return p
}

// lacks counts the messages that from holds and to does not.
func lacks(from, to *nodetest.Node) int {
	return len(from.Store.Headers(func(h store.Header) bool { return !to.Store.Has(h.ID) }))
}

func copyFile(b *testing.B, from, to string) {
	b.Helper()
	in, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

// syncNow runs a session from x to y, waiting out the session their new
// connection may have started by itself.
func syncNow(b *testing.B, x, y *nodetest.Node) node.SyncStats {
	b.Helper()
	for {
		st, err := x.SyncWith(context.Background(), y.Host().ID())
		if errors.Is(err, node.ErrSyncBusy) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
}

func BenchmarkSyncCatchUp(b *testing.B) {
	for _, latency := range []time.Duration{0, 25 * time.Millisecond} {
		b.Run(fmt.Sprintf("latency=%s", latency), func(b *testing.B) {
			p := newSyncPair(b, latency)
			lacked := float64(p.missed * crypto.EnvelopeSizes[0])
			var wire, msgs float64
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				if i > 0 {
					p.restore()
				}
				if err := p.net.Connect(1, 0); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				st := syncNow(b, p.b, p.a)
				b.StopTimer()
				if st.Accepted != p.missed {
					b.Fatalf("accepted %d of %d", st.Accepted, p.missed)
				}
				wire += float64(st.BytesSent + st.BytesReceived)
				msgs += float64(st.Messages)
				p.net.DisconnectAll()
			}
			b.ReportMetric(wire/float64(b.N)/lacked, "wire-bytes/lacked-byte")
			b.ReportMetric(msgs/float64(b.N), "msgs/op")
			b.ReportMetric(float64(p.missed)*float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
		})
	}
}

func BenchmarkSyncInSync(b *testing.B) {
	for _, latency := range []time.Duration{0, 25 * time.Millisecond} {
		b.Run(fmt.Sprintf("latency=%s", latency), func(b *testing.B) {
			p := newSyncPair(b, latency)
			if err := p.net.Connect(1, 0); err != nil {
				b.Fatal(err)
			}
			if st := syncNow(b, p.b, p.a); st.Accepted != p.missed {
				b.Fatalf("accepted %d of %d", st.Accepted, p.missed)
			}
			var wire, msgs float64
			b.ResetTimer()
			for range b.N {
				st := syncNow(b, p.b, p.a)
				if st.Accepted != 0 || st.Sent != 0 {
					b.Fatalf("nodes that agree exchanged envelopes: %+v", st)
				}
				wire += float64(st.BytesSent + st.BytesReceived)
				msgs += float64(st.Messages)
			}
			b.ReportMetric(wire/float64(b.N), "wire-B/op")
			b.ReportMetric(msgs/float64(b.N), "msgs/op")
		})
	}
}
