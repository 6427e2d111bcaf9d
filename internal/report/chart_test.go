package report

import (
	"encoding/xml"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/workflow"
)

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		n      int
		step   float64
		ticks  []float64
		labels []string
	}{
		{0, 1, 5, 0.2, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{-1, 1, 5, 0.5, []float64{-1, -0.5, 0, 0.5, 1}, nil},
		{0, 300, 6, 50, nil, []string{"0", "50", "100", "150", "200", "250", "300"}},
		{0.001, 0.004, 5, 0.001, nil, []string{"0.001", "0.002", "0.003", "0.004"}},
		{900, 1900, 5, 200, nil, nil},
	}
	for _, tt := range tests {
		step := niceStep(tt.hi-tt.lo, tt.n)
		if math.Abs(step-tt.step) > 1e-12 {
			t.Errorf("niceStep(%v..%v, %d) = %v, want %v", tt.lo, tt.hi, tt.n, step, tt.step)
		}
		ts := ticks(tt.lo, tt.hi, step)
		if tt.ticks != nil {
			if len(ts) != len(tt.ticks) {
				t.Errorf("ticks(%v, %v) = %v, want %v", tt.lo, tt.hi, ts, tt.ticks)
			}
			for i := range min(len(ts), len(tt.ticks)) {
				if math.Abs(ts[i]-tt.ticks[i]) > 1e-9 {
					t.Errorf("ticks(%v, %v) = %v, want %v", tt.lo, tt.hi, ts, tt.ticks)
					break
				}
			}
		}
		if tt.labels != nil {
			var got []string
			for _, v := range ts {
				got = append(got, tickLabel(v, step))
			}
			if !slices.Equal(got, tt.labels) {
				t.Errorf("labels(%v, %v) = %v, want %v", tt.lo, tt.hi, got, tt.labels)
			}
		}
	}
}

func TestLineChartEdgeCases(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name       string
		chart      lineChart
		polylines  int
		circles    int
		wantNoData bool
	}{
		{name: "no points", chart: lineChart{Title: "t", Series: []series{{Name: "a"}}}, wantNoData: true},
		{name: "no series", chart: lineChart{Title: "t", X: []float64{1, 2}}, wantNoData: true},
		{name: "one point", chart: lineChart{Title: "t", X: []float64{5}, Series: []series{{Name: "a", Y: []float64{0.3}}}}, circles: 1},
		{name: "all NaN", chart: lineChart{Title: "t", X: []float64{1, 2}, Series: []series{{Name: "a", Y: []float64{nan, nan}}}}, wantNoData: true},
		{name: "gap splits the line", chart: lineChart{Title: "t", X: []float64{1, 2, 3, 4, 5}, Series: []series{{Name: "a", Y: []float64{1, 2, nan, 3, 4}}}}, polylines: 2, circles: 4},
		{name: "infinity is a gap", chart: lineChart{Title: "t", X: []float64{1, 2, 3}, Series: []series{{Name: "a", Y: []float64{1, math.Inf(1), 3}}}}, circles: 2},
		{name: "flat line", chart: lineChart{Title: "t", X: []float64{1, 2, 3}, Series: []series{{Name: "a", Y: []float64{7, 7, 7}}}}, polylines: 1, circles: 3},
		{name: "short series", chart: lineChart{Title: "t", X: []float64{1, 2, 3}, Series: []series{{Name: "a", Y: []float64{1}}}}, circles: 1},
		{name: "many points, no markers", chart: func() lineChart {
			x := make([]float64, 100)
			y := make([]float64, 100)
			for i := range x {
				x[i], y[i] = float64(i), math.Sin(float64(i))
			}
			y[50] = nan
			y[52] = nan // leaves y[51] alone: it needs a marker or it vanishes
			return lineChart{Title: "t", X: x, Series: []series{{Name: "a", Y: y}}}
		}(), polylines: 2, circles: 1},
		{name: "escaping", chart: lineChart{Title: `a<b & "c"`, X: []float64{1, 2}, Series: []series{{Name: "<x>", Y: []float64{1, 2}}}}, polylines: 1, circles: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svg := string(tt.chart.SVG())
			if err := wellFormed(svg); err != nil {
				t.Fatalf("not well-formed: %v\n%s", err, svg)
			}
			if got := strings.Count(svg, "<polyline"); got != tt.polylines {
				t.Errorf("%d polylines, want %d", got, tt.polylines)
			}
			if got := strings.Count(svg, "<circle"); got != tt.circles {
				t.Errorf("%d markers, want %d", got, tt.circles)
			}
			if got := strings.Contains(svg, "no data yet"); got != tt.wantNoData {
				t.Errorf("no-data note = %v, want %v", got, tt.wantNoData)
			}
			if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
				t.Error("NaN or Inf leaked into coordinates")
			}
			checkInside(t, svg)
		})
	}
}

func TestLineChartFixedRangeWidens(t *testing.T) {
	c := lineChart{X: []float64{1, 2}, Series: []series{{Y: []float64{0.5, 1.4}}}, Fixed: true, YMin: 0, YMax: 1}
	if lo, hi, _ := c.yRange(); lo != 0 || hi != 1.4 {
		t.Errorf("range = %v..%v, want 0..1.4", lo, hi)
	}
	c = lineChart{X: []float64{1, 2}, Series: []series{{Y: []float64{5, 9}}}, ZeroBased: true}
	if lo, hi, _ := c.yRange(); lo != 0 || hi != 9 {
		t.Errorf("zero-based range = %v..%v, want 0..9", lo, hi)
	}
}

func TestStackedBars(t *testing.T) {
	c := stackedBars{Title: "usage", Labels: []string{"1", "2–3"}, Categories: []string{"A", "B<"},
		Values: [][]float64{{1, 3}, {0, 0}}}
	svg := string(c.SVG())
	if err := wellFormed(svg); err != nil {
		t.Fatal(err)
	}
	// An all-zero bucket draws no segments (and no division by zero).
	if n := strings.Count(svg, `<rect x=`) - 1 - 2; n != 2 { // minus frame, minus two legend swatches
		t.Errorf("%d bar segments, want 2", n)
	}
	checkInside(t, svg)
}

// workflow drawings: every kind of stage, checked for well-formedness, the
// labels that carry the semantics, and boxes inside the canvas.
func TestWorkflowSVG(t *testing.T) {
	tests := []struct {
		dsl  string
		want []string
		not  []string
	}{
		{"Custom", []string{">Custom<"}, []string{"parallel", "repair", "×"}},
		{wfParallelCond, []string{">Programmer<", ">AnswerGenerate<", ">Custom<", ">ScEnsemble<", "parallel", "wrong → repair", "pass → done", "node checker"}, []string{"×"}},
		{wfCondFalse, []string{"wrong → repair", ">pass<", ">Revise<", ">Format<"}, []string{"done"}},
		{wfLoop, []string{"× 3", ">Review<", ">Revise<", `class="loop"`, "edge back"}, []string{"repair"}},
		{"(Test) * 10", []string{"× 10", ">Test<"}, nil},
		{"[A, B] -> C ? D : done -> (E -> F -> G) * 2 -> H", []string{"parallel", "wrong → repair", "× 2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.dsl, func(t *testing.T) {
			g, err := workflow.Parse(tt.dsl, nil)
			if err != nil {
				t.Fatal(err)
			}
			svg := string(workflowSVG(g))
			if err := wellFormed(svg); err != nil {
				t.Fatalf("not well-formed: %v\n%s", err, svg)
			}
			for _, w := range tt.want {
				if !strings.Contains(svg, w) {
					t.Errorf("drawing lacks %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(svg, n) {
					t.Errorf("drawing has %q", n)
				}
			}
			// One box per operator occurrence.
			if got, want := strings.Count(svg, `class="node`), len(g.Operators()); got != want {
				t.Errorf("%d boxes, want %d", got, want)
			}
			checkInside(t, svg)
		})
	}
}

// checkInside asserts that every rect, circle and text anchor lies within
// the SVG's declared size, which catches layout arithmetic going wrong.
func checkInside(t *testing.T, svg string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	var w, h float64
	attr := func(se xml.StartElement, name string) (float64, bool) {
		for _, a := range se.Attr {
			if a.Name.Local == name {
				f, err := strconv.ParseFloat(a.Value, 64)
				return f, err == nil
			}
		}
		return 0, false
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		in := func(what string, x, y float64) {
			if x < -0.01 || y < -0.01 || x > w+0.01 || y > h+0.01 {
				t.Errorf("%s at (%.1f, %.1f) outside %gx%g", what, x, y, w, h)
			}
		}
		switch se.Name.Local {
		case "svg":
			w, _ = attr(se, "width")
			h, _ = attr(se, "height")
		case "rect":
			x, _ := attr(se, "x")
			y, _ := attr(se, "y")
			rw, _ := attr(se, "width")
			rh, _ := attr(se, "height")
			in("rect", x, y)
			in("rect corner", x+rw, y+rh)
		case "circle":
			x, _ := attr(se, "cx")
			y, _ := attr(se, "cy")
			in("circle", x, y)
		case "text":
			if x, ok := attr(se, "x"); ok {
				y, _ := attr(se, "y")
				in("text", x, y)
			}
		}
	}
}
