package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/node/nodetest"
)

// BenchmarkIngest is the receiving end of the pipeline for one envelope:
// tag, open, verify, decode, validate, authorize, store, feed. The
// envelopes are sealed beforehand by eight members; the node stores to disk
// without fsync, or with it.
//
//	go test -run '^$' -bench Ingest -cpu 1 ./node
func BenchmarkIngest(b *testing.B) {
	for _, fsync := range []bool{false, true} {
		b.Run(fmt.Sprintf("fsync=%v", fsync), func(b *testing.B) {
			net := nodetest.New(b, 9, nodetest.Options{Static: true, Sync: fsync})
			gid := net.FormGroup("ingest")
			recv := net.Nodes[0]
			keys := recv.KeysForTest(gid)
			now := time.Now()
			envs := make([][]byte, b.N)
			for i := range envs {
				author := net.Nodes[1+i%8].Identity
				body, err := alert.Encode(now, &alert.Alert{
					Kind: alert.KindDanger, Severity: alert.SevWarning, Region: "istmo",
					Text: fmt.Sprintf("alert %d", i), Expires: now.Add(time.Hour),
				})
				if err != nil {
					b.Fatal(err)
				}
				env, err := keys.Seal(author.SignBody(gid, keys.Epoch(), body))
				if err != nil {
					b.Fatal(err)
				}
				envs[i] = env
			}
			b.SetBytes(int64(len(envs[0])))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := recv.IngestForTest(envs[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
		})
	}
}
