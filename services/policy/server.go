// Package policy serves the Policy gRPC service over any policy.Policy:
// Act and ActStream for every policy, Update and checkpoints for learners.
// It translates errors into status codes at this edge.
package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/auth"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/policy/embedded"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/server"
)

// Service implements pb.PolicyServiceServer.
type Service struct {
	pb.UnimplementedPolicyServiceServer
	p policy.Policy
	// CheckpointDir confines checkpoint paths sent by clients; "" allows
	// any path (for in-process use only).
	CheckpointDir string
}

// New wraps p.
func New(p policy.Policy) *Service { return &Service{p: p} }

// Register adds the service to s.
func Register(s *server.Server, svc *Service) { pb.RegisterPolicyServiceServer(s.GRPC, svc) }

// AddValidators registers request checks for this service's messages.
func AddValidators(v server.Validators) {
	server.Add(v, func(m *pb.ActRequest) error { return checkAct(m) })
	server.Add(v, func(m *pb.ActStreamRequest) error { return checkAct(m.GetAct()) })
	server.Add(v, func(m *pb.UpdateRequest) error {
		if len(m.GetEpisodes()) == 0 {
			return errors.New("episodes is empty: send at least one episode")
		}
		if m.GetStep() < 0 {
			return fmt.Errorf("step must be >= 0, got %d", m.GetStep())
		}
		if err := checkLoss(m.GetLoss()); err != nil {
			return err
		}
		for i, e := range m.GetEpisodes() {
			if !finite(e.GetAdvantage()) || !finite(e.GetReward()) {
				return fmt.Errorf("episodes[%d]: advantage %v and reward %v must be finite numbers", i, e.GetAdvantage(), e.GetReward())
			}
			if j, ok := badLogprob(e.GetRefLogprobs()); !ok {
				return fmt.Errorf("episodes[%d].ref_logprobs[%d] is %v: log-probs are finite and <= 0", i, j, e.GetRefLogprobs()[j])
			}
			for j, d := range e.GetDecisions() {
				if k, ok := badLogprob(d.GetLogprobs()); !ok {
					return fmt.Errorf("episodes[%d].decisions[%d].logprobs[%d] is %v: log-probs are finite and <= 0", i, j, k, d.GetLogprobs()[k])
				}
				if len(d.GetLogprobs()) != len(d.GetTokenIds()) && len(d.GetTokenIds()) > 0 {
					return status.Errorf(codes.InvalidArgument, "episodes[%d].decisions[%d]: %d logprobs for %d token_ids", i, j, len(d.GetLogprobs()), len(d.GetTokenIds()))
				}
				if len(d.GetMask()) != 0 && len(d.GetMask()) != len(d.GetLogprobs()) {
					return status.Errorf(codes.InvalidArgument, "episodes[%d].decisions[%d]: mask has %d entries for %d logprobs", i, j, len(d.GetMask()), len(d.GetLogprobs()))
				}
			}
		}
		return nil
	})
	server.Add(v, func(m *pb.SaveCheckpointRequest) error { return requirePath(m.GetPath()) })
	server.Add(v, func(m *pb.LoadCheckpointRequest) error { return requirePath(m.GetPath()) })
}

func checkAct(m *pb.ActRequest) error {
	if m == nil || m.GetObservation() == nil {
		return errors.New("act.observation is required")
	}
	// Zero (or unset) takes the policy's default; anything else must be a
	// value a sampler can use.
	s := m.GetSampling()
	switch {
	case !(s.GetTemperature() >= 0) || math.IsInf(s.GetTemperature(), 0):
		return fmt.Errorf("act.sampling.temperature must be a finite number >= 0, got %v", s.GetTemperature())
	case !(s.GetTopP() >= 0 && s.GetTopP() <= 1):
		return fmt.Errorf("act.sampling.top_p must be in [0, 1], got %v", s.GetTopP())
	case s.GetTopK() < 0:
		return fmt.Errorf("act.sampling.top_k must be >= 0, got %d", s.GetTopK())
	case s.GetMaxNewTokens() < 0:
		return fmt.Errorf("act.sampling.max_new_tokens must be >= 0, got %d", s.GetMaxNewTokens())
	}
	return nil
}

func checkLoss(l *pb.LossConfig) error {
	if l == nil {
		return nil
	}
	for name, v := range map[string]*float64{"clip": l.Clip, "kl_coef": l.KlCoef, "entropy_coef": l.EntropyCoef,
		"learning_rate": l.LearningRate, "max_grad_norm": l.MaxGradNorm} {
		if v != nil && !finite(*v) {
			return fmt.Errorf("loss.%s must be a finite number, got %v", name, *v)
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// badLogprob returns the index of the first log-prob that is not finite
// and <= 0, and false; or 0, true when all are.
func badLogprob(lps []float64) (int, bool) {
	for i, v := range lps {
		if !(v <= 0) || math.IsInf(v, 0) {
			return i, false
		}
	}
	return 0, true
}

// Checkpoint paths name files inside CheckpointDir; what no file system
// could name is the request's fault, not the server's.
const (
	maxPathBytes    = 1024
	maxPathElemByte = 200 // leaves room for the temporary name a save writes first
)

func requirePath(p string) error {
	if strings.TrimSpace(p) == "" {
		return errors.New("path is required")
	}
	if strings.IndexByte(p, 0) >= 0 {
		return errors.New("path holds a NUL byte")
	}
	if len(p) > maxPathBytes {
		return fmt.Errorf("path is %d bytes, at most %d", len(p), maxPathBytes)
	}
	for _, elem := range strings.Split(p, "/") {
		if len(elem) > maxPathElemByte {
			return fmt.Errorf("path element %.40q... is %d bytes, at most %d", elem, len(elem), maxPathElemByte)
		}
	}
	return nil
}

func (s *Service) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	i := s.p.Info()
	return &pb.DescribeResponse{Kind: i.Kind, Version: i.Version, CanLearn: i.CanLearn, ActionFormat: i.Format, Model: i.Model, Info: i.Extra}, nil
}

func (s *Service) Act(ctx context.Context, req *pb.ActRequest) (*pb.ActResponse, error) {
	d, err := s.p.Act(ctx, req.GetObservation(), policy.FromSampling(req.GetSampling()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ActResponse{Decision: d}, nil
}

// ActStream answers each request with one decision, for a whole episode.
func (s *Service) ActStream(stream grpc.BidiStreamingServer[pb.ActStreamRequest, pb.ActStreamResponse]) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		d, err := s.p.Act(stream.Context(), req.GetAct().GetObservation(), policy.FromSampling(req.GetAct().GetSampling()))
		if err != nil {
			return toStatus(err)
		}
		if err := stream.Send(&pb.ActStreamResponse{Decision: d}); err != nil {
			return err
		}
	}
}

func (s *Service) learner() (policy.Learner, error) {
	l, ok := s.p.(policy.Learner)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "policy %q does not learn: Update and checkpoints need a learning policy (embedded, or a remote learner)", s.p.Info().Kind)
	}
	return l, nil
}

func (s *Service) Update(ctx context.Context, req *pb.UpdateRequest) (*pb.UpdateResponse, error) {
	l, err := s.learner()
	if err != nil {
		return nil, err
	}
	st, err := l.Update(ctx, req)
	if err != nil {
		return nil, updateStatus(err)
	}
	return &pb.UpdateResponse{Stats: st, PolicyVersion: l.Info().Version}, nil
}

// path resolves a checkpoint path a client names inside CheckpointDir
// (the runs directory) and inside the caller's own run: RUN/... where RUN
// is a run directory the caller's tenant owns (runstore.OwnerFile), or a
// new one that saving creates for it. Another tenant's run is NotFound,
// a run's own records (run.db, config.yaml, ...) are never a checkpoint,
// and only the anonymous tenant (an open loopback server) may name files
// directly in the runs directory, as before tenants existed.
func (s *Service) path(ctx context.Context, p string, save bool) (string, error) {
	if s.CheckpointDir == "" {
		return p, nil
	}
	full := filepath.Join(s.CheckpointDir, filepath.Clean("/"+p))
	if full == filepath.Clean(s.CheckpointDir) {
		return "", status.Errorf(codes.InvalidArgument, "path %q names the checkpoint directory itself: give a file name inside it", p)
	}
	if runstore.IsRunFile(filepath.Base(full)) {
		return "", status.Errorf(codes.PermissionDenied, "path %q names one of a run's own records, not a checkpoint: use RUN/checkpoints/NAME.ckpt", auth.Clip(p, 128))
	}
	rel, _ := filepath.Rel(s.CheckpointDir, full)
	run, rest, inRun := strings.Cut(rel, string(filepath.Separator))
	tenant := auth.Tenant(ctx)
	if !inRun || rest == "" {
		if tenant != "" {
			return "", status.Errorf(codes.InvalidArgument, "path %q: name a file inside one of your runs, RUN/checkpoints/NAME.ckpt", auth.Clip(p, 128))
		}
		return full, nil
	}
	dir := filepath.Join(s.CheckpointDir, run)
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		owner, err := runstore.ReadOwner(dir)
		if err != nil || !auth.CanAccess(ctx, owner) {
			return "", status.Errorf(codes.NotFound, "path %q: no run %q of yours under the checkpoint directory", auth.Clip(p, 128), auth.Clip(run, 128))
		}
		return full, nil
	}
	if !save {
		return full, nil // the load fails as a missing file
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", status.Errorf(codes.Internal, "save checkpoint: %v", err)
	}
	if tenant != "" {
		if err := runstore.WriteOwner(dir, tenant); err != nil {
			return "", status.Errorf(codes.Internal, "save checkpoint: %v", err)
		}
	}
	return full, nil
}

func (s *Service) SaveCheckpoint(ctx context.Context, req *pb.SaveCheckpointRequest) (*pb.SaveCheckpointResponse, error) {
	l, err := s.learner()
	if err != nil {
		return nil, err
	}
	p, err := s.path(ctx, req.GetPath(), true)
	if err != nil {
		return nil, err
	}
	if s.CheckpointDir != "" {
		// Clients name paths inside the confined directory but cannot
		// create directories on this machine: "run-1/step-10/policy.ckpt"
		// (or a confined "../../etc/x") gets its parents made here.
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, status.Errorf(codes.Internal, "save checkpoint: %v", err)
		}
	}
	sum, err := l.Save(p, req.GetStep())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "save checkpoint: %v", err)
	}
	return &pb.SaveCheckpointResponse{Path: p, Checksum: sum, PolicyVersion: l.Info().Version}, nil
}

func (s *Service) LoadCheckpoint(ctx context.Context, req *pb.LoadCheckpointRequest) (*pb.LoadCheckpointResponse, error) {
	l, err := s.learner()
	if err != nil {
		return nil, err
	}
	p, err := s.path(ctx, req.GetPath(), false)
	if err != nil {
		return nil, err
	}
	step, err := l.Load(p, req.GetChecksum())
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "load checkpoint %s: %v", req.GetPath(), err)
	}
	return &pb.LoadCheckpointResponse{PolicyVersion: l.Info().Version, Step: step}, nil
}

// updateStatus maps a learner's Update error. A learner checks the whole
// batch (and its loss config) before it changes anything, so an error that
// is not a status or a context error is the batch's fault: InvalidArgument,
// which a trainer must not retry as it would an Internal error.
func updateStatus(err error) error {
	if _, ok := status.FromError(err); ok || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, policy.ErrCannotLearn) {
		return toStatus(err)
	}
	return status.Errorf(codes.InvalidArgument, "update refused: %v", err)
}

func toStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, policy.ErrCannotLearn):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, embedded.ErrEpisodeDone):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, embedded.ErrNoLegalAction):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
