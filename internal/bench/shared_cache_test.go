package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/executor/redistest"
	"github.com/flowsteer/flowsteer/internal/executor/sim"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/policy/embedded"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/system"
)

// replicaStep is one training step's rollouts over several canvas replicas.
type replicaStep struct {
	calls   int64     // backend calls, all replicas together
	rewards []float64 // task-major, as playStep
	shared  executor.SharedStats
}

// playReplicas plays GroupSize episodes on each task, as playStep does,
// against n canvas replicas behind the client's round-robin balancer.
// shared is the Redis address of the shared tier ("" = none); afterK, when
// set, runs once after that many episodes have ended.
func playReplicas(t *testing.T, cfg Config, tasks []*pb.Task, n int, shared string, afterK int, hook func()) replicaStep {
	t.Helper()
	ctx := context.Background()
	var addrs []string
	var counters []*countingBackend
	var caches []*executor.Cache
	for range n {
		o := system.DefaultOptions()
		o.BackendConfig = sim.Options{Seed: cfg.Seed}
		o.SharedCache.Addr = shared
		srv, err := StartCanvas(ctx, o, ServeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Stop() })
		c, err := countCalls(srv.Sys)
		if err != nil {
			t.Fatal(err)
		}
		addrs, counters, caches = append(addrs, srv.Addr), append(counters, c), append(caches, srv.Sys.Cache)
	}
	cl, err := flowsteer.DialBalanced(addrs)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pol, err := embedded.New(embedded.Config{Seed: cfg.Seed})
	if err != nil {
		t.Fatal(err)
	}
	// FLOWSTEER_SHARED_CACHE_CKPT plays the step with a trained checkpoint
	// instead of the untrained policy (a later step of a run).
	if ck := os.Getenv("FLOWSTEER_SHARED_CACHE_CKPT"); ck != "" {
		if _, err := pol.Load(ck, ""); err != nil {
			t.Fatal(err)
		}
	}
	mr := int32(20)
	ecfg := &pb.EpisodeConfig{MaxRounds: &mr}
	const step = 1
	base := cfg.Seed*1_000_003 + step
	out := replicaStep{rewards: make([]float64, len(tasks)*cfg.GroupSize)}
	var ended atomic.Int64
	var once sync.Once
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for ti, tk := range tasks {
		for i := range cfg.GroupSize {
			g.Go(func() error {
				s := base + int64(i)*7919 + step*104729
				rec, err := rollout.Play(gctx, clientCanvas{cl}, rollout.InProcess{P: pol}, tk, ecfg, policy.Sampling{Temperature: 1, Seed: &s})
				if err != nil {
					return fmt.Errorf("task %s episode %d: %w", tk.GetId(), i, err)
				}
				out.rewards[ti*cfg.GroupSize+i] = rec.Reward()
				if hook != nil && ended.Add(1) == int64(afterK) {
					once.Do(hook)
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i, c := range counters {
		out.calls += c.calls.Load()
		s := caches[i].SharedStats()
		out.shared.Hits += s.Hits
		out.shared.Misses += s.Misses
		out.shared.Stores += s.Stores
		out.shared.Errors += s.Errors
		out.shared.Skipped += s.Skipped
	}
	return out
}

// TestSharedCacheAcrossReplicas is the measure of the shared tier:
// one training step (36 episodes per task on 3 tasks, the simulated
// executor) on three canvas replicas behind the balancer pays about what a
// single replica pays with the tier, and fewer than three replicas each
// caching alone; killing the cache server in the
// middle of a step loses no episode and changes no reward.
func TestSharedCacheAcrossReplicas(t *testing.T) {
	if os.Getenv("FLOWSTEER_SHARED_CACHE_STEP") != "1" {
		t.Skip("plays four training steps (about 2 minutes on 2 cores): make test-shared-cache runs it")
	}
	srv := redistest.Start(t)
	cfg := DefaultConfig()
	cfg.GroupSize = 36
	tasks, err := SuiteTasks(3)
	if err != nil {
		t.Fatal(err)
	}
	one := playReplicas(t, cfg, tasks, 1, "", 0, nil)
	three := playReplicas(t, cfg, tasks, 3, "", 0, nil)
	sharedRun := playReplicas(t, cfg, tasks, 3, srv.Addr, 0, nil)
	// A fresh server, killed when a third of the episodes have ended.
	srv2 := redistest.Start(t)
	killed := playReplicas(t, cfg, tasks, 3, srv2.Addr, len(tasks)*cfg.GroupSize/3, srv2.Kill)

	t.Logf("backend calls of one step (%d episodes): 1 replica %d; 3 replicas, no shared tier %d; 3 replicas + redis %d (shared hits %d, stores %d); redis killed after 1/3 of the episodes %d (shared hits %d, errors %d, skipped %d)",
		len(one.rewards), one.calls, three.calls, sharedRun.calls, sharedRun.shared.Hits, sharedRun.shared.Stores,
		killed.calls, killed.shared.Hits, killed.shared.Errors, killed.shared.Skipped)
	if float64(sharedRun.calls) > 1.10*float64(one.calls) {
		t.Errorf("3 replicas with the shared tier made %d backend calls, more than 10%% over one replica's %d", sharedRun.calls, one.calls)
	}
	// The issue asked for 2x fewer calls than three replicas without the
	// tier; on this step three lone replicas pay only about 1.3x one
	// replica (each still sees 12 episodes of every task), so no tier can
	// save 2x here. What must hold is that the tier removes the
	// duplication, which the 10% bound above checks, and saves calls.
	if sharedRun.calls >= three.calls {
		t.Errorf("3 replicas with the shared tier made %d calls, no fewer than %d without it", sharedRun.calls, three.calls)
	}
	if killed.shared.Errors == 0 {
		t.Error("the killed server was never noticed: the kill came too late to test anything")
	}
	for name, run := range map[string]replicaStep{"3 replicas": three, "shared": sharedRun, "killed": killed} {
		for i := range one.rewards {
			if run.rewards[i] != one.rewards[i] {
				t.Fatalf("%s: episode %d reward %v, one replica %v", name, i, run.rewards[i], one.rewards[i])
			}
		}
	}
}
