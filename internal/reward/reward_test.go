package reward

import (
	"math"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/workflow"
)

func mustParse(t *testing.T, dsl string) *workflow.Graph {
	t.Helper()
	g, err := workflow.Parse(dsl, nil)
	if err != nil {
		t.Fatalf("parse %q: %v", dsl, err)
	}
	return g
}

func TestCWRPOWorkedExamples(t *testing.T) {
	tests := []struct {
		name        string
		dsl         string
		correctness float64
		wantS       float64
		wantRelease bool
		wantReward  float64
	}{
		{"lone Custom scores -1 whatever its correctness", "Custom", 1, 0, false, -1},
		{"lone Custom wrong", "Custom", 0, 0, false, -1},
		{"full structure releases correctness", "Plan -> Decompose -> [Programmer, Custom] -> Aggregate -> Verify -> Format", 1, 1, true, 1},
		{"full structure, wrong answer", "Plan -> Decompose -> [Programmer, Custom] -> Aggregate -> Verify -> Format", 0, 1, true, 0},
		{"full structure, partial F1", "Plan -> Decompose -> [Programmer, Custom] -> Aggregate -> Verify -> Format", 0.25, 1, true, 0.25},
		{"six-op chain with checker and Format but no structure stays at 0.6", "Plan -> Programmer -> Custom -> AnswerGenerate -> Review -> Format", 1, 0.6, false, -0.4},
		{"checker only", "AnswerGenerate -> Review", 1, 0.2, false, -0.8},
		{"structure only", "[AnswerGenerate, Custom]", 1, 0.4, false, -0.6},
		{"loop counts as structure", "AnswerGenerate -> (Review -> Revise) * 2 -> Format", 1, 0.8, false, -0.2},
		{"conditional with six operators", "Plan -> Programmer -> Review ? Revise : done -> Verify -> Format", 0.5, 1, true, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Default().Compute(Input{Graph: mustParse(t, tt.dsl), Correctness: tt.correctness, Finished: true})
			if math.Abs(b.StructureTotal-tt.wantS) > 1e-9 || b.Released != tt.wantRelease || math.Abs(b.Reward-tt.wantReward) > 1e-9 {
				t.Fatalf("got S=%v released=%v R=%v, want S=%v released=%v R=%v", b.StructureTotal, b.Released, b.Reward, tt.wantS, tt.wantRelease, tt.wantReward)
			}
		})
	}
}

func TestRewardStaysInRange(t *testing.T) {
	for _, dsl := range []string{"", "Custom", "Plan -> [Programmer, Custom] -> ScEnsemble -> Review ? Revise : done -> Verify -> Format"} {
		for _, c := range []float64{-3, 0, 0.5, 1, 7, math.NaN()} {
			b := Default().Compute(Input{Graph: mustParse(t, dsl), Correctness: c, Finished: true})
			if b.Reward < -1 || b.Reward > 1 || math.IsNaN(b.Reward) {
				t.Fatalf("%q c=%v: reward %v outside [-1, 1]", dsl, c, b.Reward)
			}
		}
	}
}

func TestCorrectnessOnlyIgnoresStructureButRecordsIt(t *testing.T) {
	s := Default()
	s.Kind = Correctness
	b := s.Compute(Input{Graph: mustParse(t, "Custom"), Correctness: 1, Finished: true})
	if b.Reward != 1 || b.Released || b.StructureTotal != 0 {
		t.Fatalf("correctness-only on a lone Custom = %+v, want R=1, S=0, not released", b)
	}
	// The reward is c whatever the structure, but S(W) and its parts are
	// recorded so this arm can be compared with CWRPO's on structure.
	b = s.Compute(Input{Graph: mustParse(t, "Plan -> Programmer -> Review ? Revise : done -> Verify -> Format"), Correctness: 0.5, Finished: true})
	if b.Reward != 0.5 || !b.Released || !near(b.StructureTotal, 1) || b.Checker != 0.2 || b.Format != 0.2 || b.Size != 0.2 || b.Structure != 0.4 {
		t.Fatalf("correctness-only on a full workflow = %+v, want R=0.5 with S=1 and every part recorded", b)
	}
	b = s.Compute(Input{Graph: mustParse(t, "AnswerGenerate -> Review -> Format"), Correctness: 1, Finished: true})
	if b.Reward != 1 || b.Released || !near(b.StructureTotal, 0.4) {
		t.Fatalf("correctness-only on a chain = %+v, want R=1, S=0.4, not released", b)
	}
}

func TestEveryKindRecordsTheSameStructureScore(t *testing.T) {
	for _, dsl := range []string{"Custom", "AnswerGenerate -> Review -> Format", "[Custom, AnswerGenerate] -> ScEnsemble",
		"Plan -> [Programmer, Custom, AnswerGenerate] -> ScEnsemble -> Review ? Revise : done -> Format"} {
		g := mustParse(t, dsl)
		want := Default().Compute(Input{Graph: g, Correctness: 1, Finished: true})
		for _, k := range []Kind{Milestone, Correctness} {
			s := Default()
			s.Kind = k
			b := s.Compute(Input{Graph: g, Correctness: 1, Finished: true})
			if b.StructureTotal != want.StructureTotal || b.Checker != want.Checker || b.Format != want.Format || b.Size != want.Size || b.Structure != want.Structure {
				t.Errorf("%s on %q: S(W) parts %+v, want those of cwrpo %+v", k, dsl, b, want)
			}
		}
	}
}

func TestFormulaNamesEachKind(t *testing.T) {
	if f := Formula(CWRPO); !strings.Contains(f, "S(W) ≥ 1") {
		t.Errorf("cwrpo formula %q", f)
	}
	if f := Formula(Correctness); !strings.HasPrefix(f, "R = c ") || strings.Contains(f, "[S(W)") {
		t.Errorf("correctness formula %q", f)
	}
	if f := Formula(Milestone); !strings.Contains(f, "M(W)") {
		t.Errorf("milestone formula %q", f)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestMilestoneVariant(t *testing.T) {
	s := Default()
	s.Kind = Milestone
	// 6 unique types (0.4), 8 operators (0.2), parallel (0.2), conditional (0.15), two kinds (0.15) = 1.1 -> capped 1.
	b := s.Compute(Input{Graph: mustParse(t, "Plan -> [Programmer, Custom, AnswerGenerate] -> ScEnsemble -> Review ? Revise : done -> Format"), Correctness: 1, Finished: true})
	if b.Milestone != 1 || !b.Released || b.Reward != 1 || !near(b.StructureTotal, 1) {
		t.Fatalf("milestone full = %+v", b)
	}
	// Custom -> Format: 2 unique, 2 ops, no structure -> 0.
	b = s.Compute(Input{Graph: mustParse(t, "Custom -> Format"), Correctness: 1, Finished: true})
	if b.Milestone != 0 || b.Reward != -1 || !near(b.StructureTotal, 0.2) {
		t.Fatalf("milestone small = %+v", b)
	}
}

func TestPenaltiesAreOptIn(t *testing.T) {
	g := mustParse(t, "Custom")
	if b := Default().Compute(Input{Graph: g, Finished: false, InvalidActions: 3}); b.Penalties != 0 {
		t.Fatalf("default penalties = %v, want 0", b.Penalties)
	}
	s := Default()
	s.UnfinishedPenalty = 0.1
	s.InvalidActionPenalty = 0.05
	b := s.Compute(Input{Graph: g, Finished: false, InvalidActions: 2})
	if math.Abs(b.Penalties-0.2) > 1e-12 || math.Abs(b.Reward-(-1.2)) > 1e-12 {
		t.Fatalf("penalties = %v reward = %v, want 0.2 and -1.2", b.Penalties, b.Reward)
	}
}

func TestWeightsAreConfiguration(t *testing.T) {
	s := Default()
	s.StructureWeight = 0.6
	s.SizeWeight = 0
	// checker + Format + structure, only 3 operators: 0.2 + 0.2 + 0.6 = 1 -> released.
	b := s.Compute(Input{Graph: mustParse(t, "[Custom, AnswerGenerate] -> Review -> Format"), Correctness: 1, Finished: true})
	if !b.Released || math.Abs(b.Reward-1) > 1e-9 {
		t.Fatalf("custom weights: %+v", b)
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	s := Default()
	s.Kind = "fancy"
	if err := s.Validate(); err == nil || !contains(err.Error(), "reward.kind") {
		t.Fatalf("err = %v", err)
	}
	s = Default()
	s.Cap = math.Inf(1)
	if err := s.Validate(); err == nil || !contains(err.Error(), "reward.cap") {
		t.Fatalf("err = %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// S(W) never falls when a stage is added: every term is a "has" or an "at
// least". This is why, with the paper's reward (no unfinished penalty), an
// episode cut at max_rounds after more adds scores at least as well on
// structure as one that finished earlier: finishing never pays on S(W)
// (see BENCHMARKS.md, "Why the embedded policy never finishes").
func TestStructureScoreNeverFallsWhenAStageIsAdded(t *testing.T) {
	ops := []string{"Plan", "Custom", "AnswerGenerate", "Programmer", "Review", "Verify", "Revise", "ScEnsemble", "Format"}
	specs := []workflow.StageSpec{{Kind: workflow.Parallel, Operators: []string{"Custom", "AnswerGenerate"}},
		{Kind: workflow.Conditional, Condition: "Review", True: "Revise"}, {Kind: workflow.Loop, Operators: []string{"Verify", "Revise"}, Count: 2}}
	for _, op := range ops {
		specs = append(specs, workflow.StageSpec{Kind: workflow.Operator, Operators: []string{op}})
	}
	// Every workflow of up to three stages drawn from specs, and every
	// stage appended to it.
	var grow func(g *workflow.Graph, depth int)
	grow = func(g *workflow.Graph, depth int) {
		before := Default().Compute(Input{Graph: g}).StructureTotal
		for _, sp := range specs {
			h := g.Clone()
			if _, err := h.Insert(-1, sp, nil); err != nil {
				t.Fatalf("insert %+v into %q: %v", sp, g, err)
			}
			if after := Default().Compute(Input{Graph: h}).StructureTotal; after < before {
				t.Fatalf("S fell from %v (%q) to %v (%q)", before, g, after, h)
			}
			if depth < 3 {
				grow(h, depth+1)
			}
		}
	}
	grow(workflow.New(), 1)
}
