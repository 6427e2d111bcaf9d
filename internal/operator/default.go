package operator

import "github.com/flowsteer/flowsteer/internal/task"

// DefaultName is the name of the built-in library.
const DefaultName = "default"

// defaultDefs are the twelve operators of SPEC section 2. Descriptions are
// what a policy reads when it chooses; keep them short and exact about the
// data each operator receives.
//
// The order is part of the embedded policy's network: its operator head
// lists these in this order (internal/policy/embedded), so checkpoints
// depend on it. Add an operator at the end, and expect old checkpoints of
// the embedded policy to be refused.
var defaultDefs = []Def{
	{Name: "Plan", Group: "planning", Roles: nil,
		Inputs: []string{"problem"}, Outputs: []string{"plan", "approach"},
		Description: "Writes a solving strategy for the problem.",
		WhenToUse:   "Only as the first node; later solvers read its plan.",
		Bind:        BindNothing,
		Advance:     func(f *Flow, _ Output) { f.AfterPlan = true },
		Prompt:      NodePrompt{Any: "Outline a short step-by-step strategy for this {task}, naming the key facts or quantities to find before solving it."}},
	{Name: "Decompose", Group: "planning",
		Inputs: []string{"problem"}, Outputs: []string{"sub_problems", "reasoning"},
		Description: "Splits the problem into sub-problems.",
		WhenToUse:   "For hard multi-part problems; pair it with Aggregate later.",
		Bind:        BindNothing,
		Advance:     func(f *Flow, _ Output) { f.InDecompose = true },
		Prompt:      NodePrompt{Any: "Split this {task} into two to four smaller sub-problems that can be solved one at a time, in order."}},
	{Name: "Custom", Group: "solving", Roles: []Role{Solver},
		Inputs: []string{"input", "instruction"}, Outputs: []string{"response"},
		Description: "General reasoning text generation guided by the node's prompt.",
		WhenToUse:   "Reading comprehension and open questions; not for code.",
		Bind:        BindText("input"),
		Prompt:      NodePrompt{Any: "Solve this {task} carefully, reasoning step by step from the given information, and state the final answer clearly at the end."}},
	{Name: "AnswerGenerate", Group: "solving", Roles: []Role{Solver},
		Inputs: []string{"input"}, Outputs: []string{"thought", "answer"},
		Description: "Step-by-step reasoning that ends in a final answer.",
		WhenToUse:   "A quick direct answer; cheap but mediocre alone.",
		Bind:        BindText("input"),
		Prompt: NodePrompt{Any: "Think through this {task} step by step and finish with a single, concise final answer.",
			MultipleChoice: "Think through this {task} step by step, rule out the wrong options, and finish with the letter of the correct option."}},
	{Name: "Programmer", Group: "solving", Roles: []Role{Solver},
		Inputs: []string{"problem", "analysis"}, Outputs: []string{"code", "output"},
		Description: "Writes Python and runs it in the sandbox; its output is what the code printed or returned (up to 3 attempts on errors).",
		WhenToUse:   "Calculation-heavy math and every code task.",
		DisabledFor: []task.Family{task.MultipleChoice},
		Bind:        BindText("analysis"),
		Prompt: NodePrompt{Any: "Write Python code that computes the answer to this {task} exactly and prints only the final result.",
			Code: "Implement the requested function for this {task} in Python, handling the edge cases the description and public tests point to."}},
	{Name: "Test", Group: "checking", Roles: []Role{Checker},
		Inputs: []string{"problem", "solution", "entry_point"}, Outputs: []string{"result", "solution"},
		Description: "Runs the task's public tests on the code; on failure asks for a fix and re-tests.",
		WhenToUse:   "Code tasks with tests, after Programmer.",
		NeedsTests:  true,
		Bind:        BindText("solution"),
		Advance:     KeepSolution, // the code, repaired or not, is the solution from here on
		Prompt:      NodePrompt{Any: "Run the public tests on the current code for this {task} and fix any failing case without breaking the passing ones."}},
	{Name: "Review", Group: "checking", Roles: []Role{Checker},
		Inputs: []string{"problem", "solution"}, Outputs: []string{"review_result", "feedback"},
		Description: "Judges a solution and explains what is wrong.",
		WhenToUse:   "As the condition of `Review ? Revise : done`.",
		Bind:        BindText("solution"),
		Prompt:      NodePrompt{Any: "Check the current solution to this {task} for mistakes in logic or calculation and explain precisely what is wrong, if anything."}},
	{Name: "Verify", Group: "checking", Roles: []Role{Checker},
		Inputs: []string{"problem", "answer"}, Outputs: []string{"is_correct", "confidence", "answer"},
		Description: "Re-derives and checks the answer.",
		WhenToUse:   "After a solver or an ensemble, to confirm the answer.",
		Bind:        BindText("answer"),
		Advance: func(f *Flow, out Output) {
			if out.Verdict != nil && !*out.Verdict {
				f.LastSolution = out.Forward // the re-derived answer
			}
		},
		Prompt: NodePrompt{Any: "Independently re-derive the answer to this {task} and confirm the current answer or correct it."}},
	{Name: "Revise", Group: "refining", Roles: []Role{Solver},
		Inputs: []string{"problem", "solution", "feedback"}, Outputs: []string{"solution"},
		Description: "Fixes a solution using the last checker's feedback.",
		WhenToUse:   "As the repair branch after Review or Verify.",
		Bind:        bindRevise,
		Prompt:      NodePrompt{Any: "Fix the current solution to this {task} using the checker's feedback, keeping the parts that are already correct."}},
	{Name: "ScEnsemble", Group: "ensembling", Roles: []Role{Combiner},
		Inputs: []string{"solutions", "problem"}, Outputs: []string{"response"},
		Description: "Self-consistency: picks the answer most solutions agree on.",
		WhenToUse:   "Right after a parallel block of solvers; never inside one.",
		Bind:        BindList("solutions"),
		Prompt:      NodePrompt{Any: "Compare the candidate solutions to this {task} and return the answer most of them agree on."}},
	{Name: "Aggregate", Group: "ensembling", Roles: []Role{Solver, Combiner},
		Inputs: []string{"problem", "sub_answers"}, Outputs: []string{"aggregated_answer"},
		Description: "Merges sub-answers into one answer.",
		WhenToUse:   "After Decompose or a parallel block; never inside one.",
		Bind:        BindList("sub_answers"),
		Advance:     func(f *Flow, _ Output) { f.InDecompose = false },
		Prompt:      NodePrompt{Any: "Combine the partial answers to this {task} into one consistent final answer."}},
	{Name: "Format", Group: "formatting",
		Inputs: []string{"problem", "solution"}, Outputs: []string{"solution"},
		Description: "Extracts the concise final answer the scorer expects.",
		WhenToUse:   "Last, whenever the answer is long or verbose.",
		Bind:        BindText("solution"),
		Advance:     KeepSolution,
		Prompt: NodePrompt{Any: "Extract only the final answer to this {task} in the short form a grader expects, with no explanation.",
			Code:           "Return only the final, complete Python code for this {task}, with no explanation around it.",
			MultipleChoice: "Give only the letter of the chosen option for this {task}, with no explanation."}},
}

// bindRevise gives Revise the latest solution (the previous output when
// none was recorded) and the latest checker's feedback.
func bindRevise(f Flow) Fields {
	sol := f.LastSolution
	if sol == "" {
		sol = f.Text()
	}
	return Fields{"solution": {Text: sol}, "feedback": {Text: f.LastFeedback}}
}

// Default returns the built-in library of SPEC section 2.
func Default() *Library {
	l, err := NewLibrary(DefaultName, defaultDefs)
	if err != nil {
		panic(err) // the table above is fixed; a failure is a programming error caught by tests
	}
	return l
}
