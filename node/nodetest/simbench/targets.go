package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// The targets of a group of 1,000 on prepaid data (docs/BENCHMARKS.md,
// "Targets"): each part of the run that measures one adds its row, with
// the figure and whether it is met. A row without a limit reports a figure
// the targets ask to see, with nothing to meet.
const (
	targetFormTime     = 10 * time.Second // forming a 100-member group
	targetFormMembers  = 100
	targetJoinBytes    = 4000 // bytes each existing member receives per join
	targetRemovalRatio = 2.0  // removal p99 / alert p99, in a 1,000-member group
	targetRemovalBytes = 8000 // bytes each member receives for a removal
	targetBigMembers   = 1000
	targetIdleBytes    = 50000 // bytes per hour of an idle node, both ways, on the interface
	targetIdleMembers  = 20
	targetIdleConns    = 6
	targetDaemonRSS    = 30e6 // resident memory of an idle daemon in a 30-member group
	targetDaemonGroup  = 30
)

type targetRow struct{ target, figure, verdict string }

// target adds a row: met is nil for a figure with no limit.
func (t *table) target(name, figure string, met *bool) {
	v := "reported"
	if met != nil {
		v = map[bool]string{true: "met", false: "**missed**"}[*met]
	}
	t.targets = append(t.targets, targetRow{name, figure, v})
}

func ptr[T any](v T) *T { return &v }

// membershipTargets: forming, joins, and for a group of 1,000 the removal.
func (t *table) membershipTargets(r membershipResult) {
	if r.err != "" {
		t.target(fmt.Sprintf("membership, a group of %d", r.members), "the run stopped: "+r.err, ptr(false))
		return
	}
	if r.members == targetFormMembers && r.running == r.members && r.formTime > 0 {
		t.target(fmt.Sprintf("forming a group of %d in the simulation ≤ %s", r.members, secs(targetFormTime)),
			secs(r.formTime), ptr(r.formTime <= targetFormTime))
	}
	var worst int64
	var means []float64
	for _, j := range r.joins {
		if len(j.in) > 0 {
			worst = max(worst, pctOf(j.in, 100))
			means = append(means, j.meanIn())
		}
	}
	if len(means) > 0 {
		t.target(fmt.Sprintf("a join in a group of %d: bytes every existing member receives ≤ %s", r.members, kb(targetJoinBytes)),
			fmt.Sprintf("max %s (mean %s, worst of %d joins)", kb(worst), kb(int64(slices.Max(means))), len(means)), ptr(worst <= targetJoinBytes))
	}
	rm := r.removal
	if r.members < targetBigMembers || len(rm.in) == 0 {
		return
	}
	alert := r.alerts.pct(99)
	ratio := float64(rm.reachPct(99)) / float64(max(alert, 1))
	reached := rm.lost == 0
	fig := fmt.Sprintf("%.2f × (removal p99 %s, alert p99 %s)", ratio, ms(rm.reachPct(99)), ms(alert))
	if !reached {
		fig += fmt.Sprintf("; %d members not reached in %s", rm.lost, secs(flowTimeout))
	}
	t.target(fmt.Sprintf("a removal in a group of %d reaches every member (p99) within %.0f × the alert p99", r.members, targetRemovalRatio),
		fig, ptr(reached && ratio <= targetRemovalRatio))
	t.target(fmt.Sprintf("a removal in a group of %d: bytes per member ≤ %s", r.members, kb(targetRemovalBytes)),
		fmt.Sprintf("max %s (mean %s, p99 %s)", kb(pctOf(rm.in, 100)), kb(int64(rm.meanIn())), kb(pctOf(rm.in, 99))),
		ptr(pctOf(rm.in, 100) <= targetRemovalBytes))
}

// deliveryTarget reports delivery at one size beside raw GossipSub.
func (t *table) deliveryTarget(n int, raw, tc result) {
	t.target(fmt.Sprintf("delivery, %d nodes, beside raw GossipSub", n),
		fmt.Sprintf("delivered %s (raw %s); p99 %s (raw %s, %s ×)", pct(tc.ratio()), pct(raw.ratio()),
			ms(tc.pct(99)), ms(raw.pct(99)), ratio(float64(tc.pct(99)), float64(raw.pct(99)))), nil)
}

func (t *table) idleTarget(r idleResult) {
	name := fmt.Sprintf("idle node, a group of %d with %.1f connections each: bytes per hour on the interface ≤ %s", r.members, r.conns, kb(targetIdleBytes))
	fig := fmt.Sprintf("%s (libp2p's streams and below: %s)", kb(int64(r.wire)), kb(int64(r.payload)))
	if r.members != targetIdleMembers || int(r.conns+0.5) != targetIdleConns {
		fig += fmt.Sprintf(" — the target is for %d members and %d connections", targetIdleMembers, targetIdleConns)
	}
	t.target(name, fig, ptr(r.wire <= targetIdleBytes))
}

func (t *table) slowTarget(r slowResult) {
	hop := r.link.Latency + time.Duration(float64(r.envelope)/r.link.Bandwidth*float64(time.Second))
	t.target(fmt.Sprintf("slow links (%s): alert delivery", linkName(r.link)),
		fmt.Sprintf("delivered %s, p99 %s (raw GossipSub %s; one hop at the link's limit %s); %s received per node per alert (raw %s)",
			pct(r.tc.ratio()), ms(r.tc.pct(99)), ms(r.raw.pct(99)), ms(hop), kb(int64(r.tcIn)), kb(int64(r.rawIn))), nil)
	if cu := r.catchUp; cu.missed > 0 {
		floor := time.Duration(float64(cu.lacked) / r.link.Bandwidth * float64(time.Second))
		t.target(fmt.Sprintf("slow links: catch-up of %d alerts over one link", cu.missed),
			fmt.Sprintf("%s, %s both ways (the envelopes alone at the link's rate: %s, %s)", secs(cu.took), kb(cu.bytes), secs(floor), kb(cu.lacked)), nil)
	}
}

func (t *table) daemonTarget(d daemonResult) {
	if d.members == 0 || d.inGroup.rss == 0 {
		return
	}
	name := fmt.Sprintf("resident memory of an idle daemon in a group of %d ≤ %s", d.members, mb(targetDaemonRSS))
	fig := d.inGroup.split()
	if d.members != targetDaemonGroup {
		fig += fmt.Sprintf(" — the target is for %d members", targetDaemonGroup)
	}
	t.target(name, fig, ptr(float64(d.inGroup.rss) <= targetDaemonRSS))
}

// memoryTarget reports where a simulated node's memory goes.
func (t *table) memoryTarget(n int, tc memResult) {
	t.target(fmt.Sprintf("memory per simulated node, %d-node run", n),
		fmt.Sprintf("RSS %s, Go heap %s (the Memory section says by owner)", mb(tc.rssPerNode), mb(tc.heapPerNode)), nil)
}

func (t *table) printTargets(w io.Writer) {
	if len(t.targets) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, r := range t.targets {
		fmt.Fprintf(w, "| %s | %s | %s |\n", r.target, r.figure, r.verdict)
	}
}
