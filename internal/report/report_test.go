package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/runstore"
)

var (
	wfParallelCond = "Plan -> [Programmer, AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : done -> Verify -> Format"
	wfLoop         = "Programmer -> (Review -> Revise) * 3 -> Format"
	wfCondFalse    = "AnswerGenerate -> Verify ? Revise : Format"
	wfBroken       = "Programmer -> [Custom"
	baselines      = []string{"random", "fixed:AnswerGenerate", "fixed:Plan -> Programmer"}
)

func fixtureSteps(n int) []*pb.StepMetrics {
	var out []*pb.StepMetrics
	for i := range n {
		p := float64(i) / float64(max(n-1, 1)) // training progress 0..1
		m := &pb.StepMetrics{
			Step:                 int64(i + 1),
			MeanReward:           -0.8 + 1.1*p,
			MeanStructure:        0.2 + 0.75*p,
			StructureReleaseRate: 0.05 + 0.8*p,
			Correctness:          0.3 + 0.35*p,
			AccuracyByFamily:     map[string]float64{"math": 0.35 + 0.3*p, "qa": 0.25 + 0.2*p, "code": 0.2 + 0.4*p},
			MeanTurns:            9 - 3*p,
			InvalidActionRate:    0.3 - 0.25*p,
			OperatorUsage: map[string]int32{
				"Programmer": int32(30 + i), "Review": int32(5 + 2*i), "Revise": int32(2 + i), "Format": int32(10 + 3*i),
				"Plan": 4, "Custom": 12, "AnswerGenerate": 20, "ScEnsemble": int32(i), "Verify": int32(i / 2), "Test": 1, "Aggregate": 1,
			},
			Kl:                 0.002 * p,
			Entropy:            1.6 - 0.5*p,
			ClipFraction:       0.12 - 0.05*p,
			Loss:               0.03 - 0.05*p,
			Episodes:           36,
			FailedEpisodes:     int32(i % 3),
			ZeroVarianceGroups: int32(2 - i%2),
			ExecutorCalls:      int64(900 + 40*i),
			CacheHitRate:       0.1 + 0.5*p,
			PhaseSeconds:       map[string]float64{"rollout": 40 + p*10, "update": 6},
			FinishedRate:       0.7 + 0.25*p,
		}
		if i == 3 {
			// A family missing from one batch must break its line, not drop to zero.
			delete(m.AccuracyByFamily, "code")
			m.AccuracyByFamily["mc"] = 0.5
		}
		if i == 5 {
			m.Kl = math.NaN() // a diverged estimate must not break the chart
		}
		out = append(out, m)
	}
	return out
}

func policyEval(name string, reward float64, n int32) *pb.PolicyEval {
	return &pb.PolicyEval{
		Policy: name, Episodes: n, MeanReward: reward, RewardCiLow: reward - 0.08, RewardCiHigh: reward + 0.08,
		StructureReleaseRate: (reward + 1) / 2, MeanTurns: 7.5, InvalidActionRate: 0.04, FinishedRate: 0.93,
		Metrics: []*pb.FamilyMetric{
			{Family: "math", Metric: "accuracy", Value: 0.4 + reward/4, CiLow: 0.3 + reward/4, CiHigh: 0.5 + reward/4, Count: n / 2},
			{Family: "qa", Metric: "em", Value: 0.3, CiLow: 0.2, CiHigh: 0.4, Count: n / 2},
			{Family: "qa", Metric: "f1", Value: 0.45, CiLow: 0.38, CiHigh: 0.52, Count: n / 2},
		},
	}
}

func fixture(simulated bool) Data {
	created := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
	evals := []*pb.EvalReport{
		{Step: 24, Simulated: simulated, Policies: []*pb.PolicyEval{
			policyEval("trained", 0.42, 60), policyEval(baselines[0], -0.71, 60), policyEval(baselines[1], -0.6, 60), policyEval(baselines[2], -0.4, 60)}},
		{Step: 0, Simulated: simulated, Policies: []*pb.PolicyEval{
			policyEval("trained", -0.55, 60), policyEval(baselines[0], -0.72, 60)}},
	}
	// The code family only in the trained policy: the baselines' cells must
	// line up and show a dash.
	evals[0].Policies[0].Metrics = append(evals[0].Policies[0].Metrics,
		&pb.FamilyMetric{Family: "code", Metric: "pass@1", Value: 0.5, CiLow: 0.35, CiHigh: 0.65, Count: 20})
	return Data{
		Run: runstore.Run{
			ID: "run-7f3a", Name: "cwrpo <sim> & friends", Status: runstore.StatusRunning,
			ConfigYAML: "steps: 24\ngroup_size: 36\nreward: {kind: cwrpo}\n", ConfigHash: "sha256:9c1e5b",
			Backend: "sim", Policy: "embedded", Model: "sim-executor", Hardware: "cpu", Simulated: simulated,
			Step: 24, TotalSteps: 300, Created: created, Updated: created.Add(42 * time.Minute),
		},
		Steps: fixtureSteps(24),
		Evals: evals,
		TopWorkflows: []runstore.WorkflowCount{
			{DSL: wfParallelCond, Count: 57, MeanReward: 0.61},
			{DSL: wfLoop, Count: 31, MeanReward: 0.44},
			{DSL: wfCondFalse, Count: 12, MeanReward: 0.2},
			{DSL: "Custom", Count: 3, MeanReward: math.NaN()},
			{DSL: wfBroken, Count: 1, MeanReward: -1},
		},
		Simulated: simulated,
		Models:    []string{"policy: embedded-go", "executor: sim"},
		Hardware:  "16-core CPU",
		Notes:     []string{"Resumed once from checkpoint 10 after a crash.", "Note with <b>markup</b>."},
	}
}

func render(t *testing.T, d Data) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, d); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.String()
}

var svgRE = regexp.MustCompile(`(?s)<svg\b.*?</svg>`)

// checkSVGs parses every inline SVG as XML and returns how many there were.
func checkSVGs(t *testing.T, page string) int {
	t.Helper()
	frags := svgRE.FindAllString(page, -1)
	for i, f := range frags {
		if err := wellFormed(f); err != nil {
			t.Errorf("svg %d is not well-formed XML: %v\n%.400s", i, err, f)
		}
	}
	return len(frags)
}

func wellFormed(frag string) error {
	dec := xml.NewDecoder(strings.NewReader(frag))
	dec.Strict = true
	depth := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if depth != 0 {
				return fmt.Errorf("unclosed elements: %d", depth)
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
}

func TestReportContent(t *testing.T) {
	d := fixture(true)
	page := render(t, d)

	want := []string{
		SimulatedBanner,
		html.EscapeString(d.Run.Name), d.Run.ID, d.Run.Status, "24 of 300", d.Run.ConfigHash,
		"policy: embedded-go, executor: sim", "16-core CPU",
		"Resumed once from checkpoint 10", "Note with &lt;b&gt;markup&lt;/b&gt;.",
		"Latest step (24)",
		"step 0 (before training)", "step 24 (latest)", "Mean reward across evaluations",
		"code pass@1", "qa f1", "0.420 [0.340, 0.500]",
		"wrong → repair", "pass → done", "× 3", "Cannot draw this workflow", "1 operator, 1 type",
	}
	for _, title := range chartTitles {
		want = append(want, html.EscapeString(title))
	}
	for _, w := range d.TopWorkflows {
		want = append(want, html.EscapeString(w.DSL))
	}
	for _, b := range baselines {
		want = append(want, html.EscapeString(b))
	}
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("report lacks %q", w)
		}
	}
	for _, bad := range []string{"<sim>", "<b>markup", "<script", "ZgotmplZ", "NaN"} {
		if strings.Contains(page, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	// Charts, the usage bars and four drawable workflows; the broken one
	// is reported, not drawn.
	if n, min := checkSVGs(t, page), len(chartTitles)+4; n != min {
		t.Errorf("%d inline SVGs, want %d", n, min)
	}
	if i, j := strings.Index(page, SimulatedBanner), strings.Index(page, "<h1>"); i < 0 || i > j {
		t.Error("the simulated banner must come before the title")
	}
}

func TestReportBanner(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Data)
		want bool
	}{
		{"simulated", func(d *Data) {}, true},
		{"real", func(d *Data) { d.Simulated, d.Run.Simulated = false, false; clearEvalSim(d) }, false},
		{"run says simulated", func(d *Data) { d.Simulated = false; clearEvalSim(d) }, true},
		{"an eval says simulated", func(d *Data) { d.Simulated, d.Run.Simulated = false, false }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fixture(true)
			tt.edit(&d)
			if got := strings.Contains(render(t, d), "SIMULATED"); got != tt.want {
				t.Errorf("banner shown = %v, want %v", got, tt.want)
			}
		})
	}
}

func clearEvalSim(d *Data) {
	for _, e := range d.Evals {
		e.Simulated = false
	}
}

func TestReportEmpty(t *testing.T) {
	tests := []struct {
		name string
		data Data
	}{
		{"zero", Data{}},
		{"run only", Data{Run: runstore.Run{ID: "r1", Status: runstore.StatusPending}}},
		{"one step", Data{Run: runstore.Run{ID: "r1"}, Steps: fixtureSteps(1)}},
		{"nil entries", Data{Steps: []*pb.StepMetrics{nil, {Step: 2}}, Evals: []*pb.EvalReport{nil, {Step: 0}}}},
		{"eval without policies", Data{Evals: []*pb.EvalReport{{Step: 3}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := render(t, tt.data)
			checkSVGs(t, page)
			for _, title := range chartTitles {
				if !strings.Contains(page, html.EscapeString(title)) {
					t.Errorf("empty report lacks chart %q", title)
				}
			}
			if strings.Contains(page, "SIMULATED") {
				t.Error("banner without a simulated run")
			}
		})
	}
	if page := render(t, Data{}); !strings.Contains(page, "no data yet") || !strings.Contains(page, "No evaluation recorded yet") {
		t.Error("an empty report should say there is no data")
	}
}

func TestReportManySteps(t *testing.T) {
	d := fixture(false)
	d.Steps = fixtureSteps(300)
	page := render(t, d)
	checkSVGs(t, page)
	// 300 steps bucket into at most maxBuckets usage columns.
	v := operatorUsage(sortedSteps(d.Steps))
	if len(v.Buckets) > maxBuckets || len(v.Buckets) == 0 {
		t.Errorf("%d usage buckets", len(v.Buckets))
	}
	if v.Buckets[0] != "1–25" {
		t.Errorf("first bucket %q, want 1–25", v.Buckets[0])
	}
	var total int64
	for _, r := range v.Rows {
		total += r.Total
	}
	var want int64
	for _, m := range d.Steps {
		for _, n := range m.OperatorUsage {
			want += int64(n)
		}
	}
	if total != want {
		t.Errorf("usage table total %d, want %d: bucketing lost counts", total, want)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, fixture(true)); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "report.html" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only report.html", names)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, []byte("<!DOCTYPE html>")) || !bytes.Contains(got, []byte(SimulatedBanner)) {
		t.Error("file does not hold the report")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}

	missing := filepath.Join(dir, "no-such-dir", "report.html")
	if err := WriteFile(missing, fixture(true)); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("failed WriteFile left %d entries", len(entries))
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	if err := Write(failWriter{}, fixture(true)); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Write to a failing writer = %v", err)
	}
}

func TestReportPrintsTheFormulaOfTheRunsRewardKind(t *testing.T) {
	cases := []struct {
		config    string
		want, not []string
	}{
		{"steps: 24\nreward: {kind: cwrpo}\n", []string{"R = −1 + S(W) + [S(W) ≥ 1]·c", "structure release rate"}, []string{"R = c ", "M(W)"}},
		{"steps: 24\n", []string{"R = −1 + S(W) + [S(W) ≥ 1]·c"}, []string{"R = c "}},
		{"steps: 24\nreward:\n  kind: correctness\n", []string{"R = c (correctness only", "S(W) ≥ 1 rate (recorded, not gating)"}, []string{"R = −1 + S(W)", "structure release rate"}},
		{"reward: {kind: milestone}\n", []string{"R = −1 + M(W) + [M(W) ≥ 1]·c"}, []string{"R = −1 + S(W)", "R = c "}},
	}
	for _, tc := range cases {
		d := fixture(true)
		d.Run.ConfigYAML = tc.config
		page := html.UnescapeString(render(t, d))
		for _, w := range tc.want {
			if !strings.Contains(page, w) {
				t.Errorf("config %q: report lacks %q", tc.config, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(page, n) {
				t.Errorf("config %q: report shows %q", tc.config, n)
			}
		}
	}
}
