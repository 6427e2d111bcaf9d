package report

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cost"
)

// Titles of the cost section, looked for by tests.
const (
	titleCost      = "Cost"
	titleStepCost  = "Executor tokens per step (billed)"
	titleCostPlane = "Accuracy versus cost"
)

// costSection is the run's cost: totals (steps and evaluations), billed
// executor tokens per step, and the latest evaluation's policies on the
// accuracy-versus-cost plane with the Pareto front marked.
func costSection(steps []*pb.StepMetrics, evals []*pb.EvalReport) template.HTML {
	var total cost.Summary
	for _, m := range steps {
		total.Merge(cost.SummaryFromPB(m.GetCost()))
	}
	for _, e := range evals {
		total.Merge(cost.SummaryFromPB(e.GetCost()))
	}
	var b strings.Builder
	b.WriteString("<h2>" + titleCost + "</h2>\n")
	if total.Episodes == 0 {
		b.WriteString(`<p class="note">No cost recorded (runs made before cost accounting have none).</p>`)
		return template.HTML(b.String())
	}
	note := "Money comes from the run's price table; calls answered from the executor cache are free and shown as savings."
	if total.Simulated {
		note += " Executor token counts are SIMULATED (the offline sim estimates them from text length)."
	}
	fmt.Fprintf(&b, "<p class=\"note\">%s</p>\n<table><tbody>\n", esc(note))
	row := func(k, v string) { fmt.Fprintf(&b, "<tr><th>%s</th><td>%s</td></tr>\n", esc(k), esc(v)) }
	row("Episodes (training and evaluation)", fmt.Sprint(total.Episodes))
	row("Executor calls (of which cache hits)", fmt.Sprintf("%d (%d)", total.ExecutorCalls, total.CacheHits))
	row("Executor tokens billed: input (cached) / output", fmt.Sprintf("%d (%d) / %d", total.ExecutorInputTokens, total.ExecutorCachedInputTokens, total.ExecutorOutputTokens))
	row("Executor money", fmt.Sprintf("%.4f", total.ExecutorMoney))
	row("Cache savings: tokens / money", fmt.Sprintf("%d / %.4f", total.SavedTokens, total.SavedMoney))
	row("Policy tokens: prompt / completion; money", fmt.Sprintf("%d / %d; %.4f", total.PolicyPromptTokens, total.PolicyCompletionTokens, total.PolicyMoney))
	row("Total money", fmt.Sprintf("%.4f", total.Money()))
	row("Seconds: wall / policy / executor calls / sandbox", fmt.Sprintf("%.1f / %.1f / %.1f / %.1f", total.WallSeconds, total.PolicySeconds, total.ExecutorSeconds, total.SandboxSeconds))
	if len(total.Unpriced) > 0 {
		row("Unpriced (counted as 0)", strings.Join(total.Unpriced, ", "))
	}
	b.WriteString("</tbody></table>\n<div class=\"charts\">\n")
	if len(steps) > 0 {
		x := make([]float64, len(steps))
		for i, m := range steps {
			x[i] = float64(m.GetStep())
		}
		tokens := metricSeries("billed executor tokens", steps, func(m *pb.StepMetrics) float64 {
			return float64(m.GetCost().GetExecutorInputTokens() + m.GetCost().GetExecutorOutputTokens())
		})
		saved := metricSeries("saved by the cache", steps, func(m *pb.StepMetrics) float64 { return float64(m.GetCost().GetSavedTokens()) })
		b.WriteString(string(lineChart{Title: titleStepCost, X: x, Series: []series{tokens, saved}, ZeroBased: true}.SVG()))
	}
	if len(evals) > 0 {
		b.WriteString(string(costPlane(evals[len(evals)-1])))
	}
	b.WriteString("</div>\n")
	return template.HTML(b.String())
}

// planePoint is one policy on the accuracy-versus-cost plane.
type planePoint struct {
	Name           string
	Tokens, Acc    float64
	Pareto         bool
	AccLow, AccHig float64
}

// planePoints places each evaluated policy: x is the tokens of one run of
// its final workflow per task (cache hits included, so policies compare
// whatever happened to be cached), y its accuracy over all families. A
// point is on the Pareto front when no other point is at least as
// accurate and at most as costly, and better on one of the two.
func planePoints(r *pb.EvalReport) []planePoint {
	var ps []planePoint
	for _, p := range r.GetPolicies() {
		c := p.GetCost()
		if c.GetEpisodes() == 0 {
			continue
		}
		pt := planePoint{Name: p.GetPolicy(), Tokens: float64(c.GetFinalWorkflowTokens()) / float64(c.GetEpisodes())}
		for _, m := range p.GetMetrics() {
			if m.GetFamily() == "all" && m.GetMetric() == "accuracy" {
				pt.Acc, pt.AccLow, pt.AccHig = m.GetValue(), m.GetCiLow(), m.GetCiHigh()
			}
		}
		ps = append(ps, pt)
	}
	for i := range ps {
		ps[i].Pareto = true
		for j := range ps {
			if i != j && ps[j].Acc >= ps[i].Acc && ps[j].Tokens <= ps[i].Tokens && (ps[j].Acc > ps[i].Acc || ps[j].Tokens < ps[i].Tokens) {
				ps[i].Pareto = false
				break
			}
		}
	}
	return ps
}

// costPlane draws planePoints as an SVG scatter with 95% intervals on
// accuracy and the Pareto front joined by a line.
func costPlane(r *pb.EvalReport) template.HTML {
	ps := planePoints(r)
	const w, h, l, rt, t, bt = 460.0, 300.0, 56.0, 16.0, 28.0, 40.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" role="img" aria-label="%s"><text class="ct" x="%.0f" y="16">%s</text>`,
		w, h, titleCostPlane, l, esc(titleCostPlane))
	if len(ps) == 0 {
		fmt.Fprintf(&b, `<text class="nodata" x="%.0f" y="%.0f">no evaluation cost recorded</text></svg>`, l, h/2)
		return template.HTML(b.String())
	}
	maxX := 0.0
	for _, p := range ps {
		maxX = math.Max(maxX, p.Tokens)
	}
	if maxX == 0 {
		maxX = 1
	}
	maxX *= 1.1
	px := func(v float64) float64 { return l + (w-l-rt)*v/maxX }
	py := func(v float64) float64 { return h - bt - (h-t-bt)*v }
	fmt.Fprintf(&b, `<rect class="frame" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, l, t, w-l-rt, h-t-bt)
	for _, v := range []float64{0, 0.25, 0.5, 0.75, 1} {
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/><text class="tick" x="%.1f" y="%.1f" text-anchor="end">%.2f</text>`,
			l, w-rt, py(v), py(v), l-4, py(v)+3, v)
	}
	step := niceStep(maxX, 5)
	for _, v := range ticks(0, maxX, step) {
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, px(v), h-bt+14, tickLabel(v, step))
	}
	fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="middle">workflow tokens per task</text>`, l+(w-l-rt)/2, h-6)
	fmt.Fprintf(&b, `<text class="tick" transform="rotate(-90)" x="%.1f" y="12" text-anchor="middle">accuracy</text>`, -(t + (h-t-bt)/2))
	var front []planePoint
	for _, p := range ps {
		if p.Pareto {
			front = append(front, p)
		}
	}
	sort.Slice(front, func(i, j int) bool { return front[i].Tokens < front[j].Tokens })
	if len(front) > 1 {
		var pts []string
		for _, p := range front {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.Tokens), py(p.Acc)))
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#2e7d32" stroke-width="1.5" stroke-dasharray="5 3"/>`, strings.Join(pts, " "))
	}
	for i, p := range ps {
		color, _ := seriesStyle(i)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>`, px(p.Tokens), px(p.Tokens), py(p.AccLow), py(p.AccHig), color)
		shape := fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="4.5" fill="%s"/>`, px(p.Tokens), py(p.Acc), color)
		if p.Pareto {
			shape = fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="6" fill="%s" stroke="#2e7d32" stroke-width="2.5"><title>Pareto front</title></circle>`, px(p.Tokens), py(p.Acc), color)
		}
		b.WriteString(shape)
		fmt.Fprintf(&b, `<text class="lg" x="%.1f" y="%.1f">%s</text>`, px(p.Tokens)+7, py(p.Acc)-5, esc(p.Name))
	}
	b.WriteString(`<text class="gnote" x="60" y="` + fmt.Sprintf("%.0f", t+12) + `">ringed: Pareto front (no policy both cheaper and more accurate)</text></svg>`)
	return template.HTML(b.String())
}
