package policy_test

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
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
	policysvc "github.com/flowsteer/flowsteer/services/policy"
)

// hostilePolicyConn serves p as `flowsteer serve` does (server.New with the
// policy service's validators, checkpoints confined to dir) over bufconn.
func hostilePolicyConn(t *testing.T, p policy.Policy, dir string) *grpc.ClientConn {
	t.Helper()
	v := server.Validators{}
	policysvc.AddValidators(v)
	svc := policysvc.New(p)
	svc.CheckpointDir = dir
	return servertest.Bufconn(t, server.Options{Logger: servertest.Discard(), Validators: v}, func(s *server.Server) {
		policysvc.Register(s, svc)
	})
}

func pf(v float64) *float64 { return &v }
func pi(v int32) *int32     { return &v }

// hostileObservation is a first observation as a canvas sends it.
func hostileObservation() *pb.Observation {
	return &pb.Observation{EpisodeId: "ep_h", Task: mathTask("h"), Turn: 0, MaxRounds: 20, RoundsLeft: 20,
		State: pb.EpisodeState_EPISODE_STATE_BUILDING, Workflow: &pb.Workflow{Stats: &pb.WorkflowStats{}}}
}

// TestHostilePolicyRequests: every hostile request to the Policy service
// is refused with a precise code (ResourceExhausted for the transport's
// size limit, InvalidArgument for a bad request, FailedPrecondition for a
// checkpoint that cannot be loaded), never Unknown or Internal; the policy
// is unchanged by refused updates and keeps serving.
func TestHostilePolicyRequests(t *testing.T) {
	p := newEmbedded(t)
	conn := hostilePolicyConn(t, p, t.TempDir())
	c := pb.NewPolicyServiceClient(conn)
	good := collectBatch(t, p, 1)
	act := func(o *pb.Observation, s *pb.SamplingParams) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.Act(ctx, &pb.ActRequest{Observation: o, Sampling: s})
			return err
		}
	}
	obs := func(edit func(o *pb.Observation)) *pb.Observation {
		o := hostileObservation()
		edit(o)
		return o
	}
	update := func(edit func(r *pb.UpdateRequest)) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			r := proto.Clone(good).(*pb.UpdateRequest)
			edit(r)
			_, err := c.Update(ctx, r)
			return err
		}
	}
	decisions := func(r *pb.UpdateRequest) []*pb.Decision { return r.GetEpisodes()[0].GetDecisions() }
	firstWithTokens := func(r *pb.UpdateRequest) *pb.Decision {
		for _, d := range decisions(r) {
			if len(d.GetTokenIds()) > 0 {
				return d
			}
		}
		t.Fatal("the collected episode has no decision with choices")
		return nil
	}
	stream := func(msgs ...any) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			st, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/flowsteer.v1.PolicyService/ActStream", grpc.ForceCodecV2(servertest.RawCodec{}))
			if err != nil {
				return err
			}
			for _, m := range msgs {
				if err := st.SendMsg(m); err != nil {
					break
				}
			}
			_ = st.CloseSend()
			for {
				if err := st.RecvMsg(&pb.ActStreamResponse{}); err != nil {
					if errors.Is(err, io.EOF) {
						return nil
					}
					return err
				}
			}
		}
	}
	cases := []struct {
		name string
		call func(ctx context.Context) error
		want codes.Code
	}{
		{"17 MiB observation", act(obs(func(o *pb.Observation) { o.Feedback = strings.Repeat("f", 17<<20) }), nil), codes.ResourceExhausted},
		{"17 MiB update", update(func(r *pb.UpdateRequest) { r.Episodes[0].EpisodeId = strings.Repeat("e", 17<<20) }), codes.ResourceExhausted},
		{"invalid UTF-8 feedback (unary)", func(ctx context.Context) error {
			return conn.Invoke(ctx, "/flowsteer.v1.PolicyService/Act", servertest.WithInvalidUTF8(t, &pb.ActRequest{Observation: hostileObservation()}, "observation", "feedback"),
				&pb.ActResponse{}, grpc.ForceCodecV2(servertest.RawCodec{}))
		}, codes.InvalidArgument},
		{"invalid UTF-8 checkpoint path", func(ctx context.Context) error {
			return conn.Invoke(ctx, "/flowsteer.v1.PolicyService/SaveCheckpoint", servertest.WithInvalidUTF8(t, &pb.SaveCheckpointRequest{Path: "x.ckpt"}, "path"),
				&pb.SaveCheckpointResponse{}, grpc.ForceCodecV2(servertest.RawCodec{}))
		}, codes.InvalidArgument},
		{"invalid UTF-8 task question (stream)", stream(servertest.WithInvalidUTF8(t, &pb.ActStreamRequest{Act: &pb.ActRequest{Observation: hostileObservation()}}, "act", "observation", "task", "question")), codes.InvalidArgument},
		{"undecodable bytes (stream)", stream(servertest.RawMsg{0x0a, 0x05, 0x0a}), codes.InvalidArgument},
		// Sampling parameters out of range.
		{"temperature NaN", act(hostileObservation(), &pb.SamplingParams{Temperature: pf(math.NaN())}), codes.InvalidArgument},
		{"temperature -1", act(hostileObservation(), &pb.SamplingParams{Temperature: pf(-1)}), codes.InvalidArgument},
		{"temperature +Inf", act(hostileObservation(), &pb.SamplingParams{Temperature: pf(math.Inf(1))}), codes.InvalidArgument},
		{"top_p 2", act(hostileObservation(), &pb.SamplingParams{TopP: pf(2)}), codes.InvalidArgument},
		{"top_p NaN", act(hostileObservation(), &pb.SamplingParams{TopP: pf(math.NaN())}), codes.InvalidArgument},
		{"top_k -1", act(hostileObservation(), &pb.SamplingParams{TopK: pi(-1)}), codes.InvalidArgument},
		{"max_new_tokens -5", act(hostileObservation(), &pb.SamplingParams{MaxNewTokens: pi(-5)}), codes.InvalidArgument},
		{"temperature NaN (stream)", stream(&pb.ActStreamRequest{Act: &pb.ActRequest{Observation: hostileObservation(), Sampling: &pb.SamplingParams{Temperature: pf(math.NaN())}}}), codes.InvalidArgument},
		// Missing fields.
		{"act without observation", act(nil, nil), codes.InvalidArgument},
		{"act stream without act", stream(&pb.ActStreamRequest{}), codes.InvalidArgument},
		{"update without episodes", func(ctx context.Context) error { _, err := c.Update(ctx, &pb.UpdateRequest{}); return err }, codes.InvalidArgument},
		{"save without path", func(ctx context.Context) error {
			_, err := c.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{})
			return err
		}, codes.InvalidArgument},
		{"load without path", func(ctx context.Context) error {
			_, err := c.LoadCheckpoint(ctx, &pb.LoadCheckpointRequest{})
			return err
		}, codes.InvalidArgument},
		// Paths no file system takes.
		{"save with a NUL in the path", func(ctx context.Context) error {
			_, err := c.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{Path: "a\x00b.ckpt"})
			return err
		}, codes.InvalidArgument},
		{"save with a 10,000-byte path", func(ctx context.Context) error {
			_, err := c.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{Path: strings.Repeat("d/", 5000) + "x.ckpt"})
			return err
		}, codes.InvalidArgument},
		{"save with a 1,000-byte file name", func(ctx context.Context) error {
			_, err := c.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{Path: strings.Repeat("x", 1000)})
			return err
		}, codes.InvalidArgument},
		{"load with a NUL in the path", func(ctx context.Context) error {
			_, err := c.LoadCheckpoint(ctx, &pb.LoadCheckpointRequest{Path: "a\x00b.ckpt"})
			return err
		}, codes.InvalidArgument},
		// Updates no learner can take: NaN and infinities, wild indices,
		// unknown enums, negative steps.
		{"advantage NaN", update(func(r *pb.UpdateRequest) { r.Episodes[0].Advantage = math.NaN() }), codes.InvalidArgument},
		{"advantage +Inf", update(func(r *pb.UpdateRequest) { r.Episodes[0].Advantage = math.Inf(1) }), codes.InvalidArgument},
		{"reward NaN", update(func(r *pb.UpdateRequest) { r.Episodes[0].Reward = math.NaN() }), codes.InvalidArgument},
		{"logprob NaN", update(func(r *pb.UpdateRequest) { firstWithTokens(r).Logprobs[0] = math.NaN() }), codes.InvalidArgument},
		{"logprob -Inf", update(func(r *pb.UpdateRequest) { firstWithTokens(r).Logprobs[0] = math.Inf(-1) }), codes.InvalidArgument},
		{"token id -1", update(func(r *pb.UpdateRequest) { firstWithTokens(r).TokenIds[0] = -1 }), codes.InvalidArgument},
		{"token id 2^31-1", update(func(r *pb.UpdateRequest) { firstWithTokens(r).TokenIds[0] = math.MaxInt32 }), codes.InvalidArgument},
		{"ref logprobs NaN", update(func(r *pb.UpdateRequest) {
			n := 0
			for _, d := range decisions(r) {
				n += len(d.GetTokenIds())
			}
			r.Episodes[0].RefLogprobs = make([]float64, n)
			r.Episodes[0].RefLogprobs[0] = math.NaN()
		}), codes.InvalidArgument},
		{"ref logprobs of the wrong length", update(func(r *pb.UpdateRequest) { r.Episodes[0].RefLogprobs = []float64{-1} }), codes.InvalidArgument},
		{"loss kind 999", update(func(r *pb.UpdateRequest) { r.Loss = &pb.LossConfig{Kind: 999} }), codes.InvalidArgument},
		{"loss clip NaN", update(func(r *pb.UpdateRequest) { r.Loss = &pb.LossConfig{Clip: pf(math.NaN())} }), codes.InvalidArgument},
		{"loss learning rate -1", update(func(r *pb.UpdateRequest) { r.Loss = &pb.LossConfig{LearningRate: pf(-1)} }), codes.InvalidArgument},
		{"loss learning rate +Inf", update(func(r *pb.UpdateRequest) { r.Loss = &pb.LossConfig{LearningRate: pf(math.Inf(1))} }), codes.InvalidArgument},
		{"loss max grad norm NaN", update(func(r *pb.UpdateRequest) { r.Loss = &pb.LossConfig{MaxGradNorm: pf(math.NaN())} }), codes.InvalidArgument},
		{"step -1", update(func(r *pb.UpdateRequest) { r.Step = -1 }), codes.InvalidArgument},
		{"10,000 episodes without decisions", update(func(r *pb.UpdateRequest) {
			r.Episodes = nil
			for range 10_000 {
				r.Episodes = append(r.Episodes, &pb.EpisodeSamples{EpisodeId: "e", Advantage: 1})
			}
		}), codes.OK}, // nothing to learn from: answered, the policy unchanged
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			version := p.Info().Version
			err := tc.call(ctx)
			if got := status.Code(err); got != tc.want {
				t.Errorf("code %v (%.300v), want %v", got, err, tc.want)
			}
			if p.Info().Version != version {
				t.Fatalf("a refused request changed the policy (version %s -> %s)", version, p.Info().Version)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Update(ctx, good); err != nil {
		t.Fatalf("a good update after the hostile ones: %v", err)
	}
}

// TestHostileObservationsGetDecisions: observations no canvas sends
// (unknown enums, 10,000 stages, 10,000 history entries, a workflow nested
// as deep as the wire allows) still get a decision or a precise refusal
// from every kind of policy, never a crash.
func TestHostileObservationsGetDecisions(t *testing.T) {
	stages := func(n int) *pb.Workflow {
		w := &pb.Workflow{Stats: &pb.WorkflowStats{TotalOperators: int32(n)}}
		for i := range n {
			id := "node_" + strings.Repeat("9", 1+i%5)
			w.Stages = append(w.Stages, &pb.Stage{Id: id, Kind: pb.StageKind_STAGE_KIND_OPERATOR, Operator: &pb.WorkflowNode{Id: id, Operator: "Custom"}})
		}
		return w
	}
	edits := []struct {
		name string
		edit func(o *pb.Observation)
	}{
		{"state 999", func(o *pb.Observation) { o.State = 999 }},
		{"task family 999", func(o *pb.Observation) { o.Task.Family = 999 }},
		{"no task", func(o *pb.Observation) { o.Task = nil }},
		{"no workflow", func(o *pb.Observation) { o.Workflow = nil }},
		{"negative turns and rounds", func(o *pb.Observation) { o.Turn, o.MaxRounds, o.RoundsLeft = -5, math.MinInt32, -1 }},
		{"10,000 stages", func(o *pb.Observation) { o.Workflow = stages(10_000) }},
		{"10,000 history entries", func(o *pb.Observation) {
			for i := range 10_000 {
				o.History = append(o.History, &pb.HistoryEntry{Turn: int32(i), Action: "add Custom", Valid: i%2 == 0})
			}
		}},
		{"10,000 operators listed", func(o *pb.Observation) {
			for range 10_000 {
				o.Operators = append(o.Operators, &pb.OperatorInfo{Name: "Custom"})
			}
		}},
		{"awaiting a prompt for no node", func(o *pb.Observation) {
			o.State = pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT
			o.Awaiting = &pb.AwaitingPrompt{NodeId: "node_404", Operator: "NoSuchOperator", Remaining: -3}
		}},
	}
	for _, pc := range policyCases {
		t.Run(pc.name, func(t *testing.T) {
			c := pb.NewPolicyServiceClient(hostilePolicyConn(t, pc.make(t), ""))
			for _, e := range edits {
				t.Run(e.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()
					o := hostileObservation()
					e.edit(o)
					r, err := c.Act(ctx, &pb.ActRequest{Observation: o})
					switch status.Code(err) {
					case codes.OK:
						if r.GetDecision().GetAction() == nil {
							t.Errorf("a decision without an action: %v", r.GetDecision())
						}
					case codes.InvalidArgument, codes.FailedPrecondition:
					default:
						t.Errorf("code %v (%v), want a decision or InvalidArgument", status.Code(err), err)
					}
				})
			}
		})
	}
}
