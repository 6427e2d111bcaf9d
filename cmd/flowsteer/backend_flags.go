package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/llamacpp"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// backendFlags choose the executor backend of a command.
type backendFlags struct {
	backend     string
	baseURL     string
	model       string
	apiKeyEnv   string
	temperature float64
	maxTokens   int
	concurrency int
	timeout     time.Duration
	simConfig   string
	simSeed     int64
	noCache     bool
	runTimeout  time.Duration
	mathGrader  string
	llama       llamaFlags
	fs          *pflag.FlagSet

	// The shared executor cache tier (issue #24).
	cacheRedis    string
	cacheRedisTTL time.Duration
}

// llamaFlags configure the managed llama.cpp server (--backend llamacpp,
// flowsteer llm serve).
type llamaFlags struct {
	port    int
	threads int
	ctx     int
	log     string
}

// register adds the flags named prefix+"port" and so on; a non-empty
// prefix also marks their help as belonging to --backend llamacpp.
func (l *llamaFlags) register(fs *pflag.FlagSet, prefix string) {
	h := ""
	if prefix != "" {
		h = "llamacpp: "
	}
	fs.IntVar(&l.port, prefix+"port", 0, h+"port of the managed llama.cpp server on 127.0.0.1 (0 = a free one)")
	fs.IntVar(&l.threads, prefix+"threads", 0, h+"CPU threads of the llama.cpp server (0 = llama-cpp-python's default: half the CPUs)")
	fs.IntVar(&l.ctx, prefix+"ctx", llamacpp.DefaultContext, h+"context size of the llama.cpp server in tokens")
	fs.StringVar(&l.log, prefix+"log", "", h+"write the llama.cpp server's output to this file (default: a temporary file, removed when it stops)")
}

func (l *llamaFlags) config() llamacpp.Config {
	return llamacpp.Config{Port: l.port, Threads: l.threads, Context: l.ctx, LogFile: l.log}
}

func (b *backendFlags) register(fs *pflag.FlagSet) {
	b.fs = fs
	fs.StringVar(&b.backend, "backend", "sim", "executor backend: sim (offline, simulated), openai (any OpenAI-compatible endpoint) or llamacpp (starts a local llama.cpp server with SmolLM2-135M-Instruct; make llm-deps)")
	fs.StringVar(&b.baseURL, "base-url", "", "openai: base URL of the endpoint, e.g. http://127.0.0.1:8000/v1")
	fs.StringVar(&b.model, "model", "", "openai: model name")
	fs.StringVar(&b.apiKeyEnv, "api-key-env", "OPENAI_API_KEY", "openai: environment variable holding the API key (unset = no key)")
	fs.Float64Var(&b.temperature, "temperature", 0, "openai: sampling temperature (0 makes calls cacheable)")
	fs.IntVar(&b.maxTokens, "max-tokens", 4096, "openai: max tokens per call (llamacpp: 512 unless set)")
	fs.IntVar(&b.concurrency, "backend-concurrency", 8, "openai: most calls in flight at once (llamacpp: always 1, the server computes one at a time)")
	fs.DurationVar(&b.timeout, "backend-timeout", 120*time.Second, "openai: timeout of one HTTP attempt")
	fs.StringVar(&b.simConfig, "sim-config", "", "sim: YAML file over the sim's documented defaults")
	fs.Int64Var(&b.simSeed, "sim-seed", 1, "sim: seed of the simulated executor")
	fs.BoolVar(&b.noCache, "no-cache", false, "do not cache deterministic executor calls")
	fs.StringVar(&b.cacheRedis, "cache-redis", "", "host:port of a Redis/Valkey server that the canvas replicas share as a second executor cache tier (password from $FLOWSTEER_CACHE_REDIS_PASSWORD); unreachable = per-replica caching")
	fs.DurationVar(&b.cacheRedisTTL, "cache-redis-ttl", 24*time.Hour, "expiry of shared executor cache entries")
	fs.DurationVar(&b.runTimeout, "run-timeout", 600*time.Second, "timeout for one whole workflow run")
	fs.StringVar(&b.mathGrader, "math-grader", "auto", "math answers: auto (math-verify, the field's grader, via a Python worker; flowsteer's Go scorer where it is not installed: make mathverify), math-verify (required) or go")
	b.llama.register(fs, "llamacpp-")
}

func (b *backendFlags) options() (system.Options, error) {
	o := system.DefaultOptions()
	o.Backend = b.backend
	o.SimConfig = b.simConfig
	seed := b.simSeed
	o.SimSeed = &seed
	o.Engine.RunTimeout = b.runTimeout
	o.MathGrader = b.mathGrader
	if b.noCache {
		o.CacheEntries = -1
	}
	if b.cacheRedis != "" {
		o.SharedCache = executor.RedisConfig{Addr: b.cacheRedis, TTL: b.cacheRedisTTL, Password: os.Getenv("FLOWSTEER_CACHE_REDIS_PASSWORD")}
	}
	if b.backend == system.KindOpenAI {
		if b.baseURL == "" {
			return o, fmt.Errorf("--backend openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
		}
		if b.model == "" {
			return o, fmt.Errorf("--backend openai needs --model")
		}
		o.OpenAI = executor.OpenAIConfig{
			Name: "openai", BaseURL: b.baseURL, Model: b.model, APIKeyEnv: b.apiKeyEnv, Temperature: b.temperature,
			MaxTokens: b.maxTokens, MaxConcurrency: b.concurrency, Timeout: b.timeout,
		}
	}
	if b.backend == system.KindLlamaCpp {
		o.OpenAI = executor.OpenAIConfig{Temperature: b.temperature, Timeout: b.timeout}
		if b.fs != nil && b.fs.Changed("max-tokens") {
			o.OpenAI.MaxTokens = b.maxTokens
		}
		o.LlamaCpp = b.llama.config()
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
