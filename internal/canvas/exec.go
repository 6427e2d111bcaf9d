package canvas

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// Executor runs a workflow on a task. The canvas calls it after each
// completed edit; implementations live in the execution packages. A nil
// Executor means workflows are not executed, and observations say so.
type Executor interface {
	Execute(ctx context.Context, req ExecRequest) (Execution, error)
}

// ExecRequest is one run of a workflow.
type ExecRequest struct {
	Graph   *workflow.Graph // a clone the executor may keep
	Task    task.Task
	Library *operator.Library
	Backend string
	// Episode is the episode id, for logs and traces ("" outside episodes).
	Episode string
	// Turn is the episode's turn that asked for the run (0 outside episodes).
	Turn int
	// OnNode, when set, is called as each node finishes (RunWorkflow streams these).
	OnNode func(NodeResult)
}

// NodeStatus is a node's outcome.
type NodeStatus string

const (
	NodePending NodeStatus = "pending"
	NodeRunning NodeStatus = "running"
	NodeOK      NodeStatus = "ok"
	NodeFailed  NodeStatus = "failed"
	NodeSkipped NodeStatus = "skipped"
)

// NodeResult is one node's result.
type NodeResult struct {
	NodeID       string
	Operator     string
	Status       NodeStatus
	Output       string // full output; observations carry a bounded excerpt
	Error        string
	Duration     time.Duration
	CacheHit     bool
	InputTokens  int64
	OutputTokens int64
	Calls        int
	Verdict      *bool // checkers: true when the solution passed
	Iteration    int

	// Usage is the node's executor work by backend and model.
	Usage cost.Usage
}

// ExecStats count an execution's backend work.
type ExecStats struct {
	Calls        int
	CacheHits    int
	InputTokens  int64
	OutputTokens int64
	SavedTokens  int64
	Duration     time.Duration
	Backend      string
	Model        string
	Simulated    bool
	SandboxRuns  int
	// Usage is the same work by backend and model, for pricing; cache
	// hits are in its Saved* fields.
	Usage          cost.Usage
	SandboxSeconds float64
}

// Merge adds o's counts to s (Duration included); Backend, Model and
// Simulated keep s's unless s has none.
func (s *ExecStats) Merge(o ExecStats) {
	s.Calls += o.Calls
	s.CacheHits += o.CacheHits
	s.InputTokens += o.InputTokens
	s.OutputTokens += o.OutputTokens
	s.SavedTokens += o.SavedTokens
	s.Duration += o.Duration
	s.SandboxRuns += o.SandboxRuns
	s.SandboxSeconds += o.SandboxSeconds
	s.Usage.Merge(o.Usage)
	if s.Backend == "" {
		s.Backend, s.Model = o.Backend, o.Model
	}
	s.Simulated = s.Simulated || o.Simulated
}

// Execution is a workflow run's result.
type Execution struct {
	Executed    bool
	Note        string // why not executed, or reduced sandbox isolation
	Nodes       []NodeResult
	FinalAnswer string
	Stats       ExecStats
	Error       string
}

const notExecutedNote = "the workflow was not executed: no executor is configured on this canvas"

// MethodNoAnswer is the Score.Method of a run that produced no answer.
const MethodNoAnswer = "none"

// NoAnswer says why execution ex of workflow g has no final answer to
// score, or "" when it has one. SPEC section 6: a workflow run that failed
// produces no answer, and abstaining must be an explicit answer, so
//
//   - a run that never happened, or that failed as a whole (timed out,
//     stopped, the executor failed), has no answer;
//   - a run whose last stage produced nothing (every node of it failed or
//     was skipped) has no answer: the text the engine passes on is an
//     earlier stage's, not the workflow's;
//   - an empty answer is no answer, never an abstention.
//
// g may be nil when the graph is not known; the last-stage test is then
// skipped, as it is for executors that report no node results.
func NoAnswer(g *workflow.Graph, ex Execution) string {
	if !ex.Executed {
		return "the workflow was never executed, so there is no answer to score"
	}
	if ex.Error != "" {
		return "the workflow run failed (" + ex.Error + "): a failed run produces no answer"
	}
	if g != nil && len(g.Stages) > 0 && len(ex.Nodes) > 0 {
		last := g.Stages[len(g.Stages)-1]
		ids := map[string]bool{}
		for _, n := range last.Nodes() {
			ids[n.ID] = true
		}
		ok := false
		for _, n := range ex.Nodes {
			if ids[n.NodeID] && n.Status == NodeOK {
				ok = true
				break
			}
		}
		if !ok {
			return "the last stage " + last.ID + " failed or was skipped, so the workflow produced no answer"
		}
	}
	if strings.TrimSpace(ex.FinalAnswer) == "" {
		return "the workflow produced an empty answer: an empty answer is not an abstention (abstain explicitly, e.g. \"unanswerable\")"
	}
	return ""
}

// ScoreExecution scores the final answer of execution ex of workflow g on
// task t, or gives 0 with the reason when the run produced no answer (see
// NoAnswer). Every path that scores a workflow run goes through here, so
// episodes, evaluations and RunWorkflow agree on what counts. A nil sc
// gives the zero Score.
func ScoreExecution(ctx context.Context, sc Scorer, t task.Task, g *workflow.Graph, ex Execution) Score {
	if sc == nil {
		return Score{}
	}
	if why := NoAnswer(g, ex); why != "" {
		return Score{Method: MethodNoAnswer, Explanation: why}
	}
	return sc.Score(ctx, t, ex.FinalAnswer)
}

// execute runs the workflow if configured and returns feedback to append.
func (e *Episode) execute(ctx context.Context) string {
	// Every completed edit comes through here: this graph is the one the
	// reward will score unless a later edit completes.
	e.scored = e.graph.Clone()
	if !e.cfg.ExecuteEachStep {
		e.lastExec = Execution{Note: "the workflow is not executed after edits (execute_each_step is off)"}
		return ""
	}
	if e.exec == nil {
		e.lastExec = Execution{Note: notExecutedNote}
		return " The workflow was not executed (no executor configured)."
	}
	ex, err := e.exec.Execute(ctx, ExecRequest{Graph: e.graph.Clone(), Task: e.task, Library: e.lib, Backend: e.cfg.Backend, Episode: e.id, Turn: e.turn})
	if err != nil {
		ex.Executed = true
		if ex.Error == "" {
			ex.Error = err.Error()
		}
	}
	e.lastExec = ex
	e.usage.Merge(ex.Stats)
	var b strings.Builder
	failed := 0
	for _, n := range ex.Nodes {
		if n.Status == NodeFailed {
			failed++
		}
	}
	fmt.Fprintf(&b, " Executed: %d nodes", len(ex.Nodes))
	if failed > 0 {
		fmt.Fprintf(&b, ", %d failed", failed)
	}
	if ex.Error != "" {
		fmt.Fprintf(&b, "; run error: %s", ex.Error)
	}
	fmt.Fprintf(&b, "; current answer: %s", excerpt(ex.FinalAnswer, 200))
	return b.String()
}
