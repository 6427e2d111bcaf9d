package canvas_test

import (
	"context"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// The full scripted episode of SPEC section 4's example, over Interact.
var script = []struct {
	reply     string
	wantValid bool
	wantDSL   string
}{
	{"<action>add</action><operator>Plan</operator>", true, "Plan"},
	{"Outline the arithmetic first.", true, "Plan"},
	{"<action>add</action><structure>parallel</structure><operators>Programmer, AnswerGenerate, Custom</operators>", true, "Plan -> [Programmer, AnswerGenerate, Custom]"},
	{"<prompt>Compute it in Python.</prompt>", true, ""},
	{"Reason step by step.", true, ""},
	{"Solve it and give the number.", true, ""},
	{"<action>add</action><operator>ScEnsemble</operator>", true, ""},
	{"Pick the majority answer.", true, ""},
	{"<action>finish</action>", false, ""},
	{"<action>add</action><structure>conditional</structure><condition>Review</condition><true>Revise</true><false>done</false>", true, ""},
	{"Check the arithmetic.", true, ""},
	{"Fix what the review found.", true, ""},
	{"<action>add</action><operator>Verify</operator><prompt>Re-derive the product.</prompt>", true, ""},
	{"<action>add</action><operator>format</operator><prompt>Only the number.</prompt>", true, "Plan -> [Programmer, AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : done -> Verify -> Format"},
	{"<reasoning>done</reasoning><action>finish</action><answer>42</answer>", true, ""},
}

func TestInteractPlaysWholeEpisode(t *testing.T) {
	h := start(t)
	c := ctx(t)
	ep := h.open(t, c)
	first := ep.First()
	if first.GetEpisodeId() == "" || first.GetState() != pb.EpisodeState_EPISODE_STATE_BUILDING || first.GetRoundsLeft() != 20 {
		t.Fatalf("first observation = %v", first)
	}
	if len(first.GetTask().GetAnswers()) != 0 || len(first.GetTask().GetDistractors()) != 0 {
		t.Fatalf("observation leaks gold answers: %v", first.GetTask())
	}
	if len(first.GetOperators()) != 12 || first.GetPrompt().GetSystem() == "" {
		t.Fatalf("first observation lacks the operator library or prompt")
	}
	var obs *pb.Observation
	var err error
	for i, s := range script {
		obs, err = ep.Step(c, flowsteer.Text(s.reply))
		if err != nil {
			t.Fatalf("turn %d: %v", i+1, err)
		}
		if obs.GetValid() != s.wantValid {
			t.Fatalf("turn %d (%q): valid=%v, feedback %q", i+1, s.reply, obs.GetValid(), obs.GetFeedback())
		}
		if s.wantDSL != "" && obs.GetWorkflow().GetDsl() != s.wantDSL {
			t.Fatalf("turn %d: dsl %q, want %q", i+1, obs.GetWorkflow().GetDsl(), s.wantDSL)
		}
		if int(obs.GetTurn()) != i+1 {
			t.Fatalf("turn %d: observation turn %d", i+1, obs.GetTurn())
		}
	}
	if !obs.GetDone() || obs.GetEndReason() != pb.EndReason_END_REASON_FINISHED || obs.GetFinishAnswer() != "42" {
		t.Fatalf("final observation: done=%v end=%v answer=%q", obs.GetDone(), obs.GetEndReason(), obs.GetFinishAnswer())
	}
	r := obs.GetReward()
	if r == nil || !r.GetReleased() || r.GetStructureTotal() != 1 {
		t.Fatalf("reward breakdown = %v", r)
	}
	// After the end, a further action is refused with FailedPrecondition.
	_, err = ep.Step(c, flowsteer.Text("<action>finish</action>"))
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("step after end: %v, want FailedPrecondition", err)
	}
	rec, err := h.client.GetEpisode(c, obs.GetEpisodeId(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.GetTurns()) != len(script) || rec.GetObservation().GetReward() == nil {
		t.Fatalf("GetEpisode: %d turns, reward %v", len(rec.GetTurns()), rec.GetObservation().GetReward())
	}
}

func TestInteractProtocolErrors(t *testing.T) {
	h := start(t)
	c := ctx(t)
	tests := []struct {
		name  string
		first *pb.InteractRequest
		code  codes.Code
	}{
		{"action before open", &pb.InteractRequest{Msg: &pb.InteractRequest_Action{Action: flowsteer.Text("<action>finish</action>")}}, codes.InvalidArgument},
		{"empty message", &pb.InteractRequest{}, codes.InvalidArgument},
		{"resume unknown", &pb.InteractRequest{Msg: &pb.InteractRequest_Resume{Resume: &pb.ResumeEpisode{EpisodeId: "ep_nope"}}}, codes.NotFound},
		{"open invalid task", &pb.InteractRequest{Msg: &pb.InteractRequest_Open{Open: &pb.CreateEpisodeRequest{Task: &pb.Task{}}}}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := h.client.Canvas.Interact(c)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(tt.first); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			_, err = s.Recv()
			if status.Code(err) != tt.code {
				t.Fatalf("got %v, want %v", err, tt.code)
			}
		})
	}
}

// disconnectAfterOneTurn opens an episode, adds one operator and closes
// the stream, as a policy that loses its connection does; it returns the
// episode's id.
func disconnectAfterOneTurn(t *testing.T, h *harness, c context.Context) string {
	t.Helper()
	ep := h.open(t, c)
	if _, err := ep.Step(c, flowsteer.Text("<action>add</action><operator>Custom</operator>")); err != nil {
		t.Fatal(err)
	}
	if err := ep.Close(); err != nil {
		t.Fatal(err)
	}
	return ep.ID()
}

// resumeAndPlay resumes the episode disconnectAfterOneTurn left, checks
// that it is the same one (turn 1, awaiting node_1's prompt) and plays its
// next turn on the new stream, which it returns open.
func resumeAndPlay(t *testing.T, h *harness, c context.Context, id string) *flowsteer.Episode {
	t.Helper()
	again, err := h.client.Resume(c, id)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	t.Cleanup(func() { again.Close() })
	if again.ID() != id || again.First().GetTurn() != 1 || again.First().GetAwaiting().GetNodeId() != "node_1" {
		t.Fatalf("resumed %s at turn %d awaiting %v: not the same episode", again.ID(), again.First().GetTurn(), again.First().GetAwaiting())
	}
	obs, err := again.Step(c, flowsteer.Text("Answer the question directly."))
	if err != nil || !obs.GetValid() || obs.GetTurn() != 2 {
		t.Fatalf("step after resume: %v %v", err, obs)
	}
	return again
}

// A client that disconnects mid-episode resumes it by id on the default
// store and goes on with the same episode.
func TestResumeAfterDisconnect(t *testing.T) {
	h := start(t)
	c := ctx(t)
	resumeAndPlay(t, h, c, disconnectAfterOneTurn(t, h, c))
}
