package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/engine"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/operator/builtin"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/sandbox"
	"github.com/flowsteer/flowsteer/internal/system"
)

// Result is the outcome of a replay.
type Result struct {
	Identical bool `json:"identical"`
	// Turn is the first turn that differs (0 = the opening observation),
	// Node the node whose result differs there ("" when the difference is
	// elsewhere) and What says what differs.
	Turn int    `json:"turn,omitempty"`
	Node string `json:"node,omitempty"`
	What string `json:"what,omitempty"`
	// Turns were replayed of Recorded; CallsUsed of CallsRecorded
	// executor replies were answered.
	Turns         int `json:"turns"`
	Recorded      int `json:"recorded_turns"`
	CallsUsed     int `json:"calls_used"`
	CallsRecorded int `json:"calls_recorded"`
	// Missing lists requests the recording had no reply for.
	Missing []string `json:"missing,omitempty"`
}

func (r *Result) String() string {
	if r.Identical {
		return fmt.Sprintf("identical: %d turns, %d of %d recorded executor replies used", r.Turns, r.CallsUsed, r.CallsRecorded)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "differs at turn %d", r.Turn)
	if r.Node != "" {
		fmt.Fprintf(&b, ", node %s", r.Node)
	}
	fmt.Fprintf(&b, ": %s", r.What)
	for _, m := range r.Missing {
		fmt.Fprintf(&b, "\n  no recorded reply: %s", m)
	}
	return b.String()
}

// Wrap serves a replay canvas the way the original run reached its canvas
// (the trainer wraps it in the Canvas gRPC service over an in-process
// connection, so observations are converted exactly as in training).
type Wrap func(ctx context.Context, c *canvas.Canvas) (rollout.Canvas, func(), error)

// Run replays b: the canvas runs the recorded policy replies, its executor
// answers with the recorded replies (Backend), and every observation is
// compared with the recording.
func Run(ctx context.Context, b *Bundle, wrap Wrap) (*Result, error) {
	if b.DroppedCalls > 0 {
		return nil, fmt.Errorf("replay: the recording dropped %d executor calls over its bound, so the episode cannot be replayed exactly", b.DroppedCalls)
	}
	task := new(pb.Task)
	if err := protojson.Unmarshal(b.Task, task); err != nil {
		return nil, fmt.Errorf("replay: task: %w", err)
	}
	cfg := new(pb.EpisodeConfig)
	if len(b.Config) > 0 {
		if err := protojson.Unmarshal(b.Config, cfg); err != nil {
			return nil, fmt.Errorf("replay: config: %w", err)
		}
	}
	actions := make([]*pb.Action, len(b.Turns))
	for i, t := range b.Turns {
		actions[i] = new(pb.Action)
		if err := protojson.Unmarshal(t.Action, actions[i]); err != nil {
			return nil, fmt.Errorf("replay: action of turn %d: %w", t.Turn, err)
		}
	}
	be := NewBackend(b.Backend, b.Calls)
	c, err := NewCanvas(be)
	if err != nil {
		return nil, err
	}
	rc, closeCanvas, err := wrap(ctx, c)
	if err != nil {
		return nil, err
	}
	defer closeCanvas()
	rec, playErr := rollout.Play(ctx, rc, &scripted{actions: actions}, task, cfg, policy.Sampling{Greedy: true})
	res := &Result{Turns: len(rec.Turns), Recorded: len(b.Turns), CallsRecorded: len(b.Calls)}
	res.CallsUsed, res.Missing = be.Used()
	compare(b, &rec, res)
	if playErr != nil && res.Identical {
		return nil, fmt.Errorf("replay: %w", playErr)
	}
	return res, nil
}

// compare fills res with the first difference between the recording and
// the replayed record.
func compare(b *Bundle, rec *rollout.Record, res *Result) {
	if rec.First == nil {
		res.What = "the replayed episode did not open"
		if rec.Err != nil {
			res.What += ": " + rec.Err.Error()
		}
		return
	}
	if got := ObservationDigest(rec.First); got != b.First {
		res.What = "the opening observation differs"
		return
	}
	for i, want := range b.Turns {
		if i >= len(rec.Turns) {
			res.Turn = want.Turn
			res.What = fmt.Sprintf("the replay ended after %d turns, the recording has %d", len(rec.Turns), len(b.Turns))
			if rec.Err != nil {
				res.What += ": " + rec.Err.Error()
			}
			return
		}
		got := rec.Turns[i]
		if d := ObservationDigest(got.Obs); d == want.Observation {
			continue
		}
		res.Turn = got.Number
		gotNodes := NodeDigests(got.Obs)
		for j := 0; j < max(len(gotNodes), len(want.Nodes)); j++ {
			switch {
			case j >= len(want.Nodes):
				res.Node, res.What = gotNodes[j].label(), "node result not in the recording"
			case j >= len(gotNodes):
				res.Node, res.What = want.Nodes[j].label(), "node result missing from the replay"
			case gotNodes[j] != want.Nodes[j]:
				res.Node = want.Nodes[j].label()
				res.What = fmt.Sprintf("node output differs (status recorded %s, replayed %s); replayed output: %q",
					statusWord(want.Nodes[j].Status), statusWord(gotNodes[j].Status), excerpt(nodeOutput(got.Obs, j), 200))
			default:
				continue
			}
			return
		}
		var parts []string
		gp := PartDigests(got.Obs)
		for k, v := range want.Parts {
			if gp[k] != v {
				parts = append(parts, k)
			}
		}
		if len(parts) == 0 {
			res.What = "observation differs"
		} else {
			sortStrings(parts)
			res.What = "observation differs in " + strings.Join(parts, ", ")
		}
		return
	}
	if len(rec.Turns) > len(b.Turns) {
		res.Turn = rec.Turns[len(b.Turns)].Number
		res.What = fmt.Sprintf("the replay went on past the recording's %d turns", len(b.Turns))
		return
	}
	var want, got []byte
	if len(b.Reward) > 0 {
		r := new(pb.RewardBreakdown)
		if err := protojson.Unmarshal(b.Reward, r); err == nil {
			want, _ = proto.MarshalOptions{Deterministic: true}.Marshal(r)
		}
	}
	if r := rec.Final.GetReward(); r != nil {
		got, _ = proto.MarshalOptions{Deterministic: true}.Marshal(r)
	}
	if string(want) != string(got) {
		res.Turn = len(rec.Turns)
		res.What = fmt.Sprintf("reward differs: recorded %s, replayed %s", compact(b.Reward), compactMsg(rec.Final.GetReward()))
		return
	}
	res.Identical = true
}

func statusWord(s string) string { return strings.ToLower(strings.TrimPrefix(s, "NODE_STATUS_")) }

func nodeOutput(o *pb.Observation, j int) string {
	ns := o.GetExecution().GetNodes()
	if j >= len(ns) {
		return ""
	}
	if ns[j].GetError() != "" {
		return "error: " + ns[j].GetError()
	}
	return ns[j].GetOutputExcerpt()
}

func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func compact(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "none"
	}
	return string(raw)
}

func compactMsg(m *pb.RewardBreakdown) string {
	if m == nil {
		return "none"
	}
	b, _ := pj.Marshal(m)
	return string(b)
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// scripted plays the recorded actions in order.
type scripted struct {
	actions []*pb.Action
	next    int
}

func (s *scripted) Act(_ context.Context, o *pb.Observation, _ policy.Sampling) (*pb.Decision, error) {
	if s.next >= len(s.actions) {
		return nil, fmt.Errorf("the recording has no reply for turn %d", o.GetTurn()+1)
	}
	a := s.actions[s.next]
	s.next++
	return &pb.Decision{Action: a}, nil
}

func (s *scripted) Close() error { return nil }

// NewCanvas assembles a canvas like internal/system does, on the replay
// backend: the default operator library, the sandbox with its defaults,
// the task scorers, no executor cache.
func NewCanvas(be *Backend) (*canvas.Canvas, error) {
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		return nil, fmt.Errorf("replay: sandbox: %w", err)
	}
	reg := executor.NewRegistry()
	if err := reg.Register(be); err != nil {
		return nil, err
	}
	eng, err := engine.New(engine.DefaultConfig(), reg, nil, sb)
	if err != nil {
		return nil, err
	}
	store, err := canvas.NewMemoryStore(canvas.DefaultStoreConfig())
	if err != nil {
		return nil, err
	}
	libs := operator.NewRegistryWith(builtin.Library())
	return canvas.New(canvas.WithStore(store), canvas.WithLibraries(libs), canvas.WithExecutor(eng),
		canvas.WithScorer(&system.Scorer{Runner: sb})), nil
}

// Backend answers executor requests with recorded replies, by request
// digest: calls with the same digest get the recorded replies in the order
// they were recorded (the last one again when they run out). A request the
// recording never saw fails with an error naming it, so its node fails
// and the replay reports it. It never calls a model or the network.
type Backend struct {
	info BackendInfo

	mu      sync.Mutex
	queues  map[string][]Call
	last    map[string]Call
	used    int
	missing []string
}

// NewBackend returns a replay backend that impersonates b.
func NewBackend(b BackendInfo, calls []Call) *Backend {
	be := &Backend{info: b, queues: map[string][]Call{}, last: map[string]Call{}}
	if be.info.Name == "" {
		be.info.Name = "replay"
	}
	for _, c := range calls {
		be.queues[c.Digest] = append(be.queues[c.Digest], c)
	}
	return be
}

var _ executor.Backend = (*Backend)(nil)

func (b *Backend) Name() string                        { return b.info.Name }
func (b *Backend) Model() string                       { return b.info.Model }
func (b *Backend) Deterministic(executor.Request) bool { return true }
func (b *Backend) VariesByVariant() bool               { return true }
func (b *Backend) Simulated() bool                     { return b.info.Simulated }

// Complete answers req from the recording.
func (b *Backend) Complete(ctx context.Context, req executor.Request) (executor.Response, error) {
	if err := ctx.Err(); err != nil {
		return executor.Response{}, err
	}
	d := RequestDigest(req)
	b.mu.Lock()
	q := b.queues[d]
	var c Call
	switch {
	case len(q) > 0:
		c = q[0]
		b.queues[d] = q[1:]
		b.last[d] = c
		b.used++
	default:
		var ok bool
		if c, ok = b.last[d]; !ok {
			m := fmt.Sprintf("node %s (%s, variant %d, attempt %d), request digest %s", req.Meta.NodeID, req.Meta.Operator, req.Meta.Variant, req.Meta.Attempt, d)
			b.missing = append(b.missing, m)
			b.mu.Unlock()
			return executor.Response{}, errors.New("replay: no recorded reply for " + m)
		}
	}
	b.mu.Unlock()
	resp := executor.Response{Text: c.Reply, Model: c.Model, InputTokens: c.InputTokens, OutputTokens: c.OutputTokens,
		Simulated: b.info.Simulated, FinishReason: c.FinishReason}
	if c.Error != "" {
		return resp, errors.New(c.Error)
	}
	return resp, nil
}

// Used reports how many recorded replies were answered and which
// requests had none.
func (b *Backend) Used() (int, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, append([]string(nil), b.missing...)
}
