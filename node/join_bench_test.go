package node_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// BenchmarkAlertDuringJoinFlood: a member floods joins with the code it
// joined with (four at a time, as fast as its node gets answers) while
// another member sends alerts. Each iteration is one alert: the time from
// sending it to the admin's node storing it. It reports that time, the
// joins tried and answered, the new epochs they made the admin start, and how much
// the admin's store grew.
//
//	go test -run '^$' -bench AlertDuringJoinFlood -benchtime 50x ./node
func BenchmarkAlertDuringJoinFlood(b *testing.B) {
	net := nodetest.New(b, 3, nodetest.Options{Latency: 2 * time.Millisecond})
	ana, beto, carmen := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	ctx := context.Background()
	info, err := ana.CreateGroup(ctx, "juchitan")
	if err != nil {
		b.Fatal(err)
	}
	gid, _ := crypto.ParseGroupID(info.ID)
	var floodCode string
	for _, nd := range []*nodetest.Node{beto, carmen} {
		inv, err := ana.CreateInvite(ctx, gid, 1, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := nd.Join(ctx, inv.Code); err != nil {
			b.Fatal(err)
		}
		if nd == beto {
			floodCode = inv.Code
		}
	}
	net.WaitFor(10*time.Second, "everyone on one epoch", func() bool {
		e := ana.KeysForTest(gid).Epoch()
		return beto.KeysForTest(gid).Epoch() == e && carmen.KeysForTest(gid).Epoch() == e
	})
	epoch0, size0 := ana.KeysForTest(gid).Epoch(), fileSize(ana.StorePath())
	var joins, tries atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tries.Add(1)
				if _, err := beto.Join(ctx, floodCode); err == nil {
					joins.Add(1)
				}
			}
		}()
	}
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		id, err := carmen.SendAlert(ctx, gid, node.AlertRequest{Kind: "danger", Severity: "urgent", Text: "during the flood"})
		if err != nil {
			b.Fatal(err)
		}
		for !ana.Store.Has(id) {
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/alert")
	b.ReportMetric(float64(tries.Load()), "tries")
	b.ReportMetric(float64(joins.Load()), "joins")
	b.ReportMetric(float64(ana.KeysForTest(gid).Epoch()-epoch0), "epochs")
	b.ReportMetric(float64(fileSize(ana.StorePath())-size0)/(1<<20), "MiB-grown")
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}
