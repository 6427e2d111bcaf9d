// Package system assembles a flowsteer process from its parts: the
// sandbox, the executor backends behind a shared cache, the execution
// engine, the task scorer and the canvas. Commands and tests build their
// process here so every entry point wires the data path the same way.
package system

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/engine"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/executor/sim"
	_ "github.com/flowsteer/flowsteer/internal/kinds" // every built-in backend kind registers itself
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/operator/builtin"
	"github.com/flowsteer/flowsteer/internal/sandbox"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/task/mathverify"
)

// Options choose the parts of a process.
type Options struct {
	// Backend is the executor backend kind (executor.Backends; "" =
	// sim) and BackendConfig its options: a value from
	// executor.Backends.Decode, or the kind's config type filled in by
	// hand (nil = the kind's defaults).
	Backend       string
	BackendConfig component.Config
	// APIKey, when set, is the only API key the backend sends (a
	// server's declared credential; "" = none), never one from the
	// environment.
	APIKey *string
	// Progress receives one-line messages of a slow backend start (a
	// managed llama.cpp server); nil logs them with slog.
	Progress func(msg string)
	// CacheEntries bounds the shared executor cache; negative disables it.
	CacheEntries int
	Engine       engine.Config
	Sandbox      sandbox.Config
	Store        canvas.StoreConfig
	// NoExecute builds a canvas without an executor (edits only).
	NoExecute bool
	// Libraries are extra operator libraries, chosen per episode by
	// EpisodeConfig.library: each a kind from operator.Libraries with its
	// options (builtin, or remote: served by another process), created
	// by BuildContext with LibraryDeps.
	Libraries   []operator.LibrarySpec
	LibraryDeps operator.LibraryDeps

	// SharedCache, when its Addr is set, puts a Redis/Valkey tier shared by
	// the canvas replicas behind the cache (ignored when the cache is off).
	SharedCache executor.RedisConfig
	// MathGrader picks the math grader: "" or "go" for the Go scorer;
	// "auto" for math-verify (internal/task/mathverify) with the Go scorer
	// as fallback where it cannot run; "math-verify" to require it.
	MathGrader string
}

// DefaultOptions run offline on the simulated backend.
func DefaultOptions() Options {
	return Options{Backend: sim.Kind, Engine: engine.DefaultConfig(), Store: canvas.DefaultStoreConfig()}
}

// System is an assembled process.
type System struct {
	Canvas   *canvas.Canvas
	Engine   *engine.Engine
	Sandbox  *sandbox.Runner
	Backends *executor.Registry
	Cache    *executor.Cache
	Library  *operator.Library
	Scorer   *Scorer
	Store    *canvas.MemoryStore
	// Simulated is true when the default backend is the offline simulation.
	Simulated bool
	// closers release what backends started (a managed llama.cpp
	// server), last first.
	closers []func() error

	redis *executor.RedisTier // the shared cache tier's connections, if any
	// mathUnavailable says why math grader "auto" fell back to the Go
	// scorer (math-verify could not start).
	mathUnavailable string
}

// Close releases what the System started: the managed llama.cpp server
// and the shared cache tier's connections. Safe to call more than once and
// on any System.
func (s *System) Close() error {
	if s == nil {
		return nil
	}
	if s.redis != nil {
		_ = s.redis.Close()
		s.redis = nil
	}
	if s.Scorer != nil && s.Scorer.Math != nil {
		_ = s.Scorer.Math.Close()
	}
	var err error
	for i := len(s.closers) - 1; i >= 0; i-- {
		err = errors.Join(err, s.closers[i]())
	}
	s.closers = nil
	return err
}

// Build assembles a System; see BuildContext.
func Build(o Options) (*System, error) {
	return BuildContext(context.Background(), o)
}

// BuildContext assembles a System. ctx bounds only what starting takes
// (the managed llama.cpp server's start); call Close when done.
func BuildContext(ctx context.Context, o Options) (_ *System, err error) {
	s := &System{Library: builtin.Library()}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	store, err := canvas.NewMemoryStore(o.Store)
	if err != nil {
		return nil, err
	}
	s.Store = store
	// The default library with implementations replaces the bare one.
	libs := operator.NewRegistryWith(s.Library)
	extra, err := operator.NewLibraries(ctx, o.Libraries, o.LibraryDeps)
	if err != nil {
		return nil, err
	}
	for _, l := range extra {
		if err := libs.Register(l); err != nil {
			return nil, err
		}
	}
	if o.NoExecute {
		s.Canvas = canvas.New(canvas.WithStore(store), canvas.WithLibraries(libs))
		return s, nil
	}
	sb, err := sandbox.New(o.Sandbox)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s.Sandbox = sb
	s.Scorer = &Scorer{Runner: sb}
	switch strings.ToLower(o.MathGrader) {
	case "", "go":
	case "auto", "math-verify":
		g := mathverify.New(mathverify.Config{})
		if err := g.Start(); err != nil {
			if strings.EqualFold(o.MathGrader, "math-verify") {
				return nil, err
			}
			// auto without math-verify is the Go scorer, plainly: every
			// score then reads as it would with "go" (a replay or a rerun
			// elsewhere scores the same), and MathGraderName says why.
			s.mathUnavailable = err.Error()
			break
		}
		s.Scorer.Math = g
	default:
		return nil, fmt.Errorf("math grader: unknown %q: use auto, math-verify or go", o.MathGrader)
	}
	s.Backends = executor.NewRegistry()
	b, err := s.newBackend(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := s.Backends.Register(b); err != nil {
		return nil, err
	}
	s.Simulated = b.Simulated()
	if o.CacheEntries >= 0 {
		s.Cache = executor.NewCache(o.CacheEntries)
		if o.SharedCache.Addr != "" {
			tier, err := executor.NewRedisTier(o.SharedCache)
			if err != nil {
				return nil, err
			}
			s.Cache.SetShared(tier, executor.SharedOptions{})
			s.redis = tier
		}
	}
	ecfg := o.Engine
	if ecfg.RunTimeout == 0 {
		ecfg = engine.DefaultConfig()
	}
	s.Engine, err = engine.New(ecfg, s.Backends, s.Cache, sb)
	if err != nil {
		return nil, err
	}
	s.Canvas = canvas.New(canvas.WithStore(store), canvas.WithLibraries(libs), canvas.WithExecutor(s.Engine), canvas.WithScorer(s.Scorer))
	return s, nil
}

// newBackend creates o's backend through the registry, the one place
// that knows the kinds.
func (s *System) newBackend(ctx context.Context, o Options) (executor.Backend, error) {
	kind := o.Backend
	if kind == "" {
		kind = sim.Kind
	}
	cfg := o.BackendConfig
	if cfg == nil {
		var err error
		if cfg, err = executor.Backends.Decode(kind, nil); err != nil {
			return nil, err
		}
	} else if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := executor.Deps{OnClose: func(f func() error) { s.closers = append(s.closers, f) }, Progress: o.Progress}
	if d.Progress == nil {
		d.Progress = func(msg string) { slog.Default().Info(msg) }
	}
	if o.APIKey != nil {
		d.APIKey.Use, d.APIKey.Key = true, *o.APIKey
	}
	return executor.Backends.Create(ctx, kind, cfg, d)
}

// Scorer adapts the task scorers to the canvas, running code through the sandbox.
type Scorer struct {
	Runner *sandbox.Runner
	// Math grades math answers when set (math-verify); nil: the Go scorer.
	Math *mathverify.Grader
}

// Score implements canvas.Scorer.
func (s *Scorer) Score(ctx context.Context, t task.Task, answer string) canvas.Score {
	var sc task.Scorer
	if s.Math != nil {
		sc.Math = s.Math
	}
	r := sc.Score(ctx, t, answer, codeRunner{s.Runner})
	return canvas.Score{Value: r.Score, Correct: r.Correct, Method: r.Method, Explanation: r.Explanation}
}

// CodeRunner is the sandbox as a task.CodeRunner (for task.VetPublicTests).
func (s *Scorer) CodeRunner() task.CodeRunner { return codeRunner{s.Runner} }

// codeRunner adapts the sandbox to task.CodeRunner.
type codeRunner struct{ r *sandbox.Runner }

func (c codeRunner) RunPython(ctx context.Context, code, stdin string, timeout time.Duration) (string, int, bool, error) {
	if c.r == nil {
		return "", 0, false, fmt.Errorf("no sandbox configured")
	}
	res, err := c.r.Run(ctx, sandbox.Spec{Code: code, Stdin: stdin, Timeout: min(timeout, c.r.Config().Timeout)})
	if err != nil {
		return res.Stdout, res.ExitCode, res.TimedOut, err
	}
	return res.Stdout, res.ExitCode, res.TimedOut, nil
}
