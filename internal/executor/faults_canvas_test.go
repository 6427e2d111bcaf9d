package executor_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/task"
)

// TestBackendFaultsAreNodeErrors: with the openai backend behind a canvas,
// a server that fails every call (5xx, 429, hangs, truncated or non-JSON
// bodies, no choices) makes the workflow's node fail with the backend's
// error as feedback on the canvas: the episode goes on, the step is no
// RPC-level error and nothing crashes. An empty answer is an output the
// episode also survives.
func TestBackendFaultsAreNodeErrors(t *testing.T) {
	t.Parallel()
	faults := []struct {
		name    string
		handle  func(w http.ResponseWriter, r *http.Request)
		wantErr string // in the node's error; "" = the node may succeed
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, `{"error":{"message":"boom"}}`, 500) }, "500 Internal Server Error"},
		{"429 with Retry-After", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error":{"message":"rate limit reached"}}`, 429)
		}, "429 Too Many Requests"},
		{"429 without Retry-After", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":{"message":"rate limit reached"}}`, 429)
		}, "429 Too Many Requests"},
		{"hang past the timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			}
		}, "timed out"},
		{"truncated body", func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"choices\":[{\"mess")
			buf.Flush()
			conn.Close()
		}, "unexpected EOF"},
		{"non-JSON body", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>oops</html>") }, "malformed response"},
		{"JSON without choices", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"id":"x"}`) }, "empty choices"},
		{"empty content", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":""},"finish_reason":"stop"}]}`)
		}, ""},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				_, _ = io.Copy(io.Discard, r.Body)
				f.handle(w, r)
			}))
			t.Cleanup(srv.Close)
			o := system.DefaultOptions()
			o.Backend = executor.KindOpenAI
			o.CacheEntries = -1
			o.BackendConfig = executor.OpenAIConfig{Name: "faulty", BaseURL: srv.URL + "/v1", Model: "m", APIKeyEnv: "FLOWSTEER_FAULTS_TEST_NO_KEY",
				Timeout: 150 * time.Millisecond, MaxRetries: 1, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
			sys, err := system.Build(o)
			if err != nil {
				t.Fatalf("system.Build: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cfg := canvas.DefaultConfig()
			cfg.TwoStep = false
			tk := task.Task{ID: "f1", Family: task.Math, Question: "What is 6 times 7?", Answers: []string{"42"}}
			ep, _, err := sys.Canvas.Create(ctx, tk, cfg, reward.Default())
			if err != nil {
				t.Fatal(err)
			}
			obs, err := ep.Step(ctx, canvas.Input{Structured: &action.Action{Kind: action.Add, Operator: "Custom", Position: -1}})
			if err != nil {
				t.Fatalf("a backend fault became a step error: %v", err)
			}
			if !obs.Valid || obs.Done {
				t.Fatalf("the add was refused or ended the episode: %q", obs.Feedback)
			}
			ex := obs.Execution
			if !ex.Executed || len(ex.Nodes) != 1 {
				t.Fatalf("execution %+v, want the one node run", ex)
			}
			n := ex.Nodes[0]
			if f.wantErr != "" {
				if n.Status != canvas.NodeFailed || !strings.Contains(n.Error, f.wantErr) || !strings.Contains(n.Error, "faulty") {
					t.Errorf("node %s %q, want failed naming the backend and %q", n.Status, n.Error, f.wantErr)
				}
				if !strings.Contains(obs.Feedback+ex.Error+n.Error, f.wantErr) {
					t.Errorf("the fault is not in the canvas's feedback: %q", obs.Feedback)
				}
			}
			if f.wantErr == "" {
				// An empty answer: a node that failed says why, one that
				// passed carries the (empty) output.
				if n.Status == canvas.NodeFailed && n.Error == "" {
					t.Errorf("node failed without an error")
				}
				t.Logf("empty answer: node %s, error %q, output %q", n.Status, n.Error, n.Output)
			}
			if calls.Load() == 0 {
				t.Error("the backend was never called")
			}
			// The episode goes on: another edit is applied and run.
			obs, err = ep.Step(ctx, canvas.Input{Structured: &action.Action{Kind: action.Add, Operator: "Format", Position: -1}})
			if err != nil || !obs.Valid {
				t.Errorf("next step: %v, %q", err, obs.Feedback)
			}
		})
	}
}
