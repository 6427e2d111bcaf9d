package trainer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/runstore"
)

// outcome scripts one episode of the fake canvas.
type outcome struct {
	reward      float64
	released    bool
	correctness float64
	correct     bool
	structure   float64
	finished    bool
	turns       int // turns before the episode ends (default 1)
	invalid     int // the first invalid turns are invalid actions
	ops         map[string]int32
	openErr     bool // Open fails
	actErr      bool // the actor fails on the first turn
	// The replica goes away: Open fails (lostOnOpen) or the first turn
	// does (lost) with errReplicaLost, which the retry rigs retry.
	lostOnOpen bool
	lost       bool
}

// errReplicaLost stands for a gRPC Unavailable from a dead replica.
var errReplicaLost = errors.New("replica lost (Unavailable)")

// lostError is errReplicaLost from a named replica, as the Go client's
// open errors name theirs.
type lostError struct{ replica string }

func (e lostError) Error() string { return errReplicaLost.Error() + " at " + e.replica }
func (e lostError) Unwrap() error { return errReplicaLost }
func (e lostError) Peer() string  { return e.replica }

// fakeCanvas plays scripted episodes: the n-th episode opened for a task
// gets the n-th outcome scripted for it (cycling).
type fakeCanvas struct {
	mu      sync.Mutex
	scripts map[string][]outcome
	opened  map[string]int
	total   int // opens over every task: names each episode's replica
}

func newFakeCanvas(scripts map[string][]outcome) *fakeCanvas {
	return &fakeCanvas{scripts: scripts, opened: map[string]int{}}
}

func (c *fakeCanvas) Open(_ context.Context, t *pb.Task, _ *pb.EpisodeConfig) (rollout.Episode, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.scripts[t.GetId()]
	if !ok || len(s) == 0 {
		return nil, fmt.Errorf("no script for task %s", t.GetId())
	}
	n := c.opened[t.GetId()]
	c.opened[t.GetId()]++
	o := s[n%len(s)]
	replica := fmt.Sprintf("replica-%d", c.total%3)
	c.total++
	if o.openErr {
		return nil, fmt.Errorf("canvas down for %s#%d", t.GetId(), n)
	}
	if o.lostOnOpen {
		return nil, lostError{replica}
	}
	if o.turns == 0 {
		o.turns = 1
	}
	return &fakeEpisode{id: fmt.Sprintf("%s#%d", t.GetId(), n), task: t, o: o, replica: replica}, nil
}

func (c *fakeCanvas) opens(task string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened[task]
}

type fakeEpisode struct {
	id      string
	task    *pb.Task
	o       outcome
	turn    int32
	replica string
}

func (e *fakeEpisode) ID() string { return e.id }

func (e *fakeEpisode) Peer() string { return e.replica }

func (e *fakeEpisode) First() *pb.Observation {
	obs := &pb.Observation{EpisodeId: e.id, Task: e.task, MaxRounds: 20, State: pb.EpisodeState_EPISODE_STATE_BUILDING}
	if e.o.actErr {
		obs.Hint = "fail"
	}
	return obs
}

func (e *fakeEpisode) Step(_ context.Context, a *pb.Action) (*pb.Observation, error) {
	if e.o.lost {
		return nil, fmt.Errorf("stream: %w", errReplicaLost)
	}
	e.turn++
	obs := &pb.Observation{EpisodeId: e.id, Task: e.task, Turn: e.turn, MaxRounds: 20, Valid: int(e.turn) > e.o.invalid,
		State: pb.EpisodeState_EPISODE_STATE_BUILDING, Feedback: "ok: " + a.GetText(),
		Workflow: &pb.Workflow{Dsl: fmt.Sprintf("Dsl%d", len(e.o.ops)), Stats: &pb.WorkflowStats{OperatorCounts: e.o.ops}}}
	if int(e.turn) < e.o.turns {
		return obs, nil
	}
	obs.Done, obs.State = true, pb.EpisodeState_EPISODE_STATE_DONE
	obs.EndReason = pb.EndReason_END_REASON_MAX_ROUNDS
	if e.o.finished {
		obs.EndReason = pb.EndReason_END_REASON_FINISHED
	}
	obs.Reward = &pb.RewardBreakdown{Reward: e.o.reward, Released: e.o.released, Correctness: e.o.correctness,
		StructureTotal: e.o.structure, Score: &pb.Score{Correct: e.o.correct, Value: e.o.correctness}}
	return obs, nil
}

func (e *fakeEpisode) Close() error { return nil }

// fakeLearner acts with a fixed reply and records what the trainer asks.
type fakeLearner struct {
	mu       sync.Mutex
	updates  []*pb.UpdateRequest
	sampling []policy.Sampling
	saves    []int64
	loads    []string
	stats    *pb.LossStats
	failAll  bool
}

func (l *fakeLearner) Info() policy.Info {
	return policy.Info{Kind: "fake", Version: "fake-1", CanLearn: true}
}

func (l *fakeLearner) Act(_ context.Context, obs *pb.Observation, s policy.Sampling) (*pb.Decision, error) {
	l.mu.Lock()
	l.sampling = append(l.sampling, s)
	l.mu.Unlock()
	if obs.GetHint() == "fail" || l.failAll {
		return nil, errors.New("policy exploded")
	}
	return &pb.Decision{Action: &pb.Action{Text: "finish"}, TokenIds: []int32{1}, Logprobs: []float64{-0.5},
		PolicyVersion: "fake-1", State: []byte(obs.GetEpisodeId())}, nil
}

func (l *fakeLearner) Update(_ context.Context, req *pb.UpdateRequest) (*pb.LossStats, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.updates = append(l.updates, req)
	if l.stats != nil {
		return l.stats, nil
	}
	return &pb.LossStats{Loss: 0.25, Kl: 0.01, Entropy: 1.5, ClipFraction: 0.1}, nil
}

func (l *fakeLearner) Save(path string, step int64) (string, error) {
	b := fmt.Appendf(nil, "fake checkpoint at step %d", step)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "", err
	}
	l.mu.Lock()
	l.saves = append(l.saves, step)
	l.mu.Unlock()
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

func (l *fakeLearner) Load(path, _ string) (int64, error) {
	l.mu.Lock()
	l.loads = append(l.loads, path)
	l.mu.Unlock()
	return 0, nil
}

func (l *fakeLearner) lastUpdate() *pb.UpdateRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.updates) == 0 {
		return nil
	}
	return l.updates[len(l.updates)-1]
}

// recObserver records what the trainer reports.
type recObserver struct {
	mu       sync.Mutex
	started  []int64
	episodes int
	steps    []*pb.StepMetrics
	evals    []*pb.EvalReport
}

func (o *recObserver) StepStarted(step, _ int64, _ int) {
	o.mu.Lock()
	o.started = append(o.started, step)
	o.mu.Unlock()
}
func (o *recObserver) EpisodeDone(int64, *rollout.Record) {
	o.mu.Lock()
	o.episodes++
	o.mu.Unlock()
}
func (o *recObserver) StepDone(m *pb.StepMetrics) {
	o.mu.Lock()
	o.steps = append(o.steps, m)
	o.mu.Unlock()
}
func (o *recObserver) EvalStarted(int64, []string, int) {}
func (o *recObserver) EvalDone(r *pb.EvalReport) {
	o.mu.Lock()
	o.evals = append(o.evals, r)
	o.mu.Unlock()
}
func (o *recObserver) Log(string) {}

func task(id string, fam pb.TaskFamily, source string) *pb.Task {
	return &pb.Task{Id: id, Family: fam, Source: source, Question: "question " + id}
}

// rig is a trainer over the fake canvas and learner with a real store.
type rig struct {
	tr      *Trainer
	canvas  *fakeCanvas
	learner *fakeLearner
	store   runstore.Store
	obs     *recObserver
	dir     string
}

const runID = "test-run"

func newRig(t *testing.T, cfg Config, tasks, evalTasks []*pb.Task, scripts map[string][]outcome) *rig {
	t.Helper()
	dir := t.TempDir()
	st, err := runstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	run := runstore.Run{ID: runID, Name: cfg.Name, ConfigYAML: cfg.YAML(), ConfigHash: cfg.Hash(), TotalSteps: int64(cfg.Steps)}
	if err := st.CreateRun(run); err != nil {
		t.Fatal(err)
	}
	r := &rig{canvas: newFakeCanvas(scripts), learner: &fakeLearner{}, store: st, obs: &recObserver{}, dir: dir}
	r.tr, err = New(cfg, Env{Canvas: r.canvas, Learner: r.learner, Store: st, Dir: dir, Observer: r.obs}, run, 0, tasks, evalTasks)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// smallConfig plays every task of a batch of n once per step.
func smallConfig(n, groupSize int) Config {
	c := DefaultConfig()
	c.Name = "fake"
	c.Steps = 3
	c.BatchSize = n
	c.GroupSize = groupSize
	c.Concurrency = 4
	c.Eval.Baselines = nil
	c.Checkpoint.Every = 1
	return c
}
