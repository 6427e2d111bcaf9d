package canvas

// Finishing: the rules a finish must meet, and the score and reward of
// an ended episode.

import (
	"context"
	"fmt"
	"strings"

	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
)

// finishBlockers lists the unmet finish rules with the fix for each.
func (e *Episode) finishBlockers() []string {
	r := e.cfg.Finish
	st := e.graph.Stats()
	var out []string
	if r.RequireNonEmpty && e.graph.Empty() {
		return []string{"the workflow is empty: add operators first"}
	}
	if st.TotalOperators < r.MinOperators {
		out = append(out, fmt.Sprintf("the workflow has %d operators, at least %d are needed", st.TotalOperators, r.MinOperators))
	}
	if r.RequireStructure && !st.HasStructure() {
		out = append(out, "add a structure (parallel, conditional or loop)")
	}
	ops := e.graph.Operators()
	has := func(pred func(string) bool) bool {
		for _, op := range ops {
			if pred(op) {
				return true
			}
		}
		return false
	}
	if r.RequireSolver && !has(e.lib.IsSolver) {
		out = append(out, "add a solver ("+strings.Join(e.enabledWith(operator.Solver), ", ")+")")
	}
	if r.RequireChecker && !has(e.countsAsChecker) {
		out = append(out, "add a checker ("+strings.Join(e.enabledWith(operator.Checker), ", ")+")")
	}
	if e.task.Family == task.Code {
		if r.RequireTestForCode && !e.task.PublicTests.Empty() && !e.graph.Has("Test") {
			out = append(out, "this code task has tests: add Test")
		}
		if r.RequireProgrammerOrTestForCode && !e.graph.Has("Programmer") && !e.graph.Has("Test") {
			out = append(out, "a code task needs Programmer or Test")
		}
	}
	if r.RequireFormatWhenVerbose && e.lastExec.Executed && !e.graph.Has("Format") && task.VerboseAnswer(e.lastExec.FinalAnswer) {
		out = append(out, "the current answer is long or verbose: add Format at the end to extract the concise final answer")
	}
	return out
}

// finalise scores the ended episode.
func (e *Episode) finalise(ctx context.Context) {
	if e.result != nil {
		return
	}
	res := &Result{}
	w := e.scoredGraph()
	res.Score = ScoreExecution(ctx, e.scorer, e.task, w, e.lastExec)
	res.Reward = e.rewards.Compute(reward.Input{
		Graph:          w,
		IsChecker:      e.countsAsChecker,
		Correctness:    res.Score.Value,
		Finished:       e.end == Finished,
		InvalidActions: e.invalid,
	})
	// The cost-aware term (off by default) prices one run of the final
	// workflow, the one whose answer was scored.
	res.Reward = e.rewards.Cost.ApplyCost(res.Reward, e.lastExec.Stats.Usage)
	e.result = res
}
