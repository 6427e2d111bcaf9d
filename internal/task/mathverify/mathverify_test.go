package mathverify

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/flowsteer/flowsteer/internal/task"
)

// needWorker starts a Grader or skips: math-verify lives in .venv, which
// `make mathverify` fills (the Makefile's test target does).
func needWorker(t *testing.T) *Grader {
	t.Helper()
	g := New(Config{})
	if err := g.Start(); err != nil {
		t.Skipf("math-verify unavailable (%v): run make mathverify", err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

func TestWorkerGradesLikeMathVerify(t *testing.T) {
	g := needWorker(t)
	if !strings.HasPrefix(g.Name(), "math-verify 0.") {
		t.Fatalf("name %q", g.Name())
	}
	vs, err := g.GradeMath(context.Background(), []task.MathItem{
		{Gold: []string{"18"}, Pred: "18"},
		{Gold: []string{"70000"}, Pred: "70001"},
		{Gold: []string{`\frac{1}{2}`}, Pred: "0.5"},
		{Gold: []string{`\left( 3, \frac{\pi}{2} \right)`}, Pred: `(3, \frac{\pi}{2})`},
		{Gold: []string{"5"}, Pred: "", Text: "no number here"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := []bool{}
	for _, v := range vs {
		got = append(got, v.Correct)
	}
	if fmt.Sprint(got) != "[true false true true false]" {
		t.Fatalf("verdicts %v: %+v", got, vs)
	}
}

func TestConcurrentCallsShareOneWorkerInBatches(t *testing.T) {
	g := needWorker(t)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := strconv.Itoa(1000 + i)
			vs, err := g.GradeMath(context.Background(), []task.MathItem{{Gold: []string{n}, Pred: n}, {Gold: []string{n}, Pred: n + "1"}})
			if err == nil && (len(vs) != 2 || !vs[0].Correct || vs[1].Correct) {
				err = fmt.Errorf("item %d: %+v", i, vs)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestUnavailableWorkerMakesTheScorerFallBackToGo(t *testing.T) {
	g := New(Config{Python: filepath.Join(t.TempDir(), "no-such-python")})
	defer g.Close()
	r := task.Scorer{Math: g}.Score(context.Background(), task.Task{ID: "m", Family: task.Math, Question: "q", Answers: []string{"42"}}, "<answer>42</answer>", nil)
	if !r.Correct || r.Grader != task.GraderGo || !strings.Contains(r.Explanation, "fallback") {
		t.Fatalf("%+v", r)
	}
}

// documentedDisagreements are the cases where math-verify and the Go
// scorer differ on the shipped samples, each with the reason; parity
// fails on any other. Keys: "<task id> <candidate kind>".
var documentedDisagreements = map[string]string{}

// TestParityOnEveryShippedMathSample runs both graders over every math
// sample (GSM8K, MATH, AIME 2025) with the gold answer in three forms and
// an off-by-one or altered wrong answer, and lists every disagreement.
func TestParityOnEveryShippedMathSample(t *testing.T) {
	g := needWorker(t)
	root := filepath.Join("..", "..", "..", "testdata", "benchmarks")
	var tasks []task.Task
	for _, p := range []string{"gsm8k/test.jsonl", "math/test.jsonl", "aime2025/test.jsonl"} {
		ts, err := task.Load(filepath.Join(root, p), "")
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, ts...)
	}
	ctx := context.Background()
	goScorer, mv := task.Scorer{}, task.Scorer{Math: g}
	var disagree []string
	checked := 0
	for _, x := range tasks {
		gold := x.Answers[0]
		wrong := gold + " + 1"
		if n, err := strconv.ParseFloat(gold, 64); err == nil {
			wrong = strconv.FormatFloat(n+1, 'f', -1, 64)
		}
		for _, c := range []struct{ kind, answer string }{
			{"answer-tag", "<answer>" + gold + "</answer>"},
			{"boxed", `So the final answer is $\boxed{` + gold + `}$.`},
			{"bare", gold},
			{"wrong", "<answer>" + wrong + "</answer>"},
		} {
			a := goScorer.Score(ctx, x, c.answer, nil)
			b := mv.Score(ctx, x, c.answer, nil)
			if b.Grader == task.GraderGo {
				t.Fatalf("math-verify fell back: %s", b.Explanation)
			}
			checked++
			if a.Correct != b.Correct {
				key := x.ID + " " + c.kind
				line := fmt.Sprintf("%s: go=%v math-verify=%v (%s | %s)", key, a.Correct, b.Correct, a.Explanation, b.Explanation)
				if why, ok := documentedDisagreements[key]; ok {
					t.Logf("documented: %s: %s", line, why)
					continue
				}
				disagree = append(disagree, line)
			}
		}
	}
	sort.Strings(disagree)
	t.Logf("%d tasks, %d answers graded by both", len(tasks), checked)
	if len(disagree) > 0 {
		t.Fatalf("%d undocumented disagreements:\n%s", len(disagree), strings.Join(disagree, "\n"))
	}
}
