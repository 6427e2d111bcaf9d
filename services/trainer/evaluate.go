package trainer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

// EvalSpec describes an evaluation of one policy next to baselines.
type EvalSpec struct {
	// Policy is a kind of policy.Kinds and PolicyOptions the options set
	// (PolicySpecOptions reads them from a request).
	Policy        string
	PolicyOptions map[string]any
	Tasks         []*pb.Task
	Baselines     []string
	Concurrency   int
	// Backend is a kind of executor.Backends ("" = sim) and
	// BackendOptions the options set.
	Backend        string
	BackendOptions map[string]any
	Sample         bool
	// Temperature is the sampling temperature of a sampled evaluation
	// (0 = 1, the temperature the embedded policy trains at).
	Temperature float64
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
	bc, err := executor.Backends.Decode(cfg.Backend.Kind, s.BackendOptions)
	if err != nil {
		return nil, err
	}
	cfg.Backend.MathGrader = s.MathGrader
	if s.Seed != 0 {
		cfg.Seed = s.Seed
	}
	if s.MaxRounds > 0 {
		cfg.MaxRounds = s.MaxRounds
	}
	p := &Prepared{dialOptions: s.DialOptions}
	defer p.Close()
	env := trainer.Env{}
	if err := p.canvas(ctx, cfg, bc, &env, s.Logger); err != nil {
		return nil, err
	}
	if s.Observer != nil {
		for _, m := range p.Models {
			if strings.HasPrefix(m, "math grader: ") {
				s.Observer.Log(m)
			}
		}
	}
	pc, err := policy.Kinds.Decode(s.Policy, s.PolicyOptions)
	if err != nil {
		return nil, err
	}
	pol, err := policy.Kinds.Create(ctx, s.Policy, pc, policy.Deps{Seed: cfg.Seed, Connect: p.policyConnector("policy", flowsteer.Credentials{})})
	if err != nil {
		return nil, err
	}
	actor := func(ctx context.Context) (rollout.Actor, error) { return rollout.ActorFor(ctx, pol) }
	entries := []trainer.EvalEntry{{Name: evalName(s.Policy, s.PolicyOptions, pol), Actor: actor, Greedy: !s.Sample}}
	for _, b := range s.Baselines {
		bp, err := policy.Baseline(ctx, b, cfg.Seed)
		if err != nil {
			return nil, err
		}
		entries = append(entries, trainer.EvalEntry{Name: b, Actor: func(context.Context) (rollout.Actor, error) { return rollout.InProcess{P: bp}, nil }})
	}
	ev := trainer.Evaluator{Canvas: env.Canvas, Concurrency: max(1, s.Concurrency), MaxRounds: cfg.MaxRounds, Reward: cfg.Reward,
		EpisodeTimeout: cfg.EpisodeTimeout, Seed: cfg.Seed, Observer: s.Observer, Prices: s.Prices, Temperature: s.Temperature}
	rep, _, err := ev.Run(ctx, 0, s.Tasks, entries)
	if err != nil {
		return nil, err
	}
	rep.Simulated = p.Simulated
	return rep, nil
}

// evalName names the evaluated policy in the report: KIND:DSL for a
// workflow, KIND:FILE for a checkpoint, else the policy's own kind.
func evalName(kind string, set map[string]any, p policy.Policy) string {
	if d, ok := set["dsl"]; ok {
		return fmt.Sprintf("%s:%v", kind, d)
	}
	if c, ok := set["checkpoint"]; ok && fmt.Sprint(c) != "" {
		return fmt.Sprintf("%s:%s", kind, filepath.Base(fmt.Sprint(c)))
	}
	return p.Info().Kind
}

// PolicySpecOptions reads a PolicySpec's options: its named fields
// (address, checkpoint, dsl) where set, and its options map, whose values
// are read as YAML scalars.
func PolicySpecOptions(spec *pb.PolicySpec) (map[string]any, error) {
	set := map[string]any{}
	for k, v := range map[string]string{"address": spec.GetAddress(), "checkpoint": spec.GetCheckpoint(), "dsl": spec.GetDsl()} {
		if v != "" {
			set[k] = v
		}
	}
	for k, v := range spec.GetOptions() {
		if _, dup := set[k]; dup {
			return nil, fmt.Errorf("policy.options.%s: set twice (also policy.%s)", k, k)
		}
		set[k] = component.Text(v)
	}
	return set, nil
}

// evalBackend is the backend kind an Evaluate request runs on.
func evalBackend(req *pb.EvaluateRequest) string {
	return cmp.Or(req.GetBackend(), trainer.DefaultConfig().Backend.Kind)
}

// BackendOptions reads an EvaluateRequest's backend_options as YAML
// scalars, as PolicySpecOptions reads a policy's.
func BackendOptions(req *pb.EvaluateRequest) map[string]any {
	set := map[string]any{}
	for k, v := range req.GetBackendOptions() {
		set[k] = component.Text(v)
	}
	return set
}

// Evaluate streams progress, each episode and the final report.
func (s *Service) Evaluate(req *pb.EvaluateRequest, stream grpc.ServerStreamingServer[pb.EvaluateResponse]) error {
	set, err := PolicySpecOptions(req.GetPolicy())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
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
	if spec.GetCheckpoint() != "" {
		set["checkpoint"] = spec.Checkpoint
	}
	// The checkpoint was confined to the caller's runs above; every
	// other option is vetted by its rule, as a StartRun config's are.
	info, _ := policy.Kinds.Lookup(spec.GetKind())
	rest := map[string]any{}
	for k, v := range set {
		if k != "checkpoint" {
			rest[k] = v
		}
	}
	if err := s.vetOptions("policy", info.Options, rest, "none"); err != nil {
		return err
	}
	// The backend's options pass the checks of a StartRun config's backend
	// section; a credential (an API key) is StartRun's alone.
	binfo, _ := executor.Backends.Lookup(evalBackend(req))
	bset := BackendOptions(req)
	if err := s.vetOptions("backend", binfo.Options, bset, "none"); err != nil {
		return err
	}
	obs := &streamObserver{send: func(r *pb.EvaluateResponse) error { return stream.Send(r) }}
	rep, err := EvaluatePolicy(stream.Context(), EvalSpec{Policy: spec.GetKind(), PolicyOptions: set, Tasks: tasks, Baselines: req.GetBaselines(),
		Concurrency: int(req.GetConcurrency()), Backend: req.GetBackend(), BackendOptions: bset, Sample: req.GetSample(), Seed: req.GetSeed(), Observer: obs, Logger: s.Logger})
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
