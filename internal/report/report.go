package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/fsutil"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// SimulatedBanner is shown above everything else when the executor was the
// offline simulation.
const SimulatedBanner = "Executor: SIMULATED (offline sim). These curves describe the simulated environment, not real language models."

// Data is everything a report shows, read from a run's store.
type Data struct {
	Run          runstore.Run
	Steps        []*pb.StepMetrics
	Evals        []*pb.EvalReport
	TopWorkflows []runstore.WorkflowCount
	// Simulated marks a run on the offline simulated executor. The banner
	// also appears when Run.Simulated or any eval report says so: a report
	// must not lose that fact because one caller forgot to copy a flag.
	Simulated bool
	Title     string   // defaults to "flowsteer run <name>"
	Models    []string // executor and policy models; defaults to Run.Model
	Hardware  string   // defaults to Run.Hardware
	Notes     []string
	// Sections are blocks added to the run by tools outside the trainer
	// (runstore.Section), shown after the evaluation in their order.
	Sections []runstore.Section
}

// Write renders the report to w. It renders into memory first so that a
// failure never leaves half a page on w.
func Write(w io.Writer, d Data) error {
	var buf bytes.Buffer
	if err := page.Execute(&buf, buildView(d)); err != nil {
		return fmt.Errorf("report: render: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("report: write: %w", err)
	}
	return nil
}

// WriteFile writes the report atomically: readers (a browser reloading, a
// CI job collecting artifacts) see the old file or the new one, never a
// torn one, even if the process dies mid-write.
func WriteFile(path string, d Data) (err error) {
	var buf bytes.Buffer
	if err := Write(&buf, d); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	return nil
}

// Chart titles, in page order. Tests look for each of them.
const (
	titleReward      = "Mean reward and its parts"
	titleRelease     = "Structure release rate and correctness"
	titleFamily      = "Accuracy by family"
	titleInvalid     = "Invalid-action rate"
	titleTurns       = "Mean turns per episode"
	titleKL          = "KL to reference"
	titleEntropy     = "Entropy"
	titleClip        = "Clip fraction"
	titleLoss        = "Loss"
	titleCalls       = "Executor calls per step"
	titleCache       = "Executor cache hit rate"
	titleFailures    = "Failed episodes and zero-variance groups"
	titlePhases      = "Wall time per phase (s)"
	titleOperatorUse = "Operator usage over training"
)

var chartTitles = []string{
	titleReward, titleRelease, titleFamily, titleInvalid, titleTurns, titleKL, titleEntropy,
	titleClip, titleLoss, titleCalls, titleCache, titleFailures, titlePhases, titleOperatorUse,
}

type chartGroup struct {
	Heading string
	Note    string
	Charts  []template.HTML
}

type kv struct{ Key, Value string }

type usageView struct {
	SVG     template.HTML
	Buckets []string
	Rows    []usageRow
}

type usageRow struct {
	Operator string
	Total    int64
	Cells    []usageCell
}

type usageCell struct {
	Text  string
	Level int // 0..5 shading
}

type workflowView struct {
	Rank       int
	DSL        string
	Count      int
	MeanReward string
	Structures string
	SVG        template.HTML
	Err        string
}

type evalTable struct {
	Label      string
	Simulated  bool
	FamilyCols []string
	Rows       []evalRow
}

type evalRow struct {
	Policy                           string
	Episodes                         int32
	Reward                           string
	Families                         []string
	Release, Finished, Invalid, Turn string
}

type evalHistory struct {
	Cols []string
	Rows []historyRow
}

type historyRow struct {
	Policy string
	Cells  []string
}

type view struct {
	Title       string
	Banner      string
	Name        string
	Run         runstore.Run
	Models      string
	Hardware    string
	Created     string
	Updated     string
	Progress    string
	Recorded    int
	Notes       []string
	Latest      []kv
	LatestStep  int64
	Groups      []chartGroup
	Usage       usageView
	Workflows   []workflowView
	LatestEval  *evalTable
	History     *evalHistory
	EarlierEval []evalTable
	Cost        template.HTML // cost.go
	Sections    []runstore.Section
}

func buildView(d Data) view {
	steps := sortedSteps(d.Steps)
	evals := sortedEvals(d.Evals)
	name := d.Run.Name
	if name == "" {
		name = d.Run.ID
	}
	v := view{
		Title:    d.Title,
		Name:     name,
		Run:      d.Run,
		Hardware: d.Hardware,
		Recorded: len(steps),
		Notes:    d.Notes,
		Sections: d.Sections,
	}
	if v.Title == "" {
		v.Title = "flowsteer run " + name
	}
	if v.Hardware == "" {
		v.Hardware = d.Run.Hardware
	}
	models := d.Models
	if len(models) == 0 && d.Run.Model != "" {
		models = []string{d.Run.Model}
	}
	v.Models = strings.Join(models, ", ")
	if simulated(d, evals) {
		v.Banner = SimulatedBanner
	}
	if !d.Run.Created.IsZero() {
		v.Created = d.Run.Created.UTC().Format(time.RFC3339)
	}
	if !d.Run.Updated.IsZero() {
		v.Updated = d.Run.Updated.UTC().Format(time.RFC3339)
	}
	v.Progress = fmt.Sprintf("%d", d.Run.Step)
	if d.Run.TotalSteps > 0 {
		v.Progress = fmt.Sprintf("%d of %d", d.Run.Step, d.Run.TotalSteps)
	}
	if len(steps) > 0 {
		last := steps[len(steps)-1]
		v.LatestStep = last.GetStep()
		v.Latest = latestSummary(last)
	}
	v.Groups = chartGroups(steps, rewardKind(d.Run.ConfigYAML))
	v.Usage = operatorUsage(steps)
	v.Workflows = workflowViews(d.TopWorkflows)
	v.Cost = costSection(steps, evals)
	if len(evals) > 0 {
		latest := evalTableOf(evals[len(evals)-1], len(evals) > 1, true)
		v.LatestEval = &latest
		if len(evals) > 1 {
			v.History = historyOf(evals)
			for i := len(evals) - 2; i >= 0; i-- {
				v.EarlierEval = append(v.EarlierEval, evalTableOf(evals[i], true, false))
			}
		}
	}
	return v
}

func simulated(d Data, evals []*pb.EvalReport) bool {
	if d.Simulated || d.Run.Simulated {
		return true
	}
	for _, e := range evals {
		if e.GetSimulated() {
			return true
		}
	}
	return false
}

// sortedSteps drops nil entries and orders by step, without touching the
// caller's slice.
func sortedSteps(in []*pb.StepMetrics) []*pb.StepMetrics {
	out := make([]*pb.StepMetrics, 0, len(in))
	for _, m := range in {
		if m != nil {
			out = append(out, m)
		}
	}
	slices.SortStableFunc(out, func(a, b *pb.StepMetrics) int { return cmpInt(a.GetStep(), b.GetStep()) })
	return out
}

func sortedEvals(in []*pb.EvalReport) []*pb.EvalReport {
	out := make([]*pb.EvalReport, 0, len(in))
	for _, e := range in {
		if e != nil {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b *pb.EvalReport) int { return cmpInt(a.GetStep(), b.GetStep()) })
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fnum prints a metric; NaN and infinities print as a dash because a
// number there would be a lie.
func fnum(v float64) string {
	if !finite(v) {
		return "–"
	}
	return fmt.Sprintf("%.3f", v)
}

func pct(v float64) string {
	if !finite(v) {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", v*100)
}

func withCI(v, lo, hi float64) string {
	if !finite(lo) || !finite(hi) || (lo == 0 && hi == 0 && v != 0) {
		return fnum(v) // no interval recorded
	}
	return fmt.Sprintf("%s [%s, %s]", fnum(v), fnum(lo), fnum(hi))
}

func latestSummary(m *pb.StepMetrics) []kv {
	out := []kv{
		{"Mean reward", fnum(m.GetMeanReward())},
		{"Structure score", fnum(m.GetMeanStructure())},
		{"Structure release rate", pct(m.GetStructureReleaseRate())},
		{"Correctness", fnum(m.GetCorrectness())},
		{"Finished rate", pct(m.GetFinishedRate())},
		{"Invalid-action rate", pct(m.GetInvalidActionRate())},
		{"Mean turns", fnum(m.GetMeanTurns())},
		{"Episodes (failed)", fmt.Sprintf("%d (%d)", m.GetEpisodes(), m.GetFailedEpisodes())},
		{"Zero-variance groups", fmt.Sprint(m.GetZeroVarianceGroups())},
		{"KL / entropy / clip", fmt.Sprintf("%s / %s / %s", fnum(m.GetKl()), fnum(m.GetEntropy()), fnum(m.GetClipFraction()))},
		{"Executor calls", fmt.Sprint(m.GetExecutorCalls())},
		{"Cache hit rate", pct(m.GetCacheHitRate())},
	}
	return out
}

// metricSeries extracts one value per step.
func metricSeries(name string, steps []*pb.StepMetrics, f func(*pb.StepMetrics) float64) series {
	y := make([]float64, len(steps))
	for i, m := range steps {
		y[i] = f(m)
	}
	return series{Name: name, Y: y}
}

// mapSeries makes one series per key of a per-step map, in key order; a
// step without the key is a gap, not a zero, since a family absent from a
// batch has no accuracy.
func mapSeries(steps []*pb.StepMetrics, get func(*pb.StepMetrics) map[string]float64) []series {
	var keys []string
	seen := map[string]bool{}
	for _, m := range steps {
		for k := range get(m) {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	out := make([]series, len(keys))
	for i, k := range keys {
		y := make([]float64, len(steps))
		for j, m := range steps {
			v, ok := get(m)[k]
			if !ok {
				v = math.NaN()
			}
			y[j] = v
		}
		out[i] = series{Name: k, Y: y}
	}
	return out
}

// releaseLabel names the release rate as the kind's reward uses it.
func releaseLabel(kind reward.Kind) string {
	if kind == reward.Correctness {
		return "S(W) ≥ 1 rate (recorded, not gating)"
	}
	return "structure release rate"
}

// rewardKind reads the reward kind from a run's stored config; a run
// without one used the default, CWRPO's.
func rewardKind(configYAML string) reward.Kind {
	var c struct {
		Reward struct {
			Kind reward.Kind `yaml:"kind"`
		} `yaml:"reward"`
	}
	if err := yaml.Unmarshal([]byte(configYAML), &c); err != nil || c.Reward.Kind == "" {
		return reward.CWRPO
	}
	return c.Reward.Kind
}

func chartGroups(steps []*pb.StepMetrics, kind reward.Kind) []chartGroup {
	x := make([]float64, len(steps))
	for i, m := range steps {
		x[i] = float64(m.GetStep())
	}
	s := func(name string, f func(*pb.StepMetrics) float64) series { return metricSeries(name, steps, f) }
	unit := func(title string, ss ...series) template.HTML {
		return lineChart{Title: title, X: x, Series: ss, Fixed: true, YMin: 0, YMax: 1}.SVG()
	}
	counts := func(title string, ss ...series) template.HTML {
		return lineChart{Title: title, X: x, Series: ss, ZeroBased: true}.SVG()
	}
	free := func(title string, ss ...series) template.HTML {
		return lineChart{Title: title, X: x, Series: ss}.SVG()
	}
	return []chartGroup{
		{
			Heading: "Reward",
			Note:    reward.Formula(kind),
			Charts: []template.HTML{
				lineChart{Title: titleReward, X: x, Fixed: true, YMin: -1, YMax: 1, Series: []series{
					s("mean reward", (*pb.StepMetrics).GetMeanReward),
					s("structure score S(W)", (*pb.StepMetrics).GetMeanStructure),
					s("correctness c", (*pb.StepMetrics).GetCorrectness),
				}}.SVG(),
			},
		},
		{
			Heading: "Structure and correctness",
			Charts: []template.HTML{
				unit(titleRelease,
					s(releaseLabel(kind), (*pb.StepMetrics).GetStructureReleaseRate),
					s("correctness", (*pb.StepMetrics).GetCorrectness),
					s("finished rate", (*pb.StepMetrics).GetFinishedRate)),
				unit(titleFamily, mapSeries(steps, (*pb.StepMetrics).GetAccuracyByFamily)...),
			},
		},
		{
			Heading: "Actions",
			Charts: []template.HTML{
				unit(titleInvalid, s("invalid-action rate", (*pb.StepMetrics).GetInvalidActionRate)),
				counts(titleTurns, s("mean turns", (*pb.StepMetrics).GetMeanTurns)),
			},
		},
		{
			Heading: "Optimisation",
			Charts: []template.HTML{
				counts(titleKL, s("KL (k3)", (*pb.StepMetrics).GetKl)),
				counts(titleEntropy, s("entropy", (*pb.StepMetrics).GetEntropy)),
				counts(titleClip, s("clip fraction", (*pb.StepMetrics).GetClipFraction)),
				free(titleLoss, s("loss", (*pb.StepMetrics).GetLoss)),
			},
		},
		{
			Heading: "Executor and throughput",
			Charts: []template.HTML{
				counts(titleCalls, s("executor calls", func(m *pb.StepMetrics) float64 { return float64(m.GetExecutorCalls()) })),
				unit(titleCache, s("cache hit rate", (*pb.StepMetrics).GetCacheHitRate)),
				counts(titleFailures,
					s("failed episodes", func(m *pb.StepMetrics) float64 { return float64(m.GetFailedEpisodes()) }),
					s("zero-variance groups", func(m *pb.StepMetrics) float64 { return float64(m.GetZeroVarianceGroups()) })),
				counts(titlePhases, mapSeries(steps, (*pb.StepMetrics).GetPhaseSeconds)...),
			},
		},
	}
}

const (
	maxBuckets   = 12 // columns that still fit a page
	maxOpsInBars = 9  // more would repeat palette colours; the rest go to "other"
)

// operatorUsage buckets consecutive steps so that a long run still fits a
// page: each bucket sums its steps' counts.
func operatorUsage(steps []*pb.StepMetrics) usageView {
	var v usageView
	if len(steps) == 0 {
		v.SVG = stackedBars{Title: titleOperatorUse}.SVG()
		return v
	}
	size := (len(steps) + maxBuckets - 1) / maxBuckets
	type bucket struct {
		label  string
		counts map[string]int64
		total  int64
	}
	var buckets []bucket
	totals := map[string]int64{}
	for i := 0; i < len(steps); i += size {
		end := min(i+size, len(steps))
		b := bucket{counts: map[string]int64{}}
		first, last := steps[i].GetStep(), steps[end-1].GetStep()
		b.label = fmt.Sprint(first)
		if last != first {
			b.label = fmt.Sprintf("%d–%d", first, last)
		}
		for _, m := range steps[i:end] {
			for op, n := range m.GetOperatorUsage() {
				b.counts[op] += int64(n)
				b.total += int64(n)
				totals[op] += int64(n)
			}
		}
		buckets = append(buckets, b)
	}
	ops := make([]string, 0, len(totals))
	for op := range totals {
		ops = append(ops, op)
	}
	slices.SortFunc(ops, func(a, b string) int {
		if c := cmpInt(totals[b], totals[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})

	bars := stackedBars{Title: titleOperatorUse}
	shown := ops
	other := false
	if len(ops) > maxOpsInBars {
		shown, other = ops[:maxOpsInBars-1], true
	}
	bars.Categories = append(bars.Categories, shown...)
	if other {
		bars.Categories = append(bars.Categories, "other")
	}
	for _, b := range buckets {
		v.Buckets = append(v.Buckets, b.label)
		bars.Labels = append(bars.Labels, b.label)
		vals := make([]float64, len(bars.Categories))
		for op, n := range b.counts {
			if k := slices.Index(shown, op); k >= 0 {
				vals[k] += float64(n)
			} else {
				vals[len(vals)-1] += float64(n)
			}
		}
		bars.Values = append(bars.Values, vals)
	}
	v.SVG = bars.SVG()
	for _, op := range ops {
		row := usageRow{Operator: op, Total: totals[op]}
		for _, b := range buckets {
			n := b.counts[op]
			cell := usageCell{Text: "–"}
			if b.total > 0 && n > 0 {
				share := float64(n) / float64(b.total)
				cell = usageCell{Text: fmt.Sprintf("%d (%.0f%%)", n, share*100), Level: min(5, 1+int(share*10))}
			}
			row.Cells = append(row.Cells, cell)
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}

func workflowViews(ws []runstore.WorkflowCount) []workflowView {
	var out []workflowView
	for i, w := range ws {
		wv := workflowView{Rank: i + 1, DSL: w.DSL, Count: w.Count, MeanReward: fnum(w.MeanReward)}
		// nil Catalog: a report must draw whatever a run stored, even with
		// operators this build's library no longer has.
		g, err := workflow.Parse(w.DSL, nil)
		if err != nil {
			wv.Err = err.Error()
		} else {
			wv.SVG = workflowSVG(g)
			wv.Structures = structures(g.Stats())
		}
		out = append(out, wv)
	}
	return out
}

func structures(s workflow.Stats) string {
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(s.Parallel, "parallel")
	add(s.Conditional, "conditional")
	add(s.Loop, "loop")
	parts = append(parts, plural(s.TotalOperators, "operator")+", "+plural(s.UniqueOperators, "type"))
	return strings.Join(parts, " · ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func evalLabel(r *pb.EvalReport, latest bool) string {
	l := fmt.Sprintf("step %d", r.GetStep())
	switch {
	case r.GetStep() == 0:
		l += " (before training)"
	case latest:
		l += " (latest)"
	}
	return l
}

// evalTableOf lays one report out with a column per (family, metric) pair
// present in any policy, in first-seen order, so baselines line up with the
// trained policy even when one of them lacks a family.
func evalTableOf(r *pb.EvalReport, labelled, latest bool) evalTable {
	t := evalTable{Simulated: r.GetSimulated()}
	if labelled || latest {
		t.Label = evalLabel(r, latest)
	}
	type key struct{ family, metric string }
	var cols []key
	seen := map[key]bool{}
	for _, p := range r.GetPolicies() {
		for _, m := range p.GetMetrics() {
			k := key{m.GetFamily(), m.GetMetric()}
			if !seen[k] {
				seen[k] = true
				cols = append(cols, k)
			}
		}
	}
	for _, c := range cols {
		t.FamilyCols = append(t.FamilyCols, c.family+" "+c.metric)
	}
	for _, p := range r.GetPolicies() {
		row := evalRow{
			Policy:   p.GetPolicy(),
			Episodes: p.GetEpisodes(),
			Reward:   withCI(p.GetMeanReward(), p.GetRewardCiLow(), p.GetRewardCiHigh()),
			Release:  pct(p.GetStructureReleaseRate()),
			Finished: pct(p.GetFinishedRate()),
			Invalid:  pct(p.GetInvalidActionRate()),
			Turn:     fnum(p.GetMeanTurns()),
		}
		byKey := map[key]*pb.FamilyMetric{}
		for _, m := range p.GetMetrics() {
			byKey[key{m.GetFamily(), m.GetMetric()}] = m
		}
		for _, c := range cols {
			m, ok := byKey[c]
			if !ok {
				row.Families = append(row.Families, "–")
				continue
			}
			cell := withCI(m.GetValue(), m.GetCiLow(), m.GetCiHigh())
			if m.GetCount() > 0 {
				cell += fmt.Sprintf(" n=%d", m.GetCount())
			}
			row.Families = append(row.Families, cell)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// historyOf puts every eval's mean reward side by side, one row per policy,
// so "before training" and "after" read across a single line.
func historyOf(evals []*pb.EvalReport) *evalHistory {
	h := &evalHistory{}
	var policies []string
	for i, e := range evals {
		h.Cols = append(h.Cols, evalLabel(e, i == len(evals)-1))
		for _, p := range e.GetPolicies() {
			if !slices.Contains(policies, p.GetPolicy()) {
				policies = append(policies, p.GetPolicy())
			}
		}
	}
	for _, name := range policies {
		row := historyRow{Policy: name}
		for _, e := range evals {
			cell := "–"
			for _, p := range e.GetPolicies() {
				if p.GetPolicy() == name {
					cell = withCI(p.GetMeanReward(), p.GetRewardCiLow(), p.GetRewardCiHigh())
					break
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		h.Rows = append(h.Rows, row)
	}
	return h
}

var page = template.Must(template.New("report").Parse(pageTemplate))
