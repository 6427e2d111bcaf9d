package embedded

import (
	"context"
	"fmt"
	"math"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
)

const (
	famMath = pb.TaskFamily_TASK_FAMILY_MATH
	famQA   = pb.TaskFamily_TASK_FAMILY_QA
	famCode = pb.TaskFamily_TASK_FAMILY_CODE
	famMC   = pb.TaskFamily_TASK_FAMILY_MULTIPLE_CHOICE
)

func testTask(f pb.TaskFamily, withTests bool) *pb.Task {
	t := &pb.Task{Id: "t-" + f.String(), Family: f, Question: "A shop sells 12 apples for 3 dollars. How much do 20 apples cost?"}
	switch f {
	case famQA:
		t.Question, t.Context = "Who wrote the novel mentioned in the passage?", "The passage mentions a novel."
	case famCode:
		t.Question, t.EntryPoint = "Write a function add(a, b) that returns the sum.", "add"
	case famMC:
		t.Choices = []string{"5", "6", "7"}
	}
	if withTests {
		t.PublicTests = &pb.CodeTests{Style: "assert", Code: "assert add(1, 2) == 3"}
	}
	return t
}

func opStage(n int, op string) *pb.Stage {
	id := fmt.Sprintf("node_%d", n)
	return &pb.Stage{Id: id, Kind: pb.StageKind_STAGE_KIND_OPERATOR, Operator: &pb.WorkflowNode{Id: id, Operator: op}}
}

func parStage(n int, ops ...string) *pb.Stage {
	id := fmt.Sprintf("node_%d", n)
	s := &pb.Stage{Id: id, Kind: pb.StageKind_STAGE_KIND_PARALLEL}
	for i, op := range ops {
		s.Branches = append(s.Branches, &pb.WorkflowNode{Id: fmt.Sprintf("%s_p%d", id, i), Operator: op})
	}
	return s
}

func condStage(n int, c, t string) *pb.Stage {
	id := fmt.Sprintf("node_%d", n)
	return &pb.Stage{Id: id, Kind: pb.StageKind_STAGE_KIND_CONDITIONAL,
		Condition: &pb.WorkflowNode{Id: id + "_cond", Operator: c}, IfTrue: &pb.WorkflowNode{Id: id + "_true", Operator: t}}
}

// obsOf is a building-turn observation with these stages; turn counts the stages.
func obsOf(t *pb.Task, stages ...*pb.Stage) *pb.Observation {
	return &pb.Observation{
		EpisodeId: "ep-1", Task: t, Workflow: &pb.Workflow{Stages: stages}, Valid: true,
		Turn: int32(len(stages)), MaxRounds: 20, RoundsLeft: int32(20 - len(stages)),
		State: pb.EpisodeState_EPISODE_STATE_BUILDING, Feedback: "Added.",
	}
}

func newTestPolicy(t testing.TB, cfg Config) *Policy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func act(t testing.TB, p *Policy, obs *pb.Observation, s policy.Sampling) *pb.Decision {
	t.Helper()
	d, err := p.Act(context.Background(), obs, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func seed(v int64) *int64 { return &v }

// observations is a varied set of building turns: every family, empty and
// non-empty workflows, with and without tests, after valid and refused actions.
func observations() []*pb.Observation {
	refused := obsOf(testTask(famMath, false), opStage(1, "Programmer"), parStage(2, "Custom", "Programmer"))
	refused.Valid, refused.Feedback, refused.LastActionKind = false, "Finish refused: add a checker.", pb.ActionKind_ACTION_KIND_FINISH
	invalid := obsOf(testTask(famQA, false), opStage(1, "Custom"))
	invalid.Valid, invalid.Feedback = false, "Cannot add: unknown operator Foo."
	return []*pb.Observation{
		obsOf(testTask(famMath, false)),
		obsOf(testTask(famCode, true), opStage(1, "Programmer")),
		obsOf(testTask(famCode, false), opStage(1, "Plan"), opStage(2, "Programmer")),
		obsOf(testTask(famMC, false), parStage(1, "Custom", "AnswerGenerate"), opStage(2, "ScEnsemble")),
		obsOf(testTask(famQA, false), condStage(1, "Review", "Revise")),
		refused,
		invalid,
	}
}

// logProbsOf recomputes the per-choice log-probs of decisions under the
// current parameters.
func logProbsOf(t testing.TB, p *Policy, ds ...*pb.Decision) []float64 {
	t.Helper()
	var out []float64
	for _, d := range ds {
		dec, err := decodeState(d.GetState(), p.arch.in)
		if err != nil {
			t.Fatal(err)
		}
		var c decisionCache
		p.mu.RLock()
		p.forward(p.params, dec, &c)
		p.mu.RUnlock()
		out = append(out, c.logp...)
	}
	return out
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }
