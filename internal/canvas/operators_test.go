package canvas

import (
	"testing"

	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/task"
)

func TestWrongCaseOperatorNamesAreStoredCanonically(t *testing.T) {
	cases := []struct {
		name, reply, wantDSL string
		prompts              int
	}{
		{"single", addOp("programmer"), "Programmer", 1},
		{"all caps", addOp("SCENSEMBLE"), "ScEnsemble", 1},
		{"parallel", addPar("answergenerate, CUSTOM, proGrammer"), "[AnswerGenerate, Custom, Programmer]", 3},
		{"conditional", addCond("review", "REVISE", "format"), "Review ? Revise : Format", 3},
		{"conditional false DONE", addCond("VERIFY", "revise", "DONE"), "Verify ? Revise : done", 2},
		{"loop", addLoop("test, programmer", "2"), "(Test -> Programmer) * 2", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEpisode(t, New(), codeTask(true), DefaultConfig())
			o := say(t, e, tc.reply)
			if !o.Valid || o.DSL != tc.wantDSL {
				t.Fatalf("valid=%v dsl=%q feedback=%q, want %q", o.Valid, o.DSL, o.Feedback, tc.wantDSL)
			}
			if o.Awaiting == nil || o.Awaiting.Operator != o.Graph.Stages[0].Nodes()[0].Operator {
				t.Fatalf("awaiting %+v should name the canonical operator", o.Awaiting)
			}
			for i := 0; i < tc.prompts; i++ {
				o = say(t, e, "Solve the problem carefully and exactly.")
			}
			if o.State != Building {
				t.Fatalf("state %s after %d prompts", o.State, tc.prompts)
			}
			for _, op := range o.Graph.Operators() {
				if d, ok := e.lib.Lookup(op); !ok || d.Name != op {
					t.Errorf("stored operator %q is not canonical", op)
				}
			}
		})
	}
	t.Run("modify", func(t *testing.T) {
		e, _ := newEpisode(t, New(), mathTask(), oneStepCfg())
		say(t, e, addOp("Programmer"))
		if o := say(t, e, "<action>modify</action><target>node_1</target><operator>aNsWeRgEnErAtE</operator>"); o.DSL != "AnswerGenerate" {
			t.Fatalf("DSL = %q feedback=%q", o.DSL, o.Feedback)
		}
	})
}

// An unknown name anywhere in an add or modify is refused before the canvas
// changes anything, so it can never lock the episode in "awaiting prompt".
func TestUnknownOperatorNeverLeavesCanvasAwaiting(t *testing.T) {
	cases := []struct {
		name, reply, bad string
	}{
		{"single", addOp("Programer"), "Programer"},
		{"parallel first", addPar("Programer, Custom"), "Programer"},
		{"parallel last", addPar("Programmer, Custom, AnswerGenerat"), "AnswerGenerat"},
		{"conditional condition", addCond("Reveiw", "Revise", ""), "Reveiw"},
		{"conditional true", addCond("Review", "Revize", "done"), "Revize"},
		{"conditional false", addCond("Review", "Revise", "Formatt"), "Formatt"},
		{"loop body", addLoop("Review, Revies", "3"), "Revies"},
		{"modify", "<action>modify</action><target>node_1</target><operator>Cusotm</operator>", "Cusotm"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := &fakeExec{Answer: "42"}
			e, _ := newEpisode(t, New(WithExecutor(x)), mathTask(), DefaultConfig())
			say(t, e, addOpPrompt("Plan", "Plan how to count the apples."))
			o := say(t, e, tc.reply)
			if o.Valid || o.State != Building || o.Awaiting != nil || o.DSL != "Plan" || o.Done {
				t.Fatalf("valid=%v state=%s awaiting=%+v dsl=%q", o.Valid, o.State, o.Awaiting, o.DSL)
			}
			mustContain(t, "feedback", o.Feedback, "unknown operator "+tc.bad+": known are "+mathNames)
			if x.N() != 1 {
				t.Errorf("executed after a refused action: %d calls", x.N())
			}
			// The very next action is taken as an action, not as a prompt.
			o = say(t, e, addOpPrompt("Programmer", "Compute 6*7 in Python."))
			if !o.Valid || o.DSL != "Plan -> Programmer" || o.State != Building {
				t.Fatalf("next action: valid=%v dsl=%q state=%s feedback=%q", o.Valid, o.DSL, o.State, o.Feedback)
			}
		})
	}
}

func TestOperatorsDisabledPerFamily(t *testing.T) {
	mcKnown := "Plan, Decompose, Custom, AnswerGenerate, Review, Verify, Revise, ScEnsemble, Aggregate, Format"
	refusals := []struct {
		name, reply string
		structured  *action.Action
	}{
		{"add", addOp("Programmer"), nil},
		{"add lower case", addOp("programmer"), nil},
		{"parallel", addPar("Custom, Programmer"), nil},
		{"conditional true", addCond("Review", "Programmer", ""), nil},
		{"loop", addLoop("Programmer, Test", "2"), nil},
		{"modify", "<action>modify</action><target>node_1</target><operator>Programmer</operator>", nil},
		{"lenient lone name", "I will use Programmer here.", nil},
		{"structured add", "", &action.Action{Kind: action.Add, Operator: "Programmer", Position: -1}},
	}
	for _, tc := range refusals {
		t.Run("multiple choice refuses/"+tc.name, func(t *testing.T) {
			e, o0 := newEpisode(t, New(), mcTask(), DefaultConfig())
			for _, v := range o0.Operators {
				if (v.Name == "Programmer" || v.Name == "Test") == v.Enabled {
					t.Errorf("operator view %s enabled=%v", v.Name, v.Enabled)
				}
			}
			say(t, e, addOpPrompt("Custom", "Pick the option letter that matches."))
			var o Observation
			if tc.structured != nil {
				o = do(t, e, *tc.structured)
			} else {
				o = say(t, e, tc.reply)
			}
			if o.Valid || o.State != Building || o.Awaiting != nil || o.DSL != "Custom" {
				t.Fatalf("valid=%v state=%s awaiting=%+v dsl=%q", o.Valid, o.State, o.Awaiting, o.DSL)
			}
			mustContain(t, "feedback", o.Feedback, "Programmer is disabled for multiple-choice tasks: use one of "+mcKnown)
		})
	}
	t.Run("unknown names list only enabled operators", func(t *testing.T) {
		e, _ := newEpisode(t, New(), mcTask(), DefaultConfig())
		o := say(t, e, addOp("Foo"))
		mustContain(t, "feedback", o.Feedback, "Cannot add: unknown operator Foo: known are "+mcKnown)
	})
	for _, f := range []task.Task{mathTask(), codeTask(true)} {
		t.Run("allowed for "+string(f.Family), func(t *testing.T) {
			e, _ := newEpisode(t, New(), f, oneStepCfg())
			if o := say(t, e, addOp("Programmer")); !o.Valid || o.DSL != "Programmer" {
				t.Fatalf("valid=%v dsl=%q feedback=%q", o.Valid, o.DSL, o.Feedback)
			}
			if o := say(t, e, addPar("Programmer, Custom")); !o.Valid {
				t.Fatalf("parallel refused: %s", o.Feedback)
			}
		})
	}
}
