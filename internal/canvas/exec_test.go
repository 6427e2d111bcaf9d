package canvas

import (
	"errors"
	"strings"
	"testing"
)

func TestNoExecutorSaysNotExecuted(t *testing.T) {
	sc := &fakeScorer{Value: 1}
	e, _ := newEpisode(t, New(WithScorer(sc)), mathTask(), oneStepCfg())
	o := say(t, e, addOp("Programmer"))
	if !o.Valid || o.Execution.Executed || o.Execution.Note != notExecutedNote {
		t.Fatalf("valid=%v execution=%+v", o.Valid, o.Execution)
	}
	mustContain(t, "feedback", o.Feedback, "Added Programmer as node_1. The workflow was not executed (no executor configured).")
	mustContain(t, "note", o.Execution.Note, "not executed", "no executor")
	if New().Executor() != nil {
		t.Error("a canvas without WithExecutor has an executor")
	}
}

func TestExecuteEachStepOffNeverCallsTheExecutor(t *testing.T) {
	x := &fakeExec{Answer: "42"}
	cfg := oneStepCfg()
	cfg.ExecuteEachStep = false
	e, _ := newEpisode(t, New(WithExecutor(x)), mathTask(), cfg)
	for _, r := range []string{addOp("Programmer"), "<action>set_prompt</action><target>node_1</target><prompt>Compute it.</prompt>", addOp("Format"), "<action>delete</action><target>node_2</target>"} {
		o := say(t, e, r)
		if !o.Valid || strings.Contains(o.Feedback, "xecuted") {
			t.Fatalf("%q: valid=%v feedback=%q", r, o.Valid, o.Feedback)
		}
	}
	if x.N() != 0 {
		t.Fatalf("executor called %d times", x.N())
	}
}

// The executor runs after each completed edit and at no other time.
func TestExecutorRunsAfterEachCompletedEditOnly(t *testing.T) {
	x := &fakeExec{Answer: "42"}
	c := New(WithExecutor(x))
	cfg := DefaultConfig()
	cfg.Backend = "sim"
	e, _ := newEpisode(t, c, mathTask(), cfg)
	steps := []struct {
		name, reply string
		calls       int
		dsl         string // the DSL the executor ran last
	}{
		{"add parallel awaits", addPar("Programmer, Custom"), 0, ""},
		{"first prompt", "<prompt>Compute 6*7 with Python.</prompt>", 0, ""},
		{"last prompt completes the add", "<prompt>Reason about the apples.</prompt>", 1, "[Programmer, Custom]"},
		{"add with its own prompt", addOpPrompt("ScEnsemble", "Pick the majority answer."), 2, "[Programmer, Custom] -> ScEnsemble"},
		{"invalid action", addOp("Nope"), 2, ""},
		{"modify awaits", "<action>modify</action><target>node_1_p1</target><operator>AnswerGenerate</operator>", 2, ""},
		{"modify prompt", "Answer step by step with one number.", 3, "[Programmer, AnswerGenerate] -> ScEnsemble"},
		{"set_prompt", "<action>set_prompt</action><target>node_2</target><prompt>Vote on the numbers.</prompt>", 4, "[Programmer, AnswerGenerate] -> ScEnsemble"},
		{"refused prompt-less finish", "<action>finish</action>", 4, ""},
		{"add format", addOpPrompt("Format", "Give only the number."), 5, "[Programmer, AnswerGenerate] -> ScEnsemble -> Format"},
		{"delete leaving stages", "<action>delete</action><target>node_2</target>", 6, "[Programmer, AnswerGenerate] -> Format"},
		{"refused delete", "<action>delete</action><target>node_2</target>", 6, ""},
		{"delete", "<action>delete</action><target>node_1</target>", 7, "Format"},
		{"delete emptying the graph", "<action>delete</action><target>node_3</target>", 7, ""},
	}
	for _, s := range steps {
		o := say(t, e, s.reply)
		calls := x.Calls()
		if len(calls) != s.calls {
			t.Fatalf("%s: %d executor calls, want %d (feedback %q)", s.name, len(calls), s.calls, o.Feedback)
		}
		if s.dsl != "" && calls[len(calls)-1].DSL != s.dsl {
			t.Fatalf("%s: executor ran %q, want %q", s.name, calls[len(calls)-1].DSL, s.dsl)
		}
		if s.dsl != "" && !strings.Contains(o.Feedback, "Executed: ") {
			t.Errorf("%s: feedback %q does not report the run", s.name, o.Feedback)
		}
	}
	o := e.Observe()
	if o.DSL != "" || o.Execution.Executed || o.Execution.FinalAnswer != "" {
		t.Errorf("after emptying: dsl %q execution %+v", o.DSL, o.Execution)
	}
	mustContain(t, "feedback", o.Feedback, "Deleted node_3. The workflow is now empty.")
	calls := x.Calls()
	// The executor sees the episode, backend, library and full task, and
	// the prompts set so far; its graph is a copy.
	last := calls[len(calls)-1].Req
	if last.Episode != e.ID() || last.Backend != "sim" || last.Library != e.lib || last.Task.ID != "math-1" || len(last.Task.Answers) != 1 {
		t.Errorf("request = %+v", last)
	}
	if got := calls[2].Prompts; got["node_1_p0"] != "Compute 6*7 with Python." || got["node_1_p1"] != "Answer step by step with one number." {
		t.Errorf("prompts seen by the modify run = %v", got)
	}
}

func TestExecutorErrorIsReportedAndTheEpisodeGoesOn(t *testing.T) {
	x := &fakeExec{Err: errors.New("backend down: 503")}
	e, _ := newEpisode(t, New(WithExecutor(x)), mathTask(), oneStepCfg())
	o := say(t, e, addOp("Programmer"))
	if !o.Valid || o.State != Building || o.Done {
		t.Fatalf("valid=%v state=%s done=%v", o.Valid, o.State, o.Done)
	}
	if !o.Execution.Executed || o.Execution.Error != "backend down: 503" {
		t.Fatalf("execution = %+v", o.Execution)
	}
	mustContain(t, "feedback", o.Feedback, "Added Programmer as node_1. Executed: 0 nodes; run error: backend down: 503; current answer: ")
	x.mu.Lock()
	x.Err, x.Answer = nil, "42"
	x.mu.Unlock()
	o = say(t, e, addOp("Format"))
	if !o.Valid || o.Execution.Error != "" || o.Execution.FinalAnswer != "42" || o.DSL != "Programmer -> Format" {
		t.Fatalf("after recovery: %+v dsl %q", o.Execution, o.DSL)
	}
}

func TestFailedNodesAreCountedAndReported(t *testing.T) {
	x := &fakeExec{Answer: "", FailOp: "Programmer", FailErr: "NameError: name 'x' is not defined"}
	cfg := oneStepCfg()
	cfg.Hints = true
	e, _ := newEpisode(t, New(WithExecutor(x)), mathTask(), cfg)
	say(t, e, addOp("Plan"))
	o := say(t, e, addOp("Programmer"))
	if !o.Valid || o.Done {
		t.Fatalf("valid=%v done=%v", o.Valid, o.Done)
	}
	mustContain(t, "feedback", o.Feedback, "Executed: 2 nodes, 1 failed; current answer: ")
	n := o.Execution.Nodes[1]
	if n.NodeID != "node_2" || n.Status != NodeFailed || n.Error != "NameError: name 'x' is not defined" {
		t.Errorf("node = %+v", n)
	}
	// Test has no tests to run on a math task: the hint must not offer it.
	if o.Hint != "Programmer failed (NameError: name 'x' is not defined): add a conditional Review ? Programmer : done" {
		t.Errorf("hint = %q", o.Hint)
	}
	// On a code task with tests it does.
	e, _ = newEpisode(t, New(WithExecutor(x)), codeTask(true), cfg)
	if o = say(t, e, addOp("Programmer")); o.Hint != "Programmer failed (NameError: name 'x' is not defined): add a conditional Test ? Programmer : done" {
		t.Errorf("code hint = %q", o.Hint)
	}
}
