package report

import (
	"bytes"
	"strings"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

func policyAt(name string, acc float64, tokens int64) *pb.PolicyEval {
	return &pb.PolicyEval{Policy: name, Episodes: 10,
		Metrics: []*pb.FamilyMetric{{Family: "all", Metric: "accuracy", Value: acc, CiLow: acc - 0.1, CiHigh: acc + 0.1, Count: 10}},
		Cost:    &pb.CostSummary{Episodes: 10, FinalWorkflowTokens: 10 * tokens}}
}

func TestParetoFrontMarksTheUndominatedPolicies(t *testing.T) {
	r := &pb.EvalReport{Policies: []*pb.PolicyEval{
		policyAt("cot", 0.25, 185), policyAt("self-consistency", 0.33, 745), policyAt("full", 0.62, 1545),
		policyAt("trained", 0.60, 700), policyAt("worse", 0.30, 900),
	}}
	got := map[string]bool{}
	for _, p := range planePoints(r) {
		got[p.Name] = p.Pareto
	}
	want := map[string]bool{"cot": true, "self-consistency": false, "full": true, "trained": true, "worse": false}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s on the front: %v, want %v", k, got[k], v)
		}
	}
}

func TestReportShowsCost(t *testing.T) {
	steps := []*pb.StepMetrics{{Step: 1, Cost: &pb.CostSummary{Episodes: 8, ExecutorCalls: 40, CacheHits: 10, ExecutorInputTokens: 900, ExecutorOutputTokens: 100,
		ExecutorMoney: 0.5, SavedTokens: 300, SavedMoney: 0.125, Simulated: true, Unpriced: []string{"policy/x"}}}}
	evals := []*pb.EvalReport{{Step: 1, Policies: []*pb.PolicyEval{policyAt("trained", 0.6, 700), policyAt("cot", 0.25, 185)},
		Cost: &pb.CostSummary{Episodes: 20, ExecutorCalls: 5, ExecutorInputTokens: 50}}}
	var buf bytes.Buffer
	if err := Write(&buf, Data{Steps: steps, Evals: evals}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{"<h2>" + titleCost + "</h2>", titleStepCost, titleCostPlane, "950 (0) / 100", "45 (10)", "0.1250", "SIMULATED", "policy/x", "Pareto front"} {
		if !strings.Contains(page, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}
