package trainer

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
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
			return servertest.RecvAll(st.Recv)
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
	cases := []servertest.Refusal{
		// Sizes.
		{Name: "17 MiB config", Call: start("# " + strings.Repeat("x", 17<<20)), Want: codes.ResourceExhausted},
		{Name: "2 MiB config", Call: start("name: big\n# " + strings.Repeat("x", 2<<20)), Want: codes.InvalidArgument},
		{Name: "17 MiB of tasks to evaluate", Call: eval(func(r *pb.EvaluateRequest) { r.Tasks[0].Context = strings.Repeat("c", 17<<20) }), Want: codes.ResourceExhausted},
		{Name: "invalid UTF-8 config", Call: func(ctx context.Context) error {
			return conn.Invoke(ctx, "/flowsteer.v1.TrainerService/StartRun", servertest.WithInvalidUTF8(t, &pb.StartRunRequest{}, "config_yaml"),
				&pb.StartRunResponse{}, grpc.ForceCodecV2(servertest.RawCodec{}))
		}, Want: codes.InvalidArgument},
		{Name: "invalid UTF-8 run id (stream)", Call: func(ctx context.Context) error {
			st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/flowsteer.v1.TrainerService/WatchRun", grpc.ForceCodecV2(servertest.RawCodec{}))
			if err != nil {
				return err
			}
			if err := st.SendMsg(servertest.WithInvalidUTF8(t, &pb.WatchRunRequest{RunId: "r"}, "run_id")); err != nil {
				return err
			}
			_ = st.CloseSend()
			return st.RecvMsg(&pb.WatchRunResponse{})
		}, Want: codes.InvalidArgument},
		// YAML built to hurt a parser.
		{Name: "alias bomb", Call: start("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
			"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n" +
			"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\ni: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n"), Want: codes.InvalidArgument},
		{Name: "10,000 nested sequences", Call: start("name: " + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000)), Want: codes.InvalidArgument},
		{Name: "10,000 nested mappings", Call: start(strings.Repeat("{a: ", 10_000) + "1" + strings.Repeat("}", 10_000)), Want: codes.InvalidArgument},
		{Name: "a second document", Call: start("name: a\n---\nsteps: 1000000\n"), Want: codes.InvalidArgument},
		{Name: "a baseline of 10,000 nodes", Call: start("eval: {baselines: [\"" + bigDSL + "\"]}"), Want: codes.InvalidArgument},
		// Counts.
		{Name: "steps -1", Call: start("steps: -1"), Want: codes.InvalidArgument},
		{Name: "steps 2^63", Call: start("steps: 9223372036854775808"), Want: codes.InvalidArgument},
		{Name: "group_size 10^9", Call: start("group_size: 1000000000"), Want: codes.InvalidArgument},
		{Name: "batch_tasks 10^9", Call: start("batch_tasks: 1000000000"), Want: codes.InvalidArgument},
		{Name: "concurrency 10^9", Call: start("concurrency: 1000000000"), Want: codes.InvalidArgument},
		{Name: "max_rounds 10^6", Call: start("max_rounds: 1000000"), Want: codes.InvalidArgument},
		{Name: "max_rounds -1", Call: start("max_rounds: -1"), Want: codes.InvalidArgument},
		{Name: "eval.tasks -1", Call: start("eval: {tasks: -1}"), Want: codes.InvalidArgument},
		{Name: "policy.hidden 10^9", Call: start("policy: {hidden: 1000000000}"), Want: codes.InvalidArgument},
		{Name: "episode_timeout -1s", Call: start("episode_timeout: -1s"), Want: codes.InvalidArgument},
		{Name: "learning_rate NaN", Call: start("optimizer: {learning_rate: .nan}"), Want: codes.InvalidArgument},
		{Name: "loss kl NaN", Call: start("loss: {kl: .nan}"), Want: codes.InvalidArgument},
		{Name: "Evaluate concurrency -1", Call: eval(func(r *pb.EvaluateRequest) { r.Concurrency = -1 }), Want: codes.InvalidArgument},
		{Name: "Evaluate concurrency 2^31-1", Call: eval(func(r *pb.EvaluateRequest) { r.Concurrency = math.MaxInt32 }), Want: codes.InvalidArgument},
		{Name: "Evaluate with 1,000 baselines", Call: eval(func(r *pb.EvaluateRequest) {
			for range 1000 {
				r.Baselines = append(r.Baselines, "random")
			}
		}), Want: codes.InvalidArgument},
		// Unknown values.
		{Name: "unknown key", Call: start("stepz: 3"), Want: codes.InvalidArgument},
		{Name: "unknown family", Call: start("tasks: {families: [poetry]}"), Want: codes.InvalidArgument},
		{Name: "unknown backend", Call: start("backend: {kind: gpt}"), Want: codes.InvalidArgument},
		{Name: "Evaluate task family 999", Call: evalTask(func(tk *pb.Task) { tk.Family = 999 }), Want: codes.InvalidArgument},
		{Name: "Evaluate task difficulty NaN", Call: evalTask(func(tk *pb.Task) { tk.Difficulty = math.NaN() }), Want: codes.InvalidArgument},
		{Name: "Evaluate policy kind oracle", Call: eval(func(r *pb.EvaluateRequest) { r.Policy.Kind = "oracle" }), Want: codes.InvalidArgument},
		{Name: "Evaluate backend option the kind lacks", Call: eval(func(r *pb.EvaluateRequest) { r.BackendOptions = map[string]string{"base_url": "http://127.0.0.1:1/v1"} }), Want: codes.InvalidArgument},
		{Name: "Evaluate backend option of the wrong type", Call: eval(func(r *pb.EvaluateRequest) { r.BackendOptions = map[string]string{"sim_seed": "many"} }), Want: codes.InvalidArgument},
		{Name: "Evaluate backend option with a 1 MiB key", Call: eval(func(r *pb.EvaluateRequest) { r.BackendOptions = map[string]string{strings.Repeat("k", 1<<20): "1"} }), Want: codes.InvalidArgument},
		{Name: "Evaluate with 1,000 backend options", Call: eval(func(r *pb.EvaluateRequest) {
			r.BackendOptions = map[string]string{}
			for i := range 1000 {
				r.BackendOptions[strings.Repeat("k", i%50+1)+string(rune('a'+i%26))+strings.Repeat("x", i/26)] = "1"
			}
		}), Want: codes.InvalidArgument},
		{Name: "Evaluate fixed policy of 10,000 nodes", Call: eval(func(r *pb.EvaluateRequest) {
			r.Policy = &pb.PolicySpec{Kind: "fixed", Dsl: strings.TrimPrefix(bigDSL, "fixed:")}
		}), Want: codes.InvalidArgument},
		{Name: "Evaluate fixed policy of 10,000 nested parentheses", Call: eval(func(r *pb.EvaluateRequest) {
			r.Policy = &pb.PolicySpec{Kind: "fixed", Dsl: strings.Repeat("(", 10_000) + "Custom" + strings.Repeat(")", 10_000)}
		}), Want: codes.InvalidArgument},
		{Name: "Evaluate baseline of 10,000 nodes", Call: eval(func(r *pb.EvaluateRequest) { r.Baselines = []string{bigDSL} }), Want: codes.InvalidArgument},
		{Name: "Evaluate unknown baseline", Call: eval(func(r *pb.EvaluateRequest) { r.Baselines = []string{"oracle"} }), Want: codes.InvalidArgument},
		{Name: "Evaluate unknown backend", Call: eval(func(r *pb.EvaluateRequest) { r.Backend = "gpt" }), Want: codes.InvalidArgument},
		// Missing fields.
		{Name: "no config", Call: start(""), Want: codes.InvalidArgument},
		{Name: "resume without run_dir", Call: unary(func(ctx context.Context) (proto.Message, error) {
			return c.StartRun(ctx, &pb.StartRunRequest{Resume: true})
		}), Want: codes.InvalidArgument},
		{Name: "run_dir naming the runs directory", Call: unary(func(ctx context.Context) (proto.Message, error) {
			return c.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: "{}", RunDir: ".."})
		}), Want: codes.InvalidArgument},
		{Name: "resume of no run", Call: unary(func(ctx context.Context) (proto.Message, error) {
			return c.StartRun(ctx, &pb.StartRunRequest{Resume: true, RunDir: "no-such-run"})
		}), Want: codes.NotFound},
		{Name: "GetRun without id", Call: unary(func(ctx context.Context) (proto.Message, error) { return c.GetRun(ctx, &pb.GetRunRequest{}) }), Want: codes.InvalidArgument},
		{Name: "GetRun of a path", Call: unary(func(ctx context.Context) (proto.Message, error) {
			return c.GetRun(ctx, &pb.GetRunRequest{RunId: "../../etc"})
		}), Want: codes.InvalidArgument},
		{Name: "GetRun of no run", Call: unary(func(ctx context.Context) (proto.Message, error) {
			return c.GetRun(ctx, &pb.GetRunRequest{RunId: "no-such-run"})
		}), Want: codes.NotFound},
		{Name: "CancelRun without id", Call: unary(func(ctx context.Context) (proto.Message, error) { return c.CancelRun(ctx, &pb.CancelRunRequest{}) }), Want: codes.InvalidArgument},
		{Name: "CancelRun of no run", Call: unary(func(ctx context.Context) (proto.Message, error) {
			return c.CancelRun(ctx, &pb.CancelRunRequest{RunId: "no-such-run"})
		}), Want: codes.NotFound},
		{Name: "WatchRun without id", Call: watch(""), Want: codes.InvalidArgument},
		{Name: "WatchRun of ..", Call: watch(".."), Want: codes.InvalidArgument},
		{Name: "WatchRun of no run", Call: watch("no-such-run"), Want: codes.NotFound},
		{Name: "Evaluate without policy", Call: eval(func(r *pb.EvaluateRequest) { r.Policy = nil }), Want: codes.InvalidArgument},
		{Name: "Evaluate without tasks", Call: eval(func(r *pb.EvaluateRequest) { r.Tasks = nil }), Want: codes.InvalidArgument},
		{Name: "Evaluate task without question", Call: evalTask(func(tk *pb.Task) { tk.Question = "" }), Want: codes.InvalidArgument},
		{Name: "Evaluate without a task", Call: eval(func(r *pb.EvaluateRequest) { r.Tasks = []*pb.Task{nil} }), Want: codes.InvalidArgument},
		{Name: "Evaluate of a missing tasks file", Call: eval(func(r *pb.EvaluateRequest) { r.Tasks, r.TasksFile = nil, "/no/such/tasks.jsonl" }), Want: codes.InvalidArgument},
	}
	servertest.CheckRefusals(t, cases, nil)
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
