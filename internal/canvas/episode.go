package canvas

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// State is where an episode stands.
type State string

const (
	Building       State = "building"
	AwaitingPrompt State = "awaiting_prompt"
	Done           State = "done"
)

// EndReason says why an episode ended.
type EndReason string

const (
	NotEnded  EndReason = ""
	Finished  EndReason = "finished"
	MaxRounds EndReason = "max_rounds"
	Closed    EndReason = "closed"
)

// Input is one policy reply: raw text, or an already structured action
// (then Text is kept for the record only). A structured add's Position is
// a 0-based index; set it to -1 to append.
type Input struct {
	Text       string
	Structured *action.Action
}

// Turn is one recorded turn.
type Turn struct {
	Number   int
	Input    Input
	Kind     action.Kind // "" when the reply could not be parsed
	Summary  string
	Valid    bool
	Feedback string
	DSL      string
	State    State
	Time     time.Time
}

// pendingPrompt is a node whose prompt the canvas waits for.
type pendingPrompt struct {
	nodeID   string
	operator string
	context  string
}

// Episode is one task and the workflow built for it. Its methods are safe
// for concurrent use; turns are applied one at a time.
type Episode struct {
	mu sync.Mutex

	id      string
	task    task.Task
	cfg     Config
	lib     *operator.Library
	rewards reward.Spec
	exec    Executor
	scorer  Scorer

	graph *workflow.Graph
	// scored is the workflow as last executed (as last completed where
	// execution is off): the W the reward scores, which never holds nodes
	// still awaiting their prompts (nil = the empty workflow).
	scored   *workflow.Graph
	state    State
	turn     int
	awaiting []pendingPrompt
	end      EndReason
	answer   string // finish answer, recorded never scored
	invalid  int

	lastExec     Execution
	usage        ExecStats // every execution of the episode, summed (its executor cost)
	lastFeedback string
	lastValid    bool
	lastSummary  string
	lastKind     action.Kind
	hint         string
	result       *Result

	turns   []Turn
	view    viewCache // what observations share between turns (observation.go)
	created time.Time
	updated time.Time
	closed  bool
	active  atomic.Bool // counted in the active-episodes metric

	// owner is the tenant that created the episode; size the bytes it
	// holds and cost what it holds or may still grow to (budget.go).
	owner string
	size  int64
	cost  atomic.Int64
}

// Result is an ended episode's score and reward.
type Result struct {
	Score  Score
	Reward reward.Breakdown
}

// Score is a scorer's verdict on the final answer.
type Score struct {
	Value       float64
	Correct     bool
	Method      string
	Explanation string
}

// Scorer scores a final answer against a task's gold answer (the task
// package provides the real one). A nil Scorer gives no reward.
type Scorer interface {
	Score(ctx context.Context, t task.Task, answer string) Score
}

// ID returns the episode id.
func (e *Episode) ID() string { return e.id }

// Task returns the episode's task (with gold fields).
func (e *Episode) Task() task.Task { return e.task }

// Config returns the episode's configuration.
func (e *Episode) Config() Config { return e.cfg }

// Errors callers tell apart (the service maps them to status codes).
var (
	ErrNotFound = errors.New("episode not found")
	ErrClosed   = errors.New("episode is closed")
	ErrDone     = errors.New("episode is done")
	ErrInvalid  = errors.New("invalid request")
)

// Step applies one policy reply and returns the next observation. A reply
// that cannot be parsed or applied still counts as a turn and becomes
// feedback; only a closed or ended episode is an error.
func (e *Episode) Step(ctx context.Context, in Input) (Observation, error) {
	ctx, span := e.startApply(ctx)
	o, err := e.step(ctx, in)
	e.endApply(ctx, span, o, err)
	return o, err
}

func (e *Episode) step(ctx context.Context, in Input) (Observation, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Observation{}, fmt.Errorf("%w: %s was closed; open a new episode", ErrClosed, e.id)
	}
	if e.state == Done {
		return Observation{}, fmt.Errorf("%w: %s ended (%s) after %d turns; open a new episode", ErrDone, e.id, e.end, e.turn)
	}
	e.turn++
	e.hint = ""
	var t turnOutcome
	if i := strings.IndexByte(in.Text, 0); i >= 0 && in.Structured == nil {
		// A NUL byte is no part of a reply a model writes: the turn is
		// invalid (feedback, as every bad reply is) and nothing of it
		// reaches a node prompt, an executor or a log; the record keeps the
		// reply with each NUL shown as U+FFFD.
		t = invalid("", "", fmt.Sprintf("Invalid reply: it holds a NUL byte at offset %d. Reply with text: a brief reflection and exactly one action in tags. Nothing was changed.", i))
		in.Text = strings.ReplaceAll(in.Text, "\x00", "\uFFFD")
	} else if e.state == AwaitingPrompt {
		t = e.takePrompt(ctx, in)
	} else {
		t = e.applyAction(ctx, in)
	}
	if !t.valid {
		e.invalid++
	}
	e.lastFeedback, e.lastValid, e.lastSummary, e.lastKind = t.feedback, t.valid, t.summary, t.kind
	if e.state != Done && e.turn >= e.cfg.MaxRounds {
		e.end = MaxRounds
		e.state = Done
		e.lastFeedback += fmt.Sprintf("\nThe episode reached max_rounds (%d) and ended.", e.cfg.MaxRounds)
		e.lastFeedback += e.dropPending()
	}
	if e.state == Done {
		e.finalise(ctx)
	} else if e.cfg.Hints {
		e.hint = adviseNext(e)
	}
	e.updated = time.Now()
	if in.Structured != nil {
		a := *in.Structured // the record must not change if the caller reuses its action
		a.Operators = append([]string(nil), a.Operators...)
		in.Structured = &a
	}
	if e.turns == nil {
		e.turns = make([]Turn, 0, min(e.cfg.MaxRounds, 32)) // one allocation for a typical episode
	}
	tr := Turn{
		Number: e.turn, Input: in, Kind: t.kind, Summary: t.summary, Valid: t.valid,
		Feedback: e.lastFeedback, DSL: e.dsl(), State: e.state, Time: e.updated,
	}
	e.turns = append(e.turns, tr)
	e.size += turnBytes(tr)
	e.reserveLocked()
	return e.observe(), nil
}

type turnOutcome struct {
	valid    bool
	kind     action.Kind
	summary  string
	feedback string
}

func invalid(kind action.Kind, summary, feedback string) turnOutcome {
	return turnOutcome{kind: kind, summary: summary, feedback: feedback}
}

// dropPending ends an edit whose prompts never all arrived: the graph goes
// back to the workflow as last executed, since the pending nodes never ran
// and the reward scores only what ran (SPEC section 6). It returns the
// feedback to append ("" when nothing was pending).
func (e *Episode) dropPending() string {
	if len(e.awaiting) == 0 {
		return ""
	}
	ids := make([]string, len(e.awaiting))
	for i, p := range e.awaiting {
		ids[i] = p.nodeID
	}
	e.awaiting = nil
	e.graph = e.scoredGraph()
	return fmt.Sprintf(" The last edit never ran (%s still awaited a prompt) and is not part of the final workflow.", strings.Join(ids, ", "))
}

// scoredGraph is a copy of the workflow as last executed.
func (e *Episode) scoredGraph() *workflow.Graph {
	if e.scored == nil {
		return workflow.New()
	}
	return e.scored.Clone()
}

// takePrompt uses the reply as the awaited node's prompt.
func (e *Episode) takePrompt(ctx context.Context, in Input) turnOutcome {
	p := e.awaiting[0]
	var text string
	if in.Structured != nil {
		text = in.Structured.Prompt
	} else {
		text = action.PromptText(in.Text)
	}
	text = strings.TrimSpace(text)
	summary := "prompt for " + p.nodeID + " (" + p.operator + ")"
	if in.Structured == nil {
		// A well-formed action without a <prompt> is not a prompt: taking
		// its leftover text ("Review" from <operator>Review</operator>)
		// would store nonsense while the policy believes it edited.
		if a, err := action.Parse(in.Text, action.Options{}); err == nil && strings.TrimSpace(a.Prompt) == "" {
			return invalid(action.SetPrompt, summary, fmt.Sprintf(
				"Awaiting a prompt for %s (%s), not %s action: reply with 1 to 3 sentences telling this %s what to do for this problem; actions are taken again once every new node has its prompt.",
				p.nodeID, p.operator, article(string(a.Kind)), p.operator))
		}
	}
	if len([]rune(text)) < minPromptLen {
		return invalid(action.SetPrompt, summary, fmt.Sprintf(
			"The prompt for %s (%s) is too short (%d characters): write 1 to 3 sentences (at least %d characters) telling this %s what to do for this problem. "+
				"The canvas is still awaiting a prompt for %s (%s); it takes actions again once every new node has its prompt.",
			p.nodeID, p.operator, len([]rune(text)), minPromptLen, p.operator, p.nodeID, p.operator))
	}
	if len(text) > maxPromptLen {
		return invalid(action.SetPrompt, summary, fmt.Sprintf(
			"The prompt for %s (%s) is too long (%d bytes, at most %d): keep it to 1 to 3 sentences.", p.nodeID, p.operator, len(text), maxPromptLen))
	}
	if err := e.graph.SetPrompt(p.nodeID, text); err != nil {
		// The node was created by this canvas a turn ago; failing here is a
		// bug, but it must still not break the episode.
		e.awaiting = nil
		e.state = Building
		return invalid(action.SetPrompt, summary, "Could not set the prompt: "+err.Error())
	}
	e.awaiting = e.awaiting[1:]
	set := "Prompt set for " + p.nodeID + " (" + p.operator + ")."
	if len(e.awaiting) > 0 {
		return turnOutcome{valid: true, kind: action.SetPrompt, summary: summary, feedback: e.awaitingText(set + " ")}
	}
	e.state = Building
	return turnOutcome{valid: true, kind: action.SetPrompt, summary: summary, feedback: set + e.execute(ctx)}
}

const (
	minPromptLen = 5
	maxPromptLen = 4000
)

// awaitingText asks for the next awaited prompt, after prefix (built in
// one concatenation: this is feedback on most turns).
func (e *Episode) awaitingText(prefix string) string {
	p := e.awaiting[0]
	const rules = ": 1 to 3 sentences specific to this problem, no tags."
	if p.context != "" {
		return prefix + "Now write the prompt for " + p.nodeID + " (" + p.operator + "), " + p.context + rules
	}
	return prefix + "Now write the prompt for " + p.nodeID + " (" + p.operator + ")" + rules
}

func (e *Episode) parse(in Input) (action.Action, error) {
	if in.Structured != nil {
		a := *in.Structured
		if a.Kind == action.Add && a.Structure == action.Loop {
			// SPEC section 4: a loop's count defaults to 3 and is clamped to
			// 1..10, as the text parser does; 0 means "not given".
			if a.Count == 0 {
				a.Count = action.DefaultLoopCount
			}
			a.Count = min(max(a.Count, action.MinLoopCount), action.MaxLoopCount)
		}
		if err := a.Validate(); err != nil {
			return a, err
		}
		return a, nil
	}
	a, err := action.Parse(in.Text, action.Options{Lenient: e.cfg.Lenient, Operators: e.view.names(e)})
	if err != nil {
		return a, err
	}
	return a, a.Validate()
}

func (e *Episode) applyAction(ctx context.Context, in Input) turnOutcome {
	a, err := e.parse(in)
	if err != nil {
		return invalid(a.Kind, summaryOf(a), "Invalid action: "+err.Error())
	}
	summary := a.String()
	switch a.Kind {
	case action.Add:
		return e.add(ctx, a, summary)
	case action.Delete:
		if err := e.graph.Delete(a.Target); err != nil {
			return invalid(a.Kind, summary, "Cannot delete: "+err.Error())
		}
		fb := fmt.Sprintf("Deleted %s.", a.Target)
		if e.graph.Empty() {
			e.lastExec = Execution{}
			e.scored = workflow.New()
			fb += " The workflow is now empty."
		} else {
			fb += e.execute(ctx)
		}
		return turnOutcome{valid: true, kind: a.Kind, summary: summary, feedback: fb}
	case action.Modify:
		op, msg := e.resolveOperator(a.Operator)
		if msg != "" {
			return invalid(a.Kind, summary, "Cannot modify: "+msg)
		}
		if err := e.graph.SetOperator(a.Target, op, e.lib); err != nil {
			return invalid(a.Kind, summary, "Cannot modify: "+err.Error())
		}
		id := a.Target
		if n, _, ok := e.graph.Node(a.Target); ok {
			id = n.ID // the canonical id, however the policy spelt it
		}
		fb := fmt.Sprintf("%s is now %s.", id, op)
		if p := strings.TrimSpace(a.Prompt); len([]rune(p)) >= minPromptLen {
			// Like an add, a modify that brings its own prompt needs no second step.
			_ = e.graph.SetPrompt(id, p)
			fb += " Prompt set." + e.execute(ctx)
			return turnOutcome{valid: true, kind: a.Kind, summary: summary, feedback: fb}
		}
		if e.cfg.TwoStep {
			e.awaiting = []pendingPrompt{{nodeID: id, operator: op}}
			e.state = AwaitingPrompt
			return turnOutcome{valid: true, kind: a.Kind, summary: summary, feedback: e.awaitingText(fb + " ")}
		}
		fb += e.execute(ctx)
		return turnOutcome{valid: true, kind: a.Kind, summary: summary, feedback: fb}
	case action.SetPrompt:
		if err := e.graph.SetPrompt(a.Target, strings.TrimSpace(a.Prompt)); err != nil {
			return invalid(a.Kind, summary, "Cannot set the prompt: "+err.Error())
		}
		fb := fmt.Sprintf("Prompt set for %s.", a.Target)
		fb += e.execute(ctx)
		return turnOutcome{valid: true, kind: a.Kind, summary: summary, feedback: fb}
	case action.Finish:
		if unmet := e.finishBlockers(); len(unmet) > 0 {
			return invalid(a.Kind, summary, "Finish refused: "+strings.Join(unmet, "; ")+".")
		}
		e.answer = a.Answer
		e.end = Finished
		e.state = Done
		return turnOutcome{valid: true, kind: a.Kind, summary: summary, feedback: "Finish accepted: the workflow is final."}
	}
	return invalid(a.Kind, summary, fmt.Sprintf("Invalid action: unknown action %q: use add, delete, modify, set_prompt or finish.", a.Kind))
}

// article puts "a" or "an" before a word.
func article(w string) string {
	if w != "" && strings.ContainsRune("aeiouAEIOU", rune(w[0])) {
		return "an " + w
	}
	return "a " + w
}

func summaryOf(a action.Action) string {
	if a.Kind == "" {
		return "unparsable reply"
	}
	return a.String()
}

// resolveOperator checks a name against the library and the task's family.
// It returns the canonical spelling, or a message naming the fix.
func (e *Episode) resolveOperator(name string) (string, string) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", "no operator given: name one of " + strings.Join(e.lib.Names(), ", ")
	}
	d, ok := e.lib.Lookup(name)
	if !ok {
		return "", fmt.Sprintf("unknown operator %s: known are %s", name, strings.Join(e.enabledNames(), ", "))
	}
	if !d.EnabledFor(e.task.Family) {
		return "", fmt.Sprintf("%s is disabled for %s tasks: use one of %s", d.Name, familyWords(e.task.Family), strings.Join(e.enabledNames(), ", "))
	}
	if !d.EnabledForTask(e.task) {
		return "", fmt.Sprintf("%s is disabled: this task has no public tests for it to run; use one of %s", d.Name, strings.Join(e.enabledNames(), ", "))
	}
	return d.Name, ""
}

// countsAsChecker reports whether op is a checker that can run on this
// task: Test is one only where the task has tests (SPEC section 6).
func (e *Episode) countsAsChecker(op string) bool {
	d, ok := e.lib.Lookup(op)
	return ok && d.Has(operator.Checker) && d.EnabledForTask(e.task)
}

func (e *Episode) enabledNames() []string {
	var out []string
	for _, d := range e.lib.Defs() {
		if d.EnabledForTask(e.task) {
			out = append(out, d.Name)
		}
	}
	return out
}

// enabledWith lists the operators with role r that this task may use.
func (e *Episode) enabledWith(r operator.Role) []string {
	var out []string
	for _, d := range e.lib.Defs() {
		if d.Has(r) && d.EnabledForTask(e.task) {
			out = append(out, d.Name)
		}
	}
	return out
}

func familyWords(f task.Family) string {
	if f == task.MultipleChoice {
		return "multiple-choice"
	}
	return string(f)
}

// add validates every operator name BEFORE anything changes, so a bad name
// can never leave the canvas waiting for a prompt it cannot take.
func (e *Episode) add(ctx context.Context, a action.Action, summary string) turnOutcome {
	spec := workflow.StageSpec{Count: a.Count}
	resolve := func(names ...string) ([]string, string) {
		out := make([]string, 0, len(names))
		for _, n := range names {
			op, msg := e.resolveOperator(n)
			if msg != "" {
				return nil, msg
			}
			out = append(out, op)
		}
		return out, ""
	}
	var msg string
	switch a.Structure {
	case action.NoStructure:
		spec.Kind = workflow.Operator
		spec.Operators, msg = resolve(a.Operator)
	case action.Parallel:
		spec.Kind = workflow.Parallel
		spec.Operators, msg = resolve(a.Operators...)
	case action.Loop:
		spec.Kind = workflow.Loop
		spec.Operators, msg = resolve(a.Operators...)
		if spec.Count == 0 {
			spec.Count = workflow.DefaultLoopCount
		}
	case action.Conditional:
		spec.Kind = workflow.Conditional
		var ops []string
		names := []string{a.Condition, a.True}
		if f := strings.TrimSpace(a.False); f != "" && !strings.EqualFold(f, workflow.Done) {
			names = append(names, f)
		}
		ops, msg = resolve(names...)
		if msg == "" {
			spec.Condition, spec.True = ops[0], ops[1]
			if len(ops) == 3 {
				spec.False = ops[2]
			}
		}
	default:
		msg = fmt.Sprintf("unknown structure %q: use parallel, conditional or loop", a.Structure)
	}
	if msg != "" {
		return invalid(a.Kind, summary, "Cannot add: "+msg)
	}
	pos := a.Position
	if pos > len(e.graph.Stages) {
		return invalid(a.Kind, summary, fmt.Sprintf("Cannot add: position %d is past the end (the workflow has %d stages; positions are 0..%d, or omit it to append).", pos, len(e.graph.Stages), len(e.graph.Stages)))
	}
	st, err := e.graph.Insert(pos, spec, e.lib)
	if err != nil {
		return invalid(a.Kind, summary, "Cannot add: "+err.Error())
	}
	nodes := st.Nodes()
	fb := "Added " + describeStage(st) + " as " + st.ID + "."
	if a.Structure == action.NoStructure && len([]rune(strings.TrimSpace(a.Prompt))) >= minPromptLen {
		// An add that brings its own prompt needs no second step.
		_ = e.graph.SetPrompt(st.ID, strings.TrimSpace(a.Prompt))
		nodes = nil
		fb += " Prompt set."
	}
	if e.cfg.TwoStep && len(nodes) > 0 {
		e.awaiting = slices.Grow(e.awaiting[:0], len(nodes))
		for i, n := range nodes {
			e.awaiting = append(e.awaiting, pendingPrompt{nodeID: n.ID, operator: n.Operator, context: nodeContext(st, i, len(nodes))})
		}
		e.state = AwaitingPrompt
		return turnOutcome{valid: true, kind: a.Kind, summary: summary, feedback: e.awaitingText(fb + " ")}
	}
	fb += e.execute(ctx)
	return turnOutcome{valid: true, kind: a.Kind, summary: summary, feedback: fb}
}

func describeStage(st *workflow.Stage) string {
	switch st.Kind {
	case workflow.Operator:
		return st.Op.Operator
	default:
		return st.Kind.String() + " " + st.String()
	}
}

func nodeContext(st *workflow.Stage, i, n int) string {
	switch st.Kind {
	case workflow.Parallel:
		return fmt.Sprintf("branch %d of %d of parallel %s", i+1, n, st.ID)
	case workflow.Conditional:
		switch i {
		case 0:
			return fmt.Sprintf("the checker of conditional %s", st.ID)
		case 1:
			return fmt.Sprintf("the repair branch of conditional %s (runs when the checker finds the solution wrong)", st.ID)
		default:
			return fmt.Sprintf("the pass branch of conditional %s (runs when the checker passes the solution)", st.ID)
		}
	case workflow.Loop:
		return fmt.Sprintf("step %d of %d of loop %s", i+1, n, st.ID)
	}
	return ""
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

// close marks the episode closed; an open episode ends with EndReason Closed.
// It reports false when the episode was already closed.
func (e *Episode) close(ctx context.Context) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.closed = true
	if e.state != Done {
		e.state = Done
		e.end = Closed
		e.dropPending()
		e.finalise(ctx)
		e.traceEnd(ctx, trace.SpanFromContext(ctx), e.observe())
	}
	e.updated = time.Now()
	e.reserveLocked()
	return true
}

// Snapshot is an episode's full record.
type Snapshot struct {
	ID          string
	Task        task.Task
	Config      Config
	Observation Observation
	Turns       []Turn
	Created     time.Time
	Updated     time.Time
	Closed      bool
}

// Snapshot returns the record; turns only when asked.
func (e *Episode) Snapshot(withTurns bool) Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Snapshot{ID: e.id, Task: e.task, Config: e.cfg, Observation: e.observe(), Created: e.created, Updated: e.updated, Closed: e.closed}
	if withTurns {
		s.Turns = append([]Turn(nil), e.turns...)
	}
	return s
}

// Observe returns the current observation without taking a turn.
func (e *Episode) Observe() Observation {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.observe()
}

func (e *Episode) lastUsed() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.updated
}
