package experiment

import (
	"fmt"
	"html"
	"strings"

	"github.com/flowsteer/flowsteer/internal/stats"
)

// PlotFile is the report's plot, written next to report.md.
const PlotFile = "accuracy.svg"

// familyCI is arm's mean of f over family k's tasks with a bootstrap
// interval over those tasks.
func (t *table) familyCI(arm string, k int, f metric, reps int) stats.Interval {
	all := t.byTask(arm, f)
	x := make([][]float64, 0, len(t.strata[k]))
	for _, i := range t.strata[k] {
		x = append(x, all[i])
	}
	one := [][]int{make([]int, len(x))}
	for i := range x {
		one[0][i] = i
	}
	return t.boot(reps, uint64(100+k)).PairedCI(x, x, one, func(x, _ [][]float64) float64 { return taskMean(x) })
}

// Plot is an SVG of every arm's held-out accuracy with its 95% interval,
// overall (black) and per family (one colour each), the intervals of the
// report's tables. It is written by hand, as a few dozen SVG elements, so
// that the report needs no plotting library (Go has no standard one, and
// a Python one would make `flowsteer experiment` depend on the sandbox's
// packages); any browser or markdown viewer shows it.
func Plot(cfg Config, cells []Cell) string {
	t := newTable(cfg, cells)
	if len(t.tasks) == 0 {
		return `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="40"><text x="10" y="25">no held-out task was played by every cell</text></svg>` + "\n"
	}
	reps := cfg.BootstrapReps
	const (
		left, right, top, bottom = 170, 30, 50, 50
		width                    = 760
		markerGap                = 12
	)
	series := 1 + len(t.families)
	rowH := markerGap*series + 14
	height := top + bottom + rowH*max(1, len(t.arms))
	plotW := width - left - right
	x := func(v float64) float64 { return left + v*float64(plotW) }
	colours := []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">%s: held-out accuracy, 95%% bootstrap intervals (%d tasks)</text>`+"\n", left, html.EscapeString(cfg.Name), len(t.tasks))
	// Grid and axis, 0 to 1 by 0.1.
	for i := 0; i <= 10; i++ {
		v := float64(i) / 10
		stroke := "#e5e5e5"
		if i%5 == 0 {
			stroke = "#bbbbbb"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", x(v), top, x(v), height-bottom, stroke)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%.1f</text>`+"\n", x(v), height-bottom+16, v)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">accuracy</text>`+"\n", x(0.5), height-bottom+34)
	for i, a := range t.arms {
		y0 := top + i*rowH + 7
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-8, y0+markerGap*series/2, html.EscapeString(a))
		for j := range series {
			var iv stats.Interval
			colour, label := "black", "all"
			if j == 0 {
				iv = t.armCI(a, accuracy, reps)
			} else {
				iv = t.familyCI(a, j-1, accuracy, reps)
				colour, label = colours[(j-1)%len(colours)], t.families[j-1]
			}
			y := y0 + j*markerGap + markerGap/2
			fmt.Fprintf(&b, `<g><title>%s %s: %.3f [%.3f, %.3f]</title>`, html.EscapeString(a), html.EscapeString(label), iv.Point, iv.Lo, iv.Hi)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2"/>`, x(iv.Lo), y, x(iv.Hi), y, colour)
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%d" r="3.5" fill="%s"/></g>`+"\n", x(iv.Point), y, colour)
		}
	}
	// Legend.
	lx := left
	for j := range series {
		colour, label := "black", "all families"
		if j > 0 {
			colour, label = colours[(j-1)%len(colours)], t.families[j-1]
		}
		fmt.Fprintf(&b, `<circle cx="%d" cy="34" r="4" fill="%s"/><text x="%d" y="38">%s</text>`+"\n", lx, colour, lx+8, html.EscapeString(label))
		lx += 20 + 8*len(label)
	}
	b.WriteString("</svg>\n")
	return b.String()
}
