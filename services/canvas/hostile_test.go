package canvas_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
	"github.com/flowsteer/flowsteer/internal/system"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
)

// hostileConn serves the canvas the way `flowsteer serve` does (server.New
// with the service's validators, a canvas with the simulated executor, the
// sandbox and the scorer) over bufconn.
func hostileConn(t *testing.T) (*grpc.ClientConn, pb.CanvasServiceClient) {
	t.Helper()
	sys, err := system.Build(system.DefaultOptions())
	if err != nil {
		t.Fatalf("system.Build: %v", err)
	}
	v := server.Validators{}
	canvassvc.AddValidators(v)
	conn := servertest.Bufconn(t, server.Options{Logger: servertest.Discard(), Validators: v}, func(s *server.Server) {
		canvassvc.Register(s, canvassvc.New(sys.Canvas))
	})
	return conn, pb.NewCanvasServiceClient(conn)
}

func hostileTask() *pb.Task {
	return &pb.Task{Id: "t1", Family: pb.TaskFamily_TASK_FAMILY_MATH, Question: "What is 6 times 7?", Answers: []string{"42"}}
}

func i32(v int32) *int32     { return &v }
func f64(v float64) *float64 { return &v }
func boolp(v bool) *bool     { return &v }
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

// streamFirstErr opens a stream with desc on method, sends msgs, closes
// its side and returns the first error the server answers with (nil when
// the stream ends cleanly).
func streamFirstErr(ctx context.Context, conn *grpc.ClientConn, method string, msgs ...any) error {
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, method, grpc.ForceCodecV2(servertest.RawCodec{}))
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := st.SendMsg(m); err != nil {
			break // the server ended the stream; RecvMsg says why
		}
	}
	_ = st.CloseSend()
	for {
		var resp pb.InteractResponse
		if err := st.RecvMsg(&resp); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
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
	for {
		if _, err := st.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
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
	cases := []struct {
		name string
		call func(ctx context.Context) error
		want codes.Code
	}{
		// Size: the transport's 16 MiB, then the service's own limits.
		{"17 MiB question", create(task(func(tk *pb.Task) { tk.Question = strings.Repeat("q", 17<<20) }), nil), codes.ResourceExhausted},
		{"17 MiB action over Interact", func(ctx context.Context) error {
			return streamFirstErr(ctx, conn, interact, open(hostileTask(), nil),
				&pb.InteractRequest{Msg: &pb.InteractRequest_Action{Action: &pb.Action{Text: strings.Repeat("a", 17<<20)}}})
		}, codes.ResourceExhausted},
		{"question over 256 KiB", create(task(func(tk *pb.Task) { tk.Question = strings.Repeat("q", 300<<10) }), nil), codes.InvalidArgument},
		{"context over 256 KiB", create(task(func(tk *pb.Task) { tk.Context = strings.Repeat("c", 300<<10) }), nil), codes.InvalidArgument},
		{"tests over 1 MiB", create(task(func(tk *pb.Task) {
			tk.Family = pb.TaskFamily_TASK_FAMILY_CODE
			tk.HiddenTests = &pb.CodeTests{Style: "assert", Code: strings.Repeat("#", 2<<20)}
		}), nil), codes.InvalidArgument},
		{"100,000 io cases", create(task(func(tk *pb.Task) {
			tk.Family = pb.TaskFamily_TASK_FAMILY_CODE
			tk.HiddenTests = &pb.CodeTests{Style: "io"}
			for range 100_000 {
				tk.HiddenTests.Cases = append(tk.HiddenTests.Cases, &pb.IOCase{Input: "1234567", Output: "1234567"})
			}
		}), nil), codes.InvalidArgument},
		{"100,000 answers", create(task(func(tk *pb.Task) {
			tk.Answers = make([]string, 100_000)
			for i := range tk.Answers {
				tk.Answers[i] = "42"
			}
		}), nil), codes.InvalidArgument},
		{"action text over 64 KiB", func(ctx context.Context) error {
			_, err := c.Step(ctx, &pb.StepRequest{EpisodeId: "ep_x", Action: &pb.Action{Text: strings.Repeat("a", 65<<10)}})
			return err
		}, codes.InvalidArgument},
		{"structured prompt over 64 KiB", func(ctx context.Context) error {
			_, err := c.Step(ctx, &pb.StepRequest{EpisodeId: "ep_x", Action: &pb.Action{Structured: &pb.StructuredAction{
				Kind: pb.ActionKind_ACTION_KIND_SET_PROMPT, Target: "node_1", Prompt: strings.Repeat("p", 1<<20)}}})
			return err
		}, codes.InvalidArgument},
		{"1,000 parallel operators", func(ctx context.Context) error {
			_, err := c.Step(ctx, &pb.StepRequest{EpisodeId: "ep_x", Action: &pb.Action{Structured: &pb.StructuredAction{
				Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_PARALLEL, Operators: make([]string, 1000)}}})
			return err
		}, codes.InvalidArgument},
		{"DSL over 64 KiB", func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: strings.Repeat("Custom -> ", 7000) + "Custom", Task: hostileTask()})
		}, codes.InvalidArgument},
		{"prompt over 64 KiB", func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: "Custom", Task: hostileTask(), Prompts: map[string]string{"node_1": strings.Repeat("p", 1<<20)}})
		}, codes.InvalidArgument},
		{"100,000 prompts", func(ctx context.Context) error {
			p := map[string]string{}
			for i := range 100_000 {
				p[fmt.Sprintf("node_%d", i)] = "p"
			}
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: "Custom", Task: hostileTask(), Prompts: p})
		}, codes.InvalidArgument},
		// Deep nesting and huge workflows.
		{"DSL of 10,000 nested parentheses", func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: nested("(", ")", 10_000, "Custom"), Task: hostileTask()})
		}, codes.InvalidArgument},
		{"DSL of 10,000 nested loops", func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: nested("(", ") * 2", 5_000, "Custom"), Task: hostileTask()})
		}, codes.InvalidArgument},
		{"DSL of 10,000 nested brackets", func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: nested("[", "]", 10_000, "Custom"), Task: hostileTask()})
		}, codes.InvalidArgument},
		{"DSL of 10,000 operators", func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: "[" + strings.Repeat("A,", 9_999) + "A]", Task: hostileTask()})
		}, codes.InvalidArgument},
		{"DSL chain of 1,001 operators", func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: chain(1001), Task: hostileTask()})
		}, codes.InvalidArgument},
		// Invalid UTF-8 in proto3 strings, unary and streaming.
		{"invalid UTF-8 question (unary)", rawCreate(servertest.WithInvalidUTF8(t, &pb.CreateEpisodeRequest{Task: hostileTask()}, "task", "question")), codes.InvalidArgument},
		{"invalid UTF-8 episode id (unary)", func(ctx context.Context) error {
			return conn.Invoke(ctx, "/flowsteer.v1.CanvasService/GetEpisode", servertest.WithInvalidUTF8(t, &pb.GetEpisodeRequest{EpisodeId: "ep_x"}, "episode_id"),
				&pb.GetEpisodeResponse{}, grpc.ForceCodecV2(servertest.RawCodec{}))
		}, codes.InvalidArgument},
		{"undecodable bytes (unary)", rawCreate(servertest.RawMsg{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}), codes.InvalidArgument},
		{"invalid UTF-8 action (stream)", func(ctx context.Context) error {
			act := servertest.WithInvalidUTF8(t, &pb.InteractRequest{Msg: &pb.InteractRequest_Action{Action: &pb.Action{Text: "x"}}}, "action", "text")
			return streamFirstErr(ctx, conn, interact, open(hostileTask(), nil), act)
		}, codes.InvalidArgument},
		{"invalid UTF-8 open (stream)", func(ctx context.Context) error {
			return streamFirstErr(ctx, conn, interact, servertest.WithInvalidUTF8(t, open(hostileTask(), nil), "open", "task", "question"))
		}, codes.InvalidArgument},
		{"invalid UTF-8 DSL (server stream)", func(ctx context.Context) error {
			st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/flowsteer.v1.CanvasService/RunWorkflow", grpc.ForceCodecV2(servertest.RawCodec{}))
			if err != nil {
				return err
			}
			if err := st.SendMsg(servertest.WithInvalidUTF8(t, &pb.RunWorkflowRequest{Dsl: "Custom", Task: hostileTask()}, "dsl")); err != nil {
				return err
			}
			_ = st.CloseSend()
			return st.RecvMsg(&pb.RunWorkflowResponse{})
		}, codes.InvalidArgument},
		// Counts out of range.
		{"max_rounds -1", create(hostileTask(), &pb.EpisodeConfig{MaxRounds: i32(-1)}), codes.InvalidArgument},
		{"max_rounds 0", create(hostileTask(), &pb.EpisodeConfig{MaxRounds: i32(0)}), codes.InvalidArgument},
		{"max_rounds 2^31-1", create(hostileTask(), &pb.EpisodeConfig{MaxRounds: i32(math.MaxInt32)}), codes.InvalidArgument},
		{"max_rounds -2^31 over Interact", func(ctx context.Context) error {
			return streamFirstErr(ctx, conn, interact, open(hostileTask(), &pb.EpisodeConfig{MaxRounds: i32(math.MinInt32)}))
		}, codes.InvalidArgument},
		{"finish.min_operators -1", create(hostileTask(), &pb.EpisodeConfig{Finish: &pb.FinishRules{MinOperators: i32(-1)}}), codes.InvalidArgument},
		{"finish.min_operators 2^31-1", create(hostileTask(), &pb.EpisodeConfig{Finish: &pb.FinishRules{MinOperators: i32(math.MaxInt32)}}), codes.InvalidArgument},
		{"reward.min_operators -1", create(hostileTask(), &pb.EpisodeConfig{Reward: &pb.RewardSpec{MinOperators: i32(-1)}}), codes.InvalidArgument},
		{"reward.cap NaN", create(hostileTask(), &pb.EpisodeConfig{Reward: &pb.RewardSpec{Cap: f64(math.NaN())}}), codes.InvalidArgument},
		{"reward.base +Inf", create(hostileTask(), &pb.EpisodeConfig{Reward: &pb.RewardSpec{Base: f64(math.Inf(1))}}), codes.InvalidArgument},
		{"difficulty NaN", create(task(func(tk *pb.Task) { tk.Difficulty = math.NaN() }), nil), codes.InvalidArgument},
		{"difficulty -Inf", create(task(func(tk *pb.Task) { tk.Difficulty = math.Inf(-1) }), nil), codes.InvalidArgument},
		// Unknown enum values.
		{"task family 999", create(task(func(tk *pb.Task) { tk.Family = 999 }), nil), codes.InvalidArgument},
		{"task family -1", create(task(func(tk *pb.Task) { tk.Family = -1 }), nil), codes.InvalidArgument},
		{"reward kind 999", create(hostileTask(), &pb.EpisodeConfig{Reward: &pb.RewardSpec{Kind: 999}}), codes.InvalidArgument},
		{"list operators of family 999", func(ctx context.Context) error {
			_, err := c.ListOperators(ctx, &pb.ListOperatorsRequest{Family: 999})
			return err
		}, codes.InvalidArgument},
		{"RunWorkflow task family 999", func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: "Custom", Task: task(func(tk *pb.Task) { tk.Family = 999 })})
		}, codes.InvalidArgument},
		{"unknown library", create(hostileTask(), &pb.EpisodeConfig{Library: "no-such-library"}), codes.InvalidArgument},
		{"unknown backend", func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: "Custom", Task: hostileTask(), Backend: "no-such-backend"})
		}, codes.InvalidArgument},
		// Missing fields.
		{"no task", create(nil, nil), codes.InvalidArgument},
		{"empty question", create(task(func(tk *pb.Task) { tk.Question = "" }), nil), codes.InvalidArgument},
		{"blank question", create(task(func(tk *pb.Task) { tk.Question = " \n\t " }), nil), codes.InvalidArgument},
		{"no family", create(task(func(tk *pb.Task) { tk.Family = 0 }), nil), codes.InvalidArgument},
		{"no action", func(ctx context.Context) error {
			_, err := c.Step(ctx, &pb.StepRequest{EpisodeId: "ep_x"})
			return err
		}, codes.InvalidArgument},
		{"no episode id", func(ctx context.Context) error {
			_, err := c.Step(ctx, &pb.StepRequest{Action: &pb.Action{Text: "x"}})
			return err
		}, codes.InvalidArgument},
		{"GetEpisode without id", func(ctx context.Context) error {
			_, err := c.GetEpisode(ctx, &pb.GetEpisodeRequest{})
			return err
		}, codes.InvalidArgument},
		{"CloseEpisode without id", func(ctx context.Context) error {
			_, err := c.CloseEpisode(ctx, &pb.CloseEpisodeRequest{})
			return err
		}, codes.InvalidArgument},
		{"empty Interact message", func(ctx context.Context) error {
			return streamFirstErr(ctx, conn, interact, &pb.InteractRequest{})
		}, codes.InvalidArgument},
		{"Interact opening with an action", func(ctx context.Context) error {
			return streamFirstErr(ctx, conn, interact, &pb.InteractRequest{Msg: &pb.InteractRequest_Action{Action: &pb.Action{Text: "x"}}})
		}, codes.InvalidArgument},
		{"Interact open twice", func(ctx context.Context) error {
			return streamFirstErr(ctx, conn, interact, open(hostileTask(), nil), open(hostileTask(), nil))
		}, codes.InvalidArgument},
		{"resume without id", func(ctx context.Context) error {
			return streamFirstErr(ctx, conn, interact, &pb.InteractRequest{Msg: &pb.InteractRequest_Resume{Resume: &pb.ResumeEpisode{}}})
		}, codes.InvalidArgument},
		{"RunWorkflow without DSL", func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Task: hostileTask()})
		}, codes.InvalidArgument},
		{"RunWorkflow without task", func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: "Custom"})
		}, codes.InvalidArgument},
		{"RunWorkflow prompt for no node", func(ctx context.Context) error {
			return runWorkflowErr(ctx, c, &pb.RunWorkflowRequest{Dsl: "Custom", Task: hostileTask(), Prompts: map[string]string{"node_99": "x"}})
		}, codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err := tc.call(ctx)
			if got := status.Code(err); got != tc.want {
				t.Errorf("code %v (%v), want %v", got, err, tc.want)
			}
			if st, _ := status.FromError(err); err != nil && strings.TrimSpace(st.Message()) == "" {
				t.Errorf("refusal without a message")
			}
		})
	}
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
		{"position -5", structured(&pb.StructuredAction{Kind: add, Operator: "Custom", Position: i32(-5)})},
		{"position 2^31-1", structured(&pb.StructuredAction{Kind: add, Operator: "Custom", Position: i32(math.MaxInt32)})},
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
			id := newEpisode(t, &pb.EpisodeConfig{TwoStep: boolp(false), ExecuteEachStep: boolp(false)})
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
		id := newEpisode(t, &pb.EpisodeConfig{MaxRounds: i32(200), TwoStep: boolp(false), ExecuteEachStep: boolp(false)})
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
