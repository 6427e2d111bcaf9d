package canvas

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/flowsteer/flowsteer/internal/obs"
)

// startApply opens the span of one canvas turn ("canvas.apply"). Over an
// Interact stream ctx is the stream's context, so the span is a child of
// the server's Interact span (gRPC carries trace context once per stream,
// not per message); it carries the episode id and turn number that the
// client's turn span carries too.
//
// Attributes are only built for a span that records, and with no tracer
// provider installed no span is started: a turn pays nothing for tracing
// that is off.
func (e *Episode) startApply(ctx context.Context) (context.Context, trace.Span) {
	if obs.TracingOff() {
		// The global tracer would only make a non-recording span; ctx
		// stays as it is, so what runs below sees the same parent.
		return ctx, offSpan
	}
	ctx, span := obs.Tracer().Start(ctx, "canvas.apply")
	if span.IsRecording() {
		span.SetAttributes(obs.EpisodeID.String(e.id), obs.TaskID.String(e.task.ID), obs.TaskFamily.String(string(e.task.Family)))
	}
	return ctx, span
}

var offSpan trace.Span = noop.Span{}

// turnSets holds the metric attribute option of each (action kind, valid)
// pair, built once: the kinds are few and a turn should not allocate them.
var turnSets sync.Map // turnKey -> []metric.AddOption

type turnKey struct {
	kind  string
	valid bool
}

// turnSet returns the options as a slice, so that passing them on to the
// variadic Add makes no new slice.
func turnSet(kind string, valid bool) []metric.AddOption {
	k := turnKey{kind, valid}
	if v, ok := turnSets.Load(k); ok {
		return v.([]metric.AddOption)
	}
	v, _ := turnSets.LoadOrStore(k, []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(obs.ActionKind.String(kind), obs.ActionValid.Bool(valid)))})
	return v.([]metric.AddOption)
}

// endApply records the turn's outcome on span and in the metrics.
func (e *Episode) endApply(ctx context.Context, span trace.Span, o Observation, err error) {
	if err != nil {
		obs.End(span, err)
		return
	}
	kind := string(o.LastKind)
	if kind == "" {
		kind = "unparsed"
	}
	if span.IsRecording() {
		span.SetAttributes(
			obs.Turn.Int(o.Turn), obs.ActionKind.String(kind), obs.ActionValid.Bool(o.Valid),
			obs.Text(obs.DSL, o.DSL), obs.State.String(string(o.State)),
		)
		if !o.Valid {
			span.SetAttributes(obs.Text(obs.ActionError, o.Feedback))
			span.SetStatus(codes.Error, "invalid action")
		} else {
			obs.SetContent(span, obs.Feedback, o.Feedback)
		}
	}
	m := obs.M()
	m.Turns.Add(ctx, 1, turnSet(kind, o.Valid)...)
	if !o.Valid {
		m.InvalidActions.Add(ctx, 1, metric.WithAttributes(obs.ActionKind.String(kind)))
	}
	if o.Done {
		e.traceEnd(ctx, span, o)
	}
	span.End()
}

// traceEnd records an ended episode: its reward on the span, its duration
// and the active-episode count in the metrics (once per episode).
func (e *Episode) traceEnd(ctx context.Context, span trace.Span, o Observation) {
	attrs := []attribute.KeyValue{obs.EndReason.String(string(o.EndReason))}
	if o.Result != nil {
		attrs = append(attrs, obs.Reward.Float64(o.Result.Reward.Reward), obs.Released.Bool(o.Result.Reward.Released), obs.Correctness.Float64(o.Result.Score.Value))
	}
	span.SetAttributes(attrs...)
	if e.active.Swap(false) {
		m := obs.M()
		m.ActiveEpisodes.Add(ctx, -1)
		m.EpisodeDuration.Record(ctx, time.Since(e.created).Seconds(), metric.WithAttributes(obs.EndReason.String(string(o.EndReason))))
	}
}

// opened counts a new episode as active.
func (e *Episode) opened(ctx context.Context) {
	e.active.Store(true)
	obs.M().ActiveEpisodes.Add(ctx, 1)
}

// dropped uncounts an episode removed from a store before it ended.
func (e *Episode) dropped() {
	if e.active.Swap(false) {
		obs.M().ActiveEpisodes.Add(context.Background(), -1)
	}
}
