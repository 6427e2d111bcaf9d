package engine_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/engine"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/operator/builtin"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

func TestBackendErrorsFailTheNodeAndLaterStagesRun(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		requests int
		errHas   []string
	}{
		{"500 until retries are exhausted", http.StatusInternalServerError, 3, []string{"AnswerGenerate", "500 Internal Server Error", "gave up after 3 attempts"}},
		{"503 until retries are exhausted", http.StatusServiceUnavailable, 3, []string{"503"}},
		{"429 until retries are exhausted", http.StatusTooManyRequests, 3, []string{"429"}},
		{"400 is not retried", http.StatusBadRequest, 1, []string{"400 Bad Request"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(op string, _ int, _ req) rep {
				if op == "AnswerGenerate" {
					return rep{Status: tc.status}
				}
				return rep{Text: canned[op]}
			})
			reg := srv.registry(t, func(c *executor.OpenAIConfig) { c.MaxRetries = 2 })
			e := newEngine(t, reg, engineOpts{cache: executor.NewCache(0)})
			ex, err := e.Execute(context.Background(), canvas.ExecRequest{Graph: graph(t, "AnswerGenerate -> Format -> Review", nil), Task: mathTask, Library: builtin.Library()})
			if err != nil {
				t.Fatalf("Execute returned %v; a failed node is not a run error", err)
			}
			n := requireStatus(t, ex, "node_1", 0, canvas.NodeFailed)
			for _, s := range tc.errHas {
				if !strings.Contains(n.Error, s) {
					t.Errorf("node error %q lacks %q", n.Error, s)
				}
			}
			if got := len(srv.requestsOf("AnswerGenerate")); got != tc.requests {
				t.Errorf("%d AnswerGenerate requests, want %d", got, tc.requests)
			}
			requireStatus(t, ex, "node_2", 0, canvas.NodeOK)
			requireStatus(t, ex, "node_3", 0, canvas.NodeOK)
			if ex.Error != "" {
				t.Errorf("run error %q, want none", ex.Error)
			}
			// Errors are never cached: a second run asks again.
			run(t, e, graph(t, "AnswerGenerate", nil), mathTask)
			if got := len(srv.requestsOf("AnswerGenerate")); got != 2*tc.requests {
				t.Errorf("a failed call was answered from the cache (%d requests)", got)
			}
		})
	}
}

// cannedSlow answers with the canned replies, op's only after 10s (longer
// than any timeout under test).
func cannedSlow(slow string) func(op string, n int, r req) rep {
	return func(op string, _ int, _ req) rep {
		if op == slow {
			return rep{Text: canned[op], Delay: 10 * time.Second}
		}
		return rep{Text: canned[op]}
	}
}

func TestNodeTimeoutFailsOnlyThatNode(t *testing.T) {
	srv := newServer(t, cannedSlow("AnswerGenerate"))
	e := newEngine(t, srv.registry(t, nil), engineOpts{cfg: func(c *engine.Config) { c.NodeTimeout = 150 * time.Millisecond }})
	start := time.Now()
	ex := run(t, e, graph(t, "AnswerGenerate -> Format", nil), mathTask)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the run took %s despite a 150ms node timeout", d)
	}
	n := requireStatus(t, ex, "node_1", 0, canvas.NodeFailed)
	if !strings.Contains(n.Error, "node_1 timed out after 150ms") {
		t.Errorf("node error %q does not name the timeout", n.Error)
	}
	requireStatus(t, ex, "node_2", 0, canvas.NodeOK)
	if ex.Error != "" {
		t.Errorf("a node timeout is not a run error: %q", ex.Error)
	}
}

func TestRunTimeoutSkipsRemainingStages(t *testing.T) {
	cases := []struct {
		name    string
		dsl     string
		failed  []string
		skipped []string
	}{
		{"stages after the slow one are skipped", "AnswerGenerate -> Custom -> Format -> Review ? Revise : done", []string{"node_2"}, []string{"node_3", "node_4_cond", "node_4_true"}},
		{"timing out in the last stage is still reported", "AnswerGenerate -> Custom", []string{"node_2"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, cannedSlow("Custom"))
			e := newEngine(t, srv.registry(t, nil), engineOpts{cfg: func(c *engine.Config) { c.RunTimeout = 300 * time.Millisecond }})
			start := time.Now()
			ex := run(t, e, graph(t, tc.dsl, nil), mathTask)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("the run took %s despite a 300ms run timeout", d)
			}
			requireStatus(t, ex, "node_1", 0, canvas.NodeOK)
			for _, id := range tc.failed {
				requireStatus(t, ex, id, 0, canvas.NodeFailed)
			}
			for _, id := range tc.skipped {
				requireStatus(t, ex, id, 0, canvas.NodeSkipped)
			}
			if !strings.Contains(ex.Error, "timed out after 300ms") {
				t.Errorf("run error %q, want it to name the run timeout", ex.Error)
			}
			if n := srv.count(); n != 2 {
				t.Errorf("%d requests, want 2 (nothing after the timeout)", n)
			}
		})
	}
}

func TestCancellationStopsPromptly(t *testing.T) {
	cases := []struct {
		name    string
		dsl     string
		skipped []string
	}{
		{"stages", "Custom -> Format -> Review", []string{"node_2", "node_3"}},
		{"loop iterations", "(Custom -> Review) * 10", []string{"node_1_l1"}},
		{"parallel branches", "[Custom, Custom] -> ScEnsemble", []string{"node_2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, cannedSlow("Custom"))
			e := newEngine(t, srv.registry(t, nil), engineOpts{})
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			start := time.Now()
			ex, err := e.Execute(ctx, canvas.ExecRequest{Graph: graph(t, tc.dsl, nil), Task: mathTask, Library: builtin.Library()})
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("cancellation took %s to stop the run", d)
			}
			for _, n := range ex.Nodes {
				if n.Status == canvas.NodeOK {
					t.Errorf("%s ran after cancellation: %s", n.NodeID, describe(ex))
				}
			}
			for _, id := range tc.skipped {
				requireStatus(t, ex, id, 0, canvas.NodeSkipped)
			}
			if !strings.Contains(ex.Error, "stopped") || !strings.Contains(ex.Error, "canceled") {
				t.Errorf("run error %q, want it to say the run was cancelled", ex.Error)
			}
			if len(ex.Nodes) > 4 {
				t.Errorf("%d node results after cancellation: %s", len(ex.Nodes), describe(ex))
			}
		})
	}
}

func TestOperatorPanicIsANodeError(t *testing.T) {
	lib, err := operator.NewLibrary("boom", []operator.Def{
		{Name: "Boom", Impl: operator.ImplFunc(func(context.Context, operator.Env, operator.Call) (operator.Output, error) {
			var m map[string]int
			m["x"]++ // nil map write: panics
			return operator.Output{}, nil
		})},
		{Name: "Echo", Impl: operator.ImplFunc(func(context.Context, operator.Env, operator.Call) (operator.Output, error) {
			return operator.Output{Forward: "echo"}, nil
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, answers(canned))
	e := newEngine(t, srv.registry(t, nil), engineOpts{})
	g, err := workflow.Parse("Boom -> Echo", lib)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := e.Execute(context.Background(), canvas.ExecRequest{Graph: g, Task: mathTask, Library: lib})
	if err != nil {
		t.Fatal(err)
	}
	n := requireStatus(t, ex, "node_1", 0, canvas.NodeFailed)
	if !strings.Contains(n.Error, "Boom") || !strings.Contains(n.Error, "panicked") {
		t.Errorf("node error %q", n.Error)
	}
	requireStatus(t, ex, "node_2", 0, canvas.NodeOK)
	if ex.FinalAnswer != "echo" {
		t.Errorf("final answer %q", ex.FinalAnswer)
	}
}

func TestOperatorWithoutImplementationIsANodeError(t *testing.T) {
	srv := newServer(t, answers(canned))
	e := newEngine(t, srv.registry(t, nil), engineOpts{})
	ex, err := e.Execute(context.Background(), canvas.ExecRequest{Graph: graph(t, "AnswerGenerate", nil), Task: mathTask, Library: operator.Default()})
	if err != nil {
		t.Fatal(err)
	}
	n := requireStatus(t, ex, "node_1", 0, canvas.NodeFailed)
	if !strings.Contains(n.Error, "no implementation") {
		t.Errorf("node error %q", n.Error)
	}
}

func TestProgrammerWithoutSandboxIsANodeError(t *testing.T) {
	srv := newServer(t, answers(canned))
	ex := run(t, newEngine(t, srv.registry(t, nil), engineOpts{}), graph(t, "Programmer -> Format", nil), mathTask)
	n := requireStatus(t, ex, "node_1", 0, canvas.NodeFailed)
	if !strings.Contains(n.Error, "no sandbox") {
		t.Errorf("node error %q", n.Error)
	}
	requireStatus(t, ex, "node_2", 0, canvas.NodeOK)
}

func TestExecuteRejectsBadRequests(t *testing.T) {
	srv := newServer(t, answers(canned))
	e := newEngine(t, srv.registry(t, nil), engineOpts{})
	g := graph(t, "AnswerGenerate", nil)
	cases := []struct {
		name string
		req  canvas.ExecRequest
		has  string
	}{
		{"no graph", canvas.ExecRequest{Task: mathTask, Library: builtin.Library()}, "graph"},
		{"no library", canvas.ExecRequest{Graph: g, Task: mathTask}, "library"},
		{"unknown backend", canvas.ExecRequest{Graph: g, Task: mathTask, Library: builtin.Library(), Backend: "nope"}, "nope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Execute(context.Background(), tc.req)
			if !errors.Is(err, canvas.ErrInvalid) || !strings.Contains(err.Error(), tc.has) {
				t.Errorf("err = %v, want ErrInvalid naming %q", err, tc.has)
			}
		})
	}
	if n := srv.count(); n != 0 {
		t.Errorf("rejected requests made %d backend calls", n)
	}
}

func TestEmptyGraphExecutesToNothing(t *testing.T) {
	srv := newServer(t, answers(canned))
	ex := run(t, newEngine(t, srv.registry(t, nil), engineOpts{}), workflow.New(), mathTask)
	if len(ex.Nodes) != 0 || ex.FinalAnswer != "" || ex.Error != "" {
		t.Errorf("empty graph: %+v", ex)
	}
}

func TestNewValidatesItsConfig(t *testing.T) {
	srv := newServer(t, answers(canned))
	reg := srv.registry(t, nil)
	cases := []struct {
		name string
		mut  func(*engine.Config)
		reg  *executor.Registry
		has  string
	}{
		{"run timeout", func(c *engine.Config) { c.RunTimeout = 0 }, reg, "run_timeout"},
		{"node timeout", func(c *engine.Config) { c.NodeTimeout = -time.Second }, reg, "node_timeout"},
		{"sandbox cache", func(c *engine.Config) { c.SandboxCache = -1 }, reg, "sandbox_cache"},
		{"unknown default backend", func(c *engine.Config) { c.Backend = "ghost" }, reg, "ghost"},
		{"unknown operator backend", func(c *engine.Config) { c.OperatorBackends = map[string]string{"Format": "ghost"} }, reg, "operator_backends.Format"},
		{"no registry", nil, nil, "no executor backends"},
		{"empty registry", nil, executor.NewRegistry(), "no backend is registered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := engine.DefaultConfig()
			if tc.mut != nil {
				tc.mut(&cfg)
			}
			_, err := engine.New(cfg, tc.reg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.has) {
				t.Errorf("err = %v, want one naming %q", err, tc.has)
			}
		})
	}
}

func TestOperatorBackendsRouteOperatorsToTheirBackend(t *testing.T) {
	main := newServer(t, answers(canned))
	other := newServer(t, answers(with(canned, "Format", "<answer>FROM-OTHER</answer>")))
	reg := main.registry(t, nil)
	ob, err := executor.NewOpenAI(executor.OpenAIConfig{Name: "other", BaseURL: other.srv.URL, Model: "other-model", APIKeyEnv: "FLOWSTEER_ENGINE_TEST_UNSET_KEY", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(ob); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, reg, engineOpts{cfg: func(c *engine.Config) { c.OperatorBackends = map[string]string{"Format": "other"} }})
	ex := run(t, e, graph(t, "AnswerGenerate -> Format", nil), mathTask)
	if ex.FinalAnswer != "FROM-OTHER" {
		t.Errorf("final answer %q, want Format's from the other backend", ex.FinalAnswer)
	}
	if len(main.requestsOf("Format")) != 0 || len(other.requestsOf("AnswerGenerate")) != 0 {
		t.Errorf("operators reached the wrong backend")
	}
	if ex.Stats.Backend != "scripted" || ex.Stats.Model != "scripted-model" || ex.Stats.Simulated {
		t.Errorf("stats name %q/%q simulated=%v", ex.Stats.Backend, ex.Stats.Model, ex.Stats.Simulated)
	}
}

func TestOperatorDisabledForTheFamilyIsANodeError(t *testing.T) {
	srv := newServer(t, answers(canned))
	e := newEngine(t, srv.registry(t, nil), engineOpts{})
	mc := task.Task{ID: "mc-1", Family: task.MultipleChoice, Question: "Pick one.", Choices: []string{"1", "2"}, Answers: []string{"a"}}
	ex := run(t, e, graph(t, "Programmer -> AnswerGenerate", nil), mc)
	n := requireStatus(t, ex, "node_1", 0, canvas.NodeFailed)
	if !strings.Contains(n.Error, "Programmer is disabled for mc tasks") {
		t.Errorf("node error %q", n.Error)
	}
	requireStatus(t, ex, "node_2", 0, canvas.NodeOK)
}
