package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/chatapi/chatapitest"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/sandbox"
	"github.com/flowsteer/flowsteer/internal/sandbox/sandboxtest"
	"github.com/flowsteer/flowsteer/internal/task"
)

// seen is one chat request the scripted server received.
type seen struct {
	Op     string // operator, told from the system prompt
	System string
	User   string
}

// reply is the scripted server's answer to one request.
type reply struct {
	Status int // 0 means 200
	Text   string
}

// chatServer is a loopback OpenAI-compatible chat server whose replies
// are scripted per operator: script(op, n, req) answers the n-th request
// (from 0) of that operator.
type chatServer struct {
	srv    *httptest.Server
	script func(op string, n int, req seen) reply

	mu    sync.Mutex
	reqs  []seen
	perOp map[string]int
}

// instrOps tells the operator of a request from its system prompt.
var instrOps = []struct{ prefix, op string }{
	{planInstr, "Plan"}, {decomposeInstr, "Decompose"}, {customInstr, "Custom"},
	{answerGenerateInstr, "AnswerGenerate"}, {programmerInstr, "Programmer"},
	{programmerCodeInstr, "Programmer"}, {testFixInstr, "Test"}, {reviewInstr, "Review"},
	{verifyInstr, "Verify"}, {reviseInstr, "Revise"}, {aggregateInstr, "Aggregate"},
	{formatInstr, "Format"}, {formatCodeInstr, "Format"},
}

func opOf(system string) string {
	for _, io := range instrOps {
		if strings.HasPrefix(system, io.prefix) {
			return io.op
		}
	}
	return "unknown"
}

func newChatServer(t *testing.T, script func(op string, n int, req seen) reply) *chatServer {
	t.Helper()
	cs := &chatServer{script: script, perOp: map[string]int{}}
	cs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var req seen
		var err error
		if req.System, req.User, err = chatapitest.SystemUser(raw); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		req.Op = opOf(req.System)
		cs.mu.Lock()
		n := cs.perOp[req.Op]
		cs.perOp[req.Op]++
		cs.reqs = append(cs.reqs, req)
		cs.mu.Unlock()
		rep := cs.script(req.Op, n, req)
		writeReply(w, rep)
	}))
	t.Cleanup(cs.srv.Close)
	return cs
}

func writeReply(w http.ResponseWriter, rep reply) {
	w.Header().Set("Content-Type", "application/json")
	if rep.Status != 0 && rep.Status != http.StatusOK {
		w.WriteHeader(rep.Status)
		fmt.Fprintf(w, `{"error":{"message":"scripted failure %d"}}`, rep.Status)
		return
	}
	content, _ := json.Marshal(rep.Text)
	fmt.Fprintf(w, `{"id":"x","object":"chat.completion","model":"scripted-model","choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d}}`,
		content, 10, len(rep.Text)/4+1)
}

func (cs *chatServer) requests() []seen {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]seen(nil), cs.reqs...)
}

// backend builds an OpenAI backend on cs, registers it in a registry and
// returns it as the registry hands it out.
func (cs *chatServer) backend(t *testing.T) executor.Backend {
	t.Helper()
	b, err := executor.NewOpenAI(executor.OpenAIConfig{
		Name: "scripted", BaseURL: cs.srv.URL + "/v1", Model: "scripted-model",
		APIKeyEnv:  "FLOWSTEER_BUILTIN_TEST_UNSET_KEY",
		MaxRetries: -1, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := executor.NewRegistry()
	if err := reg.Register(b); err != nil {
		t.Fatal(err)
	}
	got, err := reg.Get("")
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// fixed answers every request of an operator with the same text.
func fixed(texts map[string]string) func(op string, n int, req seen) reply {
	return func(op string, _ int, _ seen) reply {
		if s, ok := texts[op]; ok {
			return reply{Text: s}
		}
		return reply{Status: http.StatusBadRequest}
	}
}

// seq answers the n-th request of op with texts[n] (the last one after).
func seq(op string, texts ...string) func(string, int, seen) reply {
	return func(o string, n int, _ seen) reply {
		if o != op {
			return reply{Status: http.StatusBadRequest}
		}
		return reply{Text: texts[min(n, len(texts)-1)]}
	}
}

// testEnv is an operator.Env over a backend and the real sandbox.
type testEnv struct {
	b  executor.Backend
	sb *sandbox.Runner
}

func (e testEnv) Complete(ctx context.Context, req executor.Request) (executor.Response, error) {
	if e.b == nil {
		return executor.Response{}, fmt.Errorf("this test expects no backend call, got one for %s", req.Meta.Operator)
	}
	return e.b.Complete(ctx, req)
}

func (e testEnv) RunPython(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	if e.sb == nil {
		return sandbox.Result{}, fmt.Errorf("this test has no sandbox")
	}
	return e.sb.Run(ctx, spec)
}

// realSandbox is the test binary's shared sandbox runner.
func realSandbox(t testing.TB) *sandbox.Runner { return sandboxtest.Runner(t) }

// invoke runs the named operator's implementation.
func invoke(t *testing.T, env operator.Env, op string, c operator.Call) (operator.Output, error) {
	t.Helper()
	im, ok := Impls()[op]
	if !ok {
		t.Fatalf("no implementation for %s", op)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return im.Invoke(ctx, env, c)
}

func text(s string) operator.Value { return operator.Value{Text: s} }

// Tasks the operator tests use.
var (
	mathTask = task.Task{ID: "m-1", Family: task.Math, Question: "What is 6 times 7?"}
	qaTask   = task.Task{ID: "q-1", Family: task.QA, Question: "Where is the tower?", Context: "The tower stands in Paris."}
	mcTask   = task.Task{ID: "c-1", Family: task.MultipleChoice, Question: "Which is even?", Choices: []string{"3", "4", "5"}}
	codeTask = task.Task{
		ID: "k-1", Family: task.Code, Question: "Write a Python function add(a, b) that returns a + b.",
		EntryPoint:  "add",
		PublicTests: task.Tests{Style: task.AssertStyle, Code: "assert add(1, 2) == 3\nassert add(2, 2) == 4\n"},
	}
	ioTask = task.Task{
		ID: "k-2", Family: task.Code, Question: "Read two integers from stdin and print their sum.",
		PublicTests: task.Tests{Style: task.IOStyle, Cases: []task.IOCase{{Input: "1 2\n", Output: "3\n"}, {Input: "5 5\n", Output: "10\n"}}},
	}
)
