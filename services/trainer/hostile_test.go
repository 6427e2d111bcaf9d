package trainer

import (
	"context"
	"errors"
	"io"
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
)

// hostileTrainer serves a TrainerService as `flowsteer serve` does
// (server.New with the service's validators) over bufconn.
func hostileTrainer(t *testing.T) (*grpc.ClientConn, *Service) {
	t.Helper()
	h := newService(t)
	return h.conn, h.svc
}

func hostileEvalTask() *pb.Task {
	return &pb.Task{Id: "e1", Family: pb.TaskFamily_TASK_FAMILY_MATH, Question: "What is 6 times 7?", Answers: []string{"42"}}
}

// TestHostileTrainerRequests: hostile StartRun, Watch/Get/CancelRun and
// Evaluate requests are refused with a precise code before any run starts
// or any episode plays, never Unknown or Internal, and the service keeps
// serving. A config that slipped through would start a run, so the test
// also checks that none did.
func TestHostileTrainerRequests(t *testing.T) {
	conn, svc := hostileTrainer(t)
	c := pb.NewTrainerServiceClient(conn)
	start := func(yaml string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			r, err := c.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: yaml})
			if err == nil {
				// Not meant to run: stop it at once.
				_, _ = c.CancelRun(ctx, &pb.CancelRunRequest{RunId: r.GetRun().GetId()})
			}
			return err
		}
	}
	evaluate := func(req *pb.EvaluateRequest) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			st, err := c.Evaluate(ctx, req)
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
	}
	eval := func(edit func(r *pb.EvaluateRequest)) func(ctx context.Context) error {
		r := &pb.EvaluateRequest{Policy: &pb.PolicySpec{Kind: "random"}, Tasks: []*pb.Task{hostileEvalTask()}}
		edit(r)
		return evaluate(r)
	}
	evalTask := func(edit func(tk *pb.Task)) func(ctx context.Context) error {
		return eval(func(r *pb.EvaluateRequest) { edit(r.Tasks[0]) })
	}
	unary := func(f func(ctx context.Context) (proto.Message, error)) func(ctx context.Context) error {
		return func(ctx context.Context) error { _, err := f(ctx); return err }
	}
	watch := func(id string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			st, err := c.WatchRun(ctx, &pb.WatchRunRequest{RunId: id})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}
	}
	bigDSL := "fixed:[" + strings.Repeat("Custom, ", 9_999) + "Custom]"
	cases := []struct {
		name string
		call func(ctx context.Context) error
		want codes.Code
	}{
		// Sizes.
		{"17 MiB config", start("# " + strings.Repeat("x", 17<<20)), codes.ResourceExhausted},
		{"2 MiB config", start("name: big\n# " + strings.Repeat("x", 2<<20)), codes.InvalidArgument},
		{"17 MiB of tasks to evaluate", eval(func(r *pb.EvaluateRequest) { r.Tasks[0].Context = strings.Repeat("c", 17<<20) }), codes.ResourceExhausted},
		{"invalid UTF-8 config", func(ctx context.Context) error {
			return conn.Invoke(ctx, "/flowsteer.v1.TrainerService/StartRun", servertest.WithInvalidUTF8(t, &pb.StartRunRequest{}, "config_yaml"),
				&pb.StartRunResponse{}, grpc.ForceCodecV2(servertest.RawCodec{}))
		}, codes.InvalidArgument},
		{"invalid UTF-8 run id (stream)", func(ctx context.Context) error {
			st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/flowsteer.v1.TrainerService/WatchRun", grpc.ForceCodecV2(servertest.RawCodec{}))
			if err != nil {
				return err
			}
			if err := st.SendMsg(servertest.WithInvalidUTF8(t, &pb.WatchRunRequest{RunId: "r"}, "run_id")); err != nil {
				return err
			}
			_ = st.CloseSend()
			return st.RecvMsg(&pb.WatchRunResponse{})
		}, codes.InvalidArgument},
		// YAML built to hurt a parser.
		{"alias bomb", start("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
			"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n" +
			"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\ni: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n"), codes.InvalidArgument},
		{"10,000 nested sequences", start("name: " + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000)), codes.InvalidArgument},
		{"10,000 nested mappings", start(strings.Repeat("{a: ", 10_000) + "1" + strings.Repeat("}", 10_000)), codes.InvalidArgument},
		{"a second document", start("name: a\n---\nsteps: 1000000\n"), codes.InvalidArgument},
		{"a baseline of 10,000 nodes", start("eval: {baselines: [\"" + bigDSL + "\"]}"), codes.InvalidArgument},
		// Counts.
		{"steps -1", start("steps: -1"), codes.InvalidArgument},
		{"steps 2^63", start("steps: 9223372036854775808"), codes.InvalidArgument},
		{"group_size 10^9", start("group_size: 1000000000"), codes.InvalidArgument},
		{"batch_tasks 10^9", start("batch_tasks: 1000000000"), codes.InvalidArgument},
		{"concurrency 10^9", start("concurrency: 1000000000"), codes.InvalidArgument},
		{"max_rounds 10^6", start("max_rounds: 1000000"), codes.InvalidArgument},
		{"max_rounds -1", start("max_rounds: -1"), codes.InvalidArgument},
		{"eval.tasks -1", start("eval: {tasks: -1}"), codes.InvalidArgument},
		{"policy.hidden 10^9", start("policy: {hidden: 1000000000}"), codes.InvalidArgument},
		{"episode_timeout -1s", start("episode_timeout: -1s"), codes.InvalidArgument},
		{"learning_rate NaN", start("optimizer: {learning_rate: .nan}"), codes.InvalidArgument},
		{"loss kl NaN", start("loss: {kl: .nan}"), codes.InvalidArgument},
		{"Evaluate concurrency -1", eval(func(r *pb.EvaluateRequest) { r.Concurrency = -1 }), codes.InvalidArgument},
		{"Evaluate concurrency 2^31-1", eval(func(r *pb.EvaluateRequest) { r.Concurrency = math.MaxInt32 }), codes.InvalidArgument},
		{"Evaluate with 1,000 baselines", eval(func(r *pb.EvaluateRequest) {
			for range 1000 {
				r.Baselines = append(r.Baselines, "random")
			}
		}), codes.InvalidArgument},
		// Unknown values.
		{"unknown key", start("stepz: 3"), codes.InvalidArgument},
		{"unknown family", start("tasks: {families: [poetry]}"), codes.InvalidArgument},
		{"unknown backend", start("backend: {kind: gpt}"), codes.InvalidArgument},
		{"Evaluate task family 999", evalTask(func(tk *pb.Task) { tk.Family = 999 }), codes.InvalidArgument},
		{"Evaluate task difficulty NaN", evalTask(func(tk *pb.Task) { tk.Difficulty = math.NaN() }), codes.InvalidArgument},
		{"Evaluate policy kind oracle", eval(func(r *pb.EvaluateRequest) { r.Policy.Kind = "oracle" }), codes.InvalidArgument},
		{"Evaluate fixed policy of 10,000 nodes", eval(func(r *pb.EvaluateRequest) {
			r.Policy = &pb.PolicySpec{Kind: "fixed", Dsl: strings.TrimPrefix(bigDSL, "fixed:")}
		}), codes.InvalidArgument},
		{"Evaluate fixed policy of 10,000 nested parentheses", eval(func(r *pb.EvaluateRequest) {
			r.Policy = &pb.PolicySpec{Kind: "fixed", Dsl: strings.Repeat("(", 10_000) + "Custom" + strings.Repeat(")", 10_000)}
		}), codes.InvalidArgument},
		{"Evaluate baseline of 10,000 nodes", eval(func(r *pb.EvaluateRequest) { r.Baselines = []string{bigDSL} }), codes.InvalidArgument},
		{"Evaluate unknown baseline", eval(func(r *pb.EvaluateRequest) { r.Baselines = []string{"oracle"} }), codes.InvalidArgument},
		{"Evaluate unknown backend", eval(func(r *pb.EvaluateRequest) { r.Backend = "gpt" }), codes.InvalidArgument},
		// Missing fields.
		{"no config", start(""), codes.InvalidArgument},
		{"resume without run_dir", unary(func(ctx context.Context) (proto.Message, error) {
			return c.StartRun(ctx, &pb.StartRunRequest{Resume: true})
		}), codes.InvalidArgument},
		{"run_dir naming the runs directory", unary(func(ctx context.Context) (proto.Message, error) {
			return c.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: "{}", RunDir: ".."})
		}), codes.InvalidArgument},
		{"resume of no run", unary(func(ctx context.Context) (proto.Message, error) {
			return c.StartRun(ctx, &pb.StartRunRequest{Resume: true, RunDir: "no-such-run"})
		}), codes.NotFound},
		{"GetRun without id", unary(func(ctx context.Context) (proto.Message, error) { return c.GetRun(ctx, &pb.GetRunRequest{}) }), codes.InvalidArgument},
		{"GetRun of a path", unary(func(ctx context.Context) (proto.Message, error) {
			return c.GetRun(ctx, &pb.GetRunRequest{RunId: "../../etc"})
		}), codes.InvalidArgument},
		{"GetRun of no run", unary(func(ctx context.Context) (proto.Message, error) {
			return c.GetRun(ctx, &pb.GetRunRequest{RunId: "no-such-run"})
		}), codes.NotFound},
		{"CancelRun without id", unary(func(ctx context.Context) (proto.Message, error) { return c.CancelRun(ctx, &pb.CancelRunRequest{}) }), codes.InvalidArgument},
		{"CancelRun of no run", unary(func(ctx context.Context) (proto.Message, error) {
			return c.CancelRun(ctx, &pb.CancelRunRequest{RunId: "no-such-run"})
		}), codes.NotFound},
		{"WatchRun without id", watch(""), codes.InvalidArgument},
		{"WatchRun of ..", watch(".."), codes.InvalidArgument},
		{"WatchRun of no run", watch("no-such-run"), codes.NotFound},
		{"Evaluate without policy", eval(func(r *pb.EvaluateRequest) { r.Policy = nil }), codes.InvalidArgument},
		{"Evaluate without tasks", eval(func(r *pb.EvaluateRequest) { r.Tasks = nil }), codes.InvalidArgument},
		{"Evaluate task without question", evalTask(func(tk *pb.Task) { tk.Question = "" }), codes.InvalidArgument},
		{"Evaluate without a task", eval(func(r *pb.EvaluateRequest) { r.Tasks = []*pb.Task{nil} }), codes.InvalidArgument},
		{"Evaluate of a missing tasks file", eval(func(r *pb.EvaluateRequest) { r.Tasks, r.TasksFile = nil, "/no/such/tasks.jsonl" }), codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err := tc.call(ctx)
			if got := status.Code(err); got != tc.want {
				t.Errorf("code %v (%.300v), want %v", got, err, tc.want)
			}
		})
	}
	svc.mu.Lock()
	active := len(svc.active)
	svc.mu.Unlock()
	if active != 0 {
		t.Errorf("%d runs were started by refused requests", active)
	}
	// Still serving: a good evaluation goes through.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := evaluate(&pb.EvaluateRequest{Policy: &pb.PolicySpec{Kind: "random"}, Tasks: []*pb.Task{hostileEvalTask()}})(ctx); err != nil {
		t.Fatalf("a good Evaluate after the hostile requests: %v", err)
	}
}
