package embedded

import (
	"slices"
	"testing"

	"github.com/flowsteer/flowsteer/internal/operator"
)

// TestOperatorHeadOrderIsPinned pins the operator head: its indices are
// what decisions and checkpoints record, so the twelve built-in operators
// must keep these places whatever is added to the default library.
func TestOperatorHeadOrderIsPinned(t *testing.T) {
	want := []string{"Plan", "Decompose", "Custom", "AnswerGenerate", "Programmer", "Test",
		"Review", "Verify", "Revise", "ScEnsemble", "Aggregate", "Format"}
	if len(Operators) < len(want) || !slices.Equal(Operators[:len(want)], want) {
		t.Fatalf("operator head %v: the built-in operators must come first, in the order %v", Operators, want)
	}
	if len(Operators) > 16 {
		t.Fatalf("operator head has %d choices: masks hold at most 16", len(Operators))
	}
}

// TestStructureHeadsUseDefaultOperators checks that the network's own
// combinations name operators of the default library in the roles they
// are used in.
func TestStructureHeadsUseDefaultOperators(t *testing.T) {
	lib := operator.Default()
	has := func(name string, r operator.Role) bool {
		d, ok := lib.Lookup(name)
		return ok && d.Name == name && d.Has(r)
	}
	for _, n := range BranchOperators {
		if !has(n, operator.Solver) {
			t.Errorf("branch choice %q is not a solver of the default library", n)
		}
	}
	for _, n := range Checkers {
		if !has(n, operator.Checker) {
			t.Errorf("checker choice %q is not a checker of the default library", n)
		}
	}
	for _, n := range Repairs {
		if !has(n, operator.Solver) {
			t.Errorf("repair choice %q is not a solver of the default library", n)
		}
	}
	for _, body := range LoopBodies {
		if len(body) != 2 || !has(body[0], operator.Checker) || !has(body[1], operator.Solver) {
			t.Errorf("loop body %v is not a checker then a solver of the default library", body)
		}
	}
}
