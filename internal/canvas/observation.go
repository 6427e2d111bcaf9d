package canvas

import (
	"fmt"
	"strings"

	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// Observation is what a policy sees after each turn.
type Observation struct {
	EpisodeID  string
	Task       task.Task // public view: gold fields cleared
	Graph      *workflow.Graph
	DSL        string
	Stats      workflow.Stats
	Execution  Execution // node outputs cut to excerpts
	Feedback   string
	Valid      bool
	Turn       int
	MaxRounds  int
	RoundsLeft int
	State      State
	Awaiting   *Awaiting
	History    []HistoryEntry
	Hint       string
	Prompt     *Rendered
	Operators  []OperatorView
	Done       bool
	EndReason  EndReason
	Result     *Result // set when the episode has ended
	LastAction string
	LastKind   action.Kind
	Answer     string // finish answer, recorded never scored
}

// Awaiting names the node whose prompt the canvas waits for.
type Awaiting struct {
	NodeID      string
	Operator    string
	Description string
	Context     string
	Remaining   int
}

// HistoryEntry is one past turn, summarised.
type HistoryEntry struct {
	Turn   int
	Action string
	Valid  bool
	Error  string
}

// OperatorView describes one operator to a policy.
type OperatorView struct {
	operator.Def
	Library string
	Enabled bool
}

// PublicTask clears what a policy or workflow must never see.
func PublicTask(t task.Task) task.Task {
	t.Answers = nil
	t.Unanswerable = false
	t.HiddenTests = task.Tests{}
	t.Reference = ""
	t.Distractors = nil
	return t
}

func (e *Episode) observe() Observation {
	o := Observation{
		EpisodeID:  e.id,
		Task:       PublicTask(e.task),
		Graph:      e.graph.Clone(),
		DSL:        e.graph.String(),
		Stats:      e.graph.Stats(),
		Execution:  boundExecution(e.lastExec, e.cfg.ExcerptLimit),
		Feedback:   e.lastFeedback,
		Valid:      e.lastValid,
		Turn:       e.turn,
		MaxRounds:  e.cfg.MaxRounds,
		RoundsLeft: max(0, e.cfg.MaxRounds-e.turn),
		State:      e.state,
		Hint:       e.hint,
		Done:       e.state == Done,
		EndReason:  e.end,
		Result:     e.result,
		LastAction: e.lastSummary,
		LastKind:   e.lastKind,
		Answer:     e.answer,
		Operators:  operatorViews(e.lib, e.task),
	}
	if e.turn == 0 {
		o.Valid = true
		o.Feedback = "New episode: the workflow is empty. Add the first operator or structure."
	}
	if e.state == AwaitingPrompt && len(e.awaiting) > 0 {
		p := e.awaiting[0]
		d, _ := e.lib.Lookup(p.operator)
		o.Awaiting = &Awaiting{NodeID: p.nodeID, Operator: p.operator, Description: d.Description, Context: p.context, Remaining: len(e.awaiting) - 1}
	}
	start := max(0, len(e.turns)-e.cfg.HistoryLimit)
	for _, t := range e.turns[start:] {
		h := HistoryEntry{Turn: t.Number, Action: t.Summary, Valid: t.Valid}
		if !t.Valid {
			h.Error = excerpt(t.Feedback, 300)
		}
		o.History = append(o.History, h)
	}
	if e.cfg.RenderPrompt && !o.Done {
		r := render(e, o)
		o.Prompt = &r
	}
	return o
}

func operatorViews(lib *operator.Library, t task.Task) []OperatorView {
	defs := lib.Defs()
	out := make([]OperatorView, len(defs))
	for i, d := range defs {
		out[i] = OperatorView{Def: d, Library: lib.Name(), Enabled: d.EnabledForTask(t)}
	}
	return out
}

func boundExecution(ex Execution, limit int) Execution {
	ex.Nodes = append([]NodeResult(nil), ex.Nodes...)
	for i := range ex.Nodes {
		ex.Nodes[i].Output = excerpt(ex.Nodes[i].Output, limit)
		ex.Nodes[i].Error = excerpt(ex.Nodes[i].Error, limit)
	}
	ex.FinalAnswer = excerpt(ex.FinalAnswer, 4*limit)
	return ex
}

// excerpt cuts s to at most n runes, marking the cut.
func excerpt(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 20 {
		return string(r[:n])
	}
	return string(r[:n-15]) + fmt.Sprintf(" …[%d more]", len(r)-(n-15))
}

// adviseNext is the optional advisory hint (never enforced): the most
// useful missing piece for the finish rules and the reward.
func adviseNext(e *Episode) string {
	if e.state != Building {
		return ""
	}
	for _, n := range e.lastExec.Nodes {
		if n.Status == NodeFailed && n.Operator == "Programmer" {
			if d, ok := e.lib.Lookup("Test"); ok && d.EnabledForTask(e.task) {
				return "Programmer failed (" + excerpt(n.Error, 80) + "): add a conditional Test ? Programmer : done"
			}
			return "Programmer failed (" + excerpt(n.Error, 80) + "): add a conditional Review ? Programmer : done"
		}
	}
	st := e.graph.Stats()
	has := e.graph.Has
	switch {
	case e.graph.Empty():
		return "start with Plan, or a solver such as " + firstSolver(e.task.Family)
	case e.task.Family == task.Code && !has("Programmer"):
		return "add Programmer: code tasks need it"
	case e.task.Family == task.Code && !e.task.PublicTests.Empty() && !has("Test"):
		return "add Test: this code task has public tests"
	case !st.HasStructure():
		return "add a parallel block of solvers followed by ScEnsemble, or a conditional Review ? Revise : done"
	case !has("Review") && !has("Verify") && !has("Test"):
		return "add a checker: a conditional Review ? Revise : done repairs wrong solutions"
	case !has("Format"):
		return "add Format at the end so the final answer is concise"
	case st.TotalOperators < e.cfg.Finish.MinOperators:
		return fmt.Sprintf("add operators: finish needs at least %d", e.cfg.Finish.MinOperators)
	}
	return "the workflow meets the finish rules: finish when satisfied"
}

func firstSolver(f task.Family) string {
	switch f {
	case task.Code:
		return "Programmer"
	case task.QA:
		return "Custom"
	}
	return "Programmer or AnswerGenerate"
}

// joinNodeIDs lists node ids for prompts.
func joinNodeIDs(g *workflow.Graph) string {
	var parts []string
	for _, s := range g.Stages {
		for _, n := range s.Nodes() {
			parts = append(parts, n.ID+"="+n.Operator)
		}
	}
	return strings.Join(parts, ", ")
}
