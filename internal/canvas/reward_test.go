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
