package canvas

import (
	"fmt"
	"unicode/utf8"

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

	// EpisodeUsage sums every execution of the episode so far (its
	// executor cost).
	EpisodeUsage ExecStats
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
	v := e.view.refresh(e)
	o := Observation{
		EpisodeID:  e.id,
		Task:       PublicTask(e.task),
		Graph:      v.graph,
		DSL:        v.dsl,
		Stats:      v.stats,
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
		Operators:  v.operatorViews(e),
		History:    v.recentHistory(e),
	}
	o.EpisodeUsage = e.usage
	if e.turn == 0 {
		o.Valid = true
		o.Feedback = "New episode: the workflow is empty. Add the first operator or structure."
	}
	// The awaited node and the rendered prompt, when there are any, share
	// one allocation.
	var x *struct {
		awaiting Awaiting
		prompt   Rendered
	}
	if (e.state == AwaitingPrompt && len(e.awaiting) > 0) || (e.cfg.RenderPrompt && !o.Done) {
		x = new(struct {
			awaiting Awaiting
			prompt   Rendered
		})
	}
	if e.state == AwaitingPrompt && len(e.awaiting) > 0 {
		p := e.awaiting[0]
		d, _ := e.lib.Lookup(p.operator)
		o.Awaiting = &x.awaiting
		*o.Awaiting = Awaiting{NodeID: p.nodeID, Operator: p.operator, Description: d.Description, Context: p.context, Remaining: len(e.awaiting) - 1}
	}
	if e.cfg.RenderPrompt && !o.Done {
		o.Prompt = &x.prompt
		*o.Prompt = render(e, o)
	}
	return o
}

// viewCache keeps what an episode's observations share from turn to turn,
// so that a turn builds only what changed (the canvas turn is the hot path
// of every rollout). Everything it hands out is shared between
// observations: an Observation is read-only to its receivers.
type viewCache struct {
	// The graph snapshot, its DSL and statistics, valid while the episode's
	// graph is the same graph at the same version.
	src     *workflow.Graph
	version uint64
	graph   *workflow.Graph
	dsl     string
	stats   workflow.Stats

	operators []OperatorView // the library and the task family are fixed per episode
	opNames   []string       // the library's names, for the action parser
	system    string         // the rendered system prompt, likewise fixed
	history   []HistoryEntry // one entry per recorded turn, in order
}

// refresh brings the graph snapshot up to date with the episode's graph.
func (v *viewCache) refresh(e *Episode) *viewCache {
	if v.graph == nil || v.src != e.graph || v.version != e.graph.Version() {
		v.src, v.version = e.graph, e.graph.Version()
		v.graph = e.graph.Clone()
		v.dsl = v.graph.String()
		v.stats = v.graph.Stats()
	}
	return v
}

// dsl is the episode graph's canonical DSL, built once per edit.
func (e *Episode) dsl() string { return e.view.refresh(e).dsl }

func (v *viewCache) names(e *Episode) []string {
	if v.opNames == nil {
		v.opNames = e.lib.Names()
	}
	return v.opNames
}

func (v *viewCache) operatorViews(e *Episode) []OperatorView {
	if v.operators == nil {
		v.operators = operatorViews(e.lib, e.task)
	}
	return v.operators
}

// recentHistory summarises the last HistoryLimit turns. Entries are made
// once per turn; the returned slice is capped, so a receiver's append
// copies instead of writing into the cache.
func (v *viewCache) recentHistory(e *Episode) []HistoryEntry {
	if len(v.history) > len(e.turns) {
		v.history = nil // the record was cut: rebuild it (never in place: observations hold it)
	}
	for _, t := range e.turns[len(v.history):] {
		h := HistoryEntry{Turn: t.Number, Action: t.Summary, Valid: t.Valid}
		if !t.Valid {
			h.Error = excerpt(t.Feedback, 300)
		}
		if v.history == nil {
			v.history = make([]HistoryEntry, 0, max(e.cfg.MaxRounds, len(e.turns)))
		}
		v.history = append(v.history, h)
	}
	n := len(v.history)
	start := max(0, n-e.cfg.HistoryLimit)
	if start == n {
		return nil
	}
	return v.history[start:n:n]
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
	if ex.Nodes != nil {
		ex.Nodes = append([]NodeResult(nil), ex.Nodes...)
	}
	for i := range ex.Nodes {
		ex.Nodes[i].Output = excerpt(ex.Nodes[i].Output, limit)
		ex.Nodes[i].Error = excerpt(ex.Nodes[i].Error, limit)
	}
	ex.FinalAnswer = excerpt(ex.FinalAnswer, 4*limit)
	return ex
}

// excerpt cuts s to at most n runes, marking the cut.
func excerpt(s string, n int) string {
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s // the common case, without converting to runes
	}
	r := []rune(s)
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

// writeNodeIDs lists node ids for prompts ("node_1=Plan, node_2_p0=...").
// It reports whether there was any.
func writeNodeIDs(b *textBuf, g *workflow.Graph) bool {
	first := true
	g.EachNode(func(n *workflow.Node) {
		if !first {
			b.str(", ")
		}
		first = false
		b.str(n.ID, "=", n.Operator)
	})
	return !first
}
