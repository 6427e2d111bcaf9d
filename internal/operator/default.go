package operator

import "github.com/flowsteer/flowsteer/internal/task"

// DefaultName is the name of the built-in library.
const DefaultName = "default"

// defaultDefs are the twelve operators of SPEC section 2. Descriptions are
// what a policy reads when it chooses; keep them short and exact about the
// data each operator receives.
var defaultDefs = []Def{
	{Name: "Plan", Group: "planning", Roles: nil,
		Inputs: []string{"problem"}, Outputs: []string{"plan", "approach"},
		Description: "Writes a solving strategy for the problem.",
		WhenToUse:   "Only as the first node; later solvers read its plan."},
	{Name: "Decompose", Group: "planning",
		Inputs: []string{"problem"}, Outputs: []string{"sub_problems", "reasoning"},
		Description: "Splits the problem into sub-problems.",
		WhenToUse:   "For hard multi-part problems; pair it with Aggregate later."},
	{Name: "Custom", Group: "solving", Roles: []Role{Solver},
		Inputs: []string{"input", "instruction"}, Outputs: []string{"response"},
		Description: "General reasoning text generation guided by the node's prompt.",
		WhenToUse:   "Reading comprehension and open questions; not for code."},
	{Name: "AnswerGenerate", Group: "solving", Roles: []Role{Solver},
		Inputs: []string{"input"}, Outputs: []string{"thought", "answer"},
		Description: "Step-by-step reasoning that ends in a final answer.",
		WhenToUse:   "A quick direct answer; cheap but mediocre alone."},
	{Name: "Programmer", Group: "solving", Roles: []Role{Solver},
		Inputs: []string{"problem", "analysis"}, Outputs: []string{"code", "output"},
		Description: "Writes Python and runs it in the sandbox; its output is what the code printed or returned (up to 3 attempts on errors).",
		WhenToUse:   "Calculation-heavy math and every code task.",
		DisabledFor: []task.Family{task.MultipleChoice}},
	{Name: "Test", Group: "checking", Roles: []Role{Checker},
		Inputs: []string{"problem", "solution", "entry_point"}, Outputs: []string{"result", "solution"},
		Description: "Runs the task's public tests on the code; on failure asks for a fix and re-tests.",
		WhenToUse:   "Code tasks with tests, after Programmer.",
		NeedsTests:  true},
	{Name: "Review", Group: "checking", Roles: []Role{Checker},
		Inputs: []string{"problem", "solution"}, Outputs: []string{"review_result", "feedback"},
		Description: "Judges a solution and explains what is wrong.",
		WhenToUse:   "As the condition of `Review ? Revise : done`."},
	{Name: "Verify", Group: "checking", Roles: []Role{Checker},
		Inputs: []string{"problem", "answer"}, Outputs: []string{"is_correct", "confidence", "answer"},
		Description: "Re-derives and checks the answer.",
		WhenToUse:   "After a solver or an ensemble, to confirm the answer."},
	{Name: "Revise", Group: "refining", Roles: []Role{Solver},
		Inputs: []string{"problem", "solution", "feedback"}, Outputs: []string{"solution"},
		Description: "Fixes a solution using the last checker's feedback.",
		WhenToUse:   "As the repair branch after Review or Verify."},
	{Name: "ScEnsemble", Group: "ensembling", Roles: []Role{Combiner},
		Inputs: []string{"solutions", "problem"}, Outputs: []string{"response"},
		Description: "Self-consistency: picks the answer most solutions agree on.",
		WhenToUse:   "Right after a parallel block of solvers; never inside one."},
	{Name: "Aggregate", Group: "ensembling", Roles: []Role{Solver, Combiner},
		Inputs: []string{"problem", "sub_answers"}, Outputs: []string{"aggregated_answer"},
		Description: "Merges sub-answers into one answer.",
		WhenToUse:   "After Decompose or a parallel block; never inside one."},
	{Name: "Format", Group: "formatting",
		Inputs: []string{"problem", "solution"}, Outputs: []string{"solution"},
		Description: "Extracts the concise final answer the scorer expects.",
		WhenToUse:   "Last, whenever the answer is long or verbose."},
}

// Default returns the built-in library of SPEC section 2.
func Default() *Library {
	l, err := NewLibrary(DefaultName, defaultDefs)
	if err != nil {
		panic(err) // the table above is fixed; a failure is a programming error caught by tests
	}
	return l
}
