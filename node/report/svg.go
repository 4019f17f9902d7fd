package report

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"strings"
)

// Sizes of the chart, in SVG user units (pixels).
const (
	svgWidth  = 760
	svgLabelW = 300
	svgRowH   = 24
	svgTop    = 56
	svgBottom = 40
	svgBarMax = svgWidth - svgLabelW - 80
)

// WriteSVG writes the report as a horizontal bar chart (SVG 1.1), one bar
// per cell, in the order of the cells. A suppressed cell has no bar, only
// its "<N". The chart names neither the group nor anyone in it: its title
// says what is counted, and a line under it the period and the threshold.
func (r Report) WriteSVG(w io.Writer) error {
	bw := bufio.NewWriter(w)
	height := svgTop + svgRowH*max(len(r.Cells), 1) + svgBottom
	most := 1
	for _, c := range r.Cells {
		most = max(most, c.Count)
	}
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" font-family="sans-serif" font-size="13">`+"\n",
		svgWidth, height, svgWidth, height)
	title := "Alerts by " + strings.Join(r.By, ", ")
	fmt.Fprintf(bw, "<title>%s</title>\n", esc(title))
	fmt.Fprintf(bw, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	fmt.Fprintf(bw, `<text x="12" y="24" font-size="16" font-weight="bold" fill="#111111">%s</text>`+"\n", esc(title))
	sub := "made " + r.Made.Format("2006-01-02")
	if !r.Since.IsZero() {
		sub = "since " + r.Since.Format("2006-01-02") + ", " + sub
	}
	if r.Threshold > 1 {
		sub += fmt.Sprintf("; counts under %d are not shown", r.Threshold)
	}
	fmt.Fprintf(bw, `<text x="12" y="42" fill="#444444">%s</text>`+"\n", esc(sub))
	if len(r.Cells) == 0 {
		fmt.Fprintf(bw, `<text x="12" y="%d" fill="#444444">no alerts</text>`+"\n", svgTop+16)
	}
	for i, c := range r.Cells {
		y := svgTop + i*svgRowH
		fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="end" fill="#111111">%s</text>`+"\n", svgLabelW-8, y+16, esc(r.Label(c)))
		bar := 0
		if !c.Suppressed {
			bar = max(2, c.Count*svgBarMax/most)
			fmt.Fprintf(bw, `<rect x="%d" y="%d" width="%d" height="%d" fill="#b3261e"/>`+"\n", svgLabelW, y+4, bar, svgRowH-8)
		}
		fmt.Fprintf(bw, `<text x="%d" y="%d" fill="#111111">%s</text>`+"\n", svgLabelW+bar+6, y+16, esc(r.Shown(c)))
	}
	fmt.Fprintf(bw, `<text x="12" y="%d" font-size="11" fill="#666666">takecare report</text>`+"\n", height-14)
	fmt.Fprintln(bw, "</svg>")
	return bw.Flush()
}

func esc(s string) string { return html.EscapeString(s) }
