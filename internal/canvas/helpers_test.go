package canvas

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
)

// allNames is the default library in its display order: what "known are"
// feedback must list on a code task with tests.
const allNames = "Plan, Decompose, Custom, AnswerGenerate, Programmer, Test, Review, Verify, Revise, ScEnsemble, Aggregate, Format"

// mathNames is what "known are" feedback lists on a task without tests:
// Test has nothing to run there and is disabled.
const mathNames = "Plan, Decompose, Custom, AnswerGenerate, Programmer, Review, Verify, Revise, ScEnsemble, Aggregate, Format"

// execCall is what the fake executor saw in one call.
type execCall struct {
	DSL     string
	Prompts map[string]string
	Req     ExecRequest
}

// fakeExec is a deterministic Executor: every node succeeds with Output,
// the final answer is Answer; Err makes every call fail. It is safe for
// concurrent use.
type fakeExec struct {
	mu     sync.Mutex
	calls  []execCall
	Answer string
	Output string
	Err    error
	// Fail marks the nodes of this operator failed, with this error.
	FailOp, FailErr string
}

func (f *fakeExec) Execute(_ context.Context, req ExecRequest) (Execution, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, execCall{DSL: req.Graph.String(), Prompts: req.Graph.Prompts(), Req: req})
	if f.Err != nil {
		return Execution{}, f.Err
	}
	ex := Execution{Executed: true, FinalAnswer: f.Answer}
	for _, s := range req.Graph.Stages {
		for _, n := range s.Nodes() {
			r := NodeResult{NodeID: n.ID, Operator: n.Operator, Status: NodeOK, Output: f.Output}
			if n.Operator == f.FailOp {
				r.Status, r.Error, r.Output = NodeFailed, f.FailErr, ""
			}
			ex.Nodes = append(ex.Nodes, r)
		}
	}
	// Mutating the clone the canvas handed over must not reach the episode.
	req.Graph.Stages = nil
	return ex, nil
}

func (f *fakeExec) Calls() []execCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]execCall(nil), f.calls...)
}

func (f *fakeExec) N() int { return len(f.Calls()) }

// fakeScorer returns Value for every answer and records what it was given.
type fakeScorer struct {
	mu      sync.Mutex
	Value   float64
	answers []string
}

func (s *fakeScorer) Score(_ context.Context, _ task.Task, answer string) Score {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers = append(s.answers, answer)
	return Score{Value: s.Value, Correct: s.Value == 1, Method: "fake"}
}

func (s *fakeScorer) Answers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.answers...)
}

func mathTask() task.Task {
	return task.Task{
		ID: "math-1", Family: task.Math, Source: "gsm8k",
		Question:    "Tom has 6 boxes of 7 apples. How many apples does he have?",
		Answers:     []string{"42"},
		Reference:   "GOLD-REFERENCE-SOLUTION",
		Distractors: []string{"41", "48"},
		Difficulty:  0.3,
	}
}

func codeTask(withTests bool) task.Task {
	t := task.Task{
		ID: "code-1", Family: task.Code, Source: "mbpp",
		Question:    "Write a function add(a, b) that returns the sum of a and b.",
		EntryPoint:  "add",
		HiddenTests: task.Tests{Style: task.AssertStyle, Code: "assert add(HIDDEN_SECRET, 1) == 3"},
		Reference:   "def add(a, b): return a + b  # GOLD-REFERENCE",
	}
	if withTests {
		t.PublicTests = task.Tests{Style: task.AssertStyle, Code: "assert add(1, 2) == 3"}
	}
	return t
}

func mcTask() task.Task {
	return task.Task{
		ID: "mc-1", Family: task.MultipleChoice, Source: "mathqa",
		Question: "What is 2 + 2?", Choices: []string{"3", "4", "5"}, Answers: []string{"b"},
	}
}

// noFinish is a set of finish rules that accepts every finish.
func noFinish() FinishRules { return FinishRules{} }

// oneStepCfg is the default config with two-step editing off, so each add
// completes in one turn.
func oneStepCfg() Config {
	c := DefaultConfig()
	c.TwoStep = false
	return c
}

func newEpisode(t *testing.T, c *Canvas, tk task.Task, cfg Config) (*Episode, Observation) {
	t.Helper()
	e, o, err := c.Create(context.Background(), tk, cfg, reward.Default())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return e, o
}

// say sends a raw text reply and fails the test on an error.
func say(t *testing.T, e *Episode, text string) Observation {
	t.Helper()
	o, err := e.Step(context.Background(), Input{Text: text})
	if err != nil {
		t.Fatalf("Step(%q): %v", text, err)
	}
	return o
}

// do sends a structured action and fails the test on an error.
func do(t *testing.T, e *Episode, a action.Action) Observation {
	t.Helper()
	o, err := e.Step(context.Background(), Input{Structured: &a})
	if err != nil {
		t.Fatalf("Step(%+v): %v", a, err)
	}
	return o
}

func addOp(op string) string {
	return "<reasoning>next step</reasoning><action>add</action><operator>" + op + "</operator>"
}

func addOpPrompt(op, prompt string) string {
	return "<action>add</action><operator>" + op + "</operator><prompt>" + prompt + "</prompt>"
}

func addPar(ops string) string {
	return "<action>add</action><structure>parallel</structure><operators>" + ops + "</operators>"
}

func addCond(c, tr, f string) string {
	s := "<action>add</action><structure>conditional</structure><condition>" + c + "</condition><true>" + tr + "</true>"
	if f != "" {
		s += "<false>" + f + "</false>"
	}
	return s
}

func addLoop(ops, count string) string {
	s := "<action>add</action><structure>loop</structure><operators>" + ops + "</operators>"
	if count != "" {
		s += "<count>" + count + "</count>"
	}
	return s
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s = %q\n  want it to contain %q", what, got, w)
		}
	}
}

func mustNotContain(t *testing.T, what, got string, bad ...string) {
	t.Helper()
	for _, w := range bad {
		if strings.Contains(got, w) {
			t.Errorf("%s = %q\n  must not contain %q", what, got, w)
		}
	}
}

func nodeIDs(o Observation) []string { return o.Graph.NodeIDs() }

func wantErrIs(t *testing.T, err, target error, msgs ...string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want one wrapping %v", err, target)
	}
	mustContain(t, "error", err.Error(), msgs...)
}
