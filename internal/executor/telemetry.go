package executor

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowsteer/flowsteer/internal/obs"
)

// Instrumented wraps b so that every call is a client span named
// "chat MODEL" with the OpenTelemetry GenAI attributes (gen_ai.system,
// gen_ai.operation.name, gen_ai.request.model, gen_ai.usage.*_tokens,
// gen_ai.request.temperature, gen_ai.request.max_tokens, ...) and the
// executor metrics are recorded. Wrap the cached backend, so cache hits
// are spans (flowsteer.cache.hit=true) too. Prompt and reply text are
// recorded only when obs.ContentEnabled.
func Instrumented(b Backend) Backend {
	if _, ok := b.(*instrumented); ok || b == nil {
		return b
	}
	return &instrumented{Backend: b, system: systemOf(b)}
}

type instrumented struct {
	Backend
	system string
}

// Unwrap returns the wrapped backend.
func (i *instrumented) Unwrap() Backend { return i.Backend }

// systemOf names the GenAI provider: "openai" for the OpenAI-compatible
// backend, "flowsteer.sim" for the simulation, else the backend's name.
func systemOf(b Backend) string {
	for {
		switch x := b.(type) {
		case *OpenAI:
			return "openai"
		case interface{ Unwrap() Backend }:
			b = x.Unwrap()
			continue
		}
		break
	}
	if b.Simulated() {
		return "flowsteer.sim"
	}
	return b.Name()
}

func (i *instrumented) Complete(ctx context.Context, req Request) (Response, error) {
	model := req.Model
	if model == "" {
		model = i.Model()
	}
	maxTokens := req.Sampling.MaxTokens
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	attrs := []attribute.KeyValue{
		obs.GenAIOperation.String("chat"), obs.GenAISystem.String(i.system), obs.GenAIProvider.String(i.system),
		obs.GenAIRequestModel.String(model), obs.GenAITemperature.Float64(req.Sampling.Temperature),
		obs.GenAIMaxTokens.Int(maxTokens), obs.Backend.String(i.Name()), obs.Simulated.Bool(i.Simulated()),
		obs.Operator.String(req.Meta.Operator), obs.NodeID.String(req.Meta.NodeID),
	}
	if req.Sampling.TopP > 0 {
		attrs = append(attrs, obs.GenAITopP.Float64(req.Sampling.TopP))
	}
	if req.Sampling.Seed != 0 {
		attrs = append(attrs, obs.GenAISeed.Int64(req.Sampling.Seed))
	}
	ctx, span := obs.Tracer().Start(ctx, "chat "+model, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	defer span.End()
	if obs.ContentEnabled() {
		var b strings.Builder
		for _, m := range req.Messages {
			b.WriteString(m.Role + ": " + m.Content + "\n")
		}
		obs.SetContent(span, obs.Prompt, b.String())
	}
	start := time.Now()
	resp, err := i.Backend.Complete(ctx, req)
	secs := time.Since(start).Seconds()

	m := obs.M()
	backend := obs.Backend.String(i.Name())
	hit := obs.CacheHit.Bool(resp.CacheHit)
	if err != nil {
		et := errorType(ctx, err)
		span.SetAttributes(obs.ErrorType.String(et))
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		m.ExecErrors.Add(ctx, 1, metric.WithAttributes(backend, obs.ErrorType.String(et)))
		m.ExecCalls.Add(ctx, 1, metric.WithAttributes(backend, obs.GenAIRequestModel.String(model), hit, attribute.String("outcome", "error")))
		m.ExecDuration.Record(ctx, secs, metric.WithAttributes(backend, hit, obs.ErrorType.String(et)))
		return resp, err
	}
	span.SetAttributes(obs.GenAIInputTokens.Int64(resp.InputTokens), obs.GenAIOutputTokens.Int64(resp.OutputTokens), hit)
	if resp.CacheHit && resp.CacheTier != "" {
		span.SetAttributes(obs.CacheTier.String(resp.CacheTier))
	}
	if resp.Model != "" {
		span.SetAttributes(obs.GenAIResponseModel.String(resp.Model))
	}
	if resp.FinishReason != "" {
		span.SetAttributes(obs.GenAIFinishReasons.StringSlice([]string{resp.FinishReason}))
	}
	obs.SetContent(span, obs.Reply, resp.Text)
	m.ExecCalls.Add(ctx, 1, metric.WithAttributes(backend, obs.GenAIRequestModel.String(model), hit, attribute.String("outcome", "ok")))
	m.ExecDuration.Record(ctx, secs, metric.WithAttributes(backend, hit))
	if resp.CacheHit {
		m.CacheHits.Add(ctx, 1, metric.WithAttributes(backend, obs.CacheTier.String(resp.CacheTier)))
	} else {
		sys := obs.GenAISystem.String(i.system)
		m.TokenUsage.Record(ctx, resp.InputTokens, metric.WithAttributes(sys, backend, obs.GenAITokenType.String("input")))
		m.TokenUsage.Record(ctx, resp.OutputTokens, metric.WithAttributes(sys, backend, obs.GenAITokenType.String("output")))
	}
	return resp, err
}

func errorType(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return "canceled"
	}
	return "backend_error"
}
