package search

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/flowsteer/flowsteer/internal/workflow"
)

func TestAdaptLeavesOutStagesOfDisabledOperators(t *testing.T) {
	g, err := workflow.Parse("Programmer -> Test ? Programmer : done -> [Programmer, Test] -> Review ? Revise : done -> Format", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := Adapt(g, []string{"Programmer", "Review", "Revise", "Format"}).String()
	if want := "Programmer -> Review ? Revise : done -> Format"; got != want {
		t.Fatalf("Adapt = %s, want %s", got, want)
	}
	if g.String() == got {
		t.Fatal("Adapt changed its argument")
	}
}

// Two families: "code" enables Test and needs it, "math" does not enable
// it. The joint search finds one workflow; played on math it is the same
// workflow without Test, and the score is the mean of the two families'.
func TestJointSearchFindsOneWorkflowValidForEveryFamily(t *testing.T) {
	base := []string{"AnswerGenerate", "Programmer", "ScEnsemble", "Review", "Format"}
	hasTest := func(g *workflow.Graph) error {
		if !g.Has("Test") {
			return errors.New("code needs Test")
		}
		return nil
	}
	var seen []string
	scorer := func(name string) ScoreFunc {
		return func(_ context.Context, g *workflow.Graph) (Score, error) {
			seen = append(seen, name+": "+g.String())
			if name == "math" {
				if g.Has("Test") {
					t.Errorf("math scored a workflow with Test: %s", g)
				}
				return Score{Value: 0.5, Cost: 3}, nil
			}
			v := 0.0
			if g.Has("Format") {
				v = 1
			}
			return Score{Value: v, Cost: 5}, nil
		}
	}
	parts := []Part{
		{Name: "code", Operators: append(slices.Clone(base), "Test"), Checkers: []string{"Review", "Test"}, Combiners: []string{"ScEnsemble"},
			Valid: hasTest, Start: []string{"Programmer -> Test ? Programmer : done -> Format"}, Score: scorer("code")},
		{Name: "math", Operators: base, Checkers: []string{"Review"}, Combiners: []string{"ScEnsemble"},
			Start: []string{"AnswerGenerate -> Format"}, Score: scorer("math")},
	}
	cfg, score, err := Joint(Config{Seed: 3, MaxEvals: 12}, parts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cfg.Operators, "Test") || len(cfg.Operators) != 6 {
		t.Fatalf("operators %v, want the union", cfg.Operators)
	}
	if !slices.Equal(cfg.Start, []string{"Programmer -> Test ? Programmer : done -> Format"}) {
		t.Fatalf("starts %v: AnswerGenerate -> Format has no Test, so it is not valid on code", cfg.Start)
	}
	res, err := Run(context.Background(), cfg, score)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Evaluated) != 12 || res.Best.Score != 0.75 || res.Spent != 12*8 {
		t.Fatalf("best %+v after %d candidates, spent %d; want 0.75 (mean of 1 and 0.5) and 8 calls each", res.Best, len(res.Evaluated), res.Spent)
	}
	for _, c := range res.Evaluated {
		g, _ := workflow.Parse(c.DSL, nil)
		if err := cfg.Valid(g); err != nil || !g.Has("Test") {
			t.Fatalf("evaluated an invalid joint workflow %s: %v", c.DSL, err)
		}
	}
	if len(seen) != 24 {
		t.Fatalf("%d family scorings for 12 candidates, want 24", len(seen))
	}
	if _, _, err := Joint(Config{MaxEvals: 1}, []Part{{Name: "code", Operators: base, Valid: hasTest, Start: []string{"AnswerGenerate -> Format"}}}); err == nil {
		t.Fatal("a joint search without a valid start was accepted")
	}
}
