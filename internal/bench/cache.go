package bench

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/flowsteer/flowsteer/data"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/executor/sim"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/policy/embedded"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/task"
)

// CacheResult compares the executor calls of one training step with the
// executor cache on and off. The backend is the offline simulation.
type CacheResult struct {
	Backend   string   `json:"backend"`
	Policy    string   `json:"policy"`
	Tasks     []string `json:"tasks"`
	GroupSize int      `json:"group_size"`
	Episodes  int      `json:"episodes"`
	Turns     int      `json:"turns"`
	// CallsOff and CallsOn are the calls that reached the backend.
	CallsOff  int64 `json:"calls_cache_off"`
	CallsOn   int64 `json:"calls_cache_on"`
	Hits      int64 `json:"cache_hits"`
	Coalesced int64 `json:"cache_coalesced"`
	// Ratio is CallsOn / CallsOff.
	Ratio float64 `json:"ratio_on_off"`
	// RewardsMatch: every episode got the same reward with the cache on as
	// off (the cache must not change what a step learns from).
	RewardsMatch bool `json:"rewards_match"`
}

// countingBackend counts the calls that reach the wrapped backend (behind
// the cache, when there is one) and forwards everything else.
type countingBackend struct {
	executor.Backend
	name  string
	calls atomic.Int64
}

func (c *countingBackend) Name() string { return c.name }

func (c *countingBackend) Complete(ctx context.Context, req executor.Request) (executor.Response, error) {
	c.calls.Add(1)
	return c.Backend.Complete(ctx, req)
}

func (c *countingBackend) CacheKeyExtra(req executor.Request) string {
	if k, ok := c.Backend.(executor.CacheKeyer); ok {
		return k.CacheKeyExtra(req)
	}
	return ""
}

func (c *countingBackend) Unwrap() executor.Backend { return c.Backend }

// countCalls puts a counting wrapper in front of the system's default
// backend (the engine looks its backend up on every run).
func countCalls(sys *system.System) (*countingBackend, error) {
	b, err := sys.Backends.Get("")
	if err != nil {
		return nil, err
	}
	cb := &countingBackend{Backend: b, name: b.Name() + "-counted"}
	if err := sys.Backends.Register(cb); err != nil {
		return nil, err
	}
	return cb, sys.Backends.SetDefault(cb.name)
}

// SuiteTasks returns the first task of each of the first n families of
// math, qa and code in the built-in offline suite.
func SuiteTasks(n int) ([]*pb.Task, error) {
	all, err := task.ReadJSONL(bytes.NewReader(data.Train))
	if err != nil {
		return nil, err
	}
	var out []*pb.Task
	for _, f := range []task.Family{task.Math, task.QA, task.Code}[:min(n, 3)] {
		for _, t := range all {
			if t.Family == f {
				out = append(out, protoconv.TaskToPB(t))
				break
			}
		}
	}
	if len(out) < min(n, 3) {
		return nil, fmt.Errorf("the offline suite lacks a task of some family (found %d of %d)", len(out), n)
	}
	return out, nil
}

// stepPlay is what one simulated training step's rollouts produced.
type stepPlay struct {
	recs      []*rollout.Record // task-major: GroupSize per task
	calls     int64
	hits      int64
	coalesced int64
}

// playStep plays GroupSize episodes on each task with the untrained
// embedded policy (seeded), as a trainer's step does: max_rounds 20,
// sampled at temperature 1 with the trainer's per-episode seeds, 16 at once.
func playStep(ctx context.Context, cfg Config, tasks []*pb.Task, cacheOn bool) (*stepPlay, error) {
	o := system.DefaultOptions()
	o.BackendConfig = sim.Options{Seed: cfg.Seed}
	if !cacheOn {
		o.CacheEntries = -1
	}
	srv, cl, stop, err := StartDialled(ctx, o)
	if err != nil {
		return nil, err
	}
	defer stop()
	counter, err := countCalls(srv.Sys)
	if err != nil {
		return nil, err
	}
	pol, err := embedded.New(embedded.Config{Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	mr := int32(20)
	ecfg := &pb.EpisodeConfig{MaxRounds: &mr}
	const step = 1
	base := cfg.Seed*1_000_003 + step
	out := &stepPlay{recs: make([]*rollout.Record, len(tasks)*cfg.GroupSize)}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	var mu sync.Mutex
	var firstErr error
	for ti, tk := range tasks {
		for i := range cfg.GroupSize {
			g.Go(func() error {
				s := base + int64(i)*7919 + step*104729
				rec, err := rollout.Play(gctx, clientCanvas{cl}, rollout.InProcess{P: pol}, tk, ecfg, policy.Sampling{Temperature: 1, Seed: &s})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("task %s episode %d: %w", tk.GetId(), i, err)
					}
					mu.Unlock()
					return nil
				}
				out.recs[ti*cfg.GroupSize+i] = &rec
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	out.calls = counter.calls.Load()
	if c := srv.Sys.Cache; c != nil {
		st := c.Stats()
		out.hits, out.coalesced = st.Hits, st.Coalesced
	}
	return out, nil
}

func runCache(ctx context.Context, cfg Config) (*CacheResult, error) {
	tasks, err := SuiteTasks(cfg.Tasks)
	if err != nil {
		return nil, err
	}
	res := &CacheResult{Backend: "sim (SIMULATED executor, offline)", Policy: fmt.Sprintf("embedded, untrained, seed %d", cfg.Seed), GroupSize: cfg.GroupSize}
	for _, t := range tasks {
		res.Tasks = append(res.Tasks, fmt.Sprintf("%s (%s)", t.GetId(), familyName(t.GetFamily())))
	}
	cfg.progress("executor calls: %d tasks x %d episodes, simulated backend, cache off", len(tasks), cfg.GroupSize)
	off, err := playStep(ctx, cfg, tasks, false)
	if err != nil {
		return nil, fmt.Errorf("cache off: %w", err)
	}
	cfg.progress("executor calls: %d tasks x %d episodes, simulated backend, cache on", len(tasks), cfg.GroupSize)
	on, err := playStep(ctx, cfg, tasks, true)
	if err != nil {
		return nil, fmt.Errorf("cache on: %w", err)
	}
	res.Episodes = len(off.recs)
	res.CallsOff, res.CallsOn, res.Hits, res.Coalesced = off.calls, on.calls, on.hits, on.coalesced
	res.Ratio = ratio(float64(on.calls), float64(off.calls))
	res.RewardsMatch = true
	for i := range off.recs {
		res.Turns += len(off.recs[i].Turns)
		if off.recs[i].Reward() != on.recs[i].Reward() {
			res.RewardsMatch = false
		}
	}
	return res, nil
}

func familyName(f pb.TaskFamily) string { return string(protoconv.FamilyFromPB(f)) }
