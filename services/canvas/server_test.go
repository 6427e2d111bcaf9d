package canvas_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
	"github.com/flowsteer/flowsteer/internal/system"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
)

// harness runs a canvas service over bufconn.
type harness struct {
	client *flowsteer.Client
	conn   *grpc.ClientConn
	svc    *canvassvc.Service
}

func start(t *testing.T, opts ...canvas.Option) *harness {
	t.Helper()
	v := server.Validators{}
	canvassvc.AddValidators(v)
	svc := canvassvc.New(canvas.New(opts...))
	conn := servertest.Bufconn(t, server.Options{Logger: servertest.Discard(), Validators: v}, func(s *server.Server) {
		canvassvc.Register(s, svc)
	})
	return &harness{client: flowsteer.New(conn), conn: conn, svc: svc}
}

func mathTask() *pb.Task {
	return &pb.Task{Id: "t1", Family: pb.TaskFamily_TASK_FAMILY_MATH, Question: "What is 6 times 7?", Answers: []string{"42"}, Distractors: []string{"48"}}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

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
	ep, err := h.client.Open(c, mathTask())
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
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
		{Kind: pb.ActionKind_ACTION_KIND_ADD, Operator: "Plan", Position: proto32(0)},
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

func proto32(v int32) *int32 { return &v }

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

func TestResumeAfterDisconnect(t *testing.T) {
	h := start(t)
	c := ctx(t)
	ep, err := h.client.Open(c, mathTask())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ep.Step(c, flowsteer.Text("<action>add</action><operator>Custom</operator>")); err != nil {
		t.Fatal(err)
	}
	id := ep.ID()
	ep.Close()
	again, err := h.client.Resume(c, id)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if a := again.First().GetAwaiting(); a.GetNodeId() != "node_1" || again.First().GetTurn() != 1 {
		t.Fatalf("resumed observation: turn %d awaiting %v", again.First().GetTurn(), a)
	}
	obs, err := again.Step(c, flowsteer.Text("Answer the question directly."))
	if err != nil || !obs.GetValid() || obs.GetTurn() != 2 {
		t.Fatalf("step after resume: %v %v", err, obs)
	}
}

func TestDrainEndsStreamsAfterTheirTurn(t *testing.T) {
	h := start(t)
	c := ctx(t)
	ep, err := h.client.Open(c, mathTask())
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Drain()
	_, err = ep.Step(c, flowsteer.Text("<action>add</action><operator>Custom</operator>"))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("step while draining: %v, want Unavailable naming resume", err)
	}
}

func TestHealthAndListOperators(t *testing.T) {
	h := start(t)
	c := ctx(t)
	hc := healthpb.NewHealthClient(h.conn)
	r, err := hc.Check(c, &healthpb.HealthCheckRequest{Service: pb.CanvasService_ServiceDesc.ServiceName})
	if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", r, err)
	}
	ops, err := h.client.Canvas.ListOperators(c, &pb.ListOperatorsRequest{Family: pb.TaskFamily_TASK_FAMILY_MULTIPLE_CHOICE})
	if err != nil {
		t.Fatal(err)
	}
	enabled := map[string]bool{}
	for _, o := range ops.GetOperators() {
		enabled[o.GetName()] = o.GetEnabled()
	}
	if len(enabled) != 12 || enabled["Programmer"] || !enabled["Custom"] {
		t.Fatalf("operators for multiple choice: %v", enabled)
	}
}

func TestRunWorkflowStreamsNodesAndScoresWithTheSim(t *testing.T) {
	sys, err := system.Build(system.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, canvas.WithExecutor(sys.Engine), canvas.WithScorer(sys.Scorer), canvas.WithLibraries(sys.Canvas.Libraries()))
	c := ctx(t)
	s, err := h.client.Canvas.RunWorkflow(c, &pb.RunWorkflowRequest{
		Dsl: "Plan -> [Programmer, AnswerGenerate] -> ScEnsemble -> Review ? Revise : done -> Format", Task: mathTask(), Score: true,
		Prompts: map[string]string{"node_1": "List the factors first."},
	})
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	var result *pb.RunWorkflowResult
	for {
		r, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := r.GetNode(); n != nil {
			nodes = append(nodes, n.GetNodeId())
		}
		if res := r.GetResult(); res != nil {
			result = res
		}
	}
	if len(nodes) != 7 || result == nil {
		t.Fatalf("nodes %v, result %v", nodes, result)
	}
	ex := result.GetExecution()
	if !ex.GetExecuted() || !ex.GetStats().GetSimulated() || ex.GetFinalAnswer() == "" {
		t.Fatalf("execution %v", ex)
	}
	if sc := result.GetScore(); sc.GetMethod() == "" || sc.GetExplanation() == "" {
		t.Fatalf("score %v", sc)
	}
	if result.GetWorkflow().GetStages()[0].GetOperator().GetPrompt() != "List the factors first." {
		t.Fatalf("prompt not applied: %v", result.GetWorkflow().GetStages()[0])
	}
}
