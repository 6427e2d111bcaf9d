// Package eval runs a fixed workflow over a task set with bounded
// concurrency and summarises the scores per task family with confidence
// intervals. The trainer's evaluation and `flowsteer eval` share it.
//
// Data path: tasks -> engine (workflow run) -> task scorer -> per-family
// metrics.
package eval

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// Result is one task's outcome.
type Result struct {
	TaskID      string        `json:"task_id"`
	Family      task.Family   `json:"family"`
	Source      string        `json:"source,omitempty"`
	Workflow    string        `json:"workflow"`
	Answer      string        `json:"answer"`
	Score       float64       `json:"score"`
	Correct     bool          `json:"correct"`
	Method      string        `json:"method"`
	Explanation string        `json:"explanation"`
	Calls       int           `json:"calls"`
	CacheHits   int           `json:"cache_hits"`
	Tokens      int64         `json:"tokens"`
	FailedNodes int           `json:"failed_nodes"`
	Error       string        `json:"error,omitempty"`
	Duration    time.Duration `json:"duration_ns"`
	Simulated   bool          `json:"simulated"`

	// WorkflowTokens count every call of the run, cache hits included:
	// what the workflow costs on this task whatever was cached.
	WorkflowTokens int64 `json:"workflow_tokens"`
	// Money is the billed calls' price, WorkflowMoney every call's
	// (Runner.Prices); Unpriced is set when a model has no price.
	Money         float64 `json:"money"`
	WorkflowMoney float64 `json:"workflow_money"`
	Unpriced      bool    `json:"unpriced,omitempty"`
}

// Scorer scores a final answer (canvas.Scorer).
type Scorer interface {
	Score(ctx context.Context, t task.Task, answer string) canvas.Score
}

// Runner runs one workflow over tasks.
type Runner struct {
	Executor    canvas.Executor
	Library     *operator.Library
	Scorer      Scorer
	Concurrency int
	// Prices price each task's calls (nil: money 0, flagged unpriced).
	Prices cost.Table
	// OnResult, when set, is called after each task (from several goroutines, serialised here).
	OnResult func(Result)
}

// Run evaluates g on every task and returns the results in task order.
func (r *Runner) Run(ctx context.Context, g *workflow.Graph, tasks []task.Task) ([]Result, error) {
	out := make([]Result, len(tasks))
	grp, ctx := errgroup.WithContext(ctx)
	grp.SetLimit(max(1, r.Concurrency))
	var mu sync.Mutex
	for i, t := range tasks {
		grp.Go(func() error {
			res := r.one(ctx, g, t)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			out[i] = res
			if r.OnResult != nil {
				mu.Lock()
				r.OnResult(res)
				mu.Unlock()
			}
			return nil
		})
	}
	if err := grp.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func (r *Runner) one(ctx context.Context, g *workflow.Graph, t task.Task) Result {
	start := time.Now()
	res := Result{TaskID: t.ID, Family: t.Family, Source: t.Source, Workflow: g.String()}
	ex, err := r.Executor.Execute(ctx, canvas.ExecRequest{Graph: g.Clone(), Task: t, Library: r.Library})
	if err != nil {
		res.Error = err.Error()
		res.Duration = time.Since(start)
		return res
	}
	res.Answer = ex.FinalAnswer
	res.Calls, res.CacheHits = ex.Stats.Calls, ex.Stats.CacheHits
	res.Tokens = ex.Stats.InputTokens + ex.Stats.OutputTokens
	res.Simulated = ex.Stats.Simulated
	var cs cost.Summary
	cs.AddExecutor(r.Prices, ex.Stats.Usage)
	cs.AddFinalWorkflow(r.Prices, ex.Stats.Usage)
	res.WorkflowTokens, res.Money, res.WorkflowMoney, res.Unpriced = cs.FinalWorkflowTokens, cs.ExecutorMoney, cs.FinalWorkflowMoney, len(cs.Unpriced) > 0
	res.Error = ex.Error
	for _, n := range ex.Nodes {
		if n.Status == canvas.NodeFailed {
			res.FailedNodes++
		}
	}
	sc := canvas.ScoreExecution(ctx, r.Scorer, t, g, ex)
	res.Score, res.Correct, res.Method, res.Explanation = sc.Value, sc.Correct, sc.Method, sc.Explanation
	res.Duration = time.Since(start)
	return res
}

// Metric is a proportion or mean with a 95% confidence interval.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Low   float64 `json:"ci_low"`
	High  float64 `json:"ci_high"`
	Count int     `json:"count"`
}

// FamilySummary holds one family's metrics.
type FamilySummary struct {
	Family  task.Family `json:"family"`
	Count   int         `json:"count"`
	Metrics []Metric    `json:"metrics"`
}

// Summarize computes per-family metrics: accuracy (exact correctness) for
// every family, plus mean F1 for qa and pass@1 for code, and an "all" row.
func Summarize(rs []Result) []FamilySummary {
	by := map[task.Family][]Result{}
	for _, r := range rs {
		by[r.Family] = append(by[r.Family], r)
	}
	fams := make([]string, 0, len(by))
	for f := range by {
		fams = append(fams, string(f))
	}
	sort.Strings(fams)
	var out []FamilySummary
	for _, f := range fams {
		out = append(out, summarizeFamily(task.Family(f), by[task.Family(f)]))
	}
	if len(fams) > 1 {
		all := summarizeFamily("all", rs)
		out = append(out, all)
	}
	return out
}

func summarizeFamily(f task.Family, rs []Result) FamilySummary {
	n := len(rs)
	correct := 0
	scores := make([]float64, n)
	for i, r := range rs {
		if r.Correct {
			correct++
		}
		scores[i] = r.Score
	}
	s := FamilySummary{Family: f, Count: n}
	name := "accuracy"
	switch f {
	case task.QA:
		name = "em"
	case task.Code:
		name = "pass@1"
	}
	lo, hi := Wilson(correct, n)
	s.Metrics = append(s.Metrics, Metric{Name: name, Value: ratio(correct, n), Low: lo, High: hi, Count: n})
	if f == task.QA || f == "all" {
		m, lo, hi := MeanCI(scores)
		nm := "f1"
		if f == "all" {
			nm = "mean score"
		}
		s.Metrics = append(s.Metrics, Metric{Name: nm, Value: m, Low: lo, High: hi, Count: n})
	}
	return s
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Wilson is the 95% Wilson score interval of k successes in n trials.
func Wilson(k, n int) (float64, float64) {
	if n == 0 {
		return 0, 0
	}
	const z = 1.959964
	p := float64(k) / float64(n)
	nf := float64(n)
	den := 1 + z*z/nf
	c := (p + z*z/(2*nf)) / den
	h := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return math.Max(0, c-h), math.Min(1, c+h)
}

// MeanCI is the mean with a normal-approximation 95% interval.
func MeanCI(xs []float64) (mean, lo, hi float64) {
	n := float64(len(xs))
	if n == 0 {
		return 0, 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if n < 2 {
		return mean, mean, mean
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	se := math.Sqrt(ss/(n-1)) / math.Sqrt(n)
	return mean, mean - 1.959964*se, mean + 1.959964*se
}

// Format renders summaries as an aligned text table.
func Format(sums []FamilySummary) string {
	s := fmt.Sprintf("%-8s %6s  %-10s %7s  %s\n", "family", "n", "metric", "value", "95% CI")
	for _, f := range sums {
		for _, m := range f.Metrics {
			s += fmt.Sprintf("%-8s %6d  %-10s %7.3f  [%.3f, %.3f]\n", f.Family, f.Count, m.Name, m.Value, m.Low, m.High)
		}
	}
	return s
}
