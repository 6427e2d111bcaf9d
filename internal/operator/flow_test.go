package operator_test

import (
	"reflect"
	"testing"

	"github.com/flowsteer/flowsteer/internal/operator"
)

func def(t *testing.T, name string) operator.Def {
	t.Helper()
	d, ok := operator.Default().Lookup(name)
	if !ok {
		t.Fatalf("no %s in the default library", name)
	}
	return d
}

// TestDefaultBindings pins the data flow of SPEC section 3: which input
// each built-in operator gets from the flowing state.
func TestDefaultBindings(t *testing.T) {
	text := operator.Flow{Prev: operator.Value{Text: "prev"}, LastSolution: "sol", LastFeedback: "fb"}
	list := operator.Flow{Prev: operator.Value{List: []string{"x", "y"}}}
	joined := operator.Value{Text: "Solution 1:\nx\n\nSolution 2:\ny"}
	prev := operator.Value{Text: "prev"}
	cases := []struct {
		op   string
		flow operator.Flow
		want operator.Fields
	}{
		{"Plan", text, operator.Fields{}},
		{"Decompose", text, operator.Fields{}},
		{"Custom", text, operator.Fields{"input": prev}},
		{"AnswerGenerate", list, operator.Fields{"input": joined}},
		{"Programmer", text, operator.Fields{"analysis": prev}},
		{"Test", text, operator.Fields{"solution": prev}},
		{"Review", text, operator.Fields{"solution": prev}},
		{"Format", text, operator.Fields{"solution": prev}},
		{"Verify", text, operator.Fields{"answer": prev}},
		{"Revise", text, operator.Fields{"solution": {Text: "sol"}, "feedback": {Text: "fb"}}},
		{"Revise", operator.Flow{Prev: operator.Value{Text: "prev"}}, operator.Fields{"solution": prev, "feedback": {}}},
		{"ScEnsemble", list, operator.Fields{"solutions": {List: []string{"x", "y"}}}},
		{"ScEnsemble", text, operator.Fields{"solutions": {List: []string{"prev"}}}},
		{"Aggregate", list, operator.Fields{"sub_answers": {List: []string{"x", "y"}}}},
		{"Aggregate", operator.Flow{}, operator.Fields{"sub_answers": {}}},
	}
	for _, tc := range cases {
		if got := def(t, tc.op).BindInputs(tc.flow); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s binds %+v from %+v, want %+v", tc.op, got, tc.flow, tc.want)
		}
	}
	other := operator.Def{Name: "Other"}
	if got, want := other.BindInputs(text), (operator.Fields{"input": prev, "solution": prev}); !reflect.DeepEqual(got, want) {
		t.Errorf("an operator without Bind gets %+v, want %+v", got, want)
	}
}

// TestStepAdvancesTheFlow pins what each built-in operator changes in the
// flow after it succeeds.
func TestStepAdvancesTheFlow(t *testing.T) {
	yes, no := true, false
	start := operator.Flow{Prev: operator.Value{Text: "prev"}, LastSolution: "old", LastFeedback: "old fb"}
	cases := []struct {
		op   string
		out  operator.Output
		want operator.Flow
	}{
		{"Plan", operator.Output{Forward: "p"}, operator.Flow{Prev: operator.Value{Text: "p"}, LastSolution: "old", LastFeedback: "old fb", AfterPlan: true}},
		{"Decompose", operator.Output{Forward: "d"}, operator.Flow{Prev: operator.Value{Text: "d"}, LastSolution: "old", LastFeedback: "old fb", InDecompose: true}},
		{"Custom", operator.Output{Forward: "c"}, operator.Flow{Prev: operator.Value{Text: "c"}, LastSolution: "c", LastFeedback: "old fb"}},
		{"ScEnsemble", operator.Output{Forward: "v"}, operator.Flow{Prev: operator.Value{Text: "v"}, LastSolution: "v", LastFeedback: "old fb"}},
		{"Review", operator.Output{Forward: "prev", Verdict: &no, Feedback: "wrong"}, operator.Flow{Prev: operator.Value{Text: "prev"}, LastSolution: "old", LastFeedback: "wrong"}},
		{"Verify", operator.Output{Forward: "fixed", Verdict: &no, Feedback: "rederived"}, operator.Flow{Prev: operator.Value{Text: "fixed"}, LastSolution: "fixed", LastFeedback: "rederived"}},
		{"Verify", operator.Output{Forward: "prev", Verdict: &yes}, operator.Flow{Prev: operator.Value{Text: "prev"}, LastSolution: "old"}},
		{"Test", operator.Output{Forward: "code", Verdict: &yes}, operator.Flow{Prev: operator.Value{Text: "code"}, LastSolution: "code"}},
		{"Format", operator.Output{Forward: "42"}, operator.Flow{Prev: operator.Value{Text: "42"}, LastSolution: "42", LastFeedback: "old fb"}},
	}
	for _, tc := range cases {
		f := start
		f.Step(def(t, tc.op), tc.out)
		if !reflect.DeepEqual(f, tc.want) {
			t.Errorf("after %s: %+v, want %+v", tc.op, f, tc.want)
		}
	}
	f := operator.Flow{InDecompose: true}
	f.Step(def(t, "Aggregate"), operator.Output{Forward: "a"})
	if f.InDecompose || f.LastSolution != "a" {
		t.Errorf("after Aggregate: %+v, want out of the decomposition with solution a", f)
	}
}

// TestWithDefaultFlowKeepsTheDataFlowOfADefaultName: a definition of
// another library named like a built-in (a remote Revise) takes the
// built-in's binding and advance; another name keeps the default binding.
func TestWithDefaultFlowKeepsTheDataFlowOfADefaultName(t *testing.T) {
	f := operator.Flow{Prev: operator.Value{Text: "prev"}, LastSolution: "sol", LastFeedback: "fb"}
	remote := operator.Def{Name: "Revise", Roles: []operator.Role{operator.Solver}}.WithDefaultFlow()
	if got, want := remote.BindInputs(f), (operator.Fields{"solution": {Text: "sol"}, "feedback": {Text: "fb"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("remote Revise binds %+v, want %+v", got, want)
	}
	plan := operator.Def{Name: "Plan"}.WithDefaultFlow()
	g := operator.Flow{}
	g.Step(plan, operator.Output{Forward: "p"})
	if !g.AfterPlan {
		t.Error("a remote Plan does not mark the flow as planned")
	}
	other := operator.Def{Name: "revise"}.WithDefaultFlow() // names match exactly, as the engine's switch did
	if got := other.BindInputs(f); !reflect.DeepEqual(got, operator.Fields{"input": {Text: "prev"}, "solution": {Text: "prev"}}) {
		t.Errorf("an operator named revise binds %+v, want the default binding", got)
	}
}
