// Package engine runs a workflow graph on a task: stages in order, parallel
// branches concurrently, conditionals and loops driven by checker
// verdicts, with the data flow of SPEC section 3 (operator.Flow: each
// operator's Def binds its inputs from it and advances it). Every backend
// call goes through a cache shared by all episodes of the process, so
// re-running an unchanged prefix after an edit, or another group member
// building the same prefix, pays nothing.
//
// Data path: canvas -> engine (here) -> operators -> executor backend /
// sandbox -> NodeResults and the final answer -> canvas feedback.
package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/executor/sim"
	"github.com/flowsteer/flowsteer/internal/obs"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/sandbox"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// Sandbox runs Python; *sandbox.Runner is the real one.
type Sandbox interface {
	Run(ctx context.Context, s sandbox.Spec) (sandbox.Result, error)
}

// Config tunes an Engine.
type Config struct {
	// Backend is the default executor backend ("" = the registry's default).
	Backend string `yaml:"backend"`
	// OperatorBackends overrides the backend per operator name.
	OperatorBackends map[string]string `yaml:"operator_backends"`
	RunTimeout       time.Duration     `yaml:"run_timeout"`  // whole workflow, default 600s
	NodeTimeout      time.Duration     `yaml:"node_timeout"` // one node, default 300s
	// SandboxCache bounds the memo of sandbox runs (code, stdin) -> result.
	SandboxCache int `yaml:"sandbox_cache"`
}

// DefaultConfig returns SPEC section 5's defaults.
func DefaultConfig() Config {
	return Config{RunTimeout: 600 * time.Second, NodeTimeout: 300 * time.Second, SandboxCache: 20000}
}

// Validate names the bad field.
func (c Config) Validate() error {
	if c.RunTimeout <= 0 {
		return fmt.Errorf("run_timeout must be positive, got %s", c.RunTimeout)
	}
	if c.NodeTimeout <= 0 {
		return fmt.Errorf("node_timeout must be positive, got %s", c.NodeTimeout)
	}
	if c.SandboxCache < 0 {
		return fmt.Errorf("sandbox_cache must be >= 0, got %d", c.SandboxCache)
	}
	return nil
}

// Engine executes workflows. It implements canvas.Executor.
type Engine struct {
	cfg      Config
	backends *executor.Registry
	cache    *executor.Cache
	sandbox  Sandbox
	runs     *runCache
	recorder atomic.Pointer[CallRecorder]
}

// CallRecorder hears every executor call an operator makes, above the
// cache (a cache hit is recorded too, with the answer it got), with the
// episode it belongs to ("" outside episodes). internal/replay records
// calls this way so that an episode can be replayed without the backend.
// It must be safe for concurrent use and must not block.
type CallRecorder func(episode string, turn int, req executor.Request, resp executor.Response, err error)

// SetRecorder installs (nil removes) the recorder of executor calls.
func (e *Engine) SetRecorder(r CallRecorder) {
	if r == nil {
		e.recorder.Store(nil)
		return
	}
	e.recorder.Store(&r)
}

// New returns an engine. cache may be nil to disable caching; sb may be
// nil, and then Programmer and Test fail with a clear node error.
func New(cfg Config, backends *executor.Registry, cache *executor.Cache, sb Sandbox) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if backends == nil {
		return nil, errors.New("engine: no executor backends")
	}
	if _, err := backends.Get(cfg.Backend); err != nil {
		return nil, fmt.Errorf("engine: backend: %w", err)
	}
	for op, b := range cfg.OperatorBackends {
		if _, err := backends.Get(b); err != nil {
			return nil, fmt.Errorf("engine: operator_backends.%s: %w", op, err)
		}
	}
	return &Engine{cfg: cfg, backends: backends, cache: cache, sandbox: sb, runs: newRunCache(cfg.SandboxCache)}, nil
}

// CacheStats reports the executor cache's counters (zero without a cache).
func (e *Engine) CacheStats() executor.CacheStats {
	if e.cache == nil {
		return executor.CacheStats{}
	}
	return e.cache.Stats()
}

// backendFor picks the backend of one operator.
func (e *Engine) backendFor(run, op string) (executor.Backend, error) {
	name := run
	if b, ok := e.cfg.OperatorBackends[op]; ok {
		name = b
	}
	if name == "" {
		name = e.cfg.Backend
	}
	b, err := e.backends.Get(name)
	if err != nil {
		return nil, err
	}
	if e.cache != nil {
		b = executor.Cached(b, e.cache)
	}
	return executor.Instrumented(b), nil
}

// run is the state of one workflow execution.
type run struct {
	e       *Engine
	req     canvas.ExecRequest
	backend string
	pub     task.Task

	mu    sync.Mutex
	nodes []canvas.NodeResult
	stats canvas.ExecStats
	notes map[string]bool
}

// Execute runs req.Graph on req.Task.
func (e *Engine) Execute(ctx context.Context, req canvas.ExecRequest) (canvas.Execution, error) {
	start := time.Now()
	if req.Graph == nil {
		return canvas.Execution{}, fmt.Errorf("%w: no workflow graph to execute", canvas.ErrInvalid)
	}
	if req.Library == nil {
		return canvas.Execution{}, fmt.Errorf("%w: no operator library to execute the workflow with", canvas.ErrInvalid)
	}
	ctx, span := obs.Start(ctx, "workflow.execute", obs.EpisodeID.String(req.Episode), obs.TaskID.String(req.Task.ID), obs.Text(obs.DSL, req.Graph.String()))
	defer span.End()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, e.cfg.RunTimeout)
	defer cancel()
	r := &run{e: e, req: req, backend: req.Backend, pub: canvas.PublicTask(req.Task), notes: map[string]bool{}}
	def, err := e.backendFor(req.Backend, "")
	if err != nil {
		err = fmt.Errorf("%w: backend: %w", canvas.ErrInvalid, err)
		obs.End(span, err)
		return canvas.Execution{}, err
	}
	r.stats.Backend, r.stats.Model, r.stats.Simulated = def.Name(), def.Model(), def.Simulated()
	span.SetAttributes(obs.Backend.String(def.Name()), obs.GenAIRequestModel.String(def.Model()), obs.Simulated.Bool(def.Simulated()))
	st := &operator.Flow{} // how operators read and change it is in their Defs (Bind, Advance)
	var runErr error
	for _, s := range req.Graph.Stages {
		if ctx.Err() != nil {
			r.skip(s)
			continue
		}
		r.stage(ctx, s, st)
	}
	// The run may also be stopped while its last stage runs: that stage's
	// nodes fail, and the run still reports why.
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
			runErr = fmt.Errorf("workflow run timed out after %s: %w", e.cfg.RunTimeout, err)
		} else {
			runErr = fmt.Errorf("workflow run stopped: %w", err)
		}
	}
	ex := canvas.Execution{Executed: true, Nodes: inGraphOrder(req.Graph, r.nodes), FinalAnswer: finalText(st.Prev), Stats: r.stats}
	ex.Stats.Duration = time.Since(start)
	var notes []string
	for n := range r.notes {
		notes = append(notes, n)
	}
	sort.Strings(notes) // map order must not make equal runs differ
	ex.Note = strings.Join(notes, "; ")
	if runErr != nil {
		ex.Error = runErr.Error()
		span.SetStatus(codes.Error, ex.Error)
	}
	span.SetAttributes(obs.Nodes.Int(len(ex.Nodes)), obs.Calls.Int(ex.Stats.Calls), obs.GenAIInputTokens.Int64(ex.Stats.InputTokens), obs.GenAIOutputTokens.Int64(ex.Stats.OutputTokens))
	obs.SetContent(span, obs.Answer, ex.FinalAnswer)
	return ex, nil
}

// inGraphOrder sorts node results as the graph lists its nodes (parallel
// branches finish in any order), keeping each node's iterations in order.
func inGraphOrder(g *workflow.Graph, nodes []canvas.NodeResult) []canvas.NodeResult {
	pos, stage := map[string]int{}, map[string]int{}
	i := 0
	for si, s := range g.Stages {
		for _, n := range s.Nodes() {
			pos[n.ID], stage[n.ID] = i, si
			i++
		}
	}
	out := append([]canvas.NodeResult(nil), nodes...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if stage[a.NodeID] != stage[b.NodeID] {
			return stage[a.NodeID] < stage[b.NodeID]
		}
		if a.Iteration != b.Iteration {
			return a.Iteration < b.Iteration
		}
		return pos[a.NodeID] < pos[b.NodeID]
	})
	return out
}

func finalText(v operator.Value) string {
	if len(v.List) > 0 && v.Text == "" {
		// A workflow ending in a parallel block has no single answer; the
		// first branch's stands for it (add ScEnsemble to vote instead).
		return v.List[0]
	}
	return v.Text
}

func (r *run) stage(ctx context.Context, s *workflow.Stage, st *operator.Flow) {
	switch s.Kind {
	case workflow.Operator:
		r.node(ctx, s.Op, st, 0, 0)
	case workflow.Parallel:
		outs := make([]string, len(s.Branches))
		done := make([]bool, len(s.Branches))
		branchStates := make([]*operator.Flow, len(s.Branches))
		var wg sync.WaitGroup
		for i, n := range s.Branches {
			bs := *st
			branchStates[i] = &bs
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, ran := r.node(ctx, n, branchStates[i], i, 0); ran {
					outs[i] = finalText(branchStates[i].Prev)
					done[i] = true
				}
			}()
		}
		wg.Wait()
		// A failed branch produced nothing: its state still holds the
		// previous stage's output, which must not pose as a solution.
		kept := outs[:0]
		for i, o := range outs {
			if done[i] {
				kept = append(kept, o)
			}
		}
		outs = kept
		st.Prev = operator.Value{List: outs}
		for _, bs := range branchStates {
			st.AfterPlan = st.AfterPlan || bs.AfterPlan
			if bs.LastFeedback != "" {
				st.LastFeedback = bs.LastFeedback
			}
		}
		st.LastSolution = strings.Join(outs, "\n\n")
	case workflow.Conditional:
		v, ok, _ := r.node(ctx, s.Cond, st, 0, 0)
		switch {
		case !ok:
			// A failed checker gives no verdict: neither branch runs.
			r.skipNodes(s.True, s.False)
		case !v:
			r.node(ctx, s.True, st, 0, 0)
			r.skipNodes(s.False)
		default:
			r.skipNodes(s.True)
			if s.False != nil {
				r.node(ctx, s.False, st, 0, 0)
			}
		}
	case workflow.Loop:
		for it := 0; it < s.Count; it++ {
			stop := false
			for j, n := range s.Body {
				if ctx.Err() != nil {
					stop = true
				}
				if stop {
					// Nodes of the last iteration that did not run (a
					// checker passed, or the run was stopped) are
					// reported as skipped, as a conditional's are.
					r.skipIteration(it, s.Body[j:]...)
					break
				}
				if v, ok, _ := r.node(ctx, n, st, 0, it); ok && v {
					stop = true
				}
			}
			if stop {
				break
			}
		}
	}
}

func (r *run) skip(s *workflow.Stage) { r.skipNodes(s.Nodes()...) }

func (r *run) skipNodes(ns ...*workflow.Node) { r.skipIteration(0, ns...) }

func (r *run) skipIteration(it int, ns ...*workflow.Node) {
	for _, n := range ns {
		if n == nil {
			continue
		}
		r.record(canvas.NodeResult{NodeID: n.ID, Operator: n.Operator, Status: canvas.NodeSkipped, Iteration: it})
	}
}

func (r *run) record(nr canvas.NodeResult) {
	r.mu.Lock()
	r.nodes = append(r.nodes, nr)
	r.mu.Unlock()
	if r.req.OnNode != nil {
		r.req.OnNode(nr)
	}
}

// node runs one operator node and updates st. It returns the checker
// verdict (for checkers), whether the node succeeded with a verdict, and
// whether it succeeded at all.
func (r *run) node(ctx context.Context, n *workflow.Node, st *operator.Flow, variant, iteration int) (verdict, ok, ran bool) {
	start := time.Now()
	nr := canvas.NodeResult{NodeID: n.ID, Operator: n.Operator, Iteration: iteration}
	ctx, span := obs.Start(ctx, "workflow.node", obs.NodeID.String(n.ID), obs.Operator.String(n.Operator), obs.Iteration.Int(iteration))
	defer func() { endNode(span, &nr) }()
	def, found := r.req.Library.Lookup(n.Operator)
	if !found || def.Impl == nil {
		nr.Status, nr.Error = canvas.NodeFailed, fmt.Sprintf("operator %s has no implementation in library %s", n.Operator, r.req.Library.Name())
		r.record(nr)
		return false, false, false
	}
	if !def.EnabledForTask(r.req.Task) {
		// The canvas refuses such edits; a workflow given as DSL text
		// (RunWorkflow, eval) reaches here without it.
		why := fmt.Sprintf("operator %s is disabled for %s tasks", def.Name, r.req.Task.Family)
		if def.EnabledFor(r.req.Task.Family) {
			why = fmt.Sprintf("operator %s is disabled: this task has no public tests for it to run", def.Name)
		}
		nr.Status, nr.Error = canvas.NodeFailed, why
		r.record(nr)
		return false, false, false
	}
	backend, err := r.e.backendFor(r.backend, def.Name)
	if err != nil {
		nr.Status, nr.Error = canvas.NodeFailed, err.Error()
		r.record(nr)
		return false, false, false
	}
	call := operator.Call{Task: r.pub, NodeID: n.ID, Prompt: n.Prompt, Inputs: def.BindInputs(*st), Variant: variant*16 + iteration}
	if backend.Simulated() {
		call.Sim = &sim.Context{Task: r.req.Task, AfterPlan: st.AfterPlan, InDecompose: st.InDecompose}
	}
	nctx, cancel := context.WithTimeout(ctx, r.e.cfg.NodeTimeout)
	nenv := &env{r: r, backend: backend}
	out, err := invoke(nctx, def, nenv, call)
	cancel()
	nr.Duration = time.Since(start)
	nr.Calls, nr.InputTokens, nr.OutputTokens = out.Usage.Calls, out.Usage.InputTokens, out.Usage.OutputTokens
	nr.CacheHit = out.Usage.Calls > 0 && out.Usage.CacheHits == out.Usage.Calls
	nenv.mu.Lock()
	nr.Usage = append(cost.Usage(nil), nenv.usage...)
	sandboxSec := nenv.sandboxSec
	nenv.mu.Unlock()
	r.account(out, nr.Usage, sandboxSec)
	if err != nil {
		nr.Status = canvas.NodeFailed
		nr.Error = err.Error()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			nr.Error = fmt.Sprintf("%s timed out after %s: %v", n.ID, r.e.cfg.NodeTimeout, err)
		}
		r.record(nr)
		return false, false, false
	}
	nr.Status = canvas.NodeOK
	nr.Output = out.Forward
	if out.Verdict != nil {
		v := *out.Verdict
		nr.Verdict = &v
		word := "fail"
		if v {
			word = "pass"
		}
		nr.Output = fmt.Sprintf("[%s] %s", word, out.Feedback)
	}
	r.record(nr)
	st.Step(def, out)
	if out.Verdict != nil {
		return *out.Verdict, true, true
	}
	return false, false, true
}

// endNode records a node's outcome on its span.
func endNode(span trace.Span, nr *canvas.NodeResult) {
	span.SetAttributes(obs.NodeStatus.String(string(nr.Status)), obs.CacheHit.Bool(nr.CacheHit), obs.Calls.Int(nr.Calls),
		obs.GenAIInputTokens.Int64(nr.InputTokens), obs.GenAIOutputTokens.Int64(nr.OutputTokens))
	if nr.Status == canvas.NodeFailed {
		span.SetStatus(codes.Error, obs.Bound(nr.Error, obs.MaxContent))
	}
	obs.SetContent(span, obs.Reply, nr.Output)
	span.End()
}

// invoke runs an operator, turning a panic (a reply no parser expected, a
// bug in an operator of another library) into that node's error: one node
// must not take the process down.
func invoke(ctx context.Context, def operator.Def, v *env, c operator.Call) (out operator.Output, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: operator panicked: %v", def.Name, p)
		}
	}()
	return def.Impl.Invoke(ctx, v, c)
}

func (r *run) account(out operator.Output, lines cost.Usage, sandboxSec float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Usage.Merge(lines)
	r.stats.SandboxSeconds += sandboxSec
	u := out.Usage
	r.stats.Calls += u.Calls
	r.stats.CacheHits += u.CacheHits
	r.stats.InputTokens += u.InputTokens
	r.stats.OutputTokens += u.OutputTokens
	r.stats.SavedTokens += u.SavedTokens
	r.stats.SandboxRuns += u.SandboxRuns
	if out.Note != "" {
		r.notes[out.Note] = true
	}
}

// env is what operators of one run use. It accounts every backend call
// and sandbox run of its node (cost accounting: the node's usage by
// backend and model), whatever the operator itself counts.
type env struct {
	r       *run
	backend executor.Backend

	mu         sync.Mutex
	usage      cost.Usage
	sandboxSec float64
}

func (v *env) Complete(ctx context.Context, req executor.Request) (executor.Response, error) {
	resp, err := v.backend.Complete(ctx, req)
	if rec := v.r.e.recorder.Load(); rec != nil {
		(*rec)(v.r.req.Episode, v.r.req.Turn, req, resp, err)
	}
	if err == nil {
		v.mu.Lock()
		v.usage.Add(usageLine(v.backend, req, resp))
		v.mu.Unlock()
	}
	return resp, err
}

// usageLine is one answered call as a cost line: a cache hit's tokens are
// savings, the others billed.
func usageLine(b executor.Backend, req executor.Request, resp executor.Response) cost.Line {
	model := resp.Model
	if model == "" {
		model = req.Model
	}
	if model == "" {
		model = b.Model()
	}
	l := cost.Line{Backend: b.Name(), Model: model, Calls: 1, LatencySeconds: resp.Latency.Seconds(), Simulated: resp.Simulated || b.Simulated()}
	if resp.CacheHit {
		l.CacheHits, l.SavedInputTokens, l.SavedOutputTokens = 1, resp.InputTokens, resp.OutputTokens
		l.LatencySeconds = 0
	} else {
		l.InputTokens, l.CachedInputTokens, l.OutputTokens = resp.InputTokens, resp.CachedInputTokens, resp.OutputTokens
	}
	return l
}

func (v *env) RunPython(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	if v.r.e.sandbox == nil {
		return sandbox.Result{}, errors.New("no sandbox is configured, so generated code cannot run")
	}
	start := time.Now()
	res, err := v.r.e.runs.do(ctx, spec, v.r.e.sandbox)
	v.mu.Lock()
	v.sandboxSec += time.Since(start).Seconds()
	v.mu.Unlock()
	return res, err
}
