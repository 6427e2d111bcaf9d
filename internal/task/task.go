// Package task holds the problems an episode is about: the task record,
// loaders for public benchmark layouts, the offline generated suite and the
// scorers that turn a workflow's final answer into a correctness in [0, 1].
//
// Data path: a task opens a canvas episode; at the end the workflow's final
// answer is scored here and the score feeds the reward (internal/reward):
//
//	tasks, err := task.Load("gsm8k/test.jsonl", "auto") // or task.Generate(300, seed)
//	...
//	res := task.Score(ctx, tasks[i], finalAnswer, runner) // runner: the sandbox, for code
//	// res.Score is the correctness the reward releases; res.Explanation is
//	// the one-line reason for logs and feedback.
//
// Only the public fields of a Task (question, context, choices, prompt,
// public tests) may reach a policy or a workflow; Answers, HiddenTests,
// Reference and Distractors exist for scoring and for the simulated backend.
//
// Files: task.go and validate.go hold the record; load*.go the loaders
// (Load, Detect, ReadJSONL, WriteJSONL) for GSM8K, MATH, MathQA, AIME 2025,
// HotpotQA, SQuAD v2, TriviaQA, NaturalQuestions (open), MBPP, HumanEval,
// APPS, DS-1000 and the project's own JSONL; score*.go the scorers of
// SPEC section 8 (math, multiple choice, qa, code); gen*.go the offline
// suite of SPEC section 10.
package task

// Family is the kind of problem; it selects the scorer and the per-task
// operator rules of the canvas.
type Family string

const (
	Math           Family = "math"
	QA             Family = "qa"
	Code           Family = "code"
	MultipleChoice Family = "mc" // e.g. MathQA: Programmer is disabled, answers are option letters
)

// Valid reports whether f is one of the known families.
func (f Family) Valid() bool {
	switch f {
	case Math, QA, Code, MultipleChoice:
		return true
	}
	return false
}

// TestStyle says how a code task's tests are run.
type TestStyle string

const (
	// AssertStyle: Python code appended after the solution and run; any
	// exception (AssertionError included) is a failure. HumanEval's
	// `check(candidate)` is turned into this style by calling
	// check(<entry_point>) at the end; MBPP's assert lines are used as is.
	AssertStyle TestStyle = "assert"
	// IOStyle: APPS-style cases; the solution reads stdin and must print the
	// expected stdout (compared after trimming trailing whitespace per line).
	IOStyle TestStyle = "io"
	// EmbedStyle: Code is a whole test program that receives the solution
	// as a Python string expression in place of every SolutionPlaceholder,
	// because DS-1000's tests splice the solution into their own context
	// (exec_context with [insert]) instead of running it first.
	EmbedStyle TestStyle = "embed"
)

// SolutionPlaceholder marks where an EmbedStyle program takes the solution;
// it is replaced by a Python expression whose value is the solution text.
const SolutionPlaceholder = "__FLOWSTEER_SOLUTION__"

// IOCase is one stdin/stdout test case.
type IOCase struct {
	Input  string `json:"input"`
	Output string `json:"output"`
}

// Tests is a set of tests of one style.
type Tests struct {
	Style TestStyle `json:"style,omitempty"`
	Code  string    `json:"code,omitempty"`  // for AssertStyle
	Cases []IOCase  `json:"cases,omitempty"` // for IOStyle
}

// Empty reports whether there is nothing to run.
func (t Tests) Empty() bool { return t.Code == "" && len(t.Cases) == 0 }

// Task is one problem. Only public fields are ever shown to a policy or a
// workflow; Answers and HiddenTests are for scoring alone.
type Task struct {
	ID       string `json:"id"`
	Family   Family `json:"family"`
	Source   string `json:"source,omitempty"` // data set name: gsm8k, math, hotpotqa, humaneval, synthetic-math, ...
	Question string `json:"question"`
	Context  string `json:"context,omitempty"` // reading passage for qa
	// Choices are the options of a multiple-choice task, in order (a, b, c, ...).
	Choices []string `json:"choices,omitempty"`
	// Answers are the gold answers (aliases); empty with Unanswerable for
	// SQuAD v2 style questions without an answer.
	Answers      []string `json:"answers,omitempty"`
	Unanswerable bool     `json:"unanswerable,omitempty"`
	// Code tasks.
	EntryPoint  string `json:"entry_point,omitempty"`
	Prompt      string `json:"prompt,omitempty"` // function signature/docstring to complete, if any
	PublicTests Tests  `json:"public_tests,omitempty"`
	HiddenTests Tests  `json:"hidden_tests,omitempty"`
	// Reference is a known-correct solution (code tasks of the offline
	// suite); used by the simulated backend, never shown to a policy.
	Reference string `json:"reference,omitempty"`
	// Difficulty in (0, 1]; zero means unknown (the sim then derives one
	// from a hash of the id), so generators never write an exact 0.
	Difficulty float64 `json:"difficulty,omitempty"`
	// Distractors are plausible wrong answers (offline suite; used by the sim).
	Distractors []string `json:"distractors,omitempty"`
	// DroppedTests are public examples left out of PublicTests, with the
	// reason (VetPublicTests: the data set's reference solution fails them).
	DroppedTests []DroppedTest `json:"dropped_tests,omitempty"`
}

// DroppedTest is a public example that was not kept.
type DroppedTest struct {
	Test   string `json:"test"`
	Reason string `json:"reason"`
}
