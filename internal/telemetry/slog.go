package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// LogHandler wraps h so that every record logged with a context that
// carries a span gets trace_id and span_id attributes (use the *Context
// logging methods: log.InfoContext(ctx, ...)), which is what lets a log
// line be found from its trace in Jaeger and back.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(*traceHandler); ok {
		return h
	}
	return &traceHandler{h: h}
}

type traceHandler struct{ h slog.Handler }

func (t *traceHandler) Enabled(ctx context.Context, l slog.Level) bool { return t.h.Enabled(ctx, l) }

func (t *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r = r.Clone()
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
	}
	return t.h.Handle(ctx, r)
}

func (t *traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &traceHandler{h: t.h.WithAttrs(as)}
}

func (t *traceHandler) WithGroup(name string) slog.Handler {
	return &traceHandler{h: t.h.WithGroup(name)}
}
