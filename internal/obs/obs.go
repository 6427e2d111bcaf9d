// Package obs is what the domain packages use to trace and measure
// themselves: the tracer, the metric instruments, the attribute keys and
// the opt-in for prompt and reply text. It imports only the OpenTelemetry
// API, so without an SDK (tests, library use) every call is a no-op; the
// binary installs the SDK with internal/telemetry.
//
// Span tree (one trace per episode, one per training run):
//
//	train.run -> train.step -> train.group -> episode -> turn
//	turn -> policy.act, canvas.step
//	canvas.step ~> (Interact stream) canvas.apply -> workflow.execute
//	  -> workflow.node -> chat MODEL (executor call), sandbox.run
package obs

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope of every flowsteer span and metric.
const Scope = "github.com/flowsteer/flowsteer"

// Tracer returns the flowsteer tracer of the global provider.
func Tracer() trace.Tracer { return otel.Tracer(Scope) }

// defaultProvider is the global tracer provider before anyone installed
// one: it only makes non-recording spans.
var defaultProvider = otel.GetTracerProvider()

// TracingOff reports that no tracer provider was installed, so no span can
// record. Hot paths use it to skip starting spans nobody would see.
func TracingOff() bool { return otel.GetTracerProvider() == defaultProvider }

// Start starts a span from ctx with the flowsteer tracer.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return Tracer().Start(ctx, name, trace.WithAttributes(attrs...))
}

// End records err (when non-nil) on span and ends it.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Attribute keys. Episode and turn attributes are shared by the client
// (rollout) and server (canvas) spans so that the two can be lined up.
const (
	EpisodeID    = attribute.Key("flowsteer.episode.id")
	TaskID       = attribute.Key("flowsteer.task.id")
	TaskFamily   = attribute.Key("flowsteer.task.family")
	Turn         = attribute.Key("flowsteer.turn")
	DSL          = attribute.Key("flowsteer.workflow.dsl")
	ActionKind   = attribute.Key("flowsteer.action.kind")
	ActionValid  = attribute.Key("flowsteer.action.valid")
	ActionError  = attribute.Key("flowsteer.action.error")
	State        = attribute.Key("flowsteer.episode.state")
	EndReason    = attribute.Key("flowsteer.episode.end_reason")
	Reward       = attribute.Key("flowsteer.reward")
	Released     = attribute.Key("flowsteer.reward.released")
	Correctness  = attribute.Key("flowsteer.reward.correctness")
	Turns        = attribute.Key("flowsteer.episode.turns")
	Invalid      = attribute.Key("flowsteer.episode.invalid_actions")
	PolicyKind   = attribute.Key("flowsteer.policy.kind")
	PolicyModel  = attribute.Key("flowsteer.policy.model")
	PromptTokens = attribute.Key("flowsteer.policy.prompt_tokens")
	ReplyTokens  = attribute.Key("flowsteer.policy.completion_tokens")
	NodeID       = attribute.Key("flowsteer.node.id")
	Operator     = attribute.Key("flowsteer.operator")
	NodeStatus   = attribute.Key("flowsteer.node.status")
	Iteration    = attribute.Key("flowsteer.node.iteration")
	CacheHit     = attribute.Key("flowsteer.cache.hit")
	CacheTier    = attribute.Key("flowsteer.cache.tier") // local or shared, on hits
	Backend      = attribute.Key("flowsteer.executor.backend")
	Simulated    = attribute.Key("flowsteer.executor.simulated")
	Calls        = attribute.Key("flowsteer.executor.calls")
	Nodes        = attribute.Key("flowsteer.workflow.nodes")
	RunID        = attribute.Key("flowsteer.run.id")
	Step         = attribute.Key("flowsteer.train.step")
	GroupID      = attribute.Key("flowsteer.train.group")
	Episodes     = attribute.Key("flowsteer.train.episodes")
	Prompt       = attribute.Key("flowsteer.content.prompt")
	Reply        = attribute.Key("flowsteer.content.reply")
	Answer       = attribute.Key("flowsteer.content.answer")
	Feedback     = attribute.Key("flowsteer.content.feedback")
	ErrorType    = attribute.Key("error.type")

	// OpenTelemetry GenAI semantic conventions (executor calls).
	GenAISystem        = attribute.Key("gen_ai.system")
	GenAIProvider      = attribute.Key("gen_ai.provider.name")
	GenAIOperation     = attribute.Key("gen_ai.operation.name")
	GenAIRequestModel  = attribute.Key("gen_ai.request.model")
	GenAIResponseModel = attribute.Key("gen_ai.response.model")
	GenAIInputTokens   = attribute.Key("gen_ai.usage.input_tokens")
	GenAIOutputTokens  = attribute.Key("gen_ai.usage.output_tokens")
	GenAITemperature   = attribute.Key("gen_ai.request.temperature")
	GenAIMaxTokens     = attribute.Key("gen_ai.request.max_tokens")
	GenAITopP          = attribute.Key("gen_ai.request.top_p")
	GenAISeed          = attribute.Key("gen_ai.request.seed")
	GenAIFinishReasons = attribute.Key("gen_ai.response.finish_reasons")
	GenAITokenType     = attribute.Key("gen_ai.token.type")
)

// ContentEnv is the environment variable that opts in to recording prompt
// and reply text on spans ("1" or "true"); text is then bounded to
// MaxContent bytes per attribute.
const ContentEnv = "FLOWSTEER_TRACE_CONTENT"

// MaxContent bounds every recorded text attribute.
const MaxContent = 1024

var (
	contentOnce sync.Once
	contentOn   atomic.Bool
)

// ContentEnabled reports whether prompt and reply text may be recorded.
// It reads ContentEnv once per process.
func ContentEnabled() bool {
	contentOnce.Do(func() {
		v := os.Getenv(ContentEnv)
		contentOn.Store(v == "1" || v == "true")
	})
	return contentOn.Load()
}

// SetContentEnabled overrides ContentEnv (tests); it returns the old value.
func SetContentEnabled(on bool) bool {
	ContentEnabled()
	return contentOn.Swap(on)
}

// Bound cuts s to at most n bytes on a rune boundary, marking the cut.
func Bound(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…[truncated]"
	cut := max(0, n-len(mark))
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// Content returns the attribute k=s (bounded) when content recording is
// on, and false otherwise.
func Content(k attribute.Key, s string) (attribute.KeyValue, bool) {
	if !ContentEnabled() {
		return attribute.KeyValue{}, false
	}
	return k.String(Bound(s, MaxContent)), true
}

// SetContent sets k=s on span when content recording is on.
func SetContent(span trace.Span, k attribute.Key, s string) {
	if kv, ok := Content(k, s); ok {
		span.SetAttributes(kv)
	}
}

// Text is a bounded, always-recorded text attribute (DSLs, feedback on
// invalid actions): structure, never prompt or reply content.
func Text(k attribute.Key, s string) attribute.KeyValue { return k.String(Bound(s, MaxContent)) }

// Instruments are flowsteer's metrics. Get them with M.
type Instruments struct {
	Turns           metric.Int64Counter
	InvalidActions  metric.Int64Counter
	EpisodeDuration metric.Float64Histogram
	ActiveEpisodes  metric.Int64UpDownCounter
	ExecCalls       metric.Int64Counter
	ExecDuration    metric.Float64Histogram
	ExecErrors      metric.Int64Counter
	CacheHits       metric.Int64Counter
	TokenUsage      metric.Int64Histogram
	SandboxRuns     metric.Int64Counter
	SandboxKills    metric.Int64Counter
	SandboxDuration metric.Float64Histogram
	StepDuration    metric.Float64Histogram
	StepReward      metric.Float64Gauge
	EpisodeReward   metric.Float64Histogram
}

var (
	instOnce sync.Once
	inst     *Instruments
)

// M returns the instruments, made once from the global meter provider
// (instruments made before the SDK is installed follow it when it is).
func M() *Instruments {
	instOnce.Do(func() { inst = NewInstruments(otel.GetMeterProvider()) })
	return inst
}

var durationBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// NewInstruments makes the instruments from mp. Errors from the API only
// concern invalid names, which are constants here, so they are ignored:
// the API returns a working no-op instrument alongside.
func NewInstruments(mp metric.MeterProvider) *Instruments {
	m := mp.Meter(Scope)
	i := &Instruments{}
	i.Turns, _ = m.Int64Counter("flowsteer.canvas.turns", metric.WithDescription("Turns applied by the canvas, by action kind and validity."), metric.WithUnit("{turn}"))
	i.InvalidActions, _ = m.Int64Counter("flowsteer.canvas.invalid_actions", metric.WithDescription("Turns whose action was refused, by action kind."), metric.WithUnit("{action}"))
	i.EpisodeDuration, _ = m.Float64Histogram("flowsteer.canvas.episode.duration", metric.WithDescription("Time from opening an episode to its end, by end reason."), metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...))
	i.ActiveEpisodes, _ = m.Int64UpDownCounter("flowsteer.canvas.active_episodes", metric.WithDescription("Episodes opened and not yet ended."), metric.WithUnit("{episode}"))
	i.ExecCalls, _ = m.Int64Counter("flowsteer.executor.calls", metric.WithDescription("Executor (LLM) calls, by backend, model, cache hit and outcome."), metric.WithUnit("{call}"))
	i.ExecDuration, _ = m.Float64Histogram("flowsteer.executor.duration", metric.WithDescription("Executor call latency, by backend, cache hit and error type."), metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...))
	i.ExecErrors, _ = m.Int64Counter("flowsteer.executor.errors", metric.WithDescription("Executor calls that failed, by backend and error type."), metric.WithUnit("{call}"))
	i.CacheHits, _ = m.Int64Counter("flowsteer.executor.cache.hits", metric.WithDescription("Executor calls answered by the cache (or coalesced), by backend and cache tier (local or shared)."), metric.WithUnit("{call}"))
	i.TokenUsage, _ = m.Int64Histogram("gen_ai.client.token.usage", metric.WithDescription("Tokens per executor call (GenAI semantic conventions), by token type."), metric.WithUnit("{token}"))
	i.SandboxRuns, _ = m.Int64Counter("flowsteer.sandbox.runs", metric.WithDescription("Sandboxed Python runs, by isolation mode and outcome."), metric.WithUnit("{run}"))
	i.SandboxKills, _ = m.Int64Counter("flowsteer.sandbox.kills", metric.WithDescription("Sandboxed runs stopped by a limit, by reason."), metric.WithUnit("{run}"))
	i.SandboxDuration, _ = m.Float64Histogram("flowsteer.sandbox.duration", metric.WithDescription("Sandboxed run wall time."), metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...))
	i.StepDuration, _ = m.Float64Histogram("flowsteer.trainer.step.duration", metric.WithDescription("Training step wall time."), metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...))
	i.StepReward, _ = m.Float64Gauge("flowsteer.trainer.step.reward", metric.WithDescription("Mean episode reward of the last training step."), metric.WithUnit("1"))
	i.EpisodeReward, _ = m.Float64Histogram("flowsteer.trainer.episode.reward", metric.WithDescription("Reward of each training episode."), metric.WithUnit("1"), metric.WithExplicitBucketBoundaries(-1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.5, 2))
	return i
}
