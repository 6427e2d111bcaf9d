package policy_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/policy/embedded"
	"github.com/flowsteer/flowsteer/internal/policy/remote"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
	policysvc "github.com/flowsteer/flowsteer/services/policy"
)

// harness serves one policy (and a canvas to play against) over bufconn,
// with the validators `flowsteer serve` installs.
type harness struct {
	conn   *grpc.ClientConn
	client pb.PolicyServiceClient
	canvas *flowsteer.Client
	svc    *policysvc.Service
}

func start(t *testing.T, p policy.Policy, checkpointDir string) *harness {
	t.Helper()
	v := server.Validators{}
	policysvc.AddValidators(v)
	canvassvc.AddValidators(v)
	svc := policysvc.New(p)
	svc.CheckpointDir = checkpointDir
	conn := servertest.Bufconn(t, server.Options{Logger: servertest.Discard(), Validators: v}, func(s *server.Server) {
		policysvc.Register(s, svc)
		canvassvc.Register(s, canvassvc.New(canvas.New()))
	})
	return &harness{conn: conn, client: pb.NewPolicyServiceClient(conn), canvas: flowsteer.New(conn), svc: svc}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newEmbedded(t *testing.T) *embedded.Policy {
	t.Helper()
	p, err := embedded.New(embedded.Config{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newFixed(t *testing.T, dsl string) *policy.Fixed {
	t.Helper()
	p, err := policy.NewFixed(dsl)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mathTask(id string) *pb.Task {
	return &pb.Task{Id: id, Family: pb.TaskFamily_TASK_FAMILY_MATH, Question: "A shop sells 12 apples for 3 dollars. How much do 20 apples cost?", Answers: []string{"5"}}
}

// firstObservation opens an episode on the real canvas and returns its
// first observation, as a client would send it to Act.
func firstObservation(t *testing.T, h *harness) *pb.Observation {
	t.Helper()
	ep, err := h.canvas.Open(testCtx(t), mathTask("first"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	return ep.First()
}

// canvasOpener adapts the Go client to rollout.Canvas.
type canvasOpener struct{ c *flowsteer.Client }

func (o canvasOpener) Open(ctx context.Context, t *pb.Task, cfg *pb.EpisodeConfig) (rollout.Episode, error) {
	return o.c.Open(ctx, t, cfg)
}

type policyCase struct {
	name   string
	make   func(t *testing.T) policy.Policy
	kind   string
	learns bool
}

var policyCases = []policyCase{
	{"random", func(*testing.T) policy.Policy { return policy.NewRandom(3) }, "random", false},
	{"fixed", func(t *testing.T) policy.Policy { return newFixed(t, "full") }, "fixed", false},
	{"embedded", func(t *testing.T) policy.Policy { return newEmbedded(t) }, "embedded", true},
}

func TestDescribeReportsKindVersionAndLearning(t *testing.T) {
	for _, tc := range policyCases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.make(t)
			h := start(t, p, "")
			d, err := h.client.Describe(testCtx(t), &pb.DescribeRequest{})
			if err != nil {
				t.Fatal(err)
			}
			i := p.Info()
			if d.GetKind() != tc.kind || d.GetCanLearn() != tc.learns || d.GetVersion() != i.Version || d.GetVersion() == "" {
				t.Fatalf("describe %v; want kind %q, can_learn %v, version %q", d, tc.kind, tc.learns, i.Version)
			}
			if d.GetActionFormat() != pb.ActionFormat_ACTION_FORMAT_STRUCTURED {
				t.Fatalf("action format %s", d.GetActionFormat())
			}
			switch tc.kind {
			case "fixed":
				if !strings.HasPrefix(d.GetVersion(), "fixed:Plan -> ") || d.GetInfo()["dsl"] == "" {
					t.Fatalf("fixed describe %v: the version and info must carry the DSL", d)
				}
			case "embedded":
				if !strings.HasPrefix(d.GetVersion(), "embedded-v1@") || d.GetModel() == "" {
					t.Fatalf("embedded describe %v", d)
				}
			}
			// The client sees the same through RemotePolicy.
			rp, err := remote.New(testCtx(t), h.conn)
			if err != nil {
				t.Fatal(err)
			}
			if ri := rp.Info(); ri.Kind != "remote:"+tc.kind || ri.Version != i.Version || ri.CanLearn != tc.learns {
				t.Fatalf("remote info %+v", ri)
			}
		})
	}
}

func TestActAndActStreamReturnDecisions(t *testing.T) {
	for _, tc := range policyCases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.make(t), "")
			ctx := testCtx(t)
			obs := firstObservation(t, h)
			seed := int64(9)
			r, err := h.client.Act(ctx, &pb.ActRequest{Observation: obs, Sampling: &pb.SamplingParams{Seed: &seed}})
			if err != nil {
				t.Fatal(err)
			}
			if r.GetDecision().GetAction().GetStructured() == nil || r.GetDecision().GetPolicyVersion() == "" {
				t.Fatalf("act: decision %v", r.GetDecision())
			}
			awaiting := &pb.Observation{
				EpisodeId: obs.GetEpisodeId(), Task: obs.GetTask(), Turn: 1, MaxRounds: 20, Workflow: obs.GetWorkflow(),
				State:    pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT,
				Awaiting: &pb.AwaitingPrompt{NodeId: "node_1", Operator: "Programmer"},
			}
			st, err := h.client.ActStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range []*pb.Observation{obs, awaiting, obs} {
				if err := st.Send(&pb.ActStreamRequest{Act: &pb.ActRequest{Observation: o}}); err != nil {
					t.Fatal(err)
				}
				resp, err := st.Recv()
				if err != nil {
					t.Fatalf("recv %d: %v", i, err)
				}
				if resp.GetDecision().GetAction() == nil {
					t.Fatalf("stream decision %d without an action: %v", i, resp)
				}
				if o == awaiting {
					s := resp.GetDecision().GetAction().GetStructured()
					if s.GetKind() != pb.ActionKind_ACTION_KIND_SET_PROMPT || s.GetTarget() != "node_1" || len(s.GetPrompt()) < 5 {
						t.Fatalf("awaiting a prompt, got %v", resp.GetDecision())
					}
				}
			}
			if err := st.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Recv(); err != io.EOF {
				t.Fatalf("after CloseSend: %v, want EOF", err)
			}
		})
	}
}

func TestActStreamServesAWholeEpisodeThroughRolloutPlay(t *testing.T) {
	for _, tc := range policyCases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.make(t), "")
			ctx := testCtx(t)
			rp, err := remote.New(ctx, h.conn)
			if err != nil {
				t.Fatal(err)
			}
			for ep := range 2 {
				sess, err := rp.Session(ctx)
				if err != nil {
					t.Fatal(err)
				}
				seed := int64(ep)
				rec, err := rollout.Play(ctx, canvasOpener{h.canvas}, sess, mathTask(fmt.Sprintf("play-%d", ep)), nil, policy.Sampling{Seed: &seed})
				if err != nil {
					t.Fatalf("episode %d: %v", ep, err)
				}
				f := rec.Final
				if !f.GetDone() || (f.GetEndReason() != pb.EndReason_END_REASON_FINISHED && f.GetEndReason() != pb.EndReason_END_REASON_MAX_ROUNDS) {
					t.Fatalf("episode %d ended %s (done=%v)", ep, f.GetEndReason(), f.GetDone())
				}
				if len(rec.Decisions) != int(f.GetTurn()) || f.GetTurn() == 0 {
					t.Fatalf("episode %d: %d decisions for %d turns", ep, len(rec.Decisions), f.GetTurn())
				}
				if tc.kind == "fixed" && (f.GetEndReason() != pb.EndReason_END_REASON_FINISHED || !strings.HasPrefix(f.GetWorkflow().GetDsl(), "Plan -> [Programmer")) {
					t.Fatalf("fixed:full ended %s with %q", f.GetEndReason(), f.GetWorkflow().GetDsl())
				}
				// Play closed the session: acting on it again is refused, not a hang.
				if _, err := sess.Act(ctx, f, policy.Sampling{}); err == nil {
					t.Fatal("act on a closed session succeeded")
				}
				t.Logf("episode %d: %d turns, %s: %s", ep, f.GetTurn(), f.GetEndReason(), f.GetWorkflow().GetDsl())
			}
		})
	}
}

func TestUpdateOnANonLearningPolicyIsUnimplemented(t *testing.T) {
	for _, tc := range policyCases[:2] {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.make(t), t.TempDir())
			ctx := testCtx(t)
			batch := &pb.UpdateRequest{Episodes: []*pb.EpisodeSamples{{EpisodeId: "e", Advantage: 1, Decisions: []*pb.Decision{{TokenIds: []int32{1}, Logprobs: []float64{-0.5}}}}}}
			calls := map[string]func() error{
				"Update": func() error { _, err := h.client.Update(ctx, batch); return err },
				"SaveCheckpoint": func() error {
					_, err := h.client.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{Path: "p.ckpt"})
					return err
				},
				"LoadCheckpoint": func() error {
					_, err := h.client.LoadCheckpoint(ctx, &pb.LoadCheckpointRequest{Path: "p.ckpt"})
					return err
				},
			}
			for name, call := range calls {
				err := call()
				if status.Code(err) != codes.Unimplemented {
					t.Fatalf("%s: %v, want Unimplemented", name, err)
				}
				msg := status.Convert(err).Message()
				if !strings.Contains(msg, fmt.Sprintf("policy %q does not learn", tc.kind)) || !strings.Contains(msg, "learning policy") {
					t.Fatalf("%s: message %q does not say which policy cannot learn and what would", name, msg)
				}
			}
			// RemotePolicy passes the status through.
			rp, err := remote.New(ctx, h.conn)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rp.Update(ctx, batch); status.Code(err) != codes.Unimplemented {
				t.Fatalf("remote update: %v", err)
			}
		})
	}
}

// collectBatch plays episodes in process with p against a real canvas and
// returns them as a training batch with alternating advantages.
func collectBatch(t *testing.T, p policy.Policy, episodes int) *pb.UpdateRequest {
	t.Helper()
	cv := canvas.New()
	ctx := testCtx(t)
	req := &pb.UpdateRequest{Step: 1}
	for i := range episodes {
		e, o, err := cv.Create(ctx, protoconv.TaskFromPB(mathTask(fmt.Sprintf("b-%d", i))), canvas.DefaultConfig(), reward.Default())
		if err != nil {
			t.Fatal(err)
		}
		obs := protoconv.ObservationToPB(o)
		var decs []*pb.Decision
		seed := int64(i)
		for !obs.GetDone() {
			d, err := p.Act(ctx, obs, policy.Sampling{Seed: &seed})
			if err != nil {
				t.Fatal(err)
			}
			decs = append(decs, d)
			o, err = cv.Step(ctx, e.ID(), protoconv.InputFromPB(d.GetAction()))
			if err != nil {
				t.Fatal(err)
			}
			obs = protoconv.ObservationToPB(o)
		}
		adv := 1.0
		if i%2 == 1 {
			adv = -1
		}
		req.Episodes = append(req.Episodes, &pb.EpisodeSamples{EpisodeId: e.ID(), GroupId: "g", Reward: obs.GetReward().GetReward(), Advantage: adv, Decisions: decs})
	}
	return req
}

func TestUpdateOnEmbeddedReturnsStatsAndChangesTheVersion(t *testing.T) {
	p := newEmbedded(t)
	h := start(t, p, "")
	ctx := testCtx(t)
	before := p.Info().Version
	batch := collectBatch(t, p, 4)
	tokens := 0
	for _, e := range batch.GetEpisodes() {
		for _, d := range e.GetDecisions() {
			tokens += len(d.GetTokenIds())
		}
	}
	r, err := h.client.Update(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	st := r.GetStats()
	if st.GetEpisodes() != 4 || int(st.GetTokens()) != tokens || tokens == 0 || !(st.GetGradNorm() > 0) {
		t.Fatalf("stats %v; want 4 episodes, %d tokens and a gradient", st, tokens)
	}
	if r.GetPolicyVersion() == before || r.GetPolicyVersion() != p.Info().Version {
		t.Fatalf("version %q after the update (before %q, policy now %q)", r.GetPolicyVersion(), before, p.Info().Version)
	}
	d, err := h.client.Describe(ctx, &pb.DescribeRequest{})
	if err != nil || d.GetVersion() != r.GetPolicyVersion() {
		t.Fatalf("describe after update: %v %v", d, err)
	}
	// Through RemotePolicy, whose Info follows the new version.
	rp, err := remote.New(ctx, h.conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.Update(ctx, collectBatch(t, p, 2)); err != nil {
		t.Fatal(err)
	}
	if v := rp.Info().Version; v == r.GetPolicyVersion() || v != p.Info().Version {
		t.Fatalf("remote version %q after a second update (first %q, policy %q)", v, r.GetPolicyVersion(), p.Info().Version)
	}
}

func TestValidatorsRejectMalformedRequests(t *testing.T) {
	h := start(t, newEmbedded(t), t.TempDir())
	ctx := testCtx(t)
	dec := func(ids []int32, lps []float64, mask []int32) *pb.UpdateRequest {
		return &pb.UpdateRequest{Episodes: []*pb.EpisodeSamples{{EpisodeId: "e", Decisions: []*pb.Decision{{}, {TokenIds: ids, Logprobs: lps, Mask: mask}}}}}
	}
	cases := []struct {
		name string
		call func() error
		want []string // in the message
	}{
		{"act without observation", func() error { _, err := h.client.Act(ctx, &pb.ActRequest{}); return err }, []string{"observation", "required"}},
		{"update without episodes", func() error { _, err := h.client.Update(ctx, &pb.UpdateRequest{}); return err }, []string{"episodes"}},
		{"update with fewer logprobs than token ids", func() error {
			_, err := h.client.Update(ctx, dec([]int32{1, 2, 3}, []float64{-1, -1}, nil))
			return err
		}, []string{"episodes[0].decisions[1]", "2 logprobs for 3 token_ids"}},
		{"update with a mask shorter than the logprobs", func() error {
			_, err := h.client.Update(ctx, dec([]int32{1, 2}, []float64{-1, -1}, []int32{1}))
			return err
		}, []string{"episodes[0].decisions[1]", "mask has 1 entries for 2 logprobs"}},
		{"save without path", func() error {
			_, err := h.client.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{Path: "  "})
			return err
		}, []string{"path is required"}},
		{"load without path", func() error { _, err := h.client.LoadCheckpoint(ctx, &pb.LoadCheckpointRequest{}); return err }, []string{"path is required"}},
		{"checkpoint path naming the directory itself", func() error {
			_, err := h.client.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{Path: "../"})
			return err
		}, []string{"checkpoint directory itself"}},
		{"act stream message without observation", func() error {
			st, err := h.client.ActStream(ctx)
			if err != nil {
				return err
			}
			if err := st.Send(&pb.ActStreamRequest{}); err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}, []string{"act.observation", "required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("%v, want InvalidArgument", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(status.Convert(err).Message(), w) {
					t.Fatalf("message %q lacks %q", status.Convert(err).Message(), w)
				}
			}
		})
	}
}

func TestCheckpointsRoundTripInsideTheCheckpointDir(t *testing.T) {
	dir := t.TempDir()
	p := newEmbedded(t)
	h := start(t, p, dir)
	ctx := testCtx(t)
	cases := []struct{ name, path, want string }{
		{"plain name", "policy.ckpt", "policy.ckpt"},
		{"escaping with dot-dot", "../../etc/x", filepath.Join("etc", "x")},
		{"absolute path", "/tmp/abs.ckpt", filepath.Join("tmp", "abs.ckpt")},
		{"nested directories", "run-1/step-10/policy.ckpt", filepath.Join("run-1", "step-10", "policy.ckpt")},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			version := p.Info().Version
			sr, err := h.client.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{Path: tc.path, Step: int64(10 + i)})
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(dir, tc.want)
			if sr.GetPath() != want || len(sr.GetChecksum()) != 64 || sr.GetPolicyVersion() != version {
				t.Fatalf("save: %v, want path %s", sr, want)
			}
			if _, err := os.Stat(want); err != nil {
				t.Fatalf("checkpoint not written inside the dir: %v", err)
			}
			// Change the policy, then load the checkpoint back.
			if _, err := h.client.Update(ctx, collectBatch(t, p, 2)); err != nil {
				t.Fatal(err)
			}
			if p.Info().Version == version {
				t.Fatal("the update did not change the policy")
			}
			lr, err := h.client.LoadCheckpoint(ctx, &pb.LoadCheckpointRequest{Path: tc.path, Checksum: sr.GetChecksum()})
			if err != nil {
				t.Fatal(err)
			}
			if lr.GetStep() != int64(10+i) || lr.GetPolicyVersion() != version || p.Info().Version != version {
				t.Fatalf("load: %v; want step %d and version %s", lr, 10+i, version)
			}
		})
	}
}

func TestLoadCheckpointOfABadFileIsFailedPrecondition(t *testing.T) {
	dir := t.TempDir()
	p := newEmbedded(t)
	h := start(t, p, dir)
	ctx := testCtx(t)
	sr, err := h.client.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{Path: "good.ckpt", Step: 3})
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, "good.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0xff
	files := map[string][]byte{
		"flipped.ckpt":   flipped,
		"truncated.ckpt": good[:len(good)/3],
		"garbage.ckpt":   []byte("this is not a checkpoint at all"),
		"empty.ckpt":     nil,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	version := p.Info().Version
	cases := []struct{ name, path, checksum string }{
		{"a flipped byte", "flipped.ckpt", ""},
		{"truncated", "truncated.ckpt", ""},
		{"not a checkpoint", "garbage.ckpt", ""},
		{"empty", "empty.ckpt", ""},
		{"missing", "missing.ckpt", ""},
		{"wrong checksum", "good.ckpt", strings.Repeat("0", 64)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client.LoadCheckpoint(ctx, &pb.LoadCheckpointRequest{Path: tc.path, Checksum: tc.checksum})
			if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), tc.path) {
				t.Fatalf("%v, want FailedPrecondition naming %s", err, tc.path)
			}
			if p.Info().Version != version {
				t.Fatal("a failed load changed the policy")
			}
		})
	}
	if _, err := h.client.LoadCheckpoint(ctx, &pb.LoadCheckpointRequest{Path: "good.ckpt", Checksum: sr.GetChecksum()}); err != nil {
		t.Fatalf("the good checkpoint no longer loads: %v", err)
	}
}

// Errors the policy returns because of what the client sent are the
// client's to fix, never Internal.
func TestClientCausedPolicyErrorsAreNotInternal(t *testing.T) {
	p := newEmbedded(t)
	h := start(t, p, "")
	ctx := testCtx(t)
	good := collectBatch(t, p, 1)
	var withChoices *pb.Decision
	for _, d := range good.GetEpisodes()[0].GetDecisions() {
		if len(d.GetTokenIds()) > 0 {
			withChoices = d
			break
		}
	}
	if withChoices == nil {
		t.Fatal("the episode has no decision with choices")
	}
	tamper := func(f func(d *pb.Decision)) *pb.UpdateRequest {
		d := proto.Clone(withChoices).(*pb.Decision)
		f(d)
		return &pb.UpdateRequest{Episodes: []*pb.EpisodeSamples{{EpisodeId: "e", Advantage: 1, Decisions: []*pb.Decision{d}}}}
	}
	version := p.Info().Version
	cases := []struct {
		name string
		req  *pb.UpdateRequest
		want string
	}{
		{"a token id its state contradicts", tamper(func(d *pb.Decision) { d.TokenIds[0] = (d.TokenIds[0] + 1) % 2 }), "state says"},
		{"a positive log-prob", tamper(func(d *pb.Decision) { d.Logprobs[0] = 0.5 }), "log-prob"},
		{"a corrupt state blob", tamper(func(d *pb.Decision) { d.State = []byte("nonsense") }), "state"},
		{"a bad loss config", &pb.UpdateRequest{Loss: &pb.LossConfig{Kind: pb.LossKind(42)}, Episodes: good.GetEpisodes()}, "loss.kind"},
	}
	for _, tc := range cases {
		t.Run("update with "+tc.name, func(t *testing.T) {
			_, err := h.client.Update(ctx, tc.req)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.want) {
				t.Fatalf("%v, want InvalidArgument mentioning %q", err, tc.want)
			}
			if p.Info().Version != version {
				t.Fatal("a refused update changed the policy")
			}
		})
	}
	t.Run("act on an ended episode", func(t *testing.T) {
		done := &pb.Observation{Task: mathTask("d"), Done: true, State: pb.EpisodeState_EPISODE_STATE_DONE, EndReason: pb.EndReason_END_REASON_FINISHED}
		_, err := h.client.Act(ctx, &pb.ActRequest{Observation: done})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "ended") {
			t.Fatalf("%v, want FailedPrecondition saying the episode ended", err)
		}
	})
}

// A RemotePolicy is shared by the episodes of a group: reading its Info
// while a trainer updates it must be safe (run with -race).
func TestRemotePolicyInfoIsSafeDuringUpdate(t *testing.T) {
	p := newEmbedded(t)
	h := start(t, p, "")
	ctx := testCtx(t)
	rp, err := remote.New(ctx, h.conn)
	if err != nil {
		t.Fatal(err)
	}
	batch := collectBatch(t, p, 2)
	stop := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		for {
			select {
			case <-stop:
				return
			default:
				_ = rp.Info().Version
			}
		}
	}()
	for range 3 {
		if _, err := rp.Update(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-read
	if rp.Info().Version != p.Info().Version {
		t.Fatalf("remote version %q, policy %q", rp.Info().Version, p.Info().Version)
	}
}

// RemotePolicy's Save and Load go through the service, and after a Load
// its Info reports the version of the weights it loaded.
func TestRemotePolicyCheckpointsFollowTheLoadedVersion(t *testing.T) {
	p := newEmbedded(t)
	h := start(t, p, t.TempDir())
	ctx := testCtx(t)
	rp, err := remote.New(ctx, h.conn)
	if err != nil {
		t.Fatal(err)
	}
	saved := rp.Info().Version
	sum, err := rp.Save("runs/../../r.ckpt", 4)
	if err != nil || len(sum) != 64 {
		t.Fatalf("save: %q %v", sum, err)
	}
	if _, err := rp.Update(ctx, collectBatch(t, p, 2)); err != nil {
		t.Fatal(err)
	}
	if rp.Info().Version == saved {
		t.Fatal("update did not change the remote version")
	}
	step, err := rp.Load("r.ckpt", sum)
	if err != nil || step != 4 {
		t.Fatalf("load: step %d, %v", step, err)
	}
	if rp.Info().Version != saved || p.Info().Version != saved {
		t.Fatalf("after load: remote reports %q, policy %q, saved %q", rp.Info().Version, p.Info().Version, saved)
	}
	if _, err := rp.Load("nope.ckpt", ""); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("load of a missing file: %v", err)
	}
	if rp.Info().Version != saved {
		t.Fatal("a failed load changed the remote version")
	}
}
