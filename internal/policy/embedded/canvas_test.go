package embedded

import (
	"context"
	"fmt"
	"strings"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
)

// TestEveryActionIsAcceptedByTheRealCanvas plays whole episodes against the
// canvas through the proto conversion the services use: every add, delete
// and prompt the policy writes must be applied; only a finish may be
// refused (by the finish rules, which a random policy does not know).
func TestEveryActionIsAcceptedByTheRealCanvas(t *testing.T) {
	tasks := []task.Task{
		{ID: "m", Family: task.Math, Question: "What is 17 * 23?"},
		{ID: "q", Family: task.QA, Question: "Who founded the city?", Context: "The city was founded by Ada."},
		{ID: "c", Family: task.Code, Question: "Write add(a, b).", EntryPoint: "add",
			PublicTests: task.Tests{Style: task.AssertStyle, Code: "assert add(1, 2) == 3"}},
		{ID: "mc", Family: task.MultipleChoice, Question: "2 + 2 = ?", Choices: []string{"3", "4", "5"}},
	}
	p := newTestPolicy(t, Config{Seed: 21})
	cv := canvas.New()
	ctx := context.Background()
	for _, tk := range tasks {
		for ep := range 8 {
			t.Run(fmt.Sprintf("%s-%d", tk.ID, ep), func(t *testing.T) {
				cfg := canvas.DefaultConfig()
				e, o, err := cv.Create(ctx, tk, cfg, reward.Default())
				if err != nil {
					t.Fatal(err)
				}
				obs := protoconv.ObservationToPB(o)
				prompts := 0
				for !obs.GetDone() {
					d, err := p.Act(ctx, obs, policy.Sampling{Seed: seed(int64(ep))})
					if err != nil {
						t.Fatal(err)
					}
					if d.Action.Structured.Kind == pb.ActionKind_ACTION_KIND_SET_PROMPT {
						prompts++
					}
					o, err = cv.Step(ctx, e.ID(), protoconv.InputFromPB(d.Action))
					if err != nil {
						t.Fatal(err)
					}
					obs = protoconv.ObservationToPB(o)
					if !obs.GetValid() && !strings.HasPrefix(obs.GetFeedback(), "Finish refused") {
						t.Fatalf("turn %d: %q was refused: %s", obs.GetTurn(), d.Action.Text, obs.GetFeedback())
					}
					if tk.Family == task.MultipleChoice && strings.Contains(obs.GetWorkflow().GetDsl(), "Programmer") {
						t.Fatalf("Programmer in a multiple-choice workflow: %s", obs.GetWorkflow().GetDsl())
					}
				}
				t.Logf("%d turns, %s: %s", obs.GetTurn(), obs.GetEndReason(), obs.GetWorkflow().GetDsl())
				if prompts == 0 {
					t.Fatal("no prompt was ever written: two-step editing was not exercised")
				}
			})
		}
	}
}
