package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/report"
)

// cmdReport prints a group's public counts as CSV, and writes the chart
// with --svg (node/report).
func cmdReport(ctx context.Context, e *env, args []string) error {
	f := newFlags("report", e)
	sinceS := f.String("since", "", "count from this date on (YYYY-MM-DD, or an RFC 3339 time)")
	byS := f.String("by", "month,kind", "break the counts down by month, kind and/or region")
	minN := f.Int("min", report.DefaultThreshold, "publish counts under this as \"<N\" (1: publish every count)")
	svgPath := f.String("svg", "", "also write the chart (SVG) to this file")
	asJSON := f.Bool("json", false, "print the report as JSON instead of CSV")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("name one GROUP")
	}
	var since time.Time
	if *sinceS != "" {
		if since, err = parseDate(*sinceS); err != nil {
			return usagef("--since %q: %v", *sinceS, err)
		}
	}
	by, err := report.ParseBy(*byS)
	if err != nil {
		return usagef("--by: %v", err)
	}
	if len(by) == 0 {
		return usagef("--by: give at least one of month, kind, region")
	}
	if *minN < 1 || *minN > report.MaxThreshold {
		return usagef("--min must be between 1 and %d", report.MaxThreshold)
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	rep, err := c.Report(ctx, pos[0], since, by, *minN)
	if err != nil {
		return err
	}
	if *svgPath != "" {
		out, err := os.Create(*svgPath)
		if err != nil {
			return err
		}
		if err := rep.WriteSVG(out); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "Wrote the chart to %s.\n", *svgPath)
	}
	if rep.Threshold > 1 {
		fmt.Fprintf(e.stderr, "Counts under %d are shown as \"<%d\". Publish one breakdown per period: two tables of the same alerts can be subtracted.\n", rep.Threshold, rep.Threshold)
	}
	if *asJSON {
		return printJSON(e.stdout, rep)
	}
	return rep.WriteCSV(e.stdout)
}

// parseDate reads a date (YYYY-MM-DD, midnight in the local zone) or an
// RFC 3339 time.
func parseDate(s string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, node.Errorf(node.KindInvalid, "not a date (write it as 2026-01-31)")
}
