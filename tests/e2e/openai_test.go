package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeChat answers every chat completion with a reply that the Programmer
// (a code block printing 42) and Format (<answer>) operators can read.
func fakeChat(t *testing.T, calls *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		var req struct {
			Model string `json:"model"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "fake-model" {
			http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
			return
		}
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"model": "fake-model",
			"choices": []map[string]any{{"index": 0, "finish_reason": "stop", "message": map[string]any{
				"role": "assistant", "content": "```python\nprint(6 * 7)\n```\n<answer>42</answer>",
			}}},
			"usage": map[string]any{"prompt_tokens": 50, "completion_tokens": 12},
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRunWorkflowAgainstAnOpenAICompatibleEndpoint(t *testing.T) {
	var calls atomic.Int64
	srv := fakeChat(t, &calls)
	dir := t.TempDir()
	tasks := filepath.Join(dir, "gsm8k.jsonl")
	if err := os.WriteFile(tasks, []byte(`{"question": "What is 6 times 7?", "answer": "6*7=42\n#### 42"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary(t), "run-workflow", "--dsl", "Programmer -> Format", "--task-file", tasks,
		"--backend", "openai", "--base-url", srv.URL+"/v1", "--model", "fake-model").CombinedOutput()
	if err != nil {
		t.Fatalf("run-workflow: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"openai / fake-model", "Programmer", "Format", "final answer: 42", "correct: 1/1"} {
		if !strings.Contains(s, want) {
			t.Fatalf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "SIMULATED") {
		t.Fatalf("a real backend was labelled simulated:\n%s", s)
	}
	if calls.Load() != 2 {
		t.Fatalf("backend calls = %d, want 2 (Programmer, Format)", calls.Load())
	}
}

func TestRunWorkflowWithTheSimSaysSimulated(t *testing.T) {
	dir := t.TempDir()
	tasks := filepath.Join(dir, "gsm8k.jsonl")
	if err := os.WriteFile(tasks, []byte(`{"question": "What is 6 times 7?", "answer": "#### 42"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary(t), "run-workflow", "--dsl", "Plan -> [Programmer, AnswerGenerate] -> ScEnsemble -> Review ? Revise : done -> Format",
		"--task-file", tasks, "--backend", "sim").CombinedOutput()
	if err != nil {
		t.Fatalf("run-workflow: %v\n%s", err, out)
	}
	for _, want := range []string{"SIMULATED", "node_2_p0", "ScEnsemble", "final answer:", "correct:"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRunWorkflowNamesBadInput(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad dsl", []string{"--dsl", "Plan -> [Programmer", "--task-file", "x.jsonl"}, "--dsl"},
		{"missing file", []string{"--dsl", "Custom", "--task-file", "/nonexistent/tasks.jsonl"}, "no such file"},
		{"openai without url", []string{"--dsl", "Custom", "--task-file", "x", "--backend", "openai"}, "--base-url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := exec.Command(binary(t), append([]string{"run-workflow"}, c.args...)...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), c.want) {
				t.Fatalf("got %v: %s; want an error mentioning %q", err, out, c.want)
			}
		})
	}
}
