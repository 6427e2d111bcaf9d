package trainer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/policy/embedded"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

// EvalSpec describes an evaluation of one policy next to baselines.
type EvalSpec struct {
	Policy      *pb.PolicySpec
	Tasks       []*pb.Task
	Baselines   []string
	Concurrency int
	Backend     string // sim (default) or openai with BaseURL and Model
	BaseURL     string
	Model       string
	Sample      bool
	Seed        int64
	MaxRounds   int
	Observer    trainer.Observer
	Logger      *slog.Logger
	// Prices price each policy's cost (PolicyEval.cost).
	Prices cost.Table
	// DialOptions reach a remote policy (TLS, bearer token: see
	// flowsteer.Credentials.DialOptions).
	DialOptions []grpc.DialOption
	// MathGrader grades math answers: auto (also when empty), math-verify
	// or go (system.MathGraderSetting).
	MathGrader string
	// SimSeed seeds the simulated executor (0: the default config's, 1),
	// so that the seeds of an experiment re-draw the simulation.
	SimSeed int64
}

// EvaluatePolicy plays one episode per task for the policy and each
// baseline on an in-process canvas and returns the report.
func EvaluatePolicy(ctx context.Context, s EvalSpec) (*pb.EvalReport, error) {
	if len(s.Tasks) == 0 {
		return nil, errors.New("no tasks to evaluate on")
	}
	cfg := trainer.DefaultConfig()
	if s.Backend != "" {
		cfg.Backend.Kind = s.Backend
	}
	cfg.Backend.BaseURL, cfg.Backend.Model = s.BaseURL, s.Model
	cfg.Backend.MathGrader = s.MathGrader
	if s.Seed != 0 {
		cfg.Seed = s.Seed
	}
	if s.SimSeed != 0 {
		cfg.Backend.SimSeed = s.SimSeed
	}
	if s.MaxRounds > 0 {
		cfg.MaxRounds = s.MaxRounds
	}
	p := &Prepared{dialOptions: s.DialOptions}
	defer p.Close()
	env := trainer.Env{}
	if err := p.canvas(ctx, cfg, &env, s.Logger); err != nil {
		return nil, err
	}
	if s.Observer != nil {
		for _, m := range p.Models {
			if strings.HasPrefix(m, "math grader: ") {
				s.Observer.Log(m)
			}
		}
	}
	pol, actor, err := p.evalPolicy(ctx, s.Policy, cfg.Seed)
	if err != nil {
		return nil, err
	}
	entries := []trainer.EvalEntry{{Name: policyName(s.Policy, pol), Actor: actor, Greedy: !s.Sample}}
	for _, b := range s.Baselines {
		bp, err := trainer.Baseline(b, cfg.Seed)
		if err != nil {
			return nil, err
		}
		entries = append(entries, trainer.EvalEntry{Name: b, Actor: func(context.Context) (rollout.Actor, error) { return rollout.InProcess{P: bp}, nil }})
	}
	ev := trainer.Evaluator{Canvas: env.Canvas, Concurrency: max(1, s.Concurrency), MaxRounds: cfg.MaxRounds, Reward: cfg.Reward,
		EpisodeTimeout: cfg.EpisodeTimeout, Seed: cfg.Seed, Observer: s.Observer, Prices: s.Prices}
	rep, _, err := ev.Run(ctx, 0, s.Tasks, entries)
	if err != nil {
		return nil, err
	}
	rep.Simulated = p.Simulated
	return rep, nil
}

func policyName(spec *pb.PolicySpec, p policy.Policy) string {
	switch spec.GetKind() {
	case "fixed":
		return "fixed:" + spec.GetDsl()
	case "embedded":
		if spec.GetCheckpoint() != "" {
			return "embedded:" + filepath.Base(spec.GetCheckpoint())
		}
	}
	return p.Info().Kind
}

// evalPolicy builds the evaluated policy and its per-episode actor.
func (p *Prepared) evalPolicy(ctx context.Context, spec *pb.PolicySpec, seed int64) (policy.Policy, func(context.Context) (rollout.Actor, error), error) {
	inProc := func(pol policy.Policy) func(context.Context) (rollout.Actor, error) {
		return func(context.Context) (rollout.Actor, error) { return rollout.InProcess{P: pol}, nil }
	}
	switch spec.GetKind() {
	case "embedded":
		pol, err := embedded.New(embedded.Config{Seed: seed})
		if err != nil {
			return nil, nil, err
		}
		if spec.GetCheckpoint() != "" {
			if _, err := pol.Load(spec.GetCheckpoint(), ""); err != nil {
				return nil, nil, err
			}
		}
		return pol, inProc(pol), nil
	case "random":
		pol := policy.NewRandom(seed)
		return pol, inProc(pol), nil
	case "fixed":
		pol, err := policy.NewFixed(spec.GetDsl())
		if err != nil {
			return nil, nil, err
		}
		return pol, inProc(pol), nil
	case "remote":
		opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithStatsHandler(otelgrpc.NewClientHandler())}, p.dialOptions...)
		conn, err := grpc.NewClient(spec.GetAddress(), opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("policy.address: %w", err)
		}
		p.closers = append(p.closers, func() { conn.Close() })
		rp, err := flowsteer.NewRemotePolicy(ctx, conn)
		if err != nil {
			return nil, nil, err
		}
		return rp, func(ctx context.Context) (rollout.Actor, error) { return rp.Session(ctx) }, nil
	}
	return nil, nil, fmt.Errorf("policy.kind %q: use embedded, remote, random or fixed", spec.GetKind())
}

// Evaluate streams progress, each episode and the final report.
func (s *Service) Evaluate(req *pb.EvaluateRequest, stream grpc.ServerStreamingServer[pb.EvaluateResponse]) error {
	if req.GetPolicy().GetKind() == "" {
		return status.Error(codes.InvalidArgument, "policy.kind is required (embedded, remote, random or fixed)")
	}
	tasks := req.GetTasks()
	if len(tasks) == 0 && req.GetTasksFile() == "" {
		return status.Error(codes.InvalidArgument, "tasks or tasks_file is required")
	}
	if len(tasks) == 0 {
		cfg := trainer.DefaultConfig()
		path, err := s.dataPath("tasks_file", req.GetTasksFile())
		if err != nil {
			return err
		}
		cfg.Tasks.Train = path
		t, _, err := loadTasks(stream.Context(), cfg)
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		tasks = t
	}
	spec := req.GetPolicy()
	if spec.GetCheckpoint() != "" {
		// Checkpoints named by clients live in the caller's own runs.
		p, err := s.checkpointPath(stream.Context(), spec.GetCheckpoint())
		if err != nil {
			return err
		}
		spec.Checkpoint = p
	}
	if spec.GetKind() == "remote" {
		if err := s.checkDial("policy.address", spec.GetAddress()); err != nil {
			return err
		}
	}
	for _, b := range req.GetBaselines() {
		if _, err := trainer.Baseline(b, 1); err != nil {
			return status.Errorf(codes.InvalidArgument, "baselines: %v", err)
		}
	}
	obs := &streamObserver{send: func(r *pb.EvaluateResponse) error { return stream.Send(r) }}
	rep, err := EvaluatePolicy(stream.Context(), EvalSpec{Policy: spec, Tasks: tasks, Baselines: req.GetBaselines(),
		Concurrency: int(req.GetConcurrency()), Backend: req.GetBackend(), Sample: req.GetSample(), Seed: req.GetSeed(), Observer: obs, Logger: s.Logger})
	if err != nil {
		if status.Code(err) != codes.Unknown {
			return err
		}
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	if err := obs.err(); err != nil {
		return err
	}
	return stream.Send(&pb.EvaluateResponse{Event: &pb.EvaluateResponse_Report{Report: rep}})
}

// streamObserver forwards evaluation progress to a stream.
type streamObserver struct {
	mu      sync.Mutex
	send    func(*pb.EvaluateResponse) error
	done    int64
	total   int64
	sendErr error
}

func (o *streamObserver) emit(r *pb.EvaluateResponse) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sendErr == nil {
		o.sendErr = o.send(r)
	}
}

func (o *streamObserver) err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sendErr
}

func (o *streamObserver) StepStarted(int64, int64, int) {}
func (o *streamObserver) EpisodeDone(_ int64, r *rollout.Record) {
	sum := &pb.EpisodeSummary{EpisodeId: r.EpisodeID, TaskId: r.Task.GetId(), Family: r.Task.GetFamily(), Turns: int32(len(r.Turns)), InvalidActions: int32(r.Invalid)}
	if r.Err != nil {
		sum.Failed, sum.Error = true, r.Err.Error()
	}
	if r.Final != nil {
		sum.Dsl, sum.Reward, sum.Finished = r.Final.GetWorkflow().GetDsl(), r.Final.GetReward(), r.Finished()
	}
	o.mu.Lock()
	o.done++
	done, total := o.done, o.total
	o.mu.Unlock()
	o.emit(&pb.EvaluateResponse{Event: &pb.EvaluateResponse_Episode{Episode: sum}})
	o.emit(&pb.EvaluateResponse{Event: &pb.EvaluateResponse_Progress{Progress: &pb.Progress{Done: done, Total: total, Phase: "evaluate"}}})
}
func (o *streamObserver) StepDone(*pb.StepMetrics) {}
func (o *streamObserver) EvalStarted(_ int64, _ []string, episodes int) {
	o.mu.Lock()
	o.total = int64(episodes)
	o.mu.Unlock()
}
func (o *streamObserver) EvalDone(*pb.EvalReport) {}
func (o *streamObserver) Log(string)              {}
