package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTracesInJaeger runs flowsteer against a real Jaeger: `flowsteer
// serve` exporting OTLP over gRPC, then `flowsteer play` (one episode) and
// `flowsteer train` (one tiny step, episodes on that serve) exporting OTLP
// over HTTP, and checks the span trees Jaeger stored. `make test-e2e`
// starts Jaeger and sets the variables; without them the test is skipped.
//
// What it pins down about streamed turns: gRPC carries W3C trace context
// once per stream, in the Interact call's metadata. The client's episode
// span is current when the stream opens, so the server's Interact span is
// its grandchild (via the client Interact span) in the same trace. Each
// action message also carries its turn's trace context, so the canvas's
// per-turn "canvas.apply" spans are children of the client's "canvas.step"
// span of that turn, and carry flowsteer.episode.id and flowsteer.turn.
func TestTracesInJaeger(t *testing.T) {
	jaeger := os.Getenv("FLOWSTEER_JAEGER_URL")
	otlpGRPC := os.Getenv("FLOWSTEER_OTLP_GRPC_ENDPOINT")
	otlpHTTP := os.Getenv("FLOWSTEER_OTLP_HTTP_ENDPOINT")
	if jaeger == "" || otlpGRPC == "" || otlpHTTP == "" {
		t.Skip("FLOWSTEER_JAEGER_URL, FLOWSTEER_OTLP_GRPC_ENDPOINT and FLOWSTEER_OTLP_HTTP_ENDPOINT are not set: run `make test-e2e` to test against a real Jaeger")
	}
	waitJaeger(t, jaeger)
	since := time.Now().Add(-time.Second)
	bin := binary(t)
	dir := t.TempDir()

	// serve: OTLP over gRPC; it inherits the environment set here.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlpGRPC)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
	p := startServe(t)

	tasks := filepath.Join(dir, "tasks.jsonl")
	if err := os.WriteFile(tasks, []byte(`{"question": "Tom has 3 boxes of 4 apples. How many apples does he have?", "answer": "3*4 = 12\n#### 12"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	clientEnv := append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT="+otlpHTTP, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = clientEnv
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("flowsteer %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("play", "--canvas", p.addr, "--task-file", tasks, "--limit", "1", "--policy", "random", "--seed", "3", "--max-rounds", "8")

	cfg := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`name: e2e-trace
steps: 1
batch_tasks: 1
group_size: 2
max_rounds: 6
concurrency: 2
tasks:
  train: %s
eval:
  tasks: 0
checkpoint:
  every: 1
canvas:
  addresses: [%q]
`, tasks, p.addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	run("train", "--config", cfg, "--runs-dir", filepath.Join(dir, "runs"), "--no-progress")

	// serve flushes its spans after the graceful stop.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, p.logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop\n%s", p.logs)
	}

	// The play trace: one episode, both processes.
	play := findTrace(t, jaeger, "flowsteer-play", since, "episode", "canvas.apply", "workflow.execute")
	checkEpisode(t, play, "flowsteer-play")
	if roots := play.named("episode"); len(roots) != 1 || roots[0].parent() != "" {
		t.Fatalf("play: the episode span should be the trace's root")
	}

	// The training trace: run -> step -> group -> episode -> turn.
	train := findTrace(t, jaeger, "flowsteer-train", since, "train.run", "canvas.apply")
	run0 := train.named("train.run")
	if len(run0) != 1 || run0[0].parent() != "" {
		t.Fatalf("train: want one root train.run span")
	}
	train.wantParent("train.step", "train.run")
	groups := train.wantParent("train.group", "train.step")
	if len(groups) != 1 {
		t.Fatalf("train: %d groups, want 1", len(groups))
	}
	eps := train.wantParent("episode", "train.group")
	if len(eps) != 2 {
		t.Fatalf("train: %d episodes, want 2 (group_size 2)", len(eps))
	}
	checkEpisode(t, train, "flowsteer-train")
	if s := train.named("train.step")[0]; s.tag("flowsteer.reward") == nil {
		t.Fatal("train.step lacks the mean reward")
	}
}

// checkEpisode asserts the episode subtree on both sides of the stream.
func checkEpisode(t *testing.T, tr *jtrace, client string) {
	t.Helper()
	for _, ep := range tr.named("episode") {
		if tr.service(ep) != client {
			t.Fatalf("episode span from %s, want %s", tr.service(ep), client)
		}
		for _, k := range []string{"flowsteer.episode.id", "flowsteer.task.id", "flowsteer.reward", "flowsteer.workflow.dsl", "flowsteer.episode.turns"} {
			if ep.tag(k) == nil {
				t.Fatalf("episode span lacks %s: %v", k, ep.Tags)
			}
		}
	}
	turns := tr.wantParent("turn", "episode")
	clientTurns := map[string]bool{}
	for _, s := range turns {
		for _, k := range []string{"flowsteer.episode.id", "flowsteer.task.id", "flowsteer.turn", "flowsteer.workflow.dsl", "flowsteer.action.kind", "flowsteer.action.valid"} {
			if s.tag(k) == nil {
				t.Fatalf("turn span lacks %s: %v", k, s.Tags)
			}
		}
		clientTurns[fmt.Sprint(s.tag("flowsteer.episode.id"), "/", s.tag("flowsteer.turn"))] = true
	}
	for _, s := range tr.wantParent("policy.act", "turn") {
		if s.tag("flowsteer.action.kind") == nil || s.tag("flowsteer.policy.model") == nil {
			t.Fatalf("policy.act lacks action kind or model: %v", s.Tags)
		}
		if s.tag("flowsteer.content.prompt") != nil {
			t.Fatal("policy.act records prompt text without FLOWSTEER_TRACE_CONTENT")
		}
	}
	tr.wantParent("canvas.step", "turn")

	// The stream: client Interact under the episode, server Interact
	// (another process) under it; each turn's canvas.apply (in the server)
	// under that turn's client canvas.step, via the message's trace context.
	var serverStreams int
	for _, s := range tr.named("flowsteer.v1.CanvasService/Interact") {
		switch s.tag("span.kind") {
		case "client":
			if p := tr.parentSpan(s); p == nil || p.OperationName != "episode" || tr.service(s) != client {
				t.Fatalf("client Interact span: parent %v, service %s", p, tr.service(s))
			}
		case "server":
			serverStreams++
			p := tr.parentSpan(s)
			if p == nil || p.OperationName != "flowsteer.v1.CanvasService/Interact" || p.tag("span.kind") != "client" || tr.service(s) != "flowsteer-serve" {
				t.Fatalf("server Interact span: parent %v, service %s", p, tr.service(s))
			}
		}
	}
	if serverStreams == 0 {
		t.Fatal("no server-side Interact span in the trace: trace context did not cross the stream")
	}
	applies := tr.wantParent("canvas.apply", "canvas.step")
	if len(applies) != len(turns) {
		t.Fatalf("%d canvas.apply spans for %d client turns", len(applies), len(turns))
	}
	for _, s := range applies {
		if tr.service(s) != "flowsteer-serve" {
			t.Fatalf("canvas.apply from %s", tr.service(s))
		}
		key := fmt.Sprint(s.tag("flowsteer.episode.id"), "/", s.tag("flowsteer.turn"))
		if !clientTurns[key] {
			t.Fatalf("canvas.apply %s has no client turn span with that episode id and turn", key)
		}
		for _, k := range []string{"flowsteer.task.id", "flowsteer.action.kind", "flowsteer.action.valid", "flowsteer.workflow.dsl"} {
			if s.tag(k) == nil {
				t.Fatalf("canvas.apply lacks %s: %v", k, s.Tags)
			}
		}
		if s.tag("flowsteer.action.valid") == false && s.tag("flowsteer.action.error") == nil {
			t.Fatal("invalid canvas.apply lacks the error")
		}
	}
	tr.wantParent("workflow.execute", "canvas.apply")
	tr.wantParent("workflow.node", "workflow.execute")
	chats := 0
	for _, s := range tr.Spans {
		if !strings.HasPrefix(s.OperationName, "chat ") {
			continue
		}
		chats++
		if p := tr.parentSpan(s); p == nil || p.OperationName != "workflow.node" {
			t.Fatalf("%s's parent is %v", s.OperationName, p)
		}
		for _, k := range []string{"gen_ai.system", "gen_ai.operation.name", "gen_ai.request.model", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.request.temperature", "gen_ai.request.max_tokens", "flowsteer.cache.hit"} {
			if s.tag(k) == nil {
				t.Fatalf("%s lacks %s: %v", s.OperationName, k, s.Tags)
			}
		}
		if s.tag("flowsteer.content.prompt") != nil || s.tag("flowsteer.content.reply") != nil {
			t.Fatal("executor span records content without FLOWSTEER_TRACE_CONTENT")
		}
	}
	if chats == 0 {
		t.Fatal("no executor call spans")
	}
}

// ---- Jaeger's HTTP API ----------------------------------------------------

type jspan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
	ProcessID string `json:"processID"`
}

func (s *jspan) tag(k string) any {
	for _, t := range s.Tags {
		if t.Key == k {
			return t.Value
		}
	}
	return nil
}

func (s *jspan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

type jtrace struct {
	t         *testing.T
	TraceID   string  `json:"traceID"`
	Spans     []jspan `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

func (tr *jtrace) service(s jspan) string { return tr.Processes[s.ProcessID].ServiceName }

func (tr *jtrace) named(name string) []jspan {
	var out []jspan
	for _, s := range tr.Spans {
		if s.OperationName == name {
			out = append(out, s)
		}
	}
	return out
}

func (tr *jtrace) parentSpan(s jspan) *jspan {
	id := s.parent()
	for i := range tr.Spans {
		if tr.Spans[i].SpanID == id {
			return &tr.Spans[i]
		}
	}
	return nil
}

func (tr *jtrace) wantParent(name, parent string) []jspan {
	tr.t.Helper()
	ss := tr.named(name)
	if len(ss) == 0 {
		tr.t.Fatalf("trace %s has no %q span", tr.TraceID, name)
	}
	for _, s := range ss {
		if p := tr.parentSpan(s); p == nil || p.OperationName != parent {
			got := "none"
			if p != nil {
				got = p.OperationName
			}
			tr.t.Fatalf("%q span's parent is %s, want %q", name, got, parent)
		}
	}
	return ss
}

func waitJaeger(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/api/services")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger at %s is not answering: %v", base, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// findTrace polls Jaeger until a trace of service started after since
// holds spans with every one of the names and has settled (see settled).
// Export is batched twice: by each flowsteer process and again by Jaeger's
// own batch processor, so a trace becomes visible piece by piece and the
// serve process's last batch (flushed at its graceful stop) can land after
// the client's spans and the first server spans are already queryable.
func findTrace(t *testing.T, base, service string, since time.Time, names ...string) *jtrace {
	t.Helper()
	q := url.Values{"service": {service}, "start": {fmt.Sprint(since.UnixMicro())}, "limit": {"50"}}
	deadline := time.Now().Add(30 * time.Second)
	last, first := "no trace yet", ""
	for polls := 1; ; polls++ {
		resp, err := http.Get(base + "/api/traces?" + q.Encode())
		if err != nil {
			last = err.Error()
		} else {
			var body struct {
				Data []*jtrace `json:"data"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err != nil {
				last = "decoding Jaeger's answer: " + err.Error()
			} else if len(body.Data) == 0 {
				last = "Jaeger holds no such trace yet"
			}
			for _, tr := range body.Data {
				tr.t = t
				why := tr.settled(names)
				if why == "" {
					if polls > 1 {
						t.Logf("%s trace settled after %d polls; at first: %s", service, polls, first)
					}
					return tr
				}
				last = fmt.Sprintf("%d traces; trace %s (%d spans): %s", len(body.Data), tr.TraceID, len(tr.Spans), why)
			}
		}
		if first == "" {
			first = last
		}
		if time.Now().After(deadline) {
			t.Fatalf("no settled %s trace with spans %v in Jaeger after 30s: %s", service, names, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// settled says why the trace is not complete yet, or "" once it is: every
// named span is there, every parent reference resolves inside the trace,
// every client Interact stream has its server side, and every client turn
// has its canvas.apply. A trace that never settles fails findTrace with
// this reason; the assertions after it check the shape in detail.
func (tr *jtrace) settled(names []string) string {
	for _, n := range names {
		if len(tr.named(n)) == 0 {
			return fmt.Sprintf("no %q span yet", n)
		}
	}
	for _, s := range tr.Spans {
		if s.parent() != "" && tr.parentSpan(s) == nil {
			return fmt.Sprintf("the parent of %q has not arrived", s.OperationName)
		}
	}
	serverUnder := map[string]int{}
	for _, s := range tr.named("flowsteer.v1.CanvasService/Interact") {
		if s.tag("span.kind") == "server" {
			serverUnder[s.parent()]++
		}
	}
	for _, s := range tr.named("flowsteer.v1.CanvasService/Interact") {
		if s.tag("span.kind") == "client" && serverUnder[s.SpanID] == 0 {
			return "a client Interact span has no server-side Interact span yet"
		}
	}
	if a, n := len(tr.named("canvas.apply")), len(tr.named("turn")); a < n {
		return fmt.Sprintf("%d canvas.apply spans for %d turns so far", a, n)
	}
	return ""
}
