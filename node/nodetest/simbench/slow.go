package main

import (
	"context"
	"fmt"
	"time"

	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// Slow links: alerts over links of -slow-kbit and -slow-latency (mocknet
// delays every write by the latency plus its size at the link's rate; the
// two directions of a link share the rate), raw GossipSub beside takecare
// on the same graph, and a catch-up by sync over one such link.

type slowResult struct {
	nodes    int
	link     mocknet.LinkOptions
	raw, tc  result
	rawIn    float64 // bytes received per node per alert
	tcIn     float64
	envelope int
	catchUp  catchUpResult
}

// catchUpResult is a catch-up over one link, timed from the connection
// to the moment the node holds everything, with the bytes its streams
// carried meanwhile.
type catchUpResult struct {
	missed int
	took   time.Duration
	bytes  int64 // both ways, every protocol
	lacked int64 // bytes of the envelopes it lacked
}

// catchUp has member A send alerts while B is away, then connects them
// over a link with the options link and times B until it holds them all
// (by the sync session their connection starts).
func catchUp(c config, base string, alerts int, link mocknet.LinkOptions) catchUpResult {
	tb := newRunner(base, "slow-sync")
	defer tb.close()
	logf("slow links: A sends %d alerts while B is away", alerts)
	net := nodetest.New(tb, 2, nodetest.Options{FormWait: c.formWait, Static: true, Sync: c.fsync, Traffic: true})
	gid := net.FormGroup("slow-sync")
	net.SetLinks(link)
	a, b := net.Nodes[0], net.Nodes[1]
	before := lacks(a, b)
	ctx := context.Background()
	for k := range alerts {
		if _, err := a.SendAlert(ctx, gid, node.AlertRequest{
			Kind: "danger", Severity: "warning", Region: "bench", Text: fmt.Sprintf("alert %d", k),
		}); err != nil {
			tb.Fatal(err)
		}
	}
	res := catchUpResult{missed: lacks(a, b) - before}
	res.lacked = int64(res.missed) * int64(crypto.EnvelopeSizes[0])
	time.Sleep(1100 * time.Millisecond)
	t0 := b.Traffic()
	logf("slow links: B comes back and catches up on %d alerts", res.missed)
	start := time.Now()
	if err := net.Connect(1, 0); err != nil {
		tb.Fatal(err)
	}
	net.WaitFor(30*time.Minute, "B holds every alert", func() bool { return lacks(a, b) == before })
	res.took = time.Since(start)
	time.Sleep(1100 * time.Millisecond)
	d := b.Traffic().Sub(t0)
	res.bytes = d.In() + d.Out()
	return res
}

func (c config) slowLink() mocknet.LinkOptions {
	return mocknet.LinkOptions{Latency: c.slowLatency, Bandwidth: float64(c.slowKbit) * 1000 / 8}
}

func slowRun(c config, base string) slowResult {
	link := c.slowLink()
	n := c.slowNodes
	res := slowResult{nodes: n, link: link, envelope: crypto.EnvelopeSizes[0]}
	sc := c
	sc.alerts = c.slowAlerts
	sc.timeout = c.slowTimeout

	res.raw, res.rawIn = slowRaw(sc, base, link)
	res.tc, res.tcIn = slowTakecare(sc, base, link)
	if c.slowSync > 0 {
		res.catchUp = catchUp(c, base, c.slowSync, link)
	}
	return res
}

func (t *table) slow(r slowResult) {
	t.section(fmt.Sprintf("Slow links, %d nodes, %s, random graph of degree %d", r.nodes, linkName(r.link), 6))
	t.add("delivered", pct(r.raw.ratio()), pct(r.tc.ratio()), "")
	for _, p := range []struct {
		name string
		p    float64
	}{{"latency p50", 50}, {"latency p99", 99}} {
		a, b := r.raw.pct(p.p), r.tc.pct(p.p)
		t.add(p.name, ms(a), ms(b), ratio(float64(b), float64(a)))
	}
	hop := r.link.Latency + time.Duration(float64(r.envelope)/r.link.Bandwidth*float64(time.Second))
	t.add("one hop of one envelope on this link (latency + size at the rate)", "", ms(hop), "")
	t.add("bytes each node received per alert", kb(int64(r.rawIn)), kb(int64(r.tcIn)), ratio(r.tcIn, r.rawIn))
	if cu := r.catchUp; cu.missed > 0 {
		floor := time.Duration(float64(cu.bytes) / r.link.Bandwidth * float64(time.Second))
		t.add(fmt.Sprintf("catch-up of %d alerts over one link: time from connecting", cu.missed), "", secs(cu.took), "")
		t.add("catch-up: bytes both ways / bytes of envelopes lacked", "", fmt.Sprintf("%.3f (%s / %s)", float64(cu.bytes)/float64(cu.lacked), kb(cu.bytes), kb(cu.lacked)), "")
		t.add("catch-up: time / the link's floor (those bytes at the link's rate)", "", fmt.Sprintf("%.2f (%s)", cu.took.Seconds()/floor.Seconds(), secs(floor)), "")
	}
}

// slowRaw measures raw GossipSub's delivery over slow links: the delivery
// and the bytes each router received per message.
func slowRaw(sc config, base string, link mocknet.LinkOptions) (delivery result, in float64) {
	n := sc.slowNodes
	tb := newRunner(base, "slow-raw")
	defer tb.close()
	logf("slow links: raw GossipSub, %d routers on %s", n, linkName(link))
	rn := nodetest.NewRaw(tb, n, nodetest.Options{Latency: link.Latency, Bandwidth: link.Bandwidth, Traffic: true})
	rn.ConnectRandom(sc.degree, sc.seed)
	ctx, cancel := context.WithCancel(context.Background())
	tr := trackRaw(ctx, rn)
	time.Sleep(sc.settle)
	before := make([]nodetest.Traffic, n)
	for i, p := range rn.Peers {
		before[i] = p.Traffic()
	}
	pubs := deliver(sc, n, tr, rawPublisher(ctx, tb, rn))
	delivery = tr.result(pubs, n, sc.timeout)
	time.Sleep(1100 * time.Millisecond)
	for i, p := range rn.Peers {
		in += float64(p.Traffic().Sub(before[i]).In()) / float64(n) / float64(len(pubs))
	}
	cancel()
	return delivery, in
}

// slowTakecare measures takecare's delivery over slow links (the group is
// formed on fast links): the delivery and the bytes each node received
// per alert.
func slowTakecare(sc config, base string, link mocknet.LinkOptions) (delivery result, in float64) {
	n := sc.slowNodes
	tb := newRunner(base, "slow-takecare")
	defer tb.close()
	logf("slow links: takecare, %d nodes on %s (the group is formed on fast links)", n, linkName(link))
	net := nodetest.New(tb, n, nodetest.Options{FormWait: sc.formWait, Latency: sc.latency, Static: true, Sync: sc.fsync, Traffic: true})
	gid := net.FormGroup("slow")
	net.SetLinks(link)
	net.ConnectRandom(sc.degree, sc.seed)
	tr := trackFeeds(tb, net.Nodes, gid)
	time.Sleep(sc.settle)
	// What the connections brought (first syncs) is done with.
	time.Sleep(sc.settle)
	before := make([]nodetest.Traffic, n)
	for i, nd := range net.Nodes {
		before[i] = nd.Traffic()
	}
	pubs := deliver(sc, n, tr, alertPublisher(tb, net.Nodes, gid, "slow alert"))
	delivery = tr.result(pubs, n, sc.timeout)
	time.Sleep(1100 * time.Millisecond)
	for i, nd := range net.Nodes {
		in += float64(nd.Traffic().Sub(before[i]).In()) / float64(n) / float64(len(pubs))
	}
	return delivery, in
}
