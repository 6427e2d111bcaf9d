package report

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// The SVG is assembled by hand rather than through html/template because
// template escaping does not know SVG geometry; every piece of text that
// enters it goes through esc, which makes the result safe to mark as
// template.HTML.

// esc escapes text for both HTML and XML: html.EscapeString only emits
// &lt; &gt; &amp; &#39; &#34;, all of which XML parsers accept.
func esc(s string) string { return html.EscapeString(s) }

// num prints a coordinate compactly; two decimals is sub-pixel.
func num(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// palette is colour-blind tolerant (Okabe-Ito first, then Tableau), so the
// series of a chart stay distinguishable in print.
var palette = []string{
	"#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7",
	"#56b4e9", "#7f7f7f", "#bcbd22", "#8c564b", "#17becf",
}

// dashes are used once the palette wraps, so a colour repeats only with a
// different stroke pattern.
var dashes = []string{"", "6 3", "2 2", "8 3 2 3"}

func seriesStyle(i int) (color, dash string) {
	return palette[i%len(palette)], dashes[(i/len(palette))%len(dashes)]
}

// series is one named line; Y is aligned with the chart's X and NaN marks a
// step without a value (the line breaks there).
type series struct {
	Name string
	Y    []float64
}

// lineChart is a small multi-series line chart with a legend.
type lineChart struct {
	Title  string
	YLabel string
	X      []float64
	Series []series
	// YMin and YMax, when Fixed, are the range shown unless the data
	// leaves it: rates stay on [0, 1] so charts are comparable at a glance.
	Fixed      bool
	YMin, YMax float64
	// ZeroBased starts an automatic range at zero for counts.
	ZeroBased bool
}

const (
	chartW      = 460.0
	chartPlotH  = 170.0
	chartLeft   = 54.0
	chartRight  = 14.0
	chartTop    = 30.0
	legendRowH  = 16.0
	legendCharW = 7.0
	markerLimit = 40 // draw point markers only when they do not crowd the line
)

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// niceStep picks 1, 2 or 5 times a power of ten so about n ticks fit span.
func niceStep(span float64, n int) float64 {
	if !(span > 0) || n < 1 {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / p; {
	case f <= 1:
		return p
	case f <= 2:
		return 2 * p
	case f <= 5:
		return 5 * p
	default:
		return 10 * p
	}
}

// ticks returns the multiples of step inside [lo, hi].
func ticks(lo, hi, step float64) []float64 {
	var out []float64
	start := math.Ceil(lo/step-1e-9) * step
	for v := start; v <= hi+step*1e-9 && len(out) < 50; v += step {
		if math.Abs(v) < step*1e-9 {
			v = 0 // no "-0"
		}
		out = append(out, v)
	}
	return out
}

// tickLabel prints v with as many decimals as the tick step needs.
func tickLabel(v, step float64) string {
	d := 0
	if step < 1 {
		d = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	if math.Abs(v) >= 1e6 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', d, 64)
}

// padRange widens a degenerate range so a flat line sits mid-chart instead
// of dividing by zero.
func padRange(lo, hi float64) (float64, float64) {
	if hi > lo {
		return lo, hi
	}
	d := math.Abs(lo) * 0.1
	if d == 0 {
		d = 1
	}
	return lo - d, hi + d
}

func (c lineChart) yRange() (lo, hi float64, any bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, y := range s.Y {
			if finite(y) {
				lo, hi, any = math.Min(lo, y), math.Max(hi, y), true
			}
		}
	}
	switch {
	case c.Fixed && any:
		lo, hi = math.Min(lo, c.YMin), math.Max(hi, c.YMax)
	case c.Fixed:
		lo, hi = c.YMin, c.YMax
	case !any:
		lo, hi = 0, 1
	case c.ZeroBased && lo > 0:
		lo = 0
	}
	lo, hi = padRange(lo, hi)
	return lo, hi, any
}

func (c lineChart) xRange() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range c.X {
		if finite(x) {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
	}
	if lo > hi {
		return 0, 1
	}
	if lo == hi {
		return lo - 1, hi + 1
	}
	return lo, hi
}

// legendLayout places entries left to right, wrapping at the chart width.
func legendLayout(names []string, width float64) (pos [][2]float64, rows int) {
	x, row := 0.0, 0
	for _, n := range names {
		w := 22 + float64(len([]rune(n)))*legendCharW + 20
		if x > 0 && x+w > width {
			x, row = 0, row+1
		}
		pos = append(pos, [2]float64{x, float64(row)})
		x += w
	}
	if len(names) > 0 {
		rows = row + 1
	}
	return pos, rows
}

// SVG renders the chart. It never fails: no data gives an empty frame that
// says so, which is what a report of a run that just started should show.
func (c lineChart) SVG() template.HTML {
	plotW := chartW - chartLeft - chartRight
	plotBottom := chartTop + chartPlotH
	names := make([]string, len(c.Series))
	for i, s := range c.Series {
		names[i] = s.Name
	}
	legendPos, legendRows := legendLayout(names, plotW)
	height := plotBottom + 52 + float64(legendRows)*legendRowH

	xlo, xhi := c.xRange()
	ylo, yhi, haveData := c.yRange()
	xs := func(x float64) float64 { return chartLeft + (x-xlo)/(xhi-xlo)*plotW }
	ys := func(y float64) float64 { return plotBottom - (y-ylo)/(yhi-ylo)*chartPlotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="%s" height="%s" viewBox="0 0 %s %s" role="img" aria-label="%s">`,
		num(chartW), num(height), num(chartW), num(height), esc(c.Title))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.Title))
	fmt.Fprintf(&b, `<text x="%s" y="16" class="ct">%s</text>`, num(chartLeft), esc(c.Title))

	// Grid and y ticks.
	ystep := niceStep(yhi-ylo, 5)
	for _, t := range ticks(ylo, yhi, ystep) {
		y := ys(t)
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>`, num(chartLeft), num(y), num(chartLeft+plotW), num(y))
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="end">%s</text>`, num(chartLeft-5), num(y+4), esc(tickLabel(t, ystep)))
	}
	// x ticks: steps are integers, so never a fractional step tick.
	xstep := math.Max(1, niceStep(xhi-xlo, 6))
	for _, t := range ticks(xlo, xhi, xstep) {
		x := xs(t)
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="axis"/>`, num(x), num(plotBottom), num(x), num(plotBottom+4))
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="middle">%s</text>`, num(x), num(plotBottom+16), esc(tickLabel(t, xstep)))
	}
	fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" class="frame"/>`, num(chartLeft), num(chartTop), num(plotW), num(chartPlotH))
	fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="middle">step</text>`, num(chartLeft+plotW/2), num(plotBottom+30))
	if c.YLabel != "" {
		fmt.Fprintf(&b, `<text class="tick" text-anchor="middle" transform="translate(12 %s) rotate(-90)">%s</text>`, num(chartTop+chartPlotH/2), esc(c.YLabel))
	}
	if !haveData {
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="nodata" text-anchor="middle">no data yet</text>`, num(chartLeft+plotW/2), num(chartTop+chartPlotH/2))
	}

	markers := len(c.X) <= markerLimit
	for i, s := range c.Series {
		color, dash := seriesStyle(i)
		dashAttr := ""
		if dash != "" {
			dashAttr = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
		}
		// A NaN ends the current segment; a segment of one point has no
		// line to draw, so it always gets a marker.
		var seg [][2]float64
		flush := func() {
			switch {
			case len(seg) == 1 && !markers:
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.2" fill="%s"/>`, num(seg[0][0]), num(seg[0][1]), color)
			case len(seg) > 1:
				pts := make([]string, len(seg))
				for k, p := range seg {
					pts[k] = num(p[0]) + "," + num(p[1])
				}
				fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.8"%s/>`, strings.Join(pts, " "), color, dashAttr)
			}
			seg = seg[:0]
		}
		for j, y := range s.Y {
			if j >= len(c.X) || !finite(y) || !finite(c.X[j]) {
				flush()
				continue
			}
			p := [2]float64{xs(c.X[j]), ys(y)}
			seg = append(seg, p)
			if markers {
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.2" fill="%s"/>`, num(p[0]), num(p[1]), color)
			}
		}
		flush()
	}

	// Legend under the plot.
	ly := plotBottom + 52
	for i, name := range names {
		color, dash := seriesStyle(i)
		x := chartLeft + legendPos[i][0]
		y := ly + legendPos[i][1]*legendRowH
		dashAttr := ""
		if dash != "" {
			dashAttr = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
		}
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2.5"%s/>`, num(x), num(y-4), num(x+16), num(y-4), color, dashAttr)
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="lg">%s</text>`, num(x+22), num(y), esc(name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// stackedBars is a 100% stacked bar chart: one bar per bucket, one segment
// per category, each bar's segments summing to its bucket's total.
type stackedBars struct {
	Title      string
	Labels     []string    // one per bar
	Categories []string    // stack order, bottom first
	Values     [][]float64 // [bar][category]
}

func (c stackedBars) SVG() template.HTML {
	plotW := chartW*1.6 - chartLeft - chartRight
	width := chartW * 1.6
	plotBottom := chartTop + chartPlotH
	legendPos, legendRows := legendLayout(c.Categories, plotW)
	height := plotBottom + 56 + float64(legendRows)*legendRowH

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="%s" height="%s" viewBox="0 0 %s %s" role="img" aria-label="%s">`,
		num(width), num(height), num(width), num(height), esc(c.Title))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.Title))
	fmt.Fprintf(&b, `<text x="%s" y="16" class="ct">%s</text>`, num(chartLeft), esc(c.Title))
	for _, t := range []float64{0, 0.25, 0.5, 0.75, 1} {
		y := plotBottom - t*chartPlotH
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>`, num(chartLeft), num(y), num(chartLeft+plotW), num(y))
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="end">%d%%</text>`, num(chartLeft-5), num(y+4), int(t*100))
	}
	if len(c.Labels) == 0 {
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="nodata" text-anchor="middle">no data yet</text>`, num(chartLeft+plotW/2), num(chartTop+chartPlotH/2))
	}
	n := float64(max(len(c.Labels), 1))
	slot := plotW / n
	barW := math.Min(slot*0.75, 60)
	for i, label := range c.Labels {
		x := chartLeft + slot*float64(i) + (slot-barW)/2
		var total float64
		for _, v := range c.Values[i] {
			if finite(v) && v > 0 {
				total += v
			}
		}
		y := plotBottom
		for k, v := range c.Values[i] {
			if total == 0 || !finite(v) || v <= 0 {
				continue
			}
			h := v / total * chartPlotH
			y -= h
			color, _ := seriesStyle(k)
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s: %s %.0f%% (%s)</title></rect>`,
				num(x), num(y), num(barW), num(h), color, esc(label), esc(c.Categories[k]), v/total*100, esc(strconv.FormatFloat(v, 'f', -1, 64)))
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="middle">%s</text>`, num(x+barW/2), num(plotBottom+16), esc(label))
	}
	fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" class="frame"/>`, num(chartLeft), num(chartTop), num(plotW), num(chartPlotH))
	fmt.Fprintf(&b, `<text x="%s" y="%s" class="tick" text-anchor="middle">steps</text>`, num(chartLeft+plotW/2), num(plotBottom+32))
	ly := plotBottom + 56
	for k, name := range c.Categories {
		color, _ := seriesStyle(k)
		x := chartLeft + legendPos[k][0]
		y := ly + legendPos[k][1]*legendRowH
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="14" height="10" fill="%s"/>`, num(x), num(y-9), color)
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="lg">%s</text>`, num(x+22), num(y), esc(name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
