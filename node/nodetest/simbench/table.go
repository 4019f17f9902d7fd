package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// table collects the rows of the one table the program prints.
type table struct {
	rows    [][4]string
	targets []targetRow
}

func (t *table) add(name, raw, tc, ratio string) {
	t.rows = append(t.rows, [4]string{name, raw, tc, ratio})
}

func (t *table) section(name string) { t.add("**"+name+"**", "", "", "") }

func (t *table) delivery(n int, raw, tc result) {
	t.section(fmt.Sprintf("Delivery, %d nodes (%d node-alert pairs)", n, tc.pairs))
	t.add("delivered", pct(raw.ratio()), pct(tc.ratio()), "")
	for _, p := range []struct {
		name string
		p    float64
	}{{"latency p50", 50}, {"latency p90", 90}, {"latency p99", 99}, {"latency max", 100}} {
		r, c := raw.pct(p.p), tc.pct(p.p)
		t.add(p.name, ms(r), ms(c), ratio(float64(c), float64(r)))
	}
}

func (t *table) churn(n int, c config, raw, tc churnResult) {
	t.section(fmt.Sprintf("Churn, %d nodes: %d cut off while %d alerts are sent, then reconnected", n, tc.off, c.churnAlerts))
	t.add("delivered right after publishing", pct(raw.after.ratio()), pct(tc.after.ratio()), "")
	t.add("delivered after reconnection", fmt.Sprintf("%s (%s later)", pct(raw.reconnected.ratio()), secs(raw.waited)),
		fmt.Sprintf("%s (%s later)", pct(tc.reconnected.ratio()), secs(tc.waited)), "")
	never := func(d time.Duration) string {
		if d == 0 {
			return "never"
		}
		return secs(d)
	}
	t.add("time from reconnection to 100 %", never(raw.recovery), never(tc.recovery), "")
}

func (t *table) memory(n int, raw, tc memResult) {
	t.section(fmt.Sprintf("Memory per node, %d-node simulation (process growth / %d)", n, n))
	t.add("resident memory (VmRSS)", mb(raw.rssPerNode), mb(tc.rssPerNode), ratio(tc.rssPerNode, raw.rssPerNode))
	t.add("of which anonymous (heap, stacks) / file-backed (bbolt's map)", fmt.Sprintf("%s / %s", mb(raw.anonPerNode), mb(raw.filePerNode)),
		fmt.Sprintf("%s / %s", mb(tc.anonPerNode), mb(tc.filePerNode)), "")
	t.add("Go heap in use", mb(raw.heapPerNode), mb(tc.heapPerNode), ratio(tc.heapPerNode, raw.heapPerNode))
	owners := make([]string, 0, len(tc.owners))
	for o := range tc.owners {
		owners = append(owners, o)
	}
	slices.SortFunc(owners, func(a, b string) int { return cmp.Compare(tc.owners[b], tc.owners[a]) })
	for _, o := range owners {
		if tc.owners[o] >= 0.01e6 {
			t.add("heap: "+o, mb(raw.owners[o]), mb(tc.owners[o]), "")
		}
	}
	t.add("goroutine stacks (goroutines)", fmt.Sprintf("%s (%.0f)", mb(raw.stackPerNode), raw.goroutines),
		fmt.Sprintf("%s (%.0f)", mb(tc.stackPerNode), tc.goroutines), ratio(tc.stackPerNode, raw.stackPerNode))
}

func (t *table) throughput(nosync, fsync throughputResult) {
	t.section("Throughput of one node on one core (GOMAXPROCS=1), fed by sync")
	for _, r := range []throughputResult{nosync, fsync} {
		name := "envelopes validated, opened, stored /s, no fsync"
		if r.fsync {
			name = "the same, with fsync (as the daemon runs)"
		}
		t.add(name, "", fmt.Sprintf("%s (%d in %s)", thousands(r.rate()), r.envelopes, secs(r.took)), "")
	}
}

func (t *table) sync(r syncResult) {
	t.section(fmt.Sprintf("Sync, two nodes, %s", linkName(r.link)))
	st := r.catchUp
	t.add(fmt.Sprintf("catch-up after missing %d alerts: wall time", r.missed), "", secs(st.Duration), "")
	t.add("catch-up: bytes on the wire / bytes of envelopes lacked", "",
		fmt.Sprintf("%.3f (%s / %s)", float64(st.BytesSent+st.BytesReceived)/float64(r.lacked), kb(st.BytesSent+st.BytesReceived), kb(r.lacked)), "")
	t.add("catch-up: protocol messages after the handshake", "", fmt.Sprint(st.Messages), "")
	in := r.inSync
	t.add(fmt.Sprintf("sync of two nodes holding the same %d: messages, bytes, time", r.inSyncOf), "",
		fmt.Sprintf("%d + handshake, %s, %s", in.Messages, kb(in.BytesSent+in.BytesReceived), ms(in.Duration)), "")
}

func (t *table) print(w io.Writer, c config) {
	sizes := make([]string, len(c.sizes))
	for i, n := range c.sizes {
		sizes[i] = fmt.Sprint(n)
	}
	fmt.Fprintf(w, "Simulated network: mocknet, %s per link, random graph of degree %d (seed %d), %d alerts per size from random senders, %s between deliveries, fsync %v; sizes %s.\n\n",
		c.latency, c.degree, c.seed, c.alerts, c.gap, c.fsync, strings.Join(sizes, ", "))
	fmt.Fprintln(w, "| | raw GossipSub | takecare | takecare / raw |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r[0], r[1], r[2], r[3])
	}
	t.printTargets(w)
}

func pct(f float64) string { return fmt.Sprintf("%.2f %%", 100*f) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mb(b float64) string { return fmt.Sprintf("%.2f MB", b/1e6) }

func kb(b int64) string {
	if b >= 1e6 {
		return fmt.Sprintf("%.2f MB", float64(b)/1e6)
	}
	return fmt.Sprintf("%.1f KB", float64(b)/1e3)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func (t *table) membership(c config, r membershipResult) {
	shape := fmt.Sprintf("every node running, random graph of degree %d", c.degree)
	if r.running < r.members {
		shape = fmt.Sprintf("%d nodes running in a random graph of degree %d, the other %d members' devices off", r.running, c.degree, r.members-r.running)
	}
	t.section(fmt.Sprintf("Membership, a group of %d members (%s)", r.members, shape))
	if r.offlineTime > 0 {
		t.add(fmt.Sprintf("the %d members whose device is off joining first (8 at a time)", r.members-r.running), "", secs(r.offlineTime), "")
	}
	if r.formTime > 0 {
		t.add(fmt.Sprintf("the %d running nodes joining (8 at a time) and catching up", r.running-1), "", secs(r.formTime), "")
	}
	if r.err != "" {
		t.add("the run stopped", "", r.err, "")
		return
	}
	if len(r.alerts.lat) > 0 {
		t.add(fmt.Sprintf("alert latency p99 on this network (%d alerts)", len(r.alerts.lat)/max(r.running-1, 1)), "", ms(r.alerts.pct(99)), "")
	}
	for i, f := range append(slices.Clone(r.joins), r.removal) {
		if len(f.in) == 0 && f.lost == 0 {
			continue
		}
		what := f.kind
		if f.kind == "join" {
			what = fmt.Sprintf("join %d", i+1)
		}
		reach := fmt.Sprintf("p50 %s, p99 %s, max %s", ms(f.reachPct(50)), ms(f.reachPct(99)), ms(f.reachPct(100)))
		if f.lost > 0 {
			reach += fmt.Sprintf(", %d members not reached in %s", f.lost, secs(flowTimeout))
		}
		rat := ""
		if f.kind == "removal" {
			rat = ratio(float64(f.reachPct(99)), float64(r.alerts.pct(99)))
		}
		t.add(what+": time until each member sends in the new epoch", "", reach, rat)
		t.add(what+": time until the call that made it returned (Join at the joiner, Remove at the admin)", "", ms(f.call), "")
		var fams []string
		for fam := range f.proto {
			fams = append(fams, fam)
		}
		slices.Sort(fams)
		var parts []string
		for _, fam := range fams {
			v := f.proto[fam]
			if v[0] > 0 {
				parts = append(parts, fmt.Sprintf("%s %s", fam, kb(v[0]/int64(len(f.in)))))
			}
		}
		t.add(what+": bytes each member received, mean (p99, max)", "",
			fmt.Sprintf("%s (%s, %s); mean by protocol: %s", kb(int64(f.meanIn())), kb(pctOf(f.in, 99)), kb(pctOf(f.in, 100)), strings.Join(parts, ", ")), "")
	}
}

// linkName describes a link: "25ms per link", "300ms, 200 kbit/s per link".
func linkName(o mocknet.LinkOptions) string {
	if o.Bandwidth == 0 {
		return fmt.Sprintf("%s per link", o.Latency)
	}
	return fmt.Sprintf("%s, %.0f kbit/s per link", o.Latency, o.Bandwidth*8/1000)
}
