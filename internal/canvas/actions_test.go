package canvas

import (
	"context"
	"slices"
	"testing"

	"github.com/flowsteer/flowsteer/internal/action"
)

// Every action form of SPEC section 4, once as a raw text reply and once as
// the equivalent structured action, applied after the same setup.
func TestActionFormsApplyFromTextAndStructured(t *testing.T) {
	prompt := "Compute the number of apples with Python."
	cases := []struct {
		name     string
		setup    []string
		text     string
		act      action.Action
		wantDSL  string
		wantIDs  []string
		wantKind action.Kind
		feedback string
		check    func(t *testing.T, o Observation)
	}{
		{
			name: "add operator", text: addOp("Programmer"),
			act:     action.Action{Kind: action.Add, Operator: "Programmer", Position: -1},
			wantDSL: "Programmer", wantIDs: []string{"node_1"}, wantKind: action.Add,
			feedback: "Added Programmer as node_1.",
		},
		{
			name: "add operator at position 0", setup: []string{addOp("Programmer"), addOp("Format")},
			text:    addOp("Plan") + "<position>0</position>",
			act:     action.Action{Kind: action.Add, Operator: "Plan", Position: 0},
			wantDSL: "Plan -> Programmer -> Format", wantIDs: []string{"node_3", "node_1", "node_2"}, wantKind: action.Add,
			feedback: "Added Plan as node_3.",
		},
		{
			name: "add operator in the middle", setup: []string{addOp("Programmer"), addOp("Format")},
			text:    addOp("Review") + "<position>1</position>",
			act:     action.Action{Kind: action.Add, Operator: "Review", Position: 1},
			wantDSL: "Programmer -> Review -> Format", wantIDs: []string{"node_1", "node_3", "node_2"}, wantKind: action.Add,
			feedback: "Added Review as node_3.",
		},
		{
			name: "add operator at position len appends", setup: []string{addOp("Programmer")},
			text:    addOp("Format") + "<position>1</position>",
			act:     action.Action{Kind: action.Add, Operator: "Format", Position: 1},
			wantDSL: "Programmer -> Format", wantIDs: []string{"node_1", "node_2"}, wantKind: action.Add,
			feedback: "Added Format as node_2.",
		},
		{
			name: "add parallel with commas", text: addPar("Programmer, Custom, AnswerGenerate"),
			act:     action.Action{Kind: action.Add, Structure: action.Parallel, Operators: []string{"Programmer", "Custom", "AnswerGenerate"}, Position: -1},
			wantDSL: "[Programmer, Custom, AnswerGenerate]", wantIDs: []string{"node_1_p0", "node_1_p1", "node_1_p2"}, wantKind: action.Add,
			feedback: "Added parallel [Programmer, Custom, AnswerGenerate] as node_1.",
		},
		{
			name: "add parallel with semicolons", setup: []string{addOp("Plan")}, text: addPar("Programmer; Custom"),
			act:     action.Action{Kind: action.Add, Structure: action.Parallel, Operators: []string{"Programmer", "Custom"}, Position: -1},
			wantDSL: "Plan -> [Programmer, Custom]", wantIDs: []string{"node_1", "node_2_p0", "node_2_p1"}, wantKind: action.Add,
			feedback: "Added parallel [Programmer, Custom] as node_2.",
		},
		{
			name: "add parallel with spaces", text: addPar("Custom AnswerGenerate"),
			act:     action.Action{Kind: action.Add, Structure: action.Parallel, Operators: []string{"Custom", "AnswerGenerate"}, Position: -1},
			wantDSL: "[Custom, AnswerGenerate]", wantIDs: []string{"node_1_p0", "node_1_p1"}, wantKind: action.Add,
			feedback: "Added parallel [Custom, AnswerGenerate] as node_1.",
		},
		{
			name: "add conditional with false", text: addCond("Review", "Revise", "Format"),
			act:     action.Action{Kind: action.Add, Structure: action.Conditional, Condition: "Review", True: "Revise", False: "Format", Position: -1},
			wantDSL: "Review ? Revise : Format", wantIDs: []string{"node_1_cond", "node_1_true", "node_1_false"}, wantKind: action.Add,
			feedback: "Added conditional Review ? Revise : Format as node_1.",
		},
		{
			name: "add conditional without false", text: addCond("Verify", "Revise", ""),
			act:     action.Action{Kind: action.Add, Structure: action.Conditional, Condition: "Verify", True: "Revise", Position: -1},
			wantDSL: "Verify ? Revise : done", wantIDs: []string{"node_1_cond", "node_1_true"}, wantKind: action.Add,
			feedback: "Added conditional Verify ? Revise : done as node_1.",
		},
		{
			name: "add conditional with false done", text: addCond("Verify", "Programmer", "done"),
			act:     action.Action{Kind: action.Add, Structure: action.Conditional, Condition: "Verify", True: "Programmer", False: "done", Position: -1},
			wantDSL: "Verify ? Programmer : done", wantIDs: []string{"node_1_cond", "node_1_true"}, wantKind: action.Add,
			feedback: "Added conditional Verify ? Programmer : done as node_1.",
		},
		{
			name: "add loop with count", text: addLoop("Review, Revise", "5"),
			act:     action.Action{Kind: action.Add, Structure: action.Loop, Operators: []string{"Review", "Revise"}, Count: 5, Position: -1},
			wantDSL: "(Review -> Revise) * 5", wantIDs: []string{"node_1_l0", "node_1_l1"}, wantKind: action.Add,
			feedback: "Added loop (Review -> Revise) * 5 as node_1.",
		},
		{
			name: "add loop without count defaults to 3", text: addLoop("Review, Revise", ""),
			act:     action.Action{Kind: action.Add, Structure: action.Loop, Operators: []string{"Review", "Revise"}, Position: -1},
			wantDSL: "(Review -> Revise) * 3", wantIDs: []string{"node_1_l0", "node_1_l1"}, wantKind: action.Add,
			feedback: "Added loop (Review -> Revise) * 3 as node_1.",
		},
		{
			name: "add loop count above 10 clamps to 10", text: addLoop("Programmer, Verify", "15"),
			act:     action.Action{Kind: action.Add, Structure: action.Loop, Operators: []string{"Programmer", "Verify"}, Count: 15, Position: -1},
			wantDSL: "(Programmer -> Verify) * 10", wantIDs: []string{"node_1_l0", "node_1_l1"}, wantKind: action.Add,
		},
		{
			name: "add loop negative count clamps to 1", text: addLoop("Verify", "-2"),
			act:     action.Action{Kind: action.Add, Structure: action.Loop, Operators: []string{"Verify"}, Count: -2, Position: -1},
			wantDSL: "(Verify) * 1", wantIDs: []string{"node_1_l0"}, wantKind: action.Add,
		},
		{
			name: "delete", setup: []string{addOp("Programmer"), addOp("Format")},
			text:    "<action>delete</action><target>node_1</target>",
			act:     action.Action{Kind: action.Delete, Target: "node_1"},
			wantDSL: "Format", wantIDs: []string{"node_2"}, wantKind: action.Delete,
			feedback: "Deleted node_1.",
		},
		{
			name: "delete a structure with its children", setup: []string{addPar("Programmer, Custom"), addOp("ScEnsemble")},
			text:    "<action>delete</action><target>node_1</target>",
			act:     action.Action{Kind: action.Delete, Target: "node_1"},
			wantDSL: "ScEnsemble", wantIDs: []string{"node_2"}, wantKind: action.Delete,
			feedback: "Deleted node_1.",
		},
		{
			name: "modify", setup: []string{addOp("Programmer")},
			text:    "<action>modify</action><target>node_1</target><operator>Custom</operator>",
			act:     action.Action{Kind: action.Modify, Target: "node_1", Operator: "Custom"},
			wantDSL: "Custom", wantIDs: []string{"node_1"}, wantKind: action.Modify,
			feedback: "node_1 is now Custom.",
		},
		{
			name: "modify a parallel branch", setup: []string{addPar("Programmer, Custom, AnswerGenerate")},
			text:    "<action>modify</action><target>node_1_p1</target><operator>Programmer</operator>",
			act:     action.Action{Kind: action.Modify, Target: "node_1_p1", Operator: "Programmer"},
			wantDSL: "[Programmer, Programmer, AnswerGenerate]", wantIDs: []string{"node_1_p0", "node_1_p1", "node_1_p2"}, wantKind: action.Modify,
			feedback: "node_1_p1 is now Programmer.",
		},
		{
			name: "set_prompt", setup: []string{addOp("Programmer")},
			text:    "<action>set_prompt</action><target>node_1</target><prompt>" + prompt + "</prompt>",
			act:     action.Action{Kind: action.SetPrompt, Target: "node_1", Prompt: prompt},
			wantDSL: "Programmer", wantIDs: []string{"node_1"}, wantKind: action.SetPrompt,
			feedback: "Prompt set for node_1.",
			check: func(t *testing.T, o Observation) {
				if got := o.Graph.Prompts()["node_1"]; got != prompt {
					t.Errorf("prompt of node_1 = %q, want %q", got, prompt)
				}
			},
		},
		{
			name: "set_prompt on a conditional branch", setup: []string{addCond("Review", "Revise", "")},
			text:    "<action>set_prompt</action><target>node_1_true</target><prompt>" + prompt + "</prompt>",
			act:     action.Action{Kind: action.SetPrompt, Target: "node_1_true", Prompt: prompt},
			wantDSL: "Review ? Revise : done", wantIDs: []string{"node_1_cond", "node_1_true"}, wantKind: action.SetPrompt,
			feedback: "Prompt set for node_1_true.",
			check: func(t *testing.T, o Observation) {
				if got := o.Graph.Prompts(); len(got) != 1 || got["node_1_true"] != prompt {
					t.Errorf("prompts = %v, want only node_1_true", got)
				}
			},
		},
	}
	for _, tc := range cases {
		for _, form := range []string{"text", "structured"} {
			t.Run(tc.name+"/"+form, func(t *testing.T) {
				x := &fakeExec{Answer: "42"}
				c := New(WithExecutor(x))
				e, _ := newEpisode(t, c, mathTask(), oneStepCfg())
				for _, s := range tc.setup {
					if o := say(t, e, s); !o.Valid {
						t.Fatalf("setup %q refused: %s", s, o.Feedback)
					}
				}
				var o Observation
				if form == "text" {
					o = say(t, e, tc.text)
				} else {
					o = do(t, e, tc.act)
				}
				if !o.Valid {
					t.Fatalf("refused: %s", o.Feedback)
				}
				if o.DSL != tc.wantDSL || o.Graph.String() != tc.wantDSL {
					t.Errorf("DSL = %q (graph %q), want %q", o.DSL, o.Graph.String(), tc.wantDSL)
				}
				if got := nodeIDs(o); !slices.Equal(got, tc.wantIDs) {
					t.Errorf("node ids = %v, want %v", got, tc.wantIDs)
				}
				if o.LastKind != tc.wantKind {
					t.Errorf("LastKind = %q, want %q", o.LastKind, tc.wantKind)
				}
				if o.State != Building || o.Awaiting != nil || o.Done {
					t.Errorf("state = %s awaiting=%v done=%v, want building", o.State, o.Awaiting, o.Done)
				}
				if o.Turn != len(tc.setup)+1 {
					t.Errorf("Turn = %d, want %d", o.Turn, len(tc.setup)+1)
				}
				if tc.feedback != "" {
					mustContain(t, "feedback", o.Feedback, tc.feedback)
				}
				// Every completed edit runs the workflow it produced.
				calls := x.Calls()
				if len(calls) != len(tc.setup)+1 || calls[len(calls)-1].DSL != tc.wantDSL {
					t.Errorf("executor calls = %d (last %+v), want %d ending with %q", len(calls), calls, len(tc.setup)+1, tc.wantDSL)
				}
				mustContain(t, "feedback", o.Feedback, "Executed: ", "current answer: 42")
				if tc.check != nil {
					tc.check(t, o)
				}
			})
		}
	}
}

func TestFinishWithAnswerEndsAndRecordsAnswerFromTextAndStructured(t *testing.T) {
	for _, form := range []string{"text", "structured"} {
		t.Run(form, func(t *testing.T) {
			x := &fakeExec{Answer: "41"}
			sc := &fakeScorer{Value: 1}
			c := New(WithExecutor(x), WithScorer(sc))
			cfg := oneStepCfg()
			cfg.Finish = noFinish()
			e, _ := newEpisode(t, c, mathTask(), cfg)
			say(t, e, addOp("Programmer"))
			var o Observation
			if form == "text" {
				o = say(t, e, "<reasoning>enough</reasoning><action>finish</action><answer>42</answer>")
			} else {
				o = do(t, e, action.Action{Kind: action.Finish, Answer: "42"})
			}
			if !o.Valid || !o.Done || o.State != Done || o.EndReason != Finished {
				t.Fatalf("finish: valid=%v done=%v state=%s end=%q feedback=%q", o.Valid, o.Done, o.State, o.EndReason, o.Feedback)
			}
			mustContain(t, "feedback", o.Feedback, "Finish accepted")
			if o.Answer != "42" {
				t.Errorf("Answer = %q, want the recorded 42", o.Answer)
			}
			if o.LastKind != action.Finish {
				t.Errorf("LastKind = %q", o.LastKind)
			}
			// The answer is recorded, never scored: the scorer sees the
			// workflow's final answer.
			if got := sc.Answers(); len(got) != 1 || got[0] != "41" {
				t.Errorf("scorer saw %v, want [41] (the executed answer)", got)
			}
			if x.N() != 1 {
				t.Errorf("finish must not execute: %d calls", x.N())
			}
		})
	}
}

func TestStructuredInputIsValidatedLikeText(t *testing.T) {
	cases := []struct {
		name string
		act  action.Action
		want string
	}{
		{"empty kind", action.Action{}, "Invalid action: empty <action> tag"},
		{"unknown kind", action.Action{Kind: "explode"}, "Invalid action: unknown action 'explode'"},
		{"add without operator", action.Action{Kind: action.Add, Position: -1}, "Invalid action: empty <operator> in add"},
		{"parallel of one", action.Action{Kind: action.Add, Structure: action.Parallel, Operators: []string{"Custom"}, Position: -1}, "a parallel block needs at least 2 operators, got 1"},
		{"true branch done", action.Action{Kind: action.Add, Structure: action.Conditional, Condition: "Review", True: "done", Position: -1}, "<true> may not be done"},
		{"set_prompt too short", action.Action{Kind: action.SetPrompt, Target: "node_1", Prompt: "abc"}, "prompt too short: 3 characters, need at least 5"},
		{"unknown operator", action.Action{Kind: action.Add, Operator: "Foo", Position: -1}, "Cannot add: unknown operator Foo: known are " + mathNames},
		{"negative position", action.Action{Kind: action.Add, Operator: "Custom", Position: -3}, "position must be a 0-based stage index"},
		{"unknown structure", action.Action{Kind: action.Add, Structure: "tree", Operators: []string{"Custom"}, Position: -1}, "unknown structure 'tree'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := &fakeExec{Answer: "42"}
			e, _ := newEpisode(t, New(WithExecutor(x)), mathTask(), DefaultConfig())
			say(t, e, addOpPrompt("Programmer", "Compute it in Python."))
			o := do(t, e, tc.act)
			if o.Valid || o.State != Building || o.Done || o.DSL != "Programmer" || o.Turn != 2 {
				t.Fatalf("valid=%v state=%s done=%v dsl=%q turn=%d", o.Valid, o.State, o.Done, o.DSL, o.Turn)
			}
			mustContain(t, "feedback", o.Feedback, tc.want)
			if x.N() != 1 {
				t.Errorf("a refused action must not execute: %d calls", x.N())
			}
		})
	}
}

func TestStructuredInputTakesItsPromptWhileAwaiting(t *testing.T) {
	e, _ := newEpisode(t, New(), mathTask(), DefaultConfig())
	o := do(t, e, action.Action{Kind: action.Add, Operator: "programmer", Position: -1})
	if o.Awaiting == nil || o.Awaiting.NodeID != "node_1" || o.Awaiting.Operator != "Programmer" {
		t.Fatalf("Awaiting = %+v, want node_1 Programmer", o.Awaiting)
	}
	o = do(t, e, action.Action{Kind: action.SetPrompt, Target: "node_1", Prompt: "  Compute 6*7 exactly.  "})
	if !o.Valid || o.State != Building || o.Graph.Prompts()["node_1"] != "Compute 6*7 exactly." {
		t.Fatalf("valid=%v state=%s prompts=%v feedback=%q", o.Valid, o.State, o.Graph.Prompts(), o.Feedback)
	}
	if _, err := e.Step(context.Background(), Input{Structured: &action.Action{Kind: action.Finish}}); err != nil {
		t.Fatal(err)
	}
}
