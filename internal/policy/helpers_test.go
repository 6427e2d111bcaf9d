package policy_test

import (
	"context"
	"testing"
	"time"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/rollout"
)

// localCanvas is a real in-process canvas (default config, no executor)
// behind rollout.Canvas, converting through the proto conversions the
// Canvas service uses, so policies see exactly what they see over gRPC.
type localCanvas struct{ c *canvas.Canvas }

func newLocalCanvas() localCanvas { return localCanvas{canvas.New()} }

func (l localCanvas) Open(ctx context.Context, t *pb.Task, cfg *pb.EpisodeConfig) (rollout.Episode, error) {
	c, rw, err := protoconv.ConfigFromPB(cfg)
	if err != nil {
		return nil, err
	}
	e, o, err := l.c.Create(ctx, protoconv.TaskFromPB(t), c, rw)
	if err != nil {
		return nil, err
	}
	return &localEpisode{c: l.c, id: e.ID(), first: protoconv.ObservationToPB(o)}, nil
}

type localEpisode struct {
	c     *canvas.Canvas
	id    string
	first *pb.Observation
}

func (e *localEpisode) ID() string             { return e.id }
func (e *localEpisode) First() *pb.Observation { return e.first }
func (e *localEpisode) Close() error           { return nil }
func (e *localEpisode) Step(ctx context.Context, a *pb.Action) (*pb.Observation, error) {
	o, err := e.c.Step(ctx, e.id, protoconv.InputFromPB(a))
	if err != nil {
		return nil, err
	}
	return protoconv.ObservationToPB(o), nil
}

// step applies one structured action to an open episode and answers every
// prompt the canvas then asks for, failing the test on a refused edit.
func (e *localEpisode) stepAll(t *testing.T, a *pb.StructuredAction, family pb.TaskFamily) *pb.Observation {
	t.Helper()
	ctx := testCtx(t)
	obs, err := e.Step(ctx, &pb.Action{Structured: a})
	if err != nil {
		t.Fatal(err)
	}
	if !obs.GetValid() {
		t.Fatalf("setup edit %v refused: %s", a, obs.GetFeedback())
	}
	for obs.GetState() == pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT {
		obs, err = e.Step(ctx, &pb.Action{Structured: &pb.StructuredAction{
			Kind: pb.ActionKind_ACTION_KIND_SET_PROMPT, Prompt: "Do this step carefully.",
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	return obs
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func ptr[T any](v T) *T { return &v }

// lenientFinish accepts any non-empty workflow, so that every target a
// Fixed policy builds can be finished.
func lenientFinish(maxRounds int32) *pb.EpisodeConfig {
	return &pb.EpisodeConfig{MaxRounds: ptr(maxRounds), Finish: &pb.FinishRules{
		RequireNonempty: ptr(true), MinOperators: ptr(int32(0)), RequireStructure: ptr(false),
		RequireSolver: ptr(false), RequireChecker: ptr(false), RequireTestForCode: ptr(false),
		RequireProgrammerOrTestForCode: ptr(false), RequireFormatWhenVerbose: ptr(false),
	}}
}

var (
	famMath = pb.TaskFamily_TASK_FAMILY_MATH
	famQA   = pb.TaskFamily_TASK_FAMILY_QA
	famCode = pb.TaskFamily_TASK_FAMILY_CODE
	famMC   = pb.TaskFamily_TASK_FAMILY_MULTIPLE_CHOICE
)

func taskOf(f pb.TaskFamily, id string) *pb.Task {
	t := &pb.Task{Id: id, Family: f, Question: "A shop sells 12 apples for 3 dollars. How much do 20 apples cost?", Answers: []string{"5"}}
	switch f {
	case famQA:
		t.Question, t.Context, t.Answers = "Who wrote the note?", "Mara wrote the note on Tuesday.", []string{"Mara"}
	case famCode:
		t.Question, t.EntryPoint = "Write a function add(a, b) that returns the sum.", "add"
		t.PublicTests = &pb.CodeTests{Style: "assert", Code: "assert add(1, 2) == 3"}
	case famMC:
		t.Question, t.Choices = "2 + 2 = ?", []string{"3", "4", "5"}
	}
	return t
}
