package search

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/workflow"
)

// lib is a tiny library: the landscape below has local optima (a parallel
// block with a wrong extra branch can only go by deleting the stage), so
// the optimum is findable in a few hundred evaluations only in a small space.
var lib = Config{
	Operators:   []string{"AnswerGenerate", "Programmer", "ScEnsemble", "Review", "Format"},
	Checkers:    []string{"Review"},
	Combiners:   []string{"ScEnsemble"},
	MaxParallel: 2,
}

const target = "[Programmer, Programmer] -> ScEnsemble -> Review ? Programmer : done -> Format"

// synthetic scores a workflow by how much of the target it holds in order:
// the longest common subsequence of the two graphs' token sequences (each
// stage is its kind, its operators and an end mark), minus a little per
// extra token. The token sequence determines the graph, so the unique
// optimum, 1.0, is the target itself; partial credit (a parallel block with
// one right branch) makes it a landscape a search can climb.
func synthetic(calls *int) ScoreFunc {
	tg, err := workflow.Parse(target, nil)
	if err != nil {
		panic(err)
	}
	want := tokens(tg)
	return func(_ context.Context, g *workflow.Graph) (Score, error) {
		*calls++
		got := tokens(g)
		l := lcs(got, want)
		return Score{Value: float64(l)/float64(len(want)) - 0.05*float64(len(got)-l), Cost: 10}, nil
	}
}

func tokens(g *workflow.Graph) []string {
	var out []string
	for _, s := range g.Stages {
		out = append(out, s.Kind.String())
		for _, n := range s.Nodes() {
			out = append(out, n.Operator)
		}
		if s.Kind == workflow.Loop {
			out = append(out, strconv.Itoa(s.Count))
		}
		out = append(out, "end")
	}
	return out
}

func lcs(a, b []string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				d[i][j] = d[i-1][j-1] + 1
			} else {
				d[i][j] = max(d[i-1][j], d[i][j-1])
			}
		}
	}
	return d[len(a)][len(b)]
}

func config(seed int64) Config {
	c := lib
	c.Seed, c.Start, c.MaxEvals = seed, []string{"AnswerGenerate"}, 600
	return c
}

func TestSearchFindsTheOptimumOfASyntheticScore(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		calls := 0
		res, err := Run(context.Background(), config(seed), synthetic(&calls))
		if err != nil {
			t.Fatal(err)
		}
		if res.Best.DSL != target || res.Best.Score != 1 {
			t.Fatalf("seed %d: best %q (%.2f) after %d evaluations, want %q", seed, res.Best.DSL, res.Best.Score, len(res.Evaluated), target)
		}
		if calls != len(res.Evaluated) {
			t.Fatalf("scored %d times for %d candidates: a candidate was scored twice or not recorded", calls, len(res.Evaluated))
		}
	}
}

func TestSearchIsDeterministicForASeed(t *testing.T) {
	var n1, n2, n3 int
	c := config(7)
	c.MaxEvals = 60
	a, _ := Run(context.Background(), c, synthetic(&n1))
	b, _ := Run(context.Background(), c, synthetic(&n2))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two searches with the same seed differ")
	}
	c.Seed = 8
	d, _ := Run(context.Background(), c, synthetic(&n3))
	if reflect.DeepEqual(a.Evaluated, d.Evaluated) {
		t.Fatal("seeds 7 and 8 evaluated the same candidates (the seed is ignored)")
	}
}

func TestSearchNeverEvaluatesACandidateTwice(t *testing.T) {
	var n int
	res, _ := Run(context.Background(), config(4), synthetic(&n))
	seen := map[string]bool{}
	for _, c := range res.Evaluated {
		if seen[c.DSL] {
			t.Fatalf("%q evaluated twice", c.DSL)
		}
		seen[c.DSL] = true
	}
}

func TestSearchStopsAtItsBudget(t *testing.T) {
	var n int
	c := config(1)
	c.MaxEvals, c.Budget = 0, 55 // 10 a candidate: the 6th crosses it
	res, err := Run(context.Background(), c, synthetic(&n))
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != "budget" || len(res.Evaluated) != 6 || res.Spent != 60 {
		t.Fatalf("stopped %q after %d candidates, spent %d; want budget after 6, 60 spent", res.Stopped, len(res.Evaluated), res.Spent)
	}
}

func TestSearchIsCancellable(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n int
	c := config(1)
	c.OnEval = func(Candidate) {
		if n == 3 {
			cancel()
		}
	}
	res, err := Run(ctx, c, synthetic(&n))
	if !errors.Is(err, context.Canceled) || res.Stopped != "cancelled" || len(res.Evaluated) != 3 {
		t.Fatalf("err %v, stopped %q after %d; want cancelled after 3", err, res.Stopped, len(res.Evaluated))
	}
	if res.Best.DSL == "" {
		t.Fatal("a cancelled search returns the best found so far")
	}
}

func TestSearchEvaluatesOnlyValidCandidates(t *testing.T) {
	var n int
	c := config(2)
	c.MaxEvals = 80
	c.Valid = func(g *workflow.Graph) error {
		if g.Has("Review") {
			return errors.New("no Review here")
		}
		return nil
	}
	res, err := Run(context.Background(), c, synthetic(&n))
	if err != nil {
		t.Fatal(err)
	}
	for _, cand := range res.Evaluated {
		if strings.Contains(cand.DSL, "Review") {
			t.Fatalf("invalid candidate %q was evaluated", cand.DSL)
		}
	}
	c.Start = []string{"Review ? Programmer : done"}
	if _, err := Run(context.Background(), c, synthetic(&n)); err == nil {
		t.Fatal("an invalid starting workflow was accepted")
	}
}

func TestSearchRespectsTheStructuralRules(t *testing.T) {
	var n int
	res, _ := Run(context.Background(), config(5), synthetic(&n))
	cat := newCatalog(lib.Operators, lib.Checkers, lib.Combiners)
	for _, cand := range res.Evaluated {
		if _, err := workflow.Parse(cand.DSL, cat); err != nil {
			t.Fatalf("candidate %q does not parse under the library's rules: %v", cand.DSL, err)
		}
	}
}

func TestSearchReportsExhaustion(t *testing.T) {
	var n int
	c := config(1)
	c.Operators, c.Checkers, c.Combiners = []string{"Custom"}, nil, nil
	c.Start = []string{"Custom"}
	c.Valid = func(g *workflow.Graph) error {
		if len(g.Stages) > 1 {
			return errors.New("one stage only")
		}
		return nil
	}
	res, err := Run(context.Background(), c, synthetic(&n))
	if err != nil || res.Stopped != "exhausted" {
		t.Fatalf("err %v, stopped %q; want exhausted", err, res.Stopped)
	}
}

func TestSearchNeedsALimit(t *testing.T) {
	c := config(1)
	c.MaxEvals = 0
	var n int
	if _, err := Run(context.Background(), c, synthetic(&n)); err == nil {
		t.Fatal("a search without budget or evaluation cap was started")
	}
}
