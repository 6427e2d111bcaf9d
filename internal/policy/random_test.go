package policy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/rollout"
)

// namesIn lists every operator name a structured action mentions.
func namesIn(a *pb.StructuredAction) []string {
	out := append([]string{a.GetOperator(), a.GetCondition(), a.GetIfTrue(), a.GetIfFalse()}, a.GetOperators()...)
	return slices.DeleteFunc(out, func(s string) bool { return s == "" || s == "done" })
}

func TestRandomPlaysManyEpisodesWithoutBreakingTheCanvas(t *testing.T) {
	const episodes = 200
	families := []pb.TaskFamily{famMath, famQA, famCode, famMC}
	lc := newLocalCanvas()
	p := policy.NewRandom(42)
	ctx := testCtx(t)
	kinds := map[pb.ActionKind]int{}
	ends := map[pb.EndReason]int{}
	for i := range episodes {
		f := families[i%len(families)]
		tk := taskOf(f, fmt.Sprintf("r-%d", i))
		rec, err := rollout.Play(ctx, lc, rollout.InProcess{P: p}, tk, nil, policy.Sampling{})
		if err != nil {
			t.Fatalf("episode %d (%s): %v", i, f, err)
		}
		fin := rec.Final
		ends[fin.GetEndReason()]++
		switch fin.GetEndReason() {
		case pb.EndReason_END_REASON_FINISHED:
			if fin.GetTurn() > fin.GetMaxRounds() {
				t.Fatalf("episode %d finished on turn %d of %d", i, fin.GetTurn(), fin.GetMaxRounds())
			}
		case pb.EndReason_END_REASON_MAX_ROUNDS:
			if fin.GetTurn() != fin.GetMaxRounds() {
				t.Fatalf("episode %d hit max_rounds on turn %d of %d", i, fin.GetTurn(), fin.GetMaxRounds())
			}
		default:
			t.Fatalf("episode %d ended %s (done=%v)", i, fin.GetEndReason(), fin.GetDone())
		}
		if !fin.GetDone() || fin.GetReward() == nil {
			t.Fatalf("episode %d: final observation not done or without a reward: %v", i, fin)
		}
		if len(rec.Decisions) != int(fin.GetTurn()) {
			t.Fatalf("episode %d: %d decisions for %d turns", i, len(rec.Decisions), fin.GetTurn())
		}
		for j, tr := range rec.Turns {
			if !tr.Valid && strings.TrimSpace(tr.Feedback) == "" {
				t.Fatalf("episode %d turn %d: an invalid action without feedback", i, tr.Number)
			}
			s := rec.Decisions[j].GetAction().GetStructured()
			kinds[s.GetKind()]++
			if f == famMC && slices.Contains(namesIn(s), "Programmer") {
				t.Fatalf("episode %d turn %d: Programmer proposed on a multiple-choice task: %s", i, tr.Number, rec.Decisions[j].GetAction().GetText())
			}
			if !tr.Valid && strings.Contains(tr.Feedback, "unknown operator") {
				t.Fatalf("episode %d turn %d: an operator the canvas does not know: %s", i, tr.Number, tr.Feedback)
			}
		}
		if f == famMC && strings.Contains(fin.GetWorkflow().GetDsl(), "Programmer") {
			t.Fatalf("episode %d: Programmer in a multiple-choice workflow %q", i, fin.GetWorkflow().GetDsl())
		}
	}
	t.Logf("ends %v, action kinds %v", ends, kinds)
	for _, k := range []pb.ActionKind{pb.ActionKind_ACTION_KIND_ADD, pb.ActionKind_ACTION_KIND_DELETE, pb.ActionKind_ACTION_KIND_MODIFY,
		pb.ActionKind_ACTION_KIND_SET_PROMPT, pb.ActionKind_ACTION_KIND_FINISH} {
		if kinds[k] == 0 {
			t.Errorf("no %s in %d episodes: the random policy must exercise every action kind", k, episodes)
		}
	}
}

// decisions plays the tasks in order and returns every action's text.
func decisions(t *testing.T, p policy.Policy, s func(i int) policy.Sampling) []string {
	t.Helper()
	lc := newLocalCanvas()
	var out []string
	for i, f := range []pb.TaskFamily{famMath, famQA, famCode, famMC, famMath, famMC} {
		rec, err := rollout.Play(testCtx(t), lc, rollout.InProcess{P: p}, taskOf(f, fmt.Sprintf("seed-%d", i)), nil, s(i))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range rec.Decisions {
			out = append(out, fmt.Sprintf("%d:%s|%v", i, d.GetAction().GetText(), d.GetAction().GetStructured()))
		}
	}
	return out
}

func TestRandomSameSeedReproducesTheSameDecisions(t *testing.T) {
	noSeed := func(int) policy.Sampling { return policy.Sampling{} }
	perEpisode := func(i int) policy.Sampling { v := int64(100 + i); return policy.Sampling{Seed: &v} }
	cases := []struct {
		name     string
		a, b     policy.Policy
		sampling func(int) policy.Sampling
		same     bool
	}{
		{"same construction seed", policy.NewRandom(7), policy.NewRandom(7), noSeed, true},
		{"different construction seeds", policy.NewRandom(7), policy.NewRandom(8), noSeed, false},
		{"same sampling seed overrides the construction seed", policy.NewRandom(1), policy.NewRandom(2), perEpisode, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := decisions(t, tc.a, tc.sampling), decisions(t, tc.b, tc.sampling)
			if got := slices.Equal(a, b); got != tc.same {
				t.Fatalf("equal decisions = %v, want %v\n%v\n%v", got, tc.same, a, b)
			}
		})
	}
}

// An observation without an operator list (a hand-built one, or from a
// client that leaves it out) still must not make Random propose an
// operator the task's family disables.
func TestRandomWithoutOperatorListRespectsTheFamily(t *testing.T) {
	p := policy.NewRandom(3)
	obs := &pb.Observation{
		Task: taskOf(famMC, "mc"), State: pb.EpisodeState_EPISODE_STATE_BUILDING, MaxRounds: 20,
		Workflow: &pb.Workflow{Stages: []*pb.Stage{{Id: "node_1", Kind: pb.StageKind_STAGE_KIND_OPERATOR, Operator: &pb.WorkflowNode{Id: "node_1", Operator: "Custom"}}}},
	}
	for i := range 500 {
		d, err := p.Act(testCtx(t), obs, policy.Sampling{})
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(namesIn(d.GetAction().GetStructured()), "Programmer") {
			t.Fatalf("act %d: Programmer proposed on a multiple-choice task: %s", i, d.GetAction().GetText())
		}
	}
}

func TestRandomAnswersAwaitingPromptWithTheNodePrompt(t *testing.T) {
	obs := &pb.Observation{
		Task: taskOf(famCode, "c"), State: pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT,
		Awaiting: &pb.AwaitingPrompt{NodeId: "node_3_p1", Operator: "Programmer"},
	}
	for _, p := range []policy.Policy{policy.NewRandom(1), must(policy.NewFixed("full"))} {
		d, err := p.Act(testCtx(t), obs, policy.Sampling{})
		if err != nil {
			t.Fatal(err)
		}
		s := d.GetAction().GetStructured()
		want := policy.NodePrompt("Programmer", famCode)
		if s.GetKind() != pb.ActionKind_ACTION_KIND_SET_PROMPT || s.GetTarget() != "node_3_p1" || s.GetPrompt() != want || d.GetAction().GetText() != want {
			t.Fatalf("%s: decision %v, want set_prompt node_3_p1 %q", p.Info().Kind, d, want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestNodePromptIsLongEnoughForEveryOperatorAndFamily(t *testing.T) {
	names := append(operator.Default().Names(), "Unknown", "plan", "PROGRAMMER", "")
	for _, f := range []pb.TaskFamily{pb.TaskFamily_TASK_FAMILY_UNSPECIFIED, famMath, famQA, famCode, famMC, pb.TaskFamily(99)} {
		for _, op := range names {
			p := policy.NodePrompt(op, f)
			if len([]rune(strings.TrimSpace(p))) < 5 {
				t.Errorf("NodePrompt(%q, %s) = %q: shorter than the canvas's 5-character minimum", op, f, p)
			}
		}
	}
	if len(operator.Default().Names()) != 12 {
		t.Fatalf("the default library has %d operators, want 12", len(operator.Default().Names()))
	}
}
