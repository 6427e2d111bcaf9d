package operator

import (
	"fmt"
	"strings"
)

// Flow is the data flowing between the stages of a workflow run (SPEC
// section 3). The execution engine keeps one per run (one per branch inside
// a parallel block); an operator's Bind reads it to pick the operator's
// inputs and its Advance records what a successful invocation changes.
type Flow struct {
	// Prev is the previous stage's output: text, or a list after a
	// parallel block.
	Prev Value
	// LastSolution is the latest solution (what a solver, a combiner or a
	// Def whose Advance says so produced), the one Revise repairs.
	LastSolution string
	// LastFeedback is the latest checker's feedback, which Revise reads.
	LastFeedback string
	// AfterPlan: a Plan stage ran before (the simulated backend's solvers
	// do better after one).
	AfterPlan bool
	// InDecompose: the run stands between a Decompose and its Aggregate.
	InDecompose bool
}

// Text is the previous output as one text: a parallel block's outputs are
// numbered "Solution i:" paragraphs.
func (f Flow) Text() string {
	v := f.Prev
	if len(v.List) > 0 && v.Text == "" {
		var b strings.Builder
		for i, s := range v.List {
			fmt.Fprintf(&b, "Solution %d:\n%s\n\n", i+1, s)
		}
		return strings.TrimSpace(b.String())
	}
	return v.Text
}

// List is the previous output as a list: a lone text is a one-element list.
func (f Flow) List() Value {
	v := f.Prev
	if len(v.List) > 0 {
		return Value{List: v.List}
	}
	if v.Text != "" {
		return Value{List: []string{v.Text}}
	}
	return Value{}
}

// Bind picks an operator's inputs from the flow.
type Bind func(f Flow) Fields

// BindNothing gives the operator no inputs but the task (Plan, Decompose).
func BindNothing(Flow) Fields { return Fields{} }

// BindText binds the previous output, as one text, to each named input.
func BindText(names ...string) Bind {
	return func(f Flow) Fields {
		v := Value{Text: f.Text()}
		out := make(Fields, len(names))
		for _, n := range names {
			out[n] = v
		}
		return out
	}
}

// BindList binds the previous output, as a list, to the named input (the
// operators that consume a parallel block).
func BindList(name string) Bind {
	return func(f Flow) Fields { return Fields{name: f.List()} }
}

// bindDefault is the binding of an operator whose Def names none: the
// previous output under "input" and "solution".
var bindDefault = BindText("input", "solution")

// BindInputs binds d's inputs from f with d.Bind, or with the default binding
// (the previous output under "input" and "solution") when d has none.
func (d Def) BindInputs(f Flow) Fields {
	if d.Bind != nil {
		return d.Bind(f)
	}
	return bindDefault(f)
}

// Advance records in the flow what one successful invocation changed
// beyond the common part that Flow.Step applies to every operator.
type Advance func(f *Flow, out Output)

// KeepSolution records the output as the latest solution: for operators
// that are neither solvers nor combiners but hand on a solution (Test's
// repaired code, Format's extract).
func KeepSolution(f *Flow, out Output) { f.LastSolution = out.Forward }

// Step moves f past a successful invocation of d: a checker's feedback is
// kept for a later Revise, the output flows on, a solver's or a combiner's
// output becomes the latest solution, and then d.Advance adds what is
// particular to d.
func (f *Flow) Step(d Def, out Output) {
	if out.Verdict != nil {
		f.LastFeedback = out.Feedback
	}
	f.Prev = Value{Text: out.Forward}
	if d.Has(Solver) || d.Has(Combiner) {
		f.LastSolution = out.Forward
	}
	if d.Advance != nil {
		d.Advance(f, out)
	}
}

// WithDefaultFlow fills what d leaves unset of Bind, Advance and Prompt
// from the default library's operator of exactly d's name, if there is
// one. A library that re-serves flowsteer's own operators (a remote
// OperatorService offering its own Revise) so keeps their data flow, as
// it had when the engine chose the binding by name.
func (d Def) WithDefaultFlow() Def {
	for _, b := range defaultDefs {
		if b.Name != d.Name {
			continue
		}
		if d.Bind == nil {
			d.Bind = b.Bind
		}
		if d.Advance == nil {
			d.Advance = b.Advance
		}
		if d.Prompt == (NodePrompt{}) {
			d.Prompt = b.Prompt
		}
	}
	return d
}
