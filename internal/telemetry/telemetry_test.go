package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/flowsteer/flowsteer/internal/obs"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestLogHandlerAddsTraceAndSpanIDs(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))
	defer tp.Shutdown(context.Background())
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("svc", "x")
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	log.InfoContext(ctx, "inside")
	span.End()
	log.Info("outside")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), buf.String())
	}
	var in, out map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &out); err != nil {
		t.Fatal(err)
	}
	sc := span.SpanContext()
	if in["trace_id"] != sc.TraceID().String() || in["span_id"] != sc.SpanID().String() || in["svc"] != "x" {
		t.Fatalf("log inside the span: %v, want trace %s span %s", in, sc.TraceID(), sc.SpanID())
	}
	if _, ok := out["trace_id"]; ok {
		t.Fatalf("log outside a span has a trace id: %v", out)
	}
}

// Setup touches process-wide OpenTelemetry state, so its cases run in
// one test, in order.
func TestSetup(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// Nothing set: no exporter, no provider.
	shutdown, st, err := Setup(ctx, "flowsteer-test", Options{Env: env(nil), Logger: quiet})
	if err != nil || st.Traces != "" || st.Metrics != "" {
		t.Fatalf("unset env: status %+v, err %v", st, err)
	}
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if !tracesConfigured(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})) ||
		tracesConfigured(env(map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"})) ||
		metricsConfigured(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "x"})) {
		t.Fatal("OTEL_* interpretation")
	}

	// --trace-stdout and --metrics-addr.
	var out bytes.Buffer
	shutdown, st, err = Setup(ctx, "flowsteer-test", Options{Env: env(nil), Logger: quiet, TraceStdout: true, Stdout: &out, MetricsAddr: "127.0.0.1:0", Version: "v9"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Traces != "stdout" || st.Metrics != "prometheus" || st.MetricsAddr == "" {
		t.Fatalf("status %+v", st)
	}
	_, span := otel.Tracer("t").Start(ctx, "hello-span")
	span.End()
	obs.NewInstruments(otel.GetMeterProvider()).Turns.Add(ctx, 3)
	resp, err := http.Get("http://" + st.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "flowsteer_canvas_turns") || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("scrape lacks the metrics:\n%s", body)
	}
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"Name": "hello-span"`) || !strings.Contains(out.String(), "flowsteer-test") {
		t.Fatalf("stdout spans:\n%s", out.String())
	}
	if _, err := http.Get("http://" + st.MetricsAddr + "/metrics"); err == nil {
		t.Fatal("metrics endpoint still up after shutdown")
	}

	// OTLP (autoexport; nothing is sent until a span ends).
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	shutdown, st, err = Setup(ctx, "x", Options{Logger: quiet})
	if err != nil || st.Traces != "otlp" || st.Metrics != "" {
		t.Fatalf("otlp: status %+v, err %v", st, err)
	}
	_ = shutdown(ctx)
	t.Setenv("OTEL_TRACES_EXPORTER", "bogus")
	if _, _, err := Setup(ctx, "x", Options{Logger: quiet}); err == nil || !strings.Contains(err.Error(), "OTEL_TRACES_EXPORTER") {
		t.Fatalf("bogus exporter: %v", err)
	}
	if _, _, err := Setup(ctx, "x", Options{Env: env(nil), Logger: quiet, MetricsAddr: "256.0.0.1:bad"}); err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Fatalf("bad metrics addr: %v", err)
	}
}
