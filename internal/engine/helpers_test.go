package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/chatapi/chatapitest"
	"github.com/flowsteer/flowsteer/internal/engine"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/operator/builtin"
	"github.com/flowsteer/flowsteer/internal/sandbox"
	"github.com/flowsteer/flowsteer/internal/sandbox/sandboxtest"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// req is one chat request the scripted server received.
type req struct {
	Op     string // told from the system prompt
	System string
	User   string
}

// rep is a scripted answer. Block, when set, is waited on (or the
// request's cancellation) before answering.
type rep struct {
	Status int
	Text   string
	Delay  time.Duration
	Block  <-chan struct{}
}

// opPhrases tell the operator of a request from its system prompt.
var opPhrases = []struct{ phrase, op string }{
	{"You plan how to solve", "Plan"},
	{"You split a problem", "Decompose"},
	{"You solve the task below", "Custom"},
	{"Think step by step, then give the final answer", "AnswerGenerate"},
	{"You write a complete Python 3 program", "Programmer"},
	{"You write the requested Python 3 function", "Programmer"},
	{"The code below fails its tests", "Test"},
	{"You review a proposed solution", "Review"},
	{"You verify an answer", "Verify"},
	{"You revise a solution", "Revise"},
	{"You combine answers", "Aggregate"},
	{"You extract the final answer", "Format"},
	{"You return the final code", "Format"},
}

func opOf(system string) string {
	for _, p := range opPhrases {
		if strings.HasPrefix(system, p.phrase) {
			return p.op
		}
	}
	return "unknown"
}

// server is a loopback OpenAI-compatible chat server whose answers are
// scripted per operator: script(op, n, r) answers the n-th request of op.
type server struct {
	srv    *httptest.Server
	script func(op string, n int, r req) rep

	mu       sync.Mutex
	reqs     []req
	perOp    map[string]int
	inFlight atomic.Int64
	maxIn    atomic.Int64
	stop     chan struct{}
}

func newServer(t testing.TB, script func(op string, n int, r req) rep) *server {
	t.Helper()
	s := &server{script: script, perOp: map[string]int{}, stop: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		in := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		for {
			m := s.maxIn.Load()
			if in <= m || s.maxIn.CompareAndSwap(m, in) {
				break
			}
		}
		raw, _ := io.ReadAll(hr.Body)
		var r req
		r.System, r.User, _ = chatapitest.SystemUser(raw)
		r.Op = opOf(r.System)
		s.mu.Lock()
		n := s.perOp[r.Op]
		s.perOp[r.Op]++
		s.reqs = append(s.reqs, r)
		s.mu.Unlock()
		a := s.script(r.Op, n, r)
		if a.Delay > 0 {
			select {
			case <-time.After(a.Delay):
			case <-hr.Context().Done():
				return
			case <-s.stop:
				return
			}
		}
		if a.Block != nil {
			select {
			case <-a.Block:
			case <-hr.Context().Done():
				return
			case <-s.stop:
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if a.Status != 0 && a.Status != http.StatusOK {
			w.WriteHeader(a.Status)
			fmt.Fprintf(w, `{"error":{"message":"scripted failure"}}`)
			return
		}
		content, _ := json.Marshal(a.Text)
		fmt.Fprintf(w, `{"model":"scripted-model","choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d}}`,
			content, len(r.System+r.User)/4+1, len(a.Text)/4+1)
	}))
	t.Cleanup(func() {
		close(s.stop)
		s.srv.Close()
	})
	return s
}

func (s *server) requests() []req {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]req(nil), s.reqs...)
}

func (s *server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// requestsOf lists the requests of one operator in arrival order.
func (s *server) requestsOf(op string) []req {
	var out []req
	for _, r := range s.requests() {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// backend returns an OpenAI backend pointing at s, registered in a new
// registry. mut may change its config.
func (s *server) registry(t testing.TB, mut func(*executor.OpenAIConfig)) *executor.Registry {
	t.Helper()
	cfg := executor.OpenAIConfig{
		Name: "scripted", BaseURL: s.srv.URL + "/v1", Model: "scripted-model",
		APIKeyEnv:  "FLOWSTEER_ENGINE_TEST_UNSET_KEY",
		MaxRetries: -1, Timeout: 30 * time.Second, MaxConcurrency: 16,
		BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond,
	}
	if mut != nil {
		mut(&cfg)
	}
	b, err := executor.NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := executor.NewRegistry()
	if err := reg.Register(b); err != nil {
		t.Fatal(err)
	}
	return reg
}

// answers scripts a fixed text per operator; operators without one get
// a 400, which fails their node.
func answers(texts map[string]string) func(string, int, req) rep {
	return func(op string, _ int, _ req) rep {
		if s, ok := texts[op]; ok {
			return rep{Text: s}
		}
		return rep{Status: http.StatusBadRequest}
	}
}

// Canned replies of a well-behaved model.
var canned = map[string]string{
	"Plan":           "<plan>1. Multiply.</plan><approach>arithmetic</approach>",
	"Decompose":      "<sub_problems>1. Find the factors.\n2. Multiply them.</sub_problems><reasoning>two steps</reasoning>",
	"Custom":         "The answer is 42.",
	"AnswerGenerate": "<thought>6*7</thought><answer>42</answer>",
	"Programmer":     "```python\nprint(6 * 7)\n```",
	"Review":         "<review_result>true</review_result><feedback>looks right</feedback>",
	"Verify":         "<is_correct>true</is_correct><confidence>0.9</confidence><answer>42</answer>",
	"Revise":         "<solution>42</solution>",
	"Aggregate":      "<aggregated_answer>42</aggregated_answer>",
	"Format":         "<answer>42</answer>",
	"Test":           "```python\ndef add(a, b):\n    return a + b\n```",
}

func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// realSandbox is the test binary's shared sandbox runner.
func realSandbox(t testing.TB) *sandbox.Runner { return sandboxtest.Runner(t) }

type engineOpts struct {
	cfg   func(*engine.Config)
	cache *executor.Cache
	sb    engine.Sandbox
}

func newEngine(t testing.TB, reg *executor.Registry, o engineOpts) *engine.Engine {
	t.Helper()
	cfg := engine.DefaultConfig()
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	var sb engine.Sandbox
	if o.sb != nil {
		sb = o.sb
	}
	e, err := engine.New(cfg, reg, o.cache, sb)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// graph parses dsl with the default library and sets node prompts.
func graph(t testing.TB, dsl string, prompts map[string]string) *workflow.Graph {
	t.Helper()
	g, err := workflow.Parse(dsl, builtin.Library())
	if err != nil {
		t.Fatalf("parse %q: %v", dsl, err)
	}
	for id, p := range prompts {
		if err := g.SetPrompt(id, p); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func run(t testing.TB, e *engine.Engine, g *workflow.Graph, tk task.Task) canvas.Execution {
	t.Helper()
	return runCtx(t, context.Background(), e, g, tk, "")
}

func runCtx(t testing.TB, ctx context.Context, e *engine.Engine, g *workflow.Graph, tk task.Task, episode string) canvas.Execution {
	t.Helper()
	ex, err := e.Execute(ctx, canvas.ExecRequest{Graph: g.Clone(), Task: tk, Library: builtin.Library(), Episode: episode})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if !ex.Executed {
		t.Fatalf("not executed: %+v", ex)
	}
	return ex
}

// node finds a node's result at an iteration.
func node(t testing.TB, ex canvas.Execution, id string, it int) canvas.NodeResult {
	t.Helper()
	for _, n := range ex.Nodes {
		if n.NodeID == id && n.Iteration == it {
			return n
		}
	}
	t.Fatalf("no result for %s iteration %d in %s", id, it, describe(ex))
	return canvas.NodeResult{}
}

func describe(ex canvas.Execution) string {
	var b strings.Builder
	for _, n := range ex.Nodes {
		fmt.Fprintf(&b, "\n  %s@%d %s %s", n.NodeID, n.Iteration, n.Operator, n.Status)
		if n.Error != "" {
			fmt.Fprintf(&b, " err=%q", n.Error)
		}
		if n.Output != "" {
			fmt.Fprintf(&b, " out=%q", n.Output)
		}
	}
	if ex.Error != "" {
		fmt.Fprintf(&b, "\n  run error: %s", ex.Error)
	}
	return b.String()
}

func requireStatus(t testing.TB, ex canvas.Execution, id string, it int, want canvas.NodeStatus) canvas.NodeResult {
	t.Helper()
	n := node(t, ex, id, it)
	if n.Status != want {
		t.Fatalf("%s@%d is %s, want %s: %s", id, it, n.Status, want, describe(ex))
	}
	return n
}

// Tasks of the engine tests.
var (
	mathTask = task.Task{ID: "m-1", Family: task.Math, Question: "What is 6 times 7?", Answers: []string{"42"}}
	qaTask   = task.Task{ID: "q-1", Family: task.QA, Question: "Where is the tower?", Context: "The tower stands in Paris.", Answers: []string{"Paris"}}
	codeTask = task.Task{
		ID: "k-1", Family: task.Code, Question: "Write a Python function add(a, b) that returns a + b.",
		EntryPoint:  "add",
		PublicTests: task.Tests{Style: task.AssertStyle, Code: "assert add(1, 2) == 3\n"},
		HiddenTests: task.Tests{Style: task.AssertStyle, Code: "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n"},
		Reference:   "def add(a, b):\n    return a + b\n",
	}
)

// countingSandbox counts real runs behind the engine's memo.
type countingSandbox struct {
	inner engine.Sandbox
	runs  atomic.Int64
}

func (c *countingSandbox) Run(ctx context.Context, s sandbox.Spec) (sandbox.Result, error) {
	c.runs.Add(1)
	return c.inner.Run(ctx, s)
}
