package canvas_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

func TestErrorsBecomePreciseStatusCodes(t *testing.T) {
	h := start(t)
	c := ctx(t)
	cv := h.client.Canvas
	created, err := cv.CreateEpisode(c, &pb.CreateEpisodeRequest{Task: mathTask()})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetObservation().GetEpisodeId()
	if _, err := cv.CloseEpisode(c, &pb.CloseEpisodeRequest{EpisodeId: id}); err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("x", 70<<10)
	tests := []struct {
		name     string
		call     func() error
		code     codes.Code
		contains string
	}{
		{"create without task", func() error { _, err := cv.CreateEpisode(c, &pb.CreateEpisodeRequest{}); return err }, codes.InvalidArgument, "task is required"},
		{"create without question", func() error {
			_, err := cv.CreateEpisode(c, &pb.CreateEpisodeRequest{Task: &pb.Task{Family: pb.TaskFamily_TASK_FAMILY_MATH}})
			return err
		}, codes.InvalidArgument, "task.question"},
		{"create without family", func() error {
			_, err := cv.CreateEpisode(c, &pb.CreateEpisodeRequest{Task: &pb.Task{Question: "q"}})
			return err
		}, codes.InvalidArgument, "task.family"},
		{"create with bad max_rounds", func() error {
			n := int32(0)
			_, err := cv.CreateEpisode(c, &pb.CreateEpisodeRequest{Task: mathTask(), Config: &pb.EpisodeConfig{MaxRounds: &n}})
			return err
		}, codes.InvalidArgument, "config.max_rounds"},
		{"create with unknown library", func() error {
			_, err := cv.CreateEpisode(c, &pb.CreateEpisodeRequest{Task: mathTask(), Config: &pb.EpisodeConfig{Library: "nope"}})
			return err
		}, codes.InvalidArgument, "library"},
		{"step unknown episode", func() error {
			_, err := cv.Step(c, &pb.StepRequest{EpisodeId: "ep_missing", Action: flowsteer.Text("<action>finish</action>")})
			return err
		}, codes.NotFound, "ep_missing"},
		{"step without id", func() error { _, err := cv.Step(c, &pb.StepRequest{Action: flowsteer.Text("x")}); return err }, codes.InvalidArgument, "episode_id"},
		{"step without action", func() error { _, err := cv.Step(c, &pb.StepRequest{EpisodeId: id}); return err }, codes.InvalidArgument, "action is required"},
		{"step with huge text", func() error {
			_, err := cv.Step(c, &pb.StepRequest{EpisodeId: id, Action: flowsteer.Text(huge)})
			return err
		}, codes.InvalidArgument, "action.text"},
		{"step closed episode", func() error {
			_, err := cv.Step(c, &pb.StepRequest{EpisodeId: id, Action: flowsteer.Text("<action>finish</action>")})
			return err
		}, codes.FailedPrecondition, "closed"},
		{"close twice", func() error { _, err := cv.CloseEpisode(c, &pb.CloseEpisodeRequest{EpisodeId: id}); return err }, codes.FailedPrecondition, "already closed"},
		{"get unknown", func() error { _, err := cv.GetEpisode(c, &pb.GetEpisodeRequest{EpisodeId: "nope"}); return err }, codes.NotFound, "nope"},
		{"list unknown library", func() error {
			_, err := cv.ListOperators(c, &pb.ListOperatorsRequest{Library: "nope"})
			return err
		}, codes.NotFound, "nope"},
		{"run workflow with bad dsl", func() error {
			s, err := cv.RunWorkflow(c, &pb.RunWorkflowRequest{Dsl: "Plan -> [Programmer", Task: mathTask()})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.InvalidArgument, "dsl"},
		{"run workflow without executor", func() error {
			s, err := cv.RunWorkflow(c, &pb.RunWorkflowRequest{Dsl: "Custom", Task: mathTask()})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.FailedPrecondition, "no executor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if status.Code(err) != tt.code || !strings.Contains(status.Convert(err).Message(), tt.contains) {
				t.Fatalf("got %v, want %v containing %q", err, tt.code, tt.contains)
			}
		})
	}
}
