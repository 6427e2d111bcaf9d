package canvas_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

func TestStructuredActionsOverUnarySteps(t *testing.T) {
	h := start(t)
	c := ctx(t)
	cv := h.client.Canvas
	two := false
	created, err := cv.CreateEpisode(c, &pb.CreateEpisodeRequest{Task: mathTask(), Config: &pb.EpisodeConfig{TwoStep: &two}})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetObservation().GetEpisodeId()
	steps := []*pb.StructuredAction{
		{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_PARALLEL, Operators: []string{"Programmer", "AnswerGenerate"}},
		{Kind: pb.ActionKind_ACTION_KIND_ADD, Operator: "ScEnsemble"},
		{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_LOOP, Operators: []string{"Review", "Revise"}, Count: 42},
		{Kind: pb.ActionKind_ACTION_KIND_MODIFY, Target: "node_1_p1", Operator: "Custom"},
		{Kind: pb.ActionKind_ACTION_KIND_ADD, Operator: "Plan", Position: proto.Int32(0)},
	}
	var obs *pb.Observation
	for i, a := range steps {
		r, err := cv.Step(c, &pb.StepRequest{EpisodeId: id, Action: flowsteer.Structured(a)})
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		obs = r.GetObservation()
		if !obs.GetValid() {
			t.Fatalf("step %d refused: %s", i, obs.GetFeedback())
		}
	}
	if got, want := obs.GetWorkflow().GetDsl(), "Plan -> [Programmer, Custom] -> ScEnsemble -> (Review -> Revise) * 10"; got != want {
		t.Fatalf("dsl %q, want %q", got, want)
	}
	st := obs.GetWorkflow().GetStages()
	if len(st) != 4 || st[3].GetKind() != pb.StageKind_STAGE_KIND_LOOP || st[3].GetCount() != 10 || st[1].GetBranches()[1].GetId() != "node_1_p1" {
		t.Fatalf("structured workflow = %v", st)
	}
	// An unknown enum value is canvas feedback, not an RPC failure.
	r, err := cv.Step(c, &pb.StepRequest{EpisodeId: id, Action: flowsteer.Structured(&pb.StructuredAction{Kind: pb.ActionKind(99)})})
	if err != nil || r.GetObservation().GetValid() {
		t.Fatalf("unknown kind: err=%v valid=%v", err, r.GetObservation().GetValid())
	}
}
