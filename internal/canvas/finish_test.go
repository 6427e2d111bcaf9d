package canvas

import (
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/task"
)

// Each finish rule on its own (every other rule switched off): refused with
// feedback naming the fix while unmet, accepted once met.
func TestFinishRulesEachIndividually(t *testing.T) {
	long := "First, we note that Tom has six boxes, and each box holds seven apples, so we multiply."
	cases := []struct {
		name    string
		rules   FinishRules
		tk      task.Task
		answer  string   // the fake executor's final answer ("" = "42")
		refuse  []string // replies building a workflow that breaks the rule
		want    string   // the refusal
		accept  []string // replies building one that meets it (from an empty canvas)
		nowhere bool     // the rule must not apply: refuse is accepted too
	}{
		{name: "not empty", rules: FinishRules{RequireNonEmpty: true}, tk: mathTask(),
			want:   "Finish refused: the workflow is empty: add operators first.",
			accept: []string{addOp("Format")}},
		{name: "at least 5 operators", rules: FinishRules{MinOperators: 5}, tk: mathTask(),
			refuse: []string{addPar("Programmer, Custom"), addOp("ScEnsemble"), addOp("Format")},
			want:   "Finish refused: the workflow has 4 operators, at least 5 are needed.",
			accept: []string{addPar("Programmer, Custom, AnswerGenerate"), addOp("ScEnsemble"), addOp("Format")}},
		{name: "a structure", rules: FinishRules{RequireStructure: true}, tk: mathTask(),
			refuse: []string{addOp("Programmer"), addOp("Review"), addOp("Revise"), addOp("Format"), addOp("Verify")},
			want:   "Finish refused: add a structure (parallel, conditional or loop).",
			accept: []string{addLoop("Review, Revise", "2")}},
		{name: "a structure: conditional counts", rules: FinishRules{RequireStructure: true}, tk: mathTask(),
			want:   "Finish refused: add a structure (parallel, conditional or loop).",
			accept: []string{addCond("Review", "Revise", "")}},
		{name: "a solver", rules: FinishRules{RequireSolver: true}, tk: mathTask(),
			refuse: []string{addOp("Plan"), addOp("Review"), addOp("Format"), addOp("ScEnsemble")},
			want:   "Finish refused: add a solver (Custom, AnswerGenerate, Programmer, Revise, Aggregate).",
			accept: []string{addOp("Plan"), addOp("Revise")}},
		{name: "a checker", rules: FinishRules{RequireChecker: true}, tk: mathTask(),
			refuse: []string{addPar("Programmer, Custom"), addOp("ScEnsemble"), addOp("Format")},
			want:   "Finish refused: add a checker (Review, Verify).",
			accept: []string{addOp("Programmer"), addOp("Verify")}},
		{name: "a checker: Test counts on a code task with tests", rules: FinishRules{RequireChecker: true}, tk: codeTask(true),
			refuse: []string{addPar("Programmer, Custom"), addOp("ScEnsemble"), addOp("Format")},
			want:   "Finish refused: add a checker (Test, Review, Verify).",
			accept: []string{addOp("Programmer"), addOp("Test")}},
		{name: "Test for a code task with tests", rules: FinishRules{RequireTestForCode: true}, tk: codeTask(true),
			refuse: []string{addOp("Programmer"), addCond("Review", "Revise", "")},
			want:   "Finish refused: this code task has tests: add Test.",
			accept: []string{addOp("Programmer"), addCond("Test", "Programmer", "")}},
		{name: "Test rule ignores a code task without tests", rules: FinishRules{RequireTestForCode: true}, tk: codeTask(false),
			refuse: []string{addOp("Programmer")}, nowhere: true},
		{name: "Test rule ignores math", rules: FinishRules{RequireTestForCode: true}, tk: mathTask(),
			refuse: []string{addOp("Programmer")}, nowhere: true},
		{name: "Programmer or Test for a code task", rules: FinishRules{RequireProgrammerOrTestForCode: true}, tk: codeTask(true),
			refuse: []string{addOp("Custom"), addOp("Review")},
			want:   "Finish refused: a code task needs Programmer or Test.",
			accept: []string{addOp("Custom"), addOp("Test")}},
		{name: "Programmer alone satisfies Programmer or Test", rules: FinishRules{RequireProgrammerOrTestForCode: true}, tk: codeTask(false),
			refuse: []string{addOp("AnswerGenerate")},
			want:   "Finish refused: a code task needs Programmer or Test.",
			accept: []string{addOp("Programmer")}},
		{name: "Programmer or Test ignores math", rules: FinishRules{RequireProgrammerOrTestForCode: true}, tk: mathTask(),
			refuse: []string{addOp("Custom")}, nowhere: true},
		{name: "Format when the answer is long", rules: FinishRules{RequireFormatWhenVerbose: true}, tk: mathTask(), answer: long,
			refuse: []string{addOp("AnswerGenerate")},
			want:   "Finish refused: the current answer is long or verbose: add Format at the end to extract the concise final answer.",
			accept: []string{addOp("AnswerGenerate"), addOp("Format")}},
		{name: "Format when the answer has several lines", rules: FinishRules{RequireFormatWhenVerbose: true}, tk: mathTask(), answer: "6*7\n= 42",
			refuse: []string{addOp("AnswerGenerate")},
			want:   "add Format at the end",
			accept: []string{addOp("Custom"), addOp("Format")}},
		{name: "Format when the answer is step-by-step prose", rules: FinishRules{RequireFormatWhenVerbose: true}, tk: mathTask(), answer: "Therefore 42.",
			refuse: []string{addOp("AnswerGenerate")},
			want:   "add Format at the end",
			accept: []string{addOp("Format"), addOp("AnswerGenerate")}},
		{name: "a concise answer needs no Format", rules: FinishRules{RequireFormatWhenVerbose: true}, tk: mathTask(), answer: "42",
			refuse: []string{addOp("AnswerGenerate")}, nowhere: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := func(replies []string) Observation {
				t.Helper()
				ans := tc.answer
				if ans == "" {
					ans = "42"
				}
				cfg := oneStepCfg()
				cfg.Finish = tc.rules
				e, _ := newEpisode(t, New(WithExecutor(&fakeExec{Answer: ans})), tc.tk, cfg)
				for _, r := range replies {
					if o := say(t, e, r); !o.Valid {
						t.Fatalf("setup %q refused: %s", r, o.Feedback)
					}
				}
				before := e.Observe()
				o := say(t, e, "<action>finish</action><answer>42</answer>")
				if o.Turn != before.Turn+1 {
					t.Errorf("finish turn = %d, want %d", o.Turn, before.Turn+1)
				}
				return o
			}
			o := run(tc.refuse)
			if tc.nowhere {
				if !o.Valid || !o.Done || o.EndReason != Finished {
					t.Fatalf("rule should not apply: valid=%v done=%v feedback=%q", o.Valid, o.Done, o.Feedback)
				}
				return
			}
			if o.Valid || o.Done || o.State != Building || o.EndReason != NotEnded || o.Result != nil || o.Answer != "" {
				t.Fatalf("refused finish must be feedback: valid=%v done=%v state=%s end=%q answer=%q", o.Valid, o.Done, o.State, o.EndReason, o.Answer)
			}
			mustContain(t, "feedback", o.Feedback, tc.want)
			if strings.Count(o.Feedback, ";") != 0 {
				t.Errorf("only the one rule under test may be reported: %q", o.Feedback)
			}
			o = run(tc.accept)
			if !o.Valid || !o.Done || o.State != Done || o.EndReason != Finished || o.Answer != "42" || o.Result == nil {
				t.Fatalf("accepted finish: valid=%v done=%v state=%s end=%q answer=%q feedback=%q", o.Valid, o.Done, o.State, o.EndReason, o.Answer, o.Feedback)
			}
			mustContain(t, "feedback", o.Feedback, "Finish accepted: the workflow is final.")
		})
	}
}

func TestDefaultFinishRulesListEveryUnmetRule(t *testing.T) {
	e, _ := newEpisode(t, New(WithExecutor(&fakeExec{Answer: strings.Repeat("x", 80)})), codeTask(true), oneStepCfg())
	o := say(t, e, "<action>finish</action>")
	if o.Feedback != "Finish refused: the workflow is empty: add operators first." {
		t.Errorf("empty workflow feedback = %q: an empty workflow names only that", o.Feedback)
	}
	say(t, e, addOp("Custom"))
	o = say(t, e, "<action>finish</action>")
	mustContain(t, "feedback", o.Feedback,
		"Finish refused: the workflow has 1 operators, at least 5 are needed",
		"; add a structure (parallel, conditional or loop)",
		"; add a checker (Test, Review, Verify)",
		"; this code task has tests: add Test",
		"; a code task needs Programmer or Test",
		"; the current answer is long or verbose: add Format")
	mustNotContain(t, "feedback", o.Feedback, "add a solver")
	if o.Done || o.Valid {
		t.Fatalf("done=%v valid=%v", o.Done, o.Valid)
	}
	// The full SPEC example for code meets every default rule.
	for _, r := range []string{
		addOp("Plan"), addPar("Programmer, Programmer, Custom"), addOp("ScEnsemble"),
		addCond("Test", "Programmer", "done"), addOp("Format"),
	} {
		if o := say(t, e, r); !o.Valid {
			t.Fatalf("%q refused: %s", r, o.Feedback)
		}
	}
	say(t, e, "<action>delete</action><target>node_1</target>")
	o = say(t, e, "<action>finish</action>")
	if !o.Done || o.EndReason != Finished {
		t.Fatalf("finish refused: %s (dsl %q)", o.Feedback, o.DSL)
	}
}

func TestFinishAnswerIsOptional(t *testing.T) {
	cfg := oneStepCfg()
	cfg.Finish = noFinish()
	e, _ := newEpisode(t, New(), mathTask(), cfg)
	o := say(t, e, "<action>finish</action>")
	if !o.Done || o.EndReason != Finished || o.Answer != "" {
		t.Fatalf("done=%v end=%q answer=%q", o.Done, o.EndReason, o.Answer)
	}
}
