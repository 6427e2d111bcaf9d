package obs_test

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/obs"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
)

var (
	spans  = tracetest.NewInMemoryExporter()
	reader = sdkmetric.NewManualReader()
)

// TestMain installs in-memory trace and metric SDKs once: the global
// providers can be set only once for instruments made before.
func TestMain(m *testing.M) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	code := m.Run()
	_ = tp.Shutdown(context.Background())
	os.Exit(code)
}

// tree indexes finished spans.
type tree struct {
	t    *testing.T
	all  tracetest.SpanStubs
	byID map[trace.SpanID]tracetest.SpanStub
}

func collect(t *testing.T) *tree {
	t.Helper()
	tr := &tree{t: t, all: spans.GetSpans(), byID: map[trace.SpanID]tracetest.SpanStub{}}
	for _, s := range tr.all {
		tr.byID[s.SpanContext.SpanID()] = s
	}
	return tr
}

func (tr *tree) named(name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range tr.all {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func (tr *tree) parent(s tracetest.SpanStub) (tracetest.SpanStub, bool) {
	p, ok := tr.byID[s.Parent.SpanID()]
	return p, ok
}

// wantParent checks every span called name has a parent called parent.
func (tr *tree) wantParent(name, parent string) []tracetest.SpanStub {
	tr.t.Helper()
	ss := tr.named(name)
	if len(ss) == 0 {
		tr.t.Fatalf("no %q span; have %s", name, tr.names())
	}
	for _, s := range ss {
		p, ok := tr.parent(s)
		if !ok || p.Name != parent {
			tr.t.Fatalf("%q span's parent is %q (found %v), want %q", name, p.Name, ok, parent)
		}
		if s.SpanContext.TraceID() != p.SpanContext.TraceID() {
			tr.t.Fatalf("%q is in another trace than its parent", name)
		}
	}
	return ss
}

func (tr *tree) names() string {
	seen := map[string]int{}
	for _, s := range tr.all {
		seen[s.Name]++
	}
	var b strings.Builder
	for n, c := range seen {
		b.WriteString(n + "×" + string(rune('0'+min(c, 9))) + " ")
	}
	return b.String()
}

func attr(s tracetest.SpanStub, k attribute.Key) (attribute.Value, bool) {
	for _, a := range s.Attributes {
		if a.Key == k {
			return a.Value, true
		}
	}
	return attribute.Value{}, false
}

func mustAttr(t *testing.T, s tracetest.SpanStub, k attribute.Key) attribute.Value {
	t.Helper()
	v, ok := attr(s, k)
	if !ok {
		t.Fatalf("span %q lacks %s; has %v", s.Name, k, s.Attributes)
	}
	return v
}

func newSystem(t *testing.T) *system.System {
	t.Helper()
	o := system.DefaultOptions()
	o.Sandbox.ScratchRoot = t.TempDir()
	sys, err := system.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	return sys
}

// opener adapts the Go client to rollout.Canvas.
type opener struct{ c *flowsteer.Client }

func (o opener) Open(ctx context.Context, t *pb.Task, cfg *pb.EpisodeConfig) (rollout.Episode, error) {
	return o.c.Open(ctx, t, cfg)
}

// TestEpisodeSpanTreeOverBufconn plays one episode with a random policy
// against a canvas service over bufconn and checks the span tree on both
// sides of the Interact stream.
func TestEpisodeSpanTreeOverBufconn(t *testing.T) {
	spans.Reset()
	sys := newSystem(t)
	v := server.Validators{}
	canvassvc.AddValidators(v)
	srv := server.New(server.Options{Validators: v})
	canvassvc.Register(srv, canvassvc.New(sys.Canvas))
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = srv.Serve(sctx, lis, time.Second); close(done) }()
	defer func() { stop(); <-done }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	mr := int32(12)
	tk := &pb.Task{Id: "t-42", Family: pb.TaskFamily_TASK_FAMILY_MATH, Question: "What is 6*7?", Answers: []string{"42"}}
	seed := int64(3)
	rec, err := rollout.Play(ctx, opener{flowsteer.New(conn)}, rollout.InProcess{P: policy.NewRandom(3)}, tk, &pb.EpisodeConfig{MaxRounds: &mr}, policy.Sampling{Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	<-done // the server's Interact span ends with the stream

	tr := collect(t)
	eps := tr.named("episode")
	if len(eps) != 1 {
		t.Fatalf("%d episode spans, want 1 (%s)", len(eps), tr.names())
	}
	ep := eps[0]
	if ep.Parent.IsValid() {
		t.Fatalf("episode span has a parent %v; it should be the root here", ep.Parent)
	}
	if got := mustAttr(t, ep, obs.EpisodeID).AsString(); got != rec.EpisodeID {
		t.Fatalf("episode.id %q, want %q", got, rec.EpisodeID)
	}
	if got := mustAttr(t, ep, obs.TaskID).AsString(); got != "t-42" {
		t.Fatalf("task.id %q", got)
	}
	if got := mustAttr(t, ep, obs.Reward).AsFloat64(); got != rec.Reward() {
		t.Fatalf("reward %v, want %v", got, rec.Reward())
	}
	mustAttr(t, ep, obs.DSL)

	turns := tr.wantParent("turn", "episode")
	if len(turns) != len(rec.Turns) {
		t.Fatalf("%d turn spans for %d turns", len(turns), len(rec.Turns))
	}
	clientTurn := map[int64]tracetest.SpanStub{}
	for _, s := range turns {
		n := mustAttr(t, s, obs.Turn).AsInt64()
		clientTurn[n] = s
		if mustAttr(t, s, obs.EpisodeID).AsString() != rec.EpisodeID {
			t.Fatal("turn span without the episode id")
		}
		mustAttr(t, s, obs.DSL)
		mustAttr(t, s, obs.ActionKind)
	}
	for _, s := range tr.wantParent("policy.act", "turn") {
		mustAttr(t, s, obs.ActionKind)
		if _, ok := attr(s, obs.Prompt); ok {
			t.Fatal("policy.act records prompt text although content recording is off")
		}
	}
	tr.wantParent("canvas.step", "turn")

	// Server side: gRPC carries the trace context once per stream (the
	// server's Interact span hangs under the client's, which the episode
	// span holds); each action message carries its turn's context, so the
	// canvas's per-turn spans hang under the client's canvas.step span.
	var clientStream, serverStream tracetest.SpanStub
	for _, s := range tr.named("flowsteer.v1.CanvasService/Interact") {
		switch s.SpanKind {
		case trace.SpanKindClient:
			clientStream = s
		case trace.SpanKindServer:
			serverStream = s
		}
	}
	if p, ok := tr.parent(clientStream); !ok || p.Name != "episode" {
		t.Fatalf("client Interact span's parent is %q, want episode", p.Name)
	}
	if p, ok := tr.parent(serverStream); !ok || p.SpanContext.SpanID() != clientStream.SpanContext.SpanID() {
		t.Fatalf("server Interact span's parent is %q, want the client Interact span", p.Name)
	}
	applies := tr.wantParent("canvas.apply", "canvas.step")
	if len(applies) != len(turns) {
		t.Fatalf("%d canvas.apply spans for %d turns", len(applies), len(turns))
	}
	for _, s := range applies {
		n := mustAttr(t, s, obs.Turn).AsInt64()
		ct, ok := clientTurn[n]
		if !ok || s.SpanContext.TraceID() != ct.SpanContext.TraceID() {
			t.Fatalf("canvas.apply turn %d has no client turn span in its trace", n)
		}
		// Its parent is the canvas.step of that very turn.
		if step, ok := tr.parent(s); !ok {
			t.Fatalf("canvas.apply turn %d has no parent", n)
		} else if turn, ok := tr.parent(step); !ok || turn.SpanContext.SpanID() != ct.SpanContext.SpanID() {
			t.Fatalf("canvas.apply turn %d hangs under another turn's canvas.step", n)
		}
		if mustAttr(t, s, obs.EpisodeID).AsString() != rec.EpisodeID || mustAttr(t, s, obs.TaskID).AsString() != "t-42" {
			t.Fatal("canvas.apply lacks episode or task id")
		}
		valid := mustAttr(t, s, obs.ActionValid).AsBool()
		mustAttr(t, s, obs.ActionKind)
		mustAttr(t, s, obs.DSL)
		if !valid {
			mustAttr(t, s, obs.ActionError)
		}
		if int(n) == len(turns) {
			mustAttr(t, s, obs.Reward)
		}
	}
	// Seeded policy and sim: this episode builds and runs workflows.
	tr.wantParent("workflow.execute", "canvas.apply")
	tr.wantParent("workflow.node", "workflow.execute")

	// Metrics: every turn counted, the episode no longer active.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	if n := sumInt(rm, "flowsteer.canvas.turns"); n < int64(len(turns)) {
		t.Fatalf("turns metric %d, want >= %d", n, len(turns))
	}
	if n := sumInt(rm, "flowsteer.canvas.invalid_actions"); n < int64(rec.Invalid) {
		t.Fatalf("invalid_actions metric %d, want >= %d", n, rec.Invalid)
	}
	if n := sumInt(rm, "flowsteer.canvas.active_episodes"); n != 0 {
		t.Fatalf("active episodes %d after the episode ended", n)
	}
	if !hasMetric(rm, "flowsteer.canvas.episode.duration") {
		t.Fatal("no episode duration recorded")
	}
}

// TestExecutionSpansWithSim runs a workflow with the sim backend twice:
// workflow.execute -> workflow.node -> chat MODEL with the GenAI
// attributes, sandbox runs under Programmer, and cache hits the second time.
func TestExecutionSpansWithSim(t *testing.T) {
	spans.Reset()
	sys := newSystem(t)
	g, err := workflow.Parse("Programmer -> Review -> Format", sys.Library)
	if err != nil {
		t.Fatal(err)
	}
	tk := task.Task{ID: "m1", Family: task.Math, Question: "What is 6*7?", Answers: []string{"42"}}
	ctx := context.Background()
	for range 2 {
		if _, err := sys.Engine.Execute(ctx, canvas.ExecRequest{Graph: g.Clone(), Task: tk, Library: sys.Library, Episode: "ep_x"}); err != nil {
			t.Fatal(err)
		}
	}
	tr := collect(t)
	execs := tr.named("workflow.execute")
	if len(execs) != 2 {
		t.Fatalf("%d workflow.execute spans", len(execs))
	}
	for _, s := range execs {
		if mustAttr(t, s, obs.EpisodeID).AsString() != "ep_x" || !mustAttr(t, s, obs.Simulated).AsBool() {
			t.Fatalf("workflow.execute attributes %v", s.Attributes)
		}
	}
	nodes := tr.wantParent("workflow.node", "workflow.execute")
	ops := map[string]bool{}
	for _, s := range nodes {
		ops[mustAttr(t, s, obs.Operator).AsString()] = true
		mustAttr(t, s, obs.NodeStatus)
		mustAttr(t, s, obs.CacheHit)
	}
	for _, op := range []string{"Programmer", "Review", "Format"} {
		if !ops[op] {
			t.Fatalf("no node span for %s: %v", op, ops)
		}
	}
	var chats []tracetest.SpanStub
	for _, s := range tr.all {
		if strings.HasPrefix(s.Name, "chat ") {
			chats = append(chats, s)
			if p, ok := tr.parent(s); !ok || p.Name != "workflow.node" {
				t.Fatalf("%s's parent is %q", s.Name, p.Name)
			}
		}
	}
	if len(chats) == 0 {
		t.Fatalf("no executor call spans: %s", tr.names())
	}
	hits := 0
	for _, s := range chats {
		if s.SpanKind != trace.SpanKindClient {
			t.Fatalf("%s kind %v", s.Name, s.SpanKind)
		}
		if mustAttr(t, s, obs.GenAIOperation).AsString() != "chat" || mustAttr(t, s, obs.GenAISystem).AsString() != "flowsteer.sim" {
			t.Fatalf("GenAI attributes %v", s.Attributes)
		}
		if m := mustAttr(t, s, obs.GenAIRequestModel).AsString(); "chat "+m != s.Name {
			t.Fatalf("span %q for model %q", s.Name, m)
		}
		mustAttr(t, s, obs.GenAITemperature)
		if mustAttr(t, s, obs.GenAIMaxTokens).AsInt64() <= 0 {
			t.Fatal("max_tokens not positive")
		}
		if mustAttr(t, s, obs.GenAIInputTokens).AsInt64() <= 0 || mustAttr(t, s, obs.GenAIOutputTokens).AsInt64() <= 0 {
			t.Fatalf("token usage missing: %v", s.Attributes)
		}
		if mustAttr(t, s, obs.CacheHit).AsBool() {
			hits++
			if tier := mustAttr(t, s, obs.CacheTier).AsString(); tier != "local" {
				t.Fatalf("a cache hit without a shared tier came from tier %q", tier)
			}
		} else if _, ok := attr(s, obs.CacheTier); ok {
			t.Fatal("a call that missed the cache names a cache tier")
		}
		for _, k := range []attribute.Key{obs.Prompt, obs.Reply} {
			if _, ok := attr(s, k); ok {
				t.Fatalf("%s recorded although %s is off", k, obs.ContentEnv)
			}
		}
	}
	if hits == 0 {
		t.Fatal("the second run of the same workflow hit no cache")
	}
	for _, s := range tr.wantParent("sandbox.run", "workflow.node") {
		if p, ok := tr.parent(s); !ok || p.Name != "workflow.node" || mustAttr(t, p, obs.Operator).AsString() != "Programmer" {
			t.Fatalf("sandbox.run parent %q", p.Name)
		}
		mustAttr(t, s, attribute.Key("flowsteer.sandbox.exit_code"))
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	if n := sumInt(rm, "flowsteer.executor.calls"); n < int64(len(chats)) {
		t.Fatalf("executor calls metric %d < %d spans", n, len(chats))
	}
	if n := sumInt(rm, "flowsteer.executor.cache.hits"); n < int64(hits) {
		t.Fatalf("cache hits metric %d < %d", n, hits)
	}
	if !hasMetric(rm, "flowsteer.executor.duration") {
		t.Fatal("no executor latency recorded")
	}
}

// TestContentOptIn: with content recording on, prompts and replies are
// recorded, bounded to obs.MaxContent bytes.
func TestContentOptIn(t *testing.T) {
	old := obs.SetContentEnabled(true)
	defer obs.SetContentEnabled(old)
	spans.Reset()
	sys := newSystem(t)
	g, err := workflow.Parse("AnswerGenerate", sys.Library)
	if err != nil {
		t.Fatal(err)
	}
	tk := task.Task{ID: "m2", Family: task.Math, Question: strings.Repeat("What is 6*7? ", 200), Answers: []string{"42"}}
	if _, err := sys.Engine.Execute(context.Background(), canvas.ExecRequest{Graph: g, Task: tk, Library: sys.Library}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range collect(t).all {
		if strings.HasPrefix(s.Name, "chat ") {
			p := mustAttr(t, s, obs.Prompt).AsString()
			mustAttr(t, s, obs.Reply)
			if len(p) > obs.MaxContent || !strings.Contains(p, "truncated") {
				t.Fatalf("prompt attribute is %d bytes, want <= %d and marked truncated", len(p), obs.MaxContent)
			}
			found = true
		}
	}
	if !found {
		t.Fatal("no executor span")
	}
}

func TestBound(t *testing.T) {
	if got := obs.Bound("short", 10); got != "short" {
		t.Fatal(got)
	}
	s := strings.Repeat("é", 1000)
	b := obs.Bound(s, 101)
	if len(b) > 101 || !strings.HasSuffix(b, "[truncated]") || !strings.HasPrefix(b, "é") {
		t.Fatalf("%q (%d bytes)", b, len(b))
	}
	for _, r := range b {
		if r == '\uFFFD' {
			t.Fatal("cut inside a rune")
		}
	}
}

func sumInt(rm metricdata.ResourceMetrics, name string) int64 {
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range s.DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n
}

func hasMetric(rm metricdata.ResourceMetrics, name string) bool {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return true
			}
		}
	}
	return false
}
