package canvas

import (
	"testing"

	"github.com/flowsteer/flowsteer/internal/action"
)

func TestTwoStepParallelAsksForEachBranchInOrder(t *testing.T) {
	x := &fakeExec{Answer: "42"}
	e, _ := newEpisode(t, New(WithExecutor(x)), mathTask(), DefaultConfig())
	o := say(t, e, addPar("Programmer, Custom, AnswerGenerate"))
	if !o.Valid || o.DSL != "[Programmer, Custom, AnswerGenerate]" {
		t.Fatalf("add: valid=%v dsl=%q feedback=%q", o.Valid, o.DSL, o.Feedback)
	}
	replies := []struct {
		reply      string
		wantPrompt string
	}{
		{"<reasoning>be exact</reasoning><prompt>Write Python that multiplies 6 by 7.</prompt>", "Write Python that multiplies 6 by 7."},
		// No <prompt>: the text with its tags (and the reasoning) removed.
		{"<reasoning>plain text this time</reasoning>Reason about the boxes and the apples in each.", "Reason about the boxes and the apples in each."},
		{"Answer with <b>one</b> number after thinking step by step.", "Answer with one number after thinking step by step."},
	}
	branches := []struct{ id, op, ctx string }{
		{"node_1_p0", "Programmer", "branch 1 of 3 of parallel node_1"},
		{"node_1_p1", "Custom", "branch 2 of 3 of parallel node_1"},
		{"node_1_p2", "AnswerGenerate", "branch 3 of 3 of parallel node_1"},
	}
	for i, b := range branches {
		if o.State != AwaitingPrompt || o.Awaiting == nil {
			t.Fatalf("before reply %d: state %s, awaiting %+v", i, o.State, o.Awaiting)
		}
		a := o.Awaiting
		if a.NodeID != b.id || a.Operator != b.op || a.Context != b.ctx || a.Remaining != 2-i {
			t.Errorf("awaiting %d = %+v, want %s %s %q remaining %d", i, a, b.id, b.op, b.ctx, 2-i)
		}
		d, _ := e.lib.Lookup(b.op)
		if a.Description != d.Description || a.Description == "" {
			t.Errorf("awaiting description = %q, want %q", a.Description, d.Description)
		}
		mustContain(t, "feedback", o.Feedback, "Now write the prompt for "+b.id+" ("+b.op+"), "+b.ctx+": 1 to 3 sentences specific to this problem, no tags.")
		if x.N() != 0 {
			t.Fatalf("executed while awaiting prompts (%d calls)", x.N())
		}
		o = say(t, e, replies[i].reply)
		if !o.Valid {
			t.Fatalf("prompt %d refused: %s", i, o.Feedback)
		}
		mustContain(t, "feedback", o.Feedback, "Prompt set for "+b.id+" ("+b.op+").")
		if got := o.Graph.Prompts()[b.id]; got != replies[i].wantPrompt {
			t.Errorf("prompt of %s = %q, want %q", b.id, got, replies[i].wantPrompt)
		}
		if o.LastKind != action.SetPrompt {
			t.Errorf("LastKind = %q, want set_prompt", o.LastKind)
		}
	}
	if o.State != Building || o.Awaiting != nil {
		t.Fatalf("after the last prompt: state %s awaiting %+v", o.State, o.Awaiting)
	}
	if o.Turn != 4 || o.RoundsLeft != 16 {
		t.Errorf("turn %d rounds left %d: every prompt reply is a round", o.Turn, o.RoundsLeft)
	}
	calls := x.Calls()
	if len(calls) != 1 || calls[0].DSL != "[Programmer, Custom, AnswerGenerate]" || len(calls[0].Prompts) != 3 {
		t.Fatalf("executor calls = %+v, want one run with all three prompts", calls)
	}
	mustContain(t, "feedback", o.Feedback, "Executed: 3 nodes; current answer: 42")
}

func TestTwoStepContextNamesEachStructurePart(t *testing.T) {
	cases := []struct {
		name  string
		reply string
		want  []Awaiting
	}{
		{"conditional with false", addCond("Review", "Revise", "Format"), []Awaiting{
			{NodeID: "node_1_cond", Operator: "Review", Context: "the checker of conditional node_1"},
			{NodeID: "node_1_true", Operator: "Revise", Context: "the repair branch of conditional node_1 (runs when the checker finds the solution wrong)"},
			{NodeID: "node_1_false", Operator: "Format", Context: "the pass branch of conditional node_1 (runs when the checker passes the solution)"},
		}},
		{"conditional without false", addCond("Verify", "Revise", "done"), []Awaiting{
			{NodeID: "node_1_cond", Operator: "Verify", Context: "the checker of conditional node_1"},
			{NodeID: "node_1_true", Operator: "Revise", Context: "the repair branch of conditional node_1 (runs when the checker finds the solution wrong)"},
		}},
		{"loop", addLoop("Review, Revise", "2"), []Awaiting{
			{NodeID: "node_1_l0", Operator: "Review", Context: "step 1 of 2 of loop node_1"},
			{NodeID: "node_1_l1", Operator: "Revise", Context: "step 2 of 2 of loop node_1"},
		}},
		{"single operator", addOp("Plan"), []Awaiting{{NodeID: "node_1", Operator: "Plan"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEpisode(t, New(), mathTask(), DefaultConfig())
			o := say(t, e, tc.reply)
			for i, w := range tc.want {
				a := o.Awaiting
				if a == nil || a.NodeID != w.NodeID || a.Operator != w.Operator || a.Context != w.Context || a.Remaining != len(tc.want)-1-i {
					t.Fatalf("awaiting %d = %+v, want %+v remaining %d", i, a, w, len(tc.want)-1-i)
				}
				o = say(t, e, "<prompt>Check the arithmetic of the solution.</prompt>")
			}
			if o.State != Building || o.Awaiting != nil || len(o.Graph.Prompts()) != len(tc.want) {
				t.Fatalf("after prompts: state %s awaiting %+v prompts %v", o.State, o.Awaiting, o.Graph.Prompts())
			}
		})
	}
}

func TestTwoStepShortPromptIsRefusedAndKeepsAwaitingSameNode(t *testing.T) {
	cases := []struct {
		name, reply string
		chars       string
	}{
		{"short prompt tag", "<prompt>abc</prompt>", "(3 characters)"},
		{"short plain text", "  do  ", "(2 characters)"},
		{"empty prompt tag", "<prompt></prompt>", "(0 characters)"},
		{"a malformed action instead of a prompt", "<action>add</action>", "(0 characters)"},
		{"four runes of non-ASCII", "<prompt>éééé</prompt>", "(4 characters)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := &fakeExec{Answer: "42"}
			e, _ := newEpisode(t, New(WithExecutor(x)), mathTask(), DefaultConfig())
			say(t, e, addPar("Programmer, Custom"))
			say(t, e, "<prompt>Compute it with Python.</prompt>")
			o := say(t, e, tc.reply)
			if o.Valid || o.Done || o.State != AwaitingPrompt || o.Awaiting == nil || o.Awaiting.NodeID != "node_1_p1" || o.Awaiting.Remaining != 0 {
				t.Fatalf("valid=%v done=%v state=%s awaiting=%+v", o.Valid, o.Done, o.State, o.Awaiting)
			}
			mustContain(t, "feedback", o.Feedback,
				"The prompt for node_1_p1 (Custom) is too short "+tc.chars,
				"at least 5 characters",
				"still awaiting a prompt for node_1_p1 (Custom)")
			if _, ok := o.Graph.Prompts()["node_1_p1"]; ok {
				t.Errorf("a refused prompt was stored: %v", o.Graph.Prompts())
			}
			if o.Turn != 3 || x.N() != 0 {
				t.Errorf("turn %d executor calls %d, want 3 and 0", o.Turn, x.N())
			}
			// The same node is asked again and a good prompt completes it.
			o = say(t, e, "Explain the count of apples briefly.")
			if !o.Valid || o.State != Building || o.Graph.Prompts()["node_1_p1"] != "Explain the count of apples briefly." || x.N() != 1 {
				t.Fatalf("retry: valid=%v state=%s prompts=%v calls=%d", o.Valid, o.State, o.Graph.Prompts(), x.N())
			}
		})
	}
}

func TestTwoStepPromptLongerThanLimitIsRefused(t *testing.T) {
	e, _ := newEpisode(t, New(), mathTask(), DefaultConfig())
	say(t, e, addOp("Custom"))
	long := make([]byte, maxPromptLen+1)
	for i := range long {
		long[i] = 'a'
	}
	o := say(t, e, "<prompt>"+string(long)+"</prompt>")
	if o.Valid || o.State != AwaitingPrompt || o.Awaiting.NodeID != "node_1" {
		t.Fatalf("valid=%v state=%s awaiting=%+v", o.Valid, o.State, o.Awaiting)
	}
	mustContain(t, "feedback", o.Feedback, "The prompt for node_1 (Custom) is too long (4001 bytes, at most 4000)")
}

func TestTwoStepModifyAwaitsPromptThenExecutes(t *testing.T) {
	x := &fakeExec{Answer: "42"}
	e, _ := newEpisode(t, New(WithExecutor(x)), mathTask(), DefaultConfig())
	say(t, e, addOpPrompt("Programmer", "Compute 6*7 in Python."))
	if x.N() != 1 {
		t.Fatalf("add with its own prompt should execute at once: %d calls", x.N())
	}
	for _, target := range []string{"node_1", "NODE_1"} {
		n0 := x.N()
		o := say(t, e, "<action>modify</action><target>"+target+"</target><operator>custom</operator>")
		if !o.Valid || o.DSL != "Custom" || o.State != AwaitingPrompt {
			t.Fatalf("modify %s: valid=%v dsl=%q state=%s feedback=%q", target, o.Valid, o.DSL, o.State, o.Feedback)
		}
		// The awaited id is the canonical one, however the target was spelt.
		if a := o.Awaiting; a == nil || a.NodeID != "node_1" || a.Operator != "Custom" || a.Remaining != 0 || a.Context != "" {
			t.Fatalf("awaiting = %+v, want node_1 Custom", o.Awaiting)
		}
		mustContain(t, "feedback", o.Feedback, "node_1 is now Custom. Now write the prompt for node_1 (Custom): 1 to 3 sentences")
		if x.N() != n0 {
			t.Fatalf("modify executed before its prompt: %d calls, want %d", x.N(), n0)
		}
		o = say(t, e, "<prompt>Count the apples in words.</prompt>")
		if !o.Valid || o.State != Building || o.Graph.Prompts()["node_1"] != "Count the apples in words." || x.N() != n0+1 {
			t.Fatalf("prompt: valid=%v state=%s prompts=%v calls=%d", o.Valid, o.State, o.Graph.Prompts(), x.N())
		}
	}
}

func TestAddWithItsOwnPromptNeedsNoSecondStep(t *testing.T) {
	cases := []struct {
		name       string
		reply      string
		wantAwait  bool
		wantPrompt string
	}{
		{"prompt of 5 characters or more", addOpPrompt("Programmer", "Compute 6*7 in Python."), false, "Compute 6*7 in Python."},
		{"prompt of exactly 5 characters", addOpPrompt("Programmer", "abcde"), false, "abcde"},
		{"prompt too short still awaits", addOpPrompt("Programmer", "abc"), true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := &fakeExec{Answer: "42"}
			e, _ := newEpisode(t, New(WithExecutor(x)), mathTask(), DefaultConfig())
			o := say(t, e, tc.reply)
			if !o.Valid {
				t.Fatalf("refused: %s", o.Feedback)
			}
			if tc.wantAwait {
				if o.State != AwaitingPrompt || o.Awaiting == nil || o.Awaiting.NodeID != "node_1" || x.N() != 0 {
					t.Fatalf("state %s awaiting %+v calls %d, want awaiting node_1", o.State, o.Awaiting, x.N())
				}
				return
			}
			if o.State != Building || o.Awaiting != nil || x.N() != 1 {
				t.Fatalf("state %s awaiting %+v calls %d, want building and executed", o.State, o.Awaiting, x.N())
			}
			mustContain(t, "feedback", o.Feedback, "Added Programmer as node_1. Prompt set.")
			if got := o.Graph.Prompts()["node_1"]; got != tc.wantPrompt {
				t.Errorf("prompt = %q, want %q", got, tc.wantPrompt)
			}
			if got := x.Calls()[0].Prompts["node_1"]; got != tc.wantPrompt {
				t.Errorf("executor saw prompt %q, want %q", got, tc.wantPrompt)
			}
		})
	}
}

func TestTwoStepOffNeverAwaits(t *testing.T) {
	x := &fakeExec{Answer: "42"}
	e, _ := newEpisode(t, New(WithExecutor(x)), mathTask(), oneStepCfg())
	replies := []string{
		addOp("Plan"),
		addPar("Programmer, Custom, AnswerGenerate"),
		addOp("ScEnsemble"),
		addCond("Review", "Revise", "done"),
		addLoop("Verify, Revise", "2"),
		"<action>modify</action><target>node_2_p1</target><operator>AnswerGenerate</operator>",
	}
	for i, r := range replies {
		o := say(t, e, r)
		if !o.Valid || o.State != Building || o.Awaiting != nil {
			t.Fatalf("reply %d: valid=%v state=%s awaiting=%+v feedback=%q", i, o.Valid, o.State, o.Awaiting, o.Feedback)
		}
		mustNotContain(t, "feedback", o.Feedback, "Now write the prompt")
		if x.N() != i+1 {
			t.Fatalf("reply %d: %d executor calls, want %d", i, x.N(), i+1)
		}
	}
	if got := e.Observe().DSL; got != "Plan -> [Programmer, AnswerGenerate, AnswerGenerate] -> ScEnsemble -> Review ? Revise : done -> (Verify -> Revise) * 2" {
		t.Errorf("DSL = %q", got)
	}
}

// A well-formed action sent while a prompt is awaited is refused with
// feedback naming the awaited node; its leftover text never becomes the
// node's prompt.
func TestActionWhileAwaitingIsRefusedNotTakenAsPrompt(t *testing.T) {
	cases := []struct {
		name, reply, kind string
	}{
		{"add", addOp("Review"), "add"},
		{"add parallel", addPar("Custom, AnswerGenerate"), "add"},
		{"delete", "<action>delete</action><target>node_1</target>", "delete"},
		{"modify", "<action>modify</action><target>node_1</target><operator>Custom</operator>", "modify"},
		{"finish", "<action>finish</action><answer>42</answer>", "finish"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := &fakeExec{Answer: "42"}
			e, _ := newEpisode(t, New(WithExecutor(x)), mathTask(), DefaultConfig())
			say(t, e, addOp("Programmer"))
			o := say(t, e, tc.reply)
			if o.Valid || o.Done || o.State != AwaitingPrompt || o.Awaiting == nil || o.Awaiting.NodeID != "node_1" || o.DSL != "Programmer" {
				t.Fatalf("valid=%v done=%v state=%s awaiting=%+v dsl=%q", o.Valid, o.Done, o.State, o.Awaiting, o.DSL)
			}
			if len(o.Graph.Prompts()) != 0 {
				t.Fatalf("the action became a prompt: %v", o.Graph.Prompts())
			}
			mustContain(t, "feedback", o.Feedback, "Awaiting a prompt for node_1 (Programmer), not "+article(tc.kind)+" action: reply with 1 to 3 sentences")
			if o.Turn != 2 || x.N() != 0 {
				t.Errorf("turn %d calls %d", o.Turn, x.N())
			}
		})
	}
	t.Run("set_prompt with a prompt is taken", func(t *testing.T) {
		e, _ := newEpisode(t, New(), mathTask(), DefaultConfig())
		say(t, e, addOp("Programmer"))
		o := say(t, e, "<action>set_prompt</action><target>node_1</target><prompt>Compute it in Python.</prompt>")
		if !o.Valid || o.State != Building || o.Graph.Prompts()["node_1"] != "Compute it in Python." {
			t.Fatalf("valid=%v state=%s prompts=%v", o.Valid, o.State, o.Graph.Prompts())
		}
	})
	t.Run("prose mentioning an operator is a prompt", func(t *testing.T) {
		e, _ := newEpisode(t, New(), mathTask(), DefaultConfig())
		say(t, e, addOp("Revise"))
		o := say(t, e, "Fix whatever the Review found wrong.")
		if !o.Valid || o.Graph.Prompts()["node_1"] != "Fix whatever the Review found wrong." {
			t.Fatalf("valid=%v prompts=%v feedback=%q", o.Valid, o.Graph.Prompts(), o.Feedback)
		}
	})
}

func TestModifyWithItsOwnPromptNeedsNoSecondStep(t *testing.T) {
	x := &fakeExec{Answer: "42"}
	e, _ := newEpisode(t, New(WithExecutor(x)), mathTask(), DefaultConfig())
	say(t, e, addOpPrompt("Custom", "Answer the question."))
	o := say(t, e, "<action>modify</action><target>node_1</target><operator>Programmer</operator><prompt>Compute it in Python.</prompt>")
	if !o.Valid || o.State != Building || o.Awaiting != nil {
		t.Fatalf("modify with prompt: valid=%v state=%s awaiting=%+v: %s", o.Valid, o.State, o.Awaiting, o.Feedback)
	}
	mustContain(t, "feedback", o.Feedback, "node_1 is now Programmer. Prompt set.")
	if got := o.Graph.Prompts()["node_1"]; got != "Compute it in Python." || x.N() != 2 {
		t.Fatalf("prompt %q, executions %d; want the new prompt and a second execution", got, x.N())
	}
}

func TestExecuteEachStepOffSaysSoInTheObservation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ExecuteEachStep = false
	e, _ := newEpisode(t, New(WithExecutor(&fakeExec{Answer: "1"})), mathTask(), cfg)
	o := say(t, e, addOpPrompt("Custom", "Answer the question."))
	mustContain(t, "execution note", o.Execution.Note, "execute_each_step is off")
}
