package policy_test

import (
	"context"
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
	"github.com/flowsteer/flowsteer/internal/server/servertest"
)

// hostilePolicyConn serves p as `flowsteer serve` does (the policy
// service's validators, checkpoints confined to dir) over bufconn.
func hostilePolicyConn(t *testing.T, p policy.Policy, dir string) *grpc.ClientConn {
	t.Helper()
	return start(t, p, dir).conn
}

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
			return servertest.StreamErr(ctx, conn, "/flowsteer.v1.PolicyService/ActStream", &pb.ActStreamResponse{}, msgs...)
		}
	}
	cases := []servertest.Refusal{
		{Name: "17 MiB observation", Call: act(obs(func(o *pb.Observation) { o.Feedback = strings.Repeat("f", 17<<20) }), nil), Want: codes.ResourceExhausted},
		{Name: "17 MiB update", Call: update(func(r *pb.UpdateRequest) { r.Episodes[0].EpisodeId = strings.Repeat("e", 17<<20) }), Want: codes.ResourceExhausted},
		{Name: "invalid UTF-8 feedback (unary)", Call: func(ctx context.Context) error {
			return conn.Invoke(ctx, "/flowsteer.v1.PolicyService/Act", servertest.WithInvalidUTF8(t, &pb.ActRequest{Observation: hostileObservation()}, "observation", "feedback"),
				&pb.ActResponse{}, grpc.ForceCodecV2(servertest.RawCodec{}))
		}, Want: codes.InvalidArgument},
		{Name: "invalid UTF-8 checkpoint path", Call: func(ctx context.Context) error {
			return conn.Invoke(ctx, "/flowsteer.v1.PolicyService/SaveCheckpoint", servertest.WithInvalidUTF8(t, &pb.SaveCheckpointRequest{Path: "x.ckpt"}, "path"),
				&pb.SaveCheckpointResponse{}, grpc.ForceCodecV2(servertest.RawCodec{}))
		}, Want: codes.InvalidArgument},
		{Name: "invalid UTF-8 task question (stream)", Call: stream(servertest.WithInvalidUTF8(t, &pb.ActStreamRequest{Act: &pb.ActRequest{Observation: hostileObservation()}}, "act", "observation", "task", "question")), Want: codes.InvalidArgument},
		{Name: "undecodable bytes (stream)", Call: stream(servertest.RawMsg{0x0a, 0x05, 0x0a}), Want: codes.InvalidArgument},
		// Sampling parameters out of range.
		{Name: "temperature NaN", Call: act(hostileObservation(), &pb.SamplingParams{Temperature: proto.Float64(math.NaN())}), Want: codes.InvalidArgument},
		{Name: "temperature -1", Call: act(hostileObservation(), &pb.SamplingParams{Temperature: proto.Float64(-1)}), Want: codes.InvalidArgument},
		{Name: "temperature +Inf", Call: act(hostileObservation(), &pb.SamplingParams{Temperature: proto.Float64(math.Inf(1))}), Want: codes.InvalidArgument},
		{Name: "top_p 2", Call: act(hostileObservation(), &pb.SamplingParams{TopP: proto.Float64(2)}), Want: codes.InvalidArgument},
		{Name: "top_p NaN", Call: act(hostileObservation(), &pb.SamplingParams{TopP: proto.Float64(math.NaN())}), Want: codes.InvalidArgument},
		{Name: "top_k -1", Call: act(hostileObservation(), &pb.SamplingParams{TopK: proto.Int32(-1)}), Want: codes.InvalidArgument},
		{Name: "max_new_tokens -5", Call: act(hostileObservation(), &pb.SamplingParams{MaxNewTokens: proto.Int32(-5)}), Want: codes.InvalidArgument},
		{Name: "temperature NaN (stream)", Call: stream(&pb.ActStreamRequest{Act: &pb.ActRequest{Observation: hostileObservation(), Sampling: &pb.SamplingParams{Temperature: proto.Float64(math.NaN())}}}), Want: codes.InvalidArgument},
		// Missing fields.
		{Name: "act without observation", Call: act(nil, nil), Want: codes.InvalidArgument},
		{Name: "act stream without act", Call: stream(&pb.ActStreamRequest{}), Want: codes.InvalidArgument},
		{Name: "update without episodes", Call: func(ctx context.Context) error { _, err := c.Update(ctx, &pb.UpdateRequest{}); return err }, Want: codes.InvalidArgument},
		{Name: "save without path", Call: func(ctx context.Context) error {
			_, err := c.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{})
			return err
		}, Want: codes.InvalidArgument},
		{Name: "load without path", Call: func(ctx context.Context) error {
			_, err := c.LoadCheckpoint(ctx, &pb.LoadCheckpointRequest{})
			return err
		}, Want: codes.InvalidArgument},
		// Paths no file system takes.
		{Name: "save with a NUL in the path", Call: func(ctx context.Context) error {
			_, err := c.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{Path: "a\x00b.ckpt"})
			return err
		}, Want: codes.InvalidArgument},
		{Name: "save with a 10,000-byte path", Call: func(ctx context.Context) error {
			_, err := c.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{Path: strings.Repeat("d/", 5000) + "x.ckpt"})
			return err
		}, Want: codes.InvalidArgument},
		{Name: "save with a 1,000-byte file name", Call: func(ctx context.Context) error {
			_, err := c.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{Path: strings.Repeat("x", 1000)})
			return err
		}, Want: codes.InvalidArgument},
		{Name: "load with a NUL in the path", Call: func(ctx context.Context) error {
			_, err := c.LoadCheckpoint(ctx, &pb.LoadCheckpointRequest{Path: "a\x00b.ckpt"})
			return err
		}, Want: codes.InvalidArgument},
		// Updates no learner can take: NaN and infinities, wild indices,
		// unknown enums, negative steps.
		{Name: "advantage NaN", Call: update(func(r *pb.UpdateRequest) { r.Episodes[0].Advantage = math.NaN() }), Want: codes.InvalidArgument},
		{Name: "advantage +Inf", Call: update(func(r *pb.UpdateRequest) { r.Episodes[0].Advantage = math.Inf(1) }), Want: codes.InvalidArgument},
		{Name: "reward NaN", Call: update(func(r *pb.UpdateRequest) { r.Episodes[0].Reward = math.NaN() }), Want: codes.InvalidArgument},
		{Name: "logprob NaN", Call: update(func(r *pb.UpdateRequest) { firstWithTokens(r).Logprobs[0] = math.NaN() }), Want: codes.InvalidArgument},
		{Name: "logprob -Inf", Call: update(func(r *pb.UpdateRequest) { firstWithTokens(r).Logprobs[0] = math.Inf(-1) }), Want: codes.InvalidArgument},
		{Name: "token id -1", Call: update(func(r *pb.UpdateRequest) { firstWithTokens(r).TokenIds[0] = -1 }), Want: codes.InvalidArgument},
		{Name: "token id 2^31-1", Call: update(func(r *pb.UpdateRequest) { firstWithTokens(r).TokenIds[0] = math.MaxInt32 }), Want: codes.InvalidArgument},
		{Name: "ref logprobs NaN", Call: update(func(r *pb.UpdateRequest) {
			n := 0
			for _, d := range decisions(r) {
				n += len(d.GetTokenIds())
			}
			r.Episodes[0].RefLogprobs = make([]float64, n)
			r.Episodes[0].RefLogprobs[0] = math.NaN()
		}), Want: codes.InvalidArgument},
		{Name: "ref logprobs of the wrong length", Call: update(func(r *pb.UpdateRequest) { r.Episodes[0].RefLogprobs = []float64{-1} }), Want: codes.InvalidArgument},
		{Name: "loss kind 999", Call: update(func(r *pb.UpdateRequest) { r.Loss = &pb.LossConfig{Kind: 999} }), Want: codes.InvalidArgument},
		{Name: "loss clip NaN", Call: update(func(r *pb.UpdateRequest) { r.Loss = &pb.LossConfig{Clip: proto.Float64(math.NaN())} }), Want: codes.InvalidArgument},
		{Name: "loss learning rate -1", Call: update(func(r *pb.UpdateRequest) { r.Loss = &pb.LossConfig{LearningRate: proto.Float64(-1)} }), Want: codes.InvalidArgument},
		{Name: "loss learning rate +Inf", Call: update(func(r *pb.UpdateRequest) { r.Loss = &pb.LossConfig{LearningRate: proto.Float64(math.Inf(1))} }), Want: codes.InvalidArgument},
		{Name: "loss max grad norm NaN", Call: update(func(r *pb.UpdateRequest) { r.Loss = &pb.LossConfig{MaxGradNorm: proto.Float64(math.NaN())} }), Want: codes.InvalidArgument},
		{Name: "step -1", Call: update(func(r *pb.UpdateRequest) { r.Step = -1 }), Want: codes.InvalidArgument},
		{Name: "10,000 episodes without decisions", Call: update(func(r *pb.UpdateRequest) {
			r.Episodes = nil
			for range 10_000 {
				r.Episodes = append(r.Episodes, &pb.EpisodeSamples{EpisodeId: "e", Advantage: 1})
			}
		}), Want: codes.OK}, // nothing to learn from: answered, the policy unchanged
	}
	version := p.Info().Version
	servertest.CheckRefusals(t, cases, func(t *testing.T) {
		if p.Info().Version != version {
			t.Fatalf("a refused request changed the policy (version %s -> %s)", version, p.Info().Version)
		}
	})
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
