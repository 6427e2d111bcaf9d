package canvas

// Actions: a reply parsed into an action and applied to the workflow,
// every operator name checked against the library and the task first.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

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
