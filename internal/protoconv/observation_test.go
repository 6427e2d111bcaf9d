package protoconv

import (
	"context"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// TestWorkflowToPBCarriesEveryStageKind: the DSL text and the stages agree
// for operator, parallel, conditional and loop stages.
func TestWorkflowToPBCarriesEveryStageKind(t *testing.T) {
	g, err := workflow.Parse("Plan -> [Programmer, Custom] -> Review ? Revise : done -> (Revise) * 3", operator.Default())
	if err != nil {
		t.Fatal(err)
	}
	w := WorkflowToPB(g)
	if w.GetDsl() != g.String() {
		t.Errorf("dsl %q, want %q", w.GetDsl(), g.String())
	}
	want := []pb.StageKind{pb.StageKind_STAGE_KIND_OPERATOR, pb.StageKind_STAGE_KIND_PARALLEL, pb.StageKind_STAGE_KIND_CONDITIONAL, pb.StageKind_STAGE_KIND_LOOP}
	if len(w.GetStages()) != len(want) {
		t.Fatalf("%d stages, want %d: %v", len(w.GetStages()), len(want), w.GetStages())
	}
	for i, s := range w.GetStages() {
		if s.GetKind() != want[i] {
			t.Errorf("stage %d kind %v, want %v", i, s.GetKind(), want[i])
		}
	}
	st := w.GetStages()
	if st[0].GetOperator().GetOperator() != "Plan" || len(st[1].GetBranches()) != 2 || st[2].GetCondition().GetOperator() != "Review" ||
		st[2].GetIfTrue().GetOperator() != "Revise" || st[3].GetCount() != 3 || len(st[3].GetBody()) != 1 {
		t.Errorf("stage contents lost: %v", st)
	}
	if n := w.GetStats().GetTotalOperators(); n != int32(g.Stats().TotalOperators) || n == 0 {
		t.Errorf("stats say %d operators, the graph %d", n, g.Stats().TotalOperators)
	}
	if e := WorkflowToPB(nil); e.GetDsl() != workflow.New().String() || len(e.GetStages()) != 0 {
		t.Errorf("WorkflowToPB(nil) = %v, want the empty workflow", e)
	}
}

// TestObservationAndSnapshotToPB plays two turns on a real canvas and
// checks that the messages say what the domain values say, and that the
// episode record shows the public task only.
func TestObservationAndSnapshotToPB(t *testing.T) {
	cv := canvas.New()
	tk := task.Task{ID: "t1", Family: task.Math, Question: "What is 6 times 7?", Answers: []string{"42"}, Distractors: []string{"48"}, Reference: "6*7"}
	cfg := canvas.DefaultConfig()
	cfg.TwoStep, cfg.ExecuteEachStep = false, false
	ctx := context.Background()
	e, first, err := cv.Create(ctx, tk, cfg, reward.Default())
	if err != nil {
		t.Fatal(err)
	}
	if o := ObservationToPB(first); o.GetEpisodeId() != e.ID() || o.GetState() != pb.EpisodeState_EPISODE_STATE_BUILDING ||
		o.GetTask().GetFamily() != pb.TaskFamily_TASK_FAMILY_MATH || o.GetMaxRounds() != int32(cfg.MaxRounds) || len(o.GetOperators()) == 0 {
		t.Errorf("first observation: %v", o)
	}
	add := action.Action{Kind: action.Add, Operator: "Custom", Position: -1}
	obs, err := cv.Step(ctx, e.ID(), canvas.Input{Structured: &add})
	if err != nil {
		t.Fatal(err)
	}
	o := ObservationToPB(obs)
	if !o.GetValid() || o.GetTurn() != 1 || o.GetLastActionKind() != pb.ActionKind_ACTION_KIND_ADD || o.GetWorkflow().GetDsl() != "Custom" {
		t.Errorf("observation after an add: valid %v turn %d kind %v dsl %q", o.GetValid(), o.GetTurn(), o.GetLastActionKind(), o.GetWorkflow().GetDsl())
	}
	if len(o.GetHistory()) != len(obs.History) {
		t.Errorf("%d history entries, want %d", len(o.GetHistory()), len(obs.History))
	}
	snap := SnapshotToPB(e.Snapshot(true))
	if snap.GetId() != e.ID() || len(snap.GetTurns()) != 1 || snap.GetTurns()[0].GetAction().GetStructured().GetOperator() != "Custom" {
		t.Errorf("snapshot: %v", snap)
	}
	if pt := snap.GetTask(); len(pt.GetAnswers()) != 0 || pt.GetReference() != "" || len(pt.GetDistractors()) != 0 || pt.GetQuestion() != tk.Question {
		t.Errorf("the episode record shows private task fields: %v", pt)
	}
	if snap.GetConfig().GetMaxRounds() != int32(cfg.MaxRounds) || snap.GetConfig().GetTwoStep() {
		t.Errorf("snapshot config %v, want the episode's", snap.GetConfig())
	}
}

func TestRewardToPB(t *testing.T) {
	if RewardToPB(nil) != nil {
		t.Error("RewardToPB(nil) is not nil")
	}
	r := &canvas.Result{Reward: reward.Breakdown{Kind: reward.Milestone, Reward: 0.5, Base: -1, Checker: 0.2, Cost: reward.CostTerm{Unit: "tokens", Cost: 10, Penalty: 0.1}},
		Score: canvas.Score{Value: 1, Correct: true, Method: "exact", Explanation: "42"}}
	p := RewardToPB(r)
	if p.GetKind() != pb.RewardKind_REWARD_KIND_MILESTONE || p.GetReward() != 0.5 || p.GetCostPenalty() != 0.1 || p.GetWorkflowCost() != 10 ||
		p.GetCostUnit() != "tokens" || !p.GetScore().GetCorrect() || p.GetScore().GetMethod() != "exact" {
		t.Errorf("RewardToPB = %v", p)
	}
}
