package canvas_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
	"github.com/flowsteer/flowsteer/internal/system"
)

// hostileConn serves the canvas `flowsteer serve` builds (the simulated
// executor, the sandbox and the scorer) with the service's validators.
func hostileConn(t *testing.T) (*grpc.ClientConn, pb.CanvasServiceClient) {
	t.Helper()
	sys, err := system.Build(system.DefaultOptions())
	if err != nil {
		t.Fatalf("system.Build: %v", err)
	}
	h := serve(t, sys.Canvas)
	return h.conn, h.client.Canvas
}

func hostileTask() *pb.Task {
	return &pb.Task{Id: "t1", Family: pb.TaskFamily_TASK_FAMILY_MATH, Question: "What is 6 times 7?", Answers: []string{"42"}}
}

func nested(open, close string, depth int, core string) string {
	return strings.Repeat(open, depth) + core + strings.Repeat(close, depth)
}

// chain is a DSL of n operators in sequence.
func chain(n int) string {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = "Custom"
	}
	return strings.Join(ops, " -> ")
}

// runWorkflowErr runs a workflow and returns the error the stream ends with.
func runWorkflowErr(ctx context.Context, c pb.CanvasServiceClient, req any) error {
	var st grpc.ServerStreamingClient[pb.RunWorkflowResponse]
	var err error
	if r, ok := req.(*pb.RunWorkflowRequest); ok {
		st, err = c.RunWorkflow(ctx, r)
	} else {
		st, err = c.RunWorkflow(ctx, &pb.RunWorkflowRequest{}, grpc.ForceCodecV2(servertest.RawCodec{}))
	}
	if err != nil {
		return err
	}
	return servertest.RecvAll(st.Recv)
}

// TestHostileRequestsGetPreciseCodes: every hostile request is refused
// with the code a client can act on (ResourceExhausted for the transport's
// size limit, InvalidArgument for everything the request got wrong),
// never Unknown or Internal, and the server keeps serving.
func TestHostileRequestsGetPreciseCodes(t *testing.T) {
	conn, c := hostileConn(t)
	const interact = "/flowsteer.v1.CanvasService/Interact"
	open := func(t *pb.Task, cfg *pb.EpisodeConfig) *pb.InteractRequest {
		return &pb.InteractRequest{Msg: &pb.InteractRequest_Open{Open: &pb.CreateEpisodeRequest{Task: t, Config: cfg}}}
	}
	create := func(t *pb.Task, cfg *pb.EpisodeConfig) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.CreateEpisode(ctx, &pb.CreateEpisodeRequest{Task: t, Config: cfg})
			return err
		}
	}
	task := func(edit func(*pb.Task)) *pb.Task {
		tk := hostileTask()
		edit(tk)
		return tk
	}
	rawCreate := func(m servertest.RawMsg) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			return conn.Invoke(ctx, "/flowsteer.v1.CanvasService/CreateEpisode", m, &pb.CreateEpisodeResponse{}, grpc.ForceCodecV2(servertest.RawCodec{}))
		}
	}
	cases := []servertest.Refusal{
		// Size: the transport's 16 MiB, then the service's own limits.
		{Name: "17 MiB question", Call: create(task(func(tk *pb.Task) { tk.Question = strings.Repeat("q", 17<<20) }), nil), Want: codes.ResourceExhausted},
		{Name: "17 MiB action over Interact", Call: func(ctx context.Context) error {
			return servertest.StreamErr(ctx, conn, interact, &pb.InteractResponse{}, open(hostileTask(), nil),
				&pb.InteractRequest{Msg: &pb.InteractRequest_Action{Action: &pb.Action{Text: strings.Repeat("a", 17<<20)}}})
		}, Want: codes.ResourceExhausted},
		{Name: "question over 256 KiB", Call: create(task(func(tk *pb.Task) { tk.Question = strings.Repeat("q", 300<<10) }), nil), Want: codes.InvalidArgument},
		{Name: "context over 256 KiB", Call: create(task(func(tk *pb.Task) { tk.Context = strings.Repeat("c", 300<<10) }), nil), Want: codes.InvalidArgument},
		{Name: "tests over 1 MiB", Call: create(task(func(tk *pb.Task) {
			tk.Family = pb.TaskFamily_TASK_FAMILY_CODE
			tk.HiddenTests = &pb.CodeTests{Style: "assert", Code: strings.Repeat("#", 2<<20)}
		}), nil), Want: codes.InvalidArgument},
		{Name: "100,000 io cases", Call: create(task(func(tk *pb.Task) {
			tk.Family = pb.TaskFamily_TASK_FAMILY_CODE
			tk.HiddenTests = &pb.CodeTests{Style: "io"}
			for range 100_000 {
				tk.HiddenTests.Cases = append(tk.HiddenTests.Cases, &pb.IOCase{Input: "1234567", Output: "1234567"})
			}
		}), nil), Want: codes.InvalidArgument},
		{Name: "100,000 answers", Call: create(task(func(tk *pb.Task) {
			tk.Answers = make([]string, 100_000)
			for i := range tk.Answers {
				tk.Answers[i] = "42"
			}
		}), nil), Want: codes.InvalidArgument},
		{Name: "action text over 64 KiB", Call: func(ctx context.Context) error {
			_, err := c.Step(ctx, &pb.StepRequest{EpisodeId: "ep_x", Action: &pb.Action{Text: strings.Repeat("a", 65<<10)}})
			return err
		}, Want: codes.InvalidArgument},
		{Name: "structured prompt over 64 KiB", Call: func(ctx context.Context) error {
			_, err := c.Step(ctx, &pb.StepRequest{EpisodeId: "ep_x", Action: &pb.Action{Structured: &pb.StructuredAction{
				Kind: pb.ActionKind_ACTION_KIND_SET_PROMPT, Target: "node_1", Prompt: strings.Repeat("p", 1<<20)}}})
			return err
		}, Want: codes.InvalidArgument},
		{Name: "1,000 parallel operators", Call: func(ctx context.Context) error {
			_, err := c.Step(ctx, &pb.StepRequest{EpisodeId: "ep_x", Action: &pb.Action{Structured: &pb.StructuredAction{
				Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_PARALLEL, Operators: make([]string, 1000)}}})
			return err
		}, Want: codes.InvalidArgument},
		{Name: "DSL over 64 KiB", Call: func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: strings.Repeat("Custom -> ", 7000) + "Custom", Task: hostileTask()})
		}, Want: codes.InvalidArgument},
		{Name: "prompt over 64 KiB", Call: func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: "Custom", Task: hostileTask(), Prompts: map[string]string{"node_1": strings.Repeat("p", 1<<20)}})
		}, Want: codes.InvalidArgument},
		{Name: "100,000 prompts", Call: func(ctx context.Context) error {
			p := map[string]string{}
			for i := range 100_000 {
				p[fmt.Sprintf("node_%d", i)] = "p"
			}
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: "Custom", Task: hostileTask(), Prompts: p})
		}, Want: codes.InvalidArgument},
		// Deep nesting and huge workflows.
		{Name: "DSL of 10,000 nested parentheses", Call: func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: nested("(", ")", 10_000, "Custom"), Task: hostileTask()})
		}, Want: codes.InvalidArgument},
		{Name: "DSL of 10,000 nested loops", Call: func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: nested("(", ") * 2", 5_000, "Custom"), Task: hostileTask()})
		}, Want: codes.InvalidArgument},
		{Name: "DSL of 10,000 nested brackets", Call: func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: nested("[", "]", 10_000, "Custom"), Task: hostileTask()})
		}, Want: codes.InvalidArgument},
		{Name: "DSL of 10,000 operators", Call: func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: "[" + strings.Repeat("A,", 9_999) + "A]", Task: hostileTask()})
		}, Want: codes.InvalidArgument},
		{Name: "DSL chain of 1,001 operators", Call: func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: chain(1001), Task: hostileTask()})
		}, Want: codes.InvalidArgument},
		// Invalid UTF-8 in proto3 strings, unary and streaming.
		{Name: "invalid UTF-8 question (unary)", Call: rawCreate(servertest.WithInvalidUTF8(t, &pb.CreateEpisodeRequest{Task: hostileTask()}, "task", "question")), Want: codes.InvalidArgument},
		{Name: "invalid UTF-8 episode id (unary)", Call: func(ctx context.Context) error {
			return conn.Invoke(ctx, "/flowsteer.v1.CanvasService/GetEpisode", servertest.WithInvalidUTF8(t, &pb.GetEpisodeRequest{EpisodeId: "ep_x"}, "episode_id"),
				&pb.GetEpisodeResponse{}, grpc.ForceCodecV2(servertest.RawCodec{}))
		}, Want: codes.InvalidArgument},
		{Name: "undecodable bytes (unary)", Call: rawCreate(servertest.RawMsg{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}), Want: codes.InvalidArgument},
		{Name: "invalid UTF-8 action (stream)", Call: func(ctx context.Context) error {
			act := servertest.WithInvalidUTF8(t, &pb.InteractRequest{Msg: &pb.InteractRequest_Action{Action: &pb.Action{Text: "x"}}}, "action", "text")
			return servertest.StreamErr(ctx, conn, interact, &pb.InteractResponse{}, open(hostileTask(), nil), act)
		}, Want: codes.InvalidArgument},
		{Name: "invalid UTF-8 open (stream)", Call: func(ctx context.Context) error {
			return servertest.StreamErr(ctx, conn, interact, &pb.InteractResponse{}, servertest.WithInvalidUTF8(t, open(hostileTask(), nil), "open", "task", "question"))
		}, Want: codes.InvalidArgument},
		{Name: "invalid UTF-8 DSL (server stream)", Call: func(ctx context.Context) error {
			st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/flowsteer.v1.CanvasService/RunWorkflow", grpc.ForceCodecV2(servertest.RawCodec{}))
			if err != nil {
				return err
			}
			if err := st.SendMsg(servertest.WithInvalidUTF8(t, &pb.RunWorkflowRequest{Dsl: "Custom", Task: hostileTask()}, "dsl")); err != nil {
				return err
			}
			_ = st.CloseSend()
			return st.RecvMsg(&pb.RunWorkflowResponse{})
		}, Want: codes.InvalidArgument},
		// Counts out of range.
		{Name: "max_rounds -1", Call: create(hostileTask(), &pb.EpisodeConfig{MaxRounds: proto.Int32(-1)}), Want: codes.InvalidArgument},
		{Name: "max_rounds 0", Call: create(hostileTask(), &pb.EpisodeConfig{MaxRounds: proto.Int32(0)}), Want: codes.InvalidArgument},
		{Name: "max_rounds 2^31-1", Call: create(hostileTask(), &pb.EpisodeConfig{MaxRounds: proto.Int32(math.MaxInt32)}), Want: codes.InvalidArgument},
		{Name: "max_rounds -2^31 over Interact", Call: func(ctx context.Context) error {
			return servertest.StreamErr(ctx, conn, interact, &pb.InteractResponse{}, open(hostileTask(), &pb.EpisodeConfig{MaxRounds: proto.Int32(math.MinInt32)}))
		}, Want: codes.InvalidArgument},
		{Name: "finish.min_operators -1", Call: create(hostileTask(), &pb.EpisodeConfig{Finish: &pb.FinishRules{MinOperators: proto.Int32(-1)}}), Want: codes.InvalidArgument},
		{Name: "finish.min_operators 2^31-1", Call: create(hostileTask(), &pb.EpisodeConfig{Finish: &pb.FinishRules{MinOperators: proto.Int32(math.MaxInt32)}}), Want: codes.InvalidArgument},
		{Name: "reward.min_operators -1", Call: create(hostileTask(), &pb.EpisodeConfig{Reward: &pb.RewardSpec{MinOperators: proto.Int32(-1)}}), Want: codes.InvalidArgument},
		{Name: "reward.cap NaN", Call: create(hostileTask(), &pb.EpisodeConfig{Reward: &pb.RewardSpec{Cap: proto.Float64(math.NaN())}}), Want: codes.InvalidArgument},
		{Name: "reward.base +Inf", Call: create(hostileTask(), &pb.EpisodeConfig{Reward: &pb.RewardSpec{Base: proto.Float64(math.Inf(1))}}), Want: codes.InvalidArgument},
		{Name: "difficulty NaN", Call: create(task(func(tk *pb.Task) { tk.Difficulty = math.NaN() }), nil), Want: codes.InvalidArgument},
		{Name: "difficulty -Inf", Call: create(task(func(tk *pb.Task) { tk.Difficulty = math.Inf(-1) }), nil), Want: codes.InvalidArgument},
		// Unknown enum values.
		{Name: "task family 999", Call: create(task(func(tk *pb.Task) { tk.Family = 999 }), nil), Want: codes.InvalidArgument},
		{Name: "task family -1", Call: create(task(func(tk *pb.Task) { tk.Family = -1 }), nil), Want: codes.InvalidArgument},
		{Name: "reward kind 999", Call: create(hostileTask(), &pb.EpisodeConfig{Reward: &pb.RewardSpec{Kind: 999}}), Want: codes.InvalidArgument},
		{Name: "list operators of family 999", Call: func(ctx context.Context) error {
			_, err := c.ListOperators(ctx, &pb.ListOperatorsRequest{Family: 999})
			return err
		}, Want: codes.InvalidArgument},
		{Name: "RunWorkflow task family 999", Call: func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: "Custom", Task: task(func(tk *pb.Task) { tk.Family = 999 })})
		}, Want: codes.InvalidArgument},
		{Name: "unknown library", Call: create(hostileTask(), &pb.EpisodeConfig{Library: "no-such-library"}), Want: codes.InvalidArgument},
		{Name: "unknown backend", Call: func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: "Custom", Task: hostileTask(), Backend: "no-such-backend"})
		}, Want: codes.InvalidArgument},
		// Missing fields.
		{Name: "no task", Call: create(nil, nil), Want: codes.InvalidArgument},
		{Name: "empty question", Call: create(task(func(tk *pb.Task) { tk.Question = "" }), nil), Want: codes.InvalidArgument},
		{Name: "blank question", Call: create(task(func(tk *pb.Task) { tk.Question = " \n\t " }), nil), Want: codes.InvalidArgument},
		{Name: "no family", Call: create(task(func(tk *pb.Task) { tk.Family = 0 }), nil), Want: codes.InvalidArgument},
		{Name: "no action", Call: func(ctx context.Context) error {
			_, err := c.Step(ctx, &pb.StepRequest{EpisodeId: "ep_x"})
			return err
		}, Want: codes.InvalidArgument},
		{Name: "no episode id", Call: func(ctx context.Context) error {
			_, err := c.Step(ctx, &pb.StepRequest{Action: &pb.Action{Text: "x"}})
			return err
		}, Want: codes.InvalidArgument},
		{Name: "GetEpisode without id", Call: func(ctx context.Context) error {
			_, err := c.GetEpisode(ctx, &pb.GetEpisodeRequest{})
			return err
		}, Want: codes.InvalidArgument},
		{Name: "CloseEpisode without id", Call: func(ctx context.Context) error {
			_, err := c.CloseEpisode(ctx, &pb.CloseEpisodeRequest{})
			return err
		}, Want: codes.InvalidArgument},
		{Name: "empty Interact message", Call: func(ctx context.Context) error {
			return servertest.StreamErr(ctx, conn, interact, &pb.InteractResponse{}, &pb.InteractRequest{})
		}, Want: codes.InvalidArgument},
		{Name: "Interact opening with an action", Call: func(ctx context.Context) error {
			return servertest.StreamErr(ctx, conn, interact, &pb.InteractResponse{}, &pb.InteractRequest{Msg: &pb.InteractRequest_Action{Action: &pb.Action{Text: "x"}}})
		}, Want: codes.InvalidArgument},
		{Name: "Interact open twice", Call: func(ctx context.Context) error {
			return servertest.StreamErr(ctx, conn, interact, &pb.InteractResponse{}, open(hostileTask(), nil), open(hostileTask(), nil))
		}, Want: codes.InvalidArgument},
		{Name: "resume without id", Call: func(ctx context.Context) error {
			return servertest.StreamErr(ctx, conn, interact, &pb.InteractResponse{}, &pb.InteractRequest{Msg: &pb.InteractRequest_Resume{Resume: &pb.ResumeEpisode{}}})
		}, Want: codes.InvalidArgument},
		{Name: "RunWorkflow without DSL", Call: func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Task: hostileTask()})
		}, Want: codes.InvalidArgument},
		{Name: "RunWorkflow without task", Call: func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: "Custom"})
		}, Want: codes.InvalidArgument},
		{Name: "RunWorkflow prompt for no node", Call: func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: "Custom", Task: hostileTask(), Prompts: map[string]string{"node_99": "x"}})
		}, Want: codes.InvalidArgument},
	}
	servertest.CheckRefusals(t, cases, nil)
	// Still serving after all of that.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateEpisode(ctx, &pb.CreateEpisodeRequest{Task: hostileTask()}); err != nil {
		t.Fatalf("CreateEpisode after the hostile requests: %v", err)
	}
}

// TestHostileActionsAreFeedback: inside an episode, actions no canvas can
// apply (unknown enums, absurd counts and positions, 10,000 nested
// parentheses, a workflow grown past its size limit) are answered with
// feedback on the canvas (valid false, the episode goes on), never an RPC
// error.
func TestHostileActionsAreFeedback(t *testing.T) {
	_, c := hostileConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	newEpisode := func(t *testing.T, cfg *pb.EpisodeConfig) string {
		t.Helper()
		r, err := c.CreateEpisode(ctx, &pb.CreateEpisodeRequest{Task: hostileTask(), Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetObservation().GetEpisodeId()
	}
	structured := func(s *pb.StructuredAction) *pb.Action { return &pb.Action{Structured: s} }
	add := pb.ActionKind_ACTION_KIND_ADD
	cases := []struct {
		name   string
		action *pb.Action
	}{
		{"empty action", &pb.Action{}},
		{"action kind 999", structured(&pb.StructuredAction{Kind: 999, Operator: "Custom"})},
		{"structure kind 999", structured(&pb.StructuredAction{Kind: add, Structure: 999, Operators: []string{"Custom"}})},
		{"unknown operator", structured(&pb.StructuredAction{Kind: add, Operator: "NoSuchOperator"})},
		{"position -5", structured(&pb.StructuredAction{Kind: add, Operator: "Custom", Position: proto.Int32(-5)})},
		{"position 2^31-1", structured(&pb.StructuredAction{Kind: add, Operator: "Custom", Position: proto.Int32(math.MaxInt32)})},
		{"delete of no node", structured(&pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_DELETE, Target: "node_999999999"})},
		{"modify without target", structured(&pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_MODIFY, Operator: "Custom"})},
		{"loop of nothing", structured(&pb.StructuredAction{Kind: add, Structure: pb.StructureKind_STRUCTURE_KIND_LOOP, Count: math.MinInt32})},
		{"finish of an empty workflow", structured(&pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_FINISH})},
		{"10,000 nested parentheses", &pb.Action{Text: "<action>add</action><operator>" + nested("(", ")", 10_000, "Custom") + "</operator>"}},
		{"10,000 nested tags", &pb.Action{Text: nested("<action>", "</action>", 3_000, "add")}},
		{"invalid UTF-8 replaced text", &pb.Action{Text: "<action>add</action><operator>Cus\uFFFDtom</operator>"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := newEpisode(t, &pb.EpisodeConfig{TwoStep: proto.Bool(false), ExecuteEachStep: proto.Bool(false)})
			r, err := c.Step(ctx, &pb.StepRequest{EpisodeId: id, Action: tc.action})
			if err != nil {
				t.Fatalf("RPC error %v (code %v), want feedback", err, status.Code(err))
			}
			o := r.GetObservation()
			if o.GetValid() || o.GetFeedback() == "" || o.GetDone() {
				t.Errorf("valid %v done %v feedback %q, want invalid with feedback and the episode going on", o.GetValid(), o.GetDone(), o.GetFeedback())
			}
			// The episode still takes a good action.
			r, err = c.Step(ctx, &pb.StepRequest{EpisodeId: id, Action: structured(&pb.StructuredAction{Kind: add, Operator: "Custom"})})
			if err != nil || !r.GetObservation().GetValid() {
				t.Errorf("good action after it: %v, %q", err, r.GetObservation().GetFeedback())
			}
		})
	}

	// Building a 10,000-node workflow by actions: 32-way parallel adds
	// (the most one block holds) until the canvas refuses one.
	t.Run("10,000 nodes by actions", func(t *testing.T) {
		id := newEpisode(t, &pb.EpisodeConfig{MaxRounds: proto.Int32(200), TwoStep: proto.Bool(false), ExecuteEachStep: proto.Bool(false)})
		ops := make([]string, 32) // the most a parallel block holds
		for i := range ops {
			ops[i] = "Custom"
		}
		refused := false
		for turn := 1; turn <= 10_000/32+1 && !refused; turn++ {
			r, err := c.Step(ctx, &pb.StepRequest{EpisodeId: id, Action: structured(&pb.StructuredAction{
				Kind: add, Structure: pb.StructureKind_STRUCTURE_KIND_PARALLEL, Operators: ops})})
			if err != nil {
				t.Fatalf("turn %d: RPC error %v, want feedback", turn, err)
			}
			o := r.GetObservation()
			if n := o.GetWorkflow().GetStats().GetTotalOperators(); n > 1000 {
				t.Fatalf("turn %d: the workflow holds %d operators, past the limit of 1000", turn, n)
			}
			if !o.GetValid() {
				refused = true
				if !strings.Contains(o.GetFeedback(), "1000") {
					t.Errorf("refusal does not name the limit: %q", o.GetFeedback())
				}
			}
		}
		if !refused {
			t.Fatal("the canvas accepted 10,000 operators")
		}
	})
}
