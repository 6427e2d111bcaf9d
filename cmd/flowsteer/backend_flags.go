package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/executor/sim"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// backendFlags choose the executor backend of a command: --backend KIND
// and the kinds' own flags, bound from executor.Backends (each kind's
// options with a `flag` tag), so that the CLI, run configs and
// TrainerService know the same kinds and options.
type backendFlags struct {
	backend    string
	noCache    bool
	runTimeout time.Duration
	mathGrader string
	fs         *pflag.FlagSet

	// The shared executor cache tier (issue #24).
	cacheRedis    string
	cacheRedisTTL time.Duration
}

func (b *backendFlags) register(fs *pflag.FlagSet) {
	b.fs = fs
	fs.StringVar(&b.backend, "backend", sim.Kind, "executor backend: "+executor.Backends.Describe())
	executor.Backends.BindFlags(fs)
	fs.BoolVar(&b.noCache, "no-cache", false, "do not cache deterministic executor calls")
	fs.StringVar(&b.cacheRedis, "cache-redis", "", "host:port of a Redis/Valkey server that the canvas replicas share as a second executor cache tier (password from $FLOWSTEER_CACHE_REDIS_PASSWORD); unreachable = per-replica caching")
	fs.DurationVar(&b.cacheRedisTTL, "cache-redis-ttl", 24*time.Hour, "expiry of shared executor cache entries")
	fs.DurationVar(&b.runTimeout, "run-timeout", 600*time.Second, "timeout for one whole workflow run")
	fs.StringVar(&b.mathGrader, "math-grader", "auto", "math answers: auto (math-verify, the field's grader, via a Python worker; flowsteer's Go scorer where it is not installed: make mathverify), math-verify (required) or go")
}

// backendOptions are the options of the chosen kind set by flags.
func (b *backendFlags) backendOptions() (map[string]any, error) {
	if b.fs == nil {
		return nil, nil // built in code (flowsteer demo): the kind's defaults
	}
	return executor.Backends.FromFlags(b.fs, b.backend)
}

// seed is --sim-seed, which also seeds what a command samples.
func (b *backendFlags) seed() int64 {
	if b.fs == nil {
		return 1
	}
	v, err := b.fs.GetInt64("sim-seed")
	if err != nil {
		return 1
	}
	return v
}

func (b *backendFlags) options() (system.Options, error) {
	o := system.DefaultOptions()
	o.Backend = b.backend
	set, err := b.backendOptions()
	if err != nil {
		return o, err
	}
	if o.BackendConfig, err = executor.Backends.Decode(b.backend, set); err != nil {
		return o, executor.Backends.FlagError(b.backend, err)
	}
	o.Engine.RunTimeout = b.runTimeout
	o.MathGrader = b.mathGrader
	if b.noCache {
		o.CacheEntries = -1
	}
	if b.cacheRedis != "" {
		o.SharedCache = executor.RedisConfig{Addr: b.cacheRedis, TTL: b.cacheRedisTTL, Password: os.Getenv("FLOWSTEER_CACHE_REDIS_PASSWORD")}
	}
	return o, nil
}

// workflowJob is what run-workflow and eval --workflow both start from: a
// built system, the parsed workflow and the (limited) tasks.
type workflowJob struct {
	sys   *system.System
	graph *workflow.Graph
	tasks []task.Task
	// droppedTests counts public examples the data set's own reference
	// solution fails; they were left out (task.VetPublicTests).
	droppedTests int
}

// prepareWorkflowJob builds the system for b, parses dsl (flag names the
// flag in errors) and loads at most limit tasks (0 = all) from file. The
// caller closes job.sys (it may hold a managed llama.cpp server).
func prepareWorkflowJob(ctx context.Context, b *backendFlags, flag, dsl, file, format string, limit int) (_ *workflowJob, err error) {
	// The RunWorkflow RPC refuses an empty workflow; so does the CLI.
	if strings.TrimSpace(dsl) == "" {
		return nil, fmt.Errorf("%s is empty: give a workflow, e.g. %s %q", flag, flag, "Programmer -> Format")
	}
	o, err := b.options()
	if err != nil {
		return nil, err
	}
	sys, err := system.BuildContext(ctx, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = sys.Close()
		}
	}()
	g, err := workflow.Parse(dsl, sys.Library)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	var runner task.CodeRunner // nil: a default sandbox
	if sys.Scorer != nil {
		runner = sys.Scorer.CodeRunner()
	}
	tasks, dropped, err := system.LoadTasks(ctx, file, format, nil, limit, runner)
	if err != nil {
		return nil, err
	}
	return &workflowJob{sys: sys, graph: g, tasks: tasks, droppedTests: dropped}, nil
}
