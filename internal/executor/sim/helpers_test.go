package sim_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/engine"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/executor/sim"
	"github.com/flowsteer/flowsteer/internal/operator/builtin"
	"github.com/flowsteer/flowsteer/internal/sandbox"
	"github.com/flowsteer/flowsteer/internal/sandbox/sandboxtest"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// realSandbox is the test binary's shared sandbox runner.
func realSandbox(t testing.TB) *sandbox.Runner { return sandboxtest.Runner(t) }

func newSim(t testing.TB, mut func(*sim.Config)) *sim.Backend {
	t.Helper()
	cfg := sim.DefaultConfig()
	if mut != nil {
		mut(&cfg)
	}
	b, err := sim.New("sim", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// simEngine is an engine over a sim backend, with its own cache and the
// shared real sandbox.
func simEngine(t testing.TB, b *sim.Backend) *engine.Engine {
	t.Helper()
	reg := executor.NewRegistry()
	if err := reg.Register(b); err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.DefaultConfig(), reg, executor.NewCache(0), realSandbox(t))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func execute(t testing.TB, e *engine.Engine, dsl string, tk task.Task) canvas.Execution {
	t.Helper()
	lib := builtin.Library()
	g, err := workflow.Parse(dsl, lib)
	if err != nil {
		t.Fatalf("parse %q: %v", dsl, err)
	}
	ex, err := e.Execute(context.Background(), canvas.ExecRequest{Graph: g, Task: tk, Library: lib})
	if err != nil {
		t.Fatalf("execute %q on %s: %v", dsl, tk.ID, err)
	}
	return ex
}

// executeAll runs dsl on every task, a few at a time, and returns the
// executions in task order.
func executeAll(t testing.TB, e *engine.Engine, dsl string, tasks []task.Task) []canvas.Execution {
	t.Helper()
	out := make([]canvas.Execution, len(tasks))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, tk := range tasks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = execute(t, e, dsl, tk)
		}()
	}
	wg.Wait()
	return out
}

// fingerprint is everything of an execution that must repeat exactly.
func fingerprint(ex canvas.Execution) string { return fingerprintOf(ex, true) }

// fingerprintOf leaves the billed tokens out when asked: a cache hit
// bills none.
func fingerprintOf(ex canvas.Execution, tokens bool) string {
	var b strings.Builder
	for _, n := range ex.Nodes {
		fmt.Fprintf(&b, "%s@%d %s %s out=%q err=%q calls=%d", n.NodeID, n.Iteration, n.Operator, n.Status, n.Output, n.Error, n.Calls)
		if tokens {
			fmt.Fprintf(&b, " in=%d out=%d", n.InputTokens, n.OutputTokens)
		}
		if n.Verdict != nil {
			fmt.Fprintf(&b, " verdict=%v", *n.Verdict)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "final=%q error=%q", ex.FinalAnswer, ex.Error)
	return b.String()
}

var numRE = regexp.MustCompile(`-?\d+(?:\.\d+)?`)

// holdsGold reports whether a math answer contains the gold number
// anywhere, which is how the sim decides a solver was right.
func holdsGold(tk task.Task, s string) bool {
	g, err := strconv.ParseFloat(tk.Answers[0], 64)
	if err != nil {
		return false
	}
	for _, m := range numRE.FindAllString(strings.ReplaceAll(s, ",", ""), -1) {
		if v, err := strconv.ParseFloat(m, 64); err == nil && v == g {
			return true
		}
	}
	return false
}

func accuracy(tasks []task.Task, exs []canvas.Execution) float64 {
	n := 0
	for i, ex := range exs {
		if task.Score(context.Background(), tasks[i], ex.FinalAnswer, nil).Correct {
			n++
		}
	}
	return float64(n) / float64(len(exs))
}

// mcTasks are multiple-choice tasks (the generator makes none).
func mcTasks() []task.Task {
	return []task.Task{
		{ID: "mc-1", Family: task.MultipleChoice, Question: "Which number is prime?", Choices: []string{"4", "6", "7", "9"}, Answers: []string{"c"}, Difficulty: 0.3},
		{ID: "mc-2", Family: task.MultipleChoice, Question: "What is 12 divided by 4?", Choices: []string{"2", "3", "4", "6", "8"}, Answers: []string{"b"}, Difficulty: 0.5},
		{ID: "mc-3", Family: task.MultipleChoice, Question: "Which is the largest?", Choices: []string{"0.5", "1/3", "0.45"}, Answers: []string{"a"}, Distractors: []string{"b", "c"}},
	}
}

func request(op string, tk task.Task, inputs map[string]string, msg string) executor.Request {
	return executor.Request{
		Messages: []executor.Message{{Role: "system", Content: op + " instruction"}, {Role: "user", Content: tk.Question + "\n" + msg}},
		Meta:     executor.Meta{Operator: op, TaskID: tk.ID, Inputs: inputs, Sim: &sim.Context{Task: tk}},
	}
}
