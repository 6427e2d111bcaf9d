// Package remote is a policy served by any PolicyService (another process,
// another language): the trainer's and the CLI's policy kind "remote".
// Each episode gets its own ActStream session (Session), so a balanced
// connection keeps one episode on one replica.
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/rollout"
)

// Policy is a policy served by any PolicyService (another process,
// another language). It implements policy.Learner; Update and checkpoints
// fail with Unimplemented when the remote policy does not learn.
type Policy struct {
	client pb.PolicyServiceClient
	// mu guards info: the episodes of a group read it while a trainer's
	// Update or Load changes its version.
	mu   sync.Mutex
	info policy.Info
}

// New describes the policy at conn.
func New(ctx context.Context, conn grpc.ClientConnInterface) (*Policy, error) {
	return NewClient(ctx, pb.NewPolicyServiceClient(conn))
}

// NewClient describes the policy behind c.
func NewClient(ctx context.Context, c pb.PolicyServiceClient) (*Policy, error) {
	d, err := c.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return nil, fmt.Errorf("remote policy: describe: %w", err)
	}
	return &Policy{client: c, info: policy.Info{
		Kind: "remote:" + d.GetKind(), Version: d.GetVersion(), CanLearn: d.GetCanLearn(), Format: d.GetActionFormat(), Model: d.GetModel(), Extra: d.GetInfo(),
	}}, nil
}

// NewActor opens the session of one episode (rollout.ActorFor).
func (r *Policy) NewActor(ctx context.Context) (rollout.Actor, error) {
	s, err := r.Session(ctx)
	if err != nil {
		return nil, err // not a nil *Session in a non-nil interface
	}
	return s, nil
}

func (r *Policy) Info() policy.Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.info
}

func (r *Policy) setVersion(v string) {
	if v == "" {
		return
	}
	r.mu.Lock()
	r.info.Version = v
	r.mu.Unlock()
}

// Act makes one unary call.
func (r *Policy) Act(ctx context.Context, obs *pb.Observation, s policy.Sampling) (*pb.Decision, error) {
	resp, err := r.client.Act(ctx, &pb.ActRequest{Observation: obs, Sampling: policy.ToSampling(s)})
	return resp.GetDecision(), err
}

// Update sends a training batch to the remote learner.
func (r *Policy) Update(ctx context.Context, req *pb.UpdateRequest) (*pb.LossStats, error) {
	resp, err := r.client.Update(ctx, req)
	if err != nil {
		return nil, err
	}
	r.setVersion(resp.GetPolicyVersion())
	return resp.GetStats(), nil
}

// Save asks the remote policy to write a checkpoint at path (on its machine).
func (r *Policy) Save(path string, step int64) (string, error) {
	resp, err := r.client.SaveCheckpoint(context.Background(), &pb.SaveCheckpointRequest{Path: path, Step: step})
	return resp.GetChecksum(), err
}

// Load asks the remote policy to restore a checkpoint.
func (r *Policy) Load(path, checksum string) (int64, error) {
	resp, err := r.client.LoadCheckpoint(context.Background(), &pb.LoadCheckpointRequest{Path: path, Checksum: checksum})
	if err != nil {
		return 0, err
	}
	r.setVersion(resp.GetPolicyVersion()) // the loaded weights are another version
	return resp.GetStep(), nil
}

// Session opens an ActStream for one episode.
func (r *Policy) Session(ctx context.Context) (*Session, error) {
	sctx, cancel := context.WithCancel(ctx)
	st, err := r.client.ActStream(sctx)
	if err != nil {
		cancel()
		return nil, err
	}
	return &Session{stream: st, cancel: cancel}, nil
}

// Session is one episode's ActStream: one decision per observation.
type Session struct {
	mu     sync.Mutex
	stream grpc.BidiStreamingClient[pb.ActStreamRequest, pb.ActStreamResponse]
	cancel context.CancelFunc
	closed bool
}

// Act sends one observation and waits for its decision.
func (s *Session) Act(ctx context.Context, obs *pb.Observation, sp policy.Sampling) (*pb.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("flowsteer: act on a closed policy session")
	}
	stop := context.AfterFunc(ctx, s.cancel)
	defer stop()
	if err := s.stream.Send(&pb.ActStreamRequest{Act: &pb.ActRequest{Observation: obs, Sampling: policy.ToSampling(sp)}}); err != nil {
		if err == io.EOF {
			_, err = s.stream.Recv()
		}
		return nil, err
	}
	resp, err := s.stream.Recv()
	if err != nil {
		return nil, err
	}
	return resp.GetDecision(), nil
}

// Close ends the stream.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	defer s.cancel()
	if err := s.stream.CloseSend(); err != nil {
		return err
	}
	for {
		if _, err := s.stream.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}
