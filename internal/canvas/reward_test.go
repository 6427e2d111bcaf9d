package canvas

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
)

const specExample = "Plan -> [Programmer, AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : done -> Verify -> Format"

func specExampleActions() []action.Action {
	return []action.Action{
		{Kind: action.Add, Operator: "Plan", Position: -1},
		{Kind: action.Add, Structure: action.Parallel, Operators: []string{"Programmer", "AnswerGenerate", "Custom"}, Position: -1},
		{Kind: action.Add, Operator: "ScEnsemble", Position: -1},
		{Kind: action.Add, Structure: action.Conditional, Condition: "Review", True: "Revise", False: "done", Position: -1},
		{Kind: action.Add, Operator: "Verify", Position: -1},
		{Kind: action.Add, Operator: "Format", Position: -1},
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestRewardAtTheEnd(t *testing.T) {
	cases := []struct {
		name        string
		acts        []action.Action
		rules       FinishRules
		correctness float64
		finish      bool
		wantDSL     string
		wantReward  float64
		wantS       float64
		released    bool
	}{
		{name: "SPEC example releases correctness", acts: specExampleActions(), rules: DefaultFinishRules(),
			correctness: 0.75, finish: true, wantDSL: specExample, wantReward: 0.75, wantS: 1, released: true},
		{name: "SPEC example wrong answer", acts: specExampleActions(), rules: DefaultFinishRules(),
			correctness: 0, finish: true, wantDSL: specExample, wantReward: 0, wantS: 1, released: true},
		{name: "no structure: -1 + S, never released", rules: noFinish(), correctness: 1, finish: true,
			acts: []action.Action{
				{Kind: action.Add, Operator: "Plan", Position: -1},
				{Kind: action.Add, Operator: "Programmer", Position: -1},
				{Kind: action.Add, Operator: "Review", Position: -1},
				{Kind: action.Add, Operator: "Revise", Position: -1},
				{Kind: action.Add, Operator: "Verify", Position: -1},
				{Kind: action.Add, Operator: "Format", Position: -1},
			},
			wantDSL: "Plan -> Programmer -> Review -> Revise -> Verify -> Format", wantReward: -0.4, wantS: 0.6},
		{name: "loop counts as structure", rules: noFinish(), correctness: 1, finish: true,
			acts: []action.Action{
				{Kind: action.Add, Operator: "Programmer", Position: -1},
				{Kind: action.Add, Structure: action.Loop, Operators: []string{"Review", "Revise"}, Count: 2, Position: -1},
				{Kind: action.Add, Operator: "Format", Position: -1},
			},
			wantDSL: "Programmer -> (Review -> Revise) * 2 -> Format", wantReward: -0.2, wantS: 0.8},
		{name: "truncated by max_rounds is still rewarded", rules: DefaultFinishRules(), correctness: 1, finish: false,
			acts:    []action.Action{{Kind: action.Add, Operator: "Programmer", Position: -1}},
			wantDSL: "Programmer", wantReward: -1, wantS: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := &fakeExec{Answer: "42"}
			sc := &fakeScorer{Value: tc.correctness}
			cfg := oneStepCfg()
			cfg.Finish = tc.rules
			cfg.MaxRounds = len(tc.acts) + 1
			e, _ := newEpisode(t, New(WithExecutor(x), WithScorer(sc)), mathTask(), cfg)
			for _, a := range tc.acts {
				o := do(t, e, a)
				if !o.Valid || o.Result != nil {
					t.Fatalf("%v: valid=%v result=%v feedback=%q", a, o.Valid, o.Result, o.Feedback)
				}
			}
			var o Observation
			if tc.finish {
				o = say(t, e, "<action>finish</action><answer>7</answer>")
			} else {
				o = say(t, e, "I am still thinking.")
			}
			if !o.Done || o.Result == nil {
				t.Fatalf("not ended: %s", o.Feedback)
			}
			if o.DSL != tc.wantDSL {
				t.Errorf("DSL = %q, want %q", o.DSL, tc.wantDSL)
			}
			r := o.Result.Reward
			if !near(r.Reward, tc.wantReward) || !near(r.StructureTotal, tc.wantS) || r.Released != tc.released || r.Kind != reward.CWRPO {
				t.Errorf("reward = %+v, want R=%v S=%v released=%v", r, tc.wantReward, tc.wantS, tc.released)
			}
			if o.Result.Score.Value != tc.correctness || o.Result.Score.Method != "fake" {
				t.Errorf("score = %+v", o.Result.Score)
			}
			if got := sc.Answers(); len(got) != 1 || got[0] != "42" {
				t.Errorf("scorer saw %v, want the executed answer 42 (never the finish answer)", got)
			}
			wantEnd := Finished
			if !tc.finish {
				wantEnd = MaxRounds
			}
			if o.EndReason != wantEnd {
				t.Errorf("EndReason = %q, want %q", o.EndReason, wantEnd)
			}
			// The result does not change on later reads.
			if again := e.Observe().Result; again == nil || again.Reward != r {
				t.Errorf("result changed: %+v", again)
			}
		})
	}
}

func TestRewardSpecIsTheEpisodes(t *testing.T) {
	spec := reward.Default()
	spec.InvalidActionPenalty = 0.1
	spec.UnfinishedPenalty = 0.5
	cfg := oneStepCfg()
	cfg.MaxRounds = 3
	c := New(WithExecutor(&fakeExec{Answer: "42"}), WithScorer(&fakeScorer{Value: 1}))
	e, _, err := c.Create(context.Background(), mathTask(), cfg, spec)
	if err != nil {
		t.Fatal(err)
	}
	say(t, e, addOp("Format"))
	say(t, e, "bad")
	o := say(t, e, "bad")
	r := o.Result.Reward
	// -1 + 0.2 (Format) - 0.5 unfinished - 2 * 0.1 invalid.
	if !near(r.Reward, -1.5) || !near(r.Penalties, 0.7) {
		t.Errorf("reward = %+v, want -1.5 with penalties 0.7", r)
	}
}

func TestNoScorerGivesZeroCorrectness(t *testing.T) {
	cfg := oneStepCfg()
	cfg.Finish = noFinish()
	e, _ := newEpisode(t, New(WithExecutor(&fakeExec{Answer: "42"})), mathTask(), cfg)
	for _, a := range specExampleActions() {
		do(t, e, a)
	}
	o := say(t, e, "<action>finish</action>")
	if o.Result == nil || o.Result.Score != (Score{}) || !near(o.Result.Reward.Reward, 0) || !o.Result.Reward.Released {
		t.Fatalf("result = %+v", o.Result)
	}
}

func TestObservationsNeverCarryGoldFields(t *testing.T) {
	for _, tk := range []task.Task{mathTask(), codeTask(true)} {
		t.Run(string(tk.Family), func(t *testing.T) {
			x := &fakeExec{Answer: "42"}
			c := New(WithExecutor(x), WithScorer(&fakeScorer{Value: 1}))
			cfg := DefaultConfig()
			cfg.MaxRounds = 4
			cfg.Hints = true
			e, o0 := newEpisode(t, c, tk, cfg)
			obs := []Observation{o0}
			for _, r := range []string{addPar("Programmer, Custom"), "Solve it with code.", "bad", "Reason it out in words."} {
				obs = append(obs, say(t, e, r))
			}
			obs = append(obs, e.Observe(), e.Snapshot(true).Observation)
			if !obs[len(obs)-1].Done {
				t.Fatal("episode should have ended at max_rounds")
			}
			for i, o := range obs {
				pt := o.Task
				if pt.Answers != nil || pt.Unanswerable || !pt.HiddenTests.Empty() || pt.Reference != "" || pt.Distractors != nil {
					t.Errorf("observation %d carries gold fields: %+v", i, pt)
				}
				if pt.Question != tk.Question || pt.PublicTests.Code != tk.PublicTests.Code || pt.EntryPoint != tk.EntryPoint || pt.ID != tk.ID {
					t.Errorf("observation %d lost public fields: %+v", i, pt)
				}
				if o.Prompt != nil {
					for _, s := range []string{o.Prompt.System, o.Prompt.User} {
						mustNotContain(t, "rendered prompt", s, "GOLD-REFERENCE", "HIDDEN_SECRET", "48")
					}
				}
			}
			// The episode itself keeps the gold for scoring.
			if got := e.Task(); got.Reference == "" || (tk.Family == task.Math && len(got.Answers) != 1) {
				t.Errorf("episode task lost its gold: %+v", got)
			}
			if snap := e.Snapshot(false); snap.Task.Reference == "" {
				t.Errorf("snapshot task is the full record: %+v", snap.Task)
			}
		})
	}
	t.Run("PublicTask", func(t *testing.T) {
		tk := mathTask()
		tk.Unanswerable = true
		tk.HiddenTests = task.Tests{Cases: []task.IOCase{{Input: "1", Output: "2"}}}
		p := PublicTask(tk)
		if p.Answers != nil || p.Unanswerable || !p.HiddenTests.Empty() || p.Reference != "" || p.Distractors != nil || p.Question != tk.Question {
			t.Errorf("PublicTask = %+v", p)
		}
		if len(tk.Answers) != 1 || !strings.Contains(tk.Reference, "GOLD") {
			t.Errorf("PublicTask mutated its argument")
		}
	})
}

// answerPrompts plays actions with two-step editing on: each add is
// followed by one prompt reply per new node. It returns the observation
// after the last prompt.
func answerPrompts(t *testing.T, e *Episode, acts []action.Action) Observation {
	t.Helper()
	var o Observation
	for _, a := range acts {
		o = do(t, e, a)
		for o.Awaiting != nil && !o.Done {
			o = say(t, e, "Solve the problem carefully and exactly.")
		}
		if !o.Valid {
			t.Fatalf("%v: %s", a, o.Feedback)
		}
	}
	return o
}

// The counterparts of TestRewardAtTheEnd with two-step editing on (the
// default): the same workflows, built with their prompts, earn the same.
func TestRewardAtTheEndWithTwoStepEditing(t *testing.T) {
	cases := []struct {
		name       string
		acts       []action.Action
		rules      FinishRules
		finish     bool
		wantDSL    string
		wantReward float64
		wantS      float64
	}{
		{name: "SPEC example releases correctness", acts: specExampleActions(), rules: DefaultFinishRules(), finish: true,
			wantDSL: specExample, wantReward: 0.75, wantS: 1},
		{name: "loop counts as structure", rules: noFinish(), finish: true,
			acts: []action.Action{
				{Kind: action.Add, Operator: "Programmer", Position: -1},
				{Kind: action.Add, Structure: action.Loop, Operators: []string{"Review", "Revise"}, Count: 2, Position: -1},
				{Kind: action.Add, Operator: "Format", Position: -1},
			},
			wantDSL: "Programmer -> (Review -> Revise) * 2 -> Format", wantReward: -0.2, wantS: 0.8},
		{name: "truncated by max_rounds is still rewarded", rules: DefaultFinishRules(), finish: false,
			acts:    []action.Action{{Kind: action.Add, Operator: "Programmer", Position: -1}},
			wantDSL: "Programmer", wantReward: -1, wantS: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := &fakeExec{Answer: "42"}
			sc := &fakeScorer{Value: 0.75}
			cfg := DefaultConfig()
			cfg.Finish = tc.rules
			turns := 0
			for _, a := range tc.acts {
				turns++
				switch a.Structure {
				case action.NoStructure:
					turns++
				case action.Conditional:
					turns += 2
					if a.False != "" && a.False != "done" {
						turns++
					}
				default:
					turns += len(a.Operators)
				}
			}
			cfg.MaxRounds = turns + 1
			e, _ := newEpisode(t, New(WithExecutor(x), WithScorer(sc)), mathTask(), cfg)
			if o := answerPrompts(t, e, tc.acts); o.Done || o.State != Building {
				t.Fatalf("not building after the prompts: %s", o.Feedback)
			}
			var o Observation
			if tc.finish {
				o = say(t, e, "<action>finish</action>")
			} else {
				o = say(t, e, "I am still thinking.")
			}
			if !o.Done || o.Result == nil || o.DSL != tc.wantDSL {
				t.Fatalf("done=%v dsl=%q feedback=%q", o.Done, o.DSL, o.Feedback)
			}
			r := o.Result.Reward
			if !near(r.Reward, tc.wantReward) || !near(r.StructureTotal, tc.wantS) {
				t.Errorf("reward = %+v, want R=%v S=%v", r, tc.wantReward, tc.wantS)
			}
			for _, p := range x.Calls()[len(x.Calls())-1].Prompts {
				if p == "" {
					t.Errorf("the executed workflow has a node without its prompt")
				}
			}
		})
	}
}

// With two-step editing on, an edit whose prompts never arrive is not part
// of the scored workflow: each case ends (max_rounds or Close) while the
// canvas awaits a prompt, and must earn what the workflow before the edit
// earned.
func TestPendingEditsNeverCountInTheReward(t *testing.T) {
	// Plan -> [Programmer, Custom] -> ScEnsemble -> Review ? Revise : done -> Custom:
	// checker, 7 operators, structure, no Format: S = 0.8, R = -0.2.
	base := []action.Action{
		{Kind: action.Add, Operator: "Plan", Position: -1},
		{Kind: action.Add, Structure: action.Parallel, Operators: []string{"Programmer", "Custom"}, Position: -1},
		{Kind: action.Add, Operator: "ScEnsemble", Position: -1},
		{Kind: action.Add, Structure: action.Conditional, Condition: "Review", True: "Revise", False: "done", Position: -1},
		{Kind: action.Add, Operator: "Custom", Position: -1},
	}
	const baseDSL = "Plan -> [Programmer, Custom] -> ScEnsemble -> Review ? Revise : done -> Custom"
	cases := []struct {
		name    string
		last    action.Action
		prompts int // prompt replies given before the end
		close   bool
	}{
		{name: "modify to Format on the last turn", last: action.Action{Kind: action.Modify, Target: "node_5", Operator: "Format"}},
		{name: "add Format on the last turn", last: action.Action{Kind: action.Add, Operator: "Format", Position: -1}},
		{name: "add Format, closed while awaiting", last: action.Action{Kind: action.Add, Operator: "Format", Position: -1}, close: true},
		{name: "parallel with one of three prompts", prompts: 1,
			last: action.Action{Kind: action.Add, Structure: action.Parallel, Operators: []string{"Custom", "AnswerGenerate", "Programmer"}, Position: -1}},
		{name: "modify in front of the workflow", last: action.Action{Kind: action.Modify, Target: "node_1", Operator: "Format"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := &fakeExec{Answer: "42"}
			c := New(WithExecutor(x), WithScorer(&fakeScorer{Value: 1}))
			cfg := DefaultConfig()
			cfg.MaxRounds = 12 + 1 + tc.prompts
			if tc.close {
				cfg.MaxRounds = 20
			}
			e, _ := newEpisode(t, c, mathTask(), cfg)
			o := answerPrompts(t, e, base)
			if o.DSL != baseDSL || o.Turn != 12 {
				t.Fatalf("base: turn %d dsl %q", o.Turn, o.DSL)
			}
			ran := x.N()
			o = do(t, e, tc.last)
			for i := 0; i < tc.prompts; i++ {
				o = say(t, e, "Solve the problem carefully and exactly.")
			}
			if tc.close {
				if o.Done {
					t.Fatal("ended early")
				}
				snap, err := c.Close(context.Background(), e.ID())
				if err != nil {
					t.Fatal(err)
				}
				o = snap.Observation
			}
			if !o.Done || o.Result == nil {
				t.Fatalf("not ended: %s", o.Feedback)
			}
			if x.N() != ran {
				t.Errorf("the pending edit was executed")
			}
			r := o.Result.Reward
			if o.DSL != baseDSL || r.Format != 0 || !near(r.StructureTotal, 0.8) || r.Released || !near(r.Reward, -0.2) {
				t.Errorf("dsl %q reward %+v, want the executed %q with S=0.8, R=-0.2", o.DSL, r, baseDSL)
			}
			if o.Result.Score.Value != 1 {
				t.Errorf("score %+v: the executed answer must still be scored", o.Result.Score)
			}
		})
	}
}

// Test is a checker only where the task has tests: on a code task with
// public tests it is one (and the finish rule's Test), elsewhere it cannot
// be added at all, so it can neither earn the checker term nor head a
// conditional.
func TestTestIsACheckerOnlyWhereTheTaskHasTests(t *testing.T) {
	for _, tc := range []struct {
		name string
		tk   task.Task
		ok   bool
	}{
		{"code with tests", codeTask(true), true},
		{"code without tests", codeTask(false), false},
		{"math", mathTask(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Finish = noFinish()
			e, o := newEpisode(t, New(WithExecutor(&fakeExec{Answer: "def add(a, b): return a + b"}), WithScorer(&fakeScorer{Value: 1})), tc.tk, cfg)
			for _, v := range o.Operators {
				if v.Name == "Test" && v.Enabled != tc.ok {
					t.Errorf("operator view Test enabled=%v", v.Enabled)
				}
			}
			o = answerPrompts(t, e, []action.Action{{Kind: action.Add, Operator: "Programmer", Position: -1}})
			o = do(t, e, action.Action{Kind: action.Add, Structure: action.Conditional, Condition: "Test", True: "Programmer", Position: -1})
			if o.Valid != tc.ok {
				t.Fatalf("conditional headed by Test: valid=%v feedback=%q", o.Valid, o.Feedback)
			}
			if !tc.ok {
				mustContain(t, "feedback", o.Feedback, "Test is disabled: this task has no public tests for it to run")
				return
			}
			for o.Awaiting != nil {
				o = say(t, e, "Run the tests and fix the code.")
			}
			o = say(t, e, "<action>finish</action>")
			if r := o.Result.Reward; r.Checker != 0.2 || r.Structure != 0.4 {
				t.Errorf("reward %+v, want the checker and structure terms", r)
			}
		})
	}
}
