// Package executor holds the LLM backends that run operators: the
// Backend interface, the registry of backend kinds (Backends: each kind a
// factory with a typed, validated config, in its own file), the registry
// of a process's named backend instances (Registry), the
// OpenAI-compatible HTTP backend, and a bounded cache of deterministic
// calls shared by every episode of a process.
//
// Data path: canvas -> engine -> operator builds a Request -> Backend
// (through the cache) -> Response parsed by the operator.
package executor

import (
	"context"
	"time"
)

// Message is one chat message.
type Message struct {
	Role    string `json:"role"` // system, user, assistant
	Content string `json:"content"`
}

// Sampling are the generation parameters of a call.
type Sampling struct {
	Temperature float64
	TopP        float64 // 0 = backend default
	MaxTokens   int     // 0 = backend default (4096)
	Seed        int64   // 0 = none
}

// Meta describes where a call comes from. Real backends ignore it (apart
// from logs and traces); the simulated backend reads it to decide what a
// model would answer, so it carries the task and the call's place in the
// workflow.
type Meta struct {
	Operator string
	NodeID   string
	TaskID   string
	Episode  string
	// Variant distinguishes otherwise identical calls that should be
	// independent draws (the branches of a parallel block). Backends whose
	// answers do not depend on it (a real model at temperature 0) leave it
	// out of the cache key; see Backend.VariesByVariant.
	Variant int
	// Attempt counts retries of the same node (Programmer's error retries,
	// Test's fix rounds), starting at 0.
	Attempt int
	// Inputs are the operator's named text inputs (problem, solution,
	// feedback, ...), for logs and for the simulated backend.
	Inputs map[string]string
	// Lists are the operator's list inputs (a parallel block's outputs).
	Lists map[string][]string
	// Sim is opaque context for the simulated backend (the task with its
	// gold answer, what the workflow did before this call); nil for real runs.
	Sim any
}

// Request is one chat-completion call.
type Request struct {
	Model    string // "" = the backend's configured model
	Messages []Message
	Sampling Sampling
	Meta     Meta
}

// Response is a backend's answer.
type Response struct {
	Text         string
	Model        string
	InputTokens  int64
	OutputTokens int64
	Latency      time.Duration
	Simulated    bool
	CacheHit     bool
	CacheTier    string // with CacheHit: TierLocal or TierShared
	FinishReason string

	// CachedInputTokens is the part of InputTokens the provider served from
	// its own prompt cache (OpenAI usage.prompt_tokens_details.cached_tokens),
	// priced at the cached-input price.
	CachedInputTokens int64
}

// Cache tiers a hit can come from (Response.CacheTier).
const (
	TierLocal  = "local"  // this process's LRU, or an identical call in flight here
	TierShared = "shared" // the tier shared by replicas (SharedTier)
)

// Backend answers chat-completion calls. Implementations are safe for
// concurrent use and bound their own concurrency.
type Backend interface {
	Name() string
	// Model is the default model name, reported in logs, spans and reports.
	Model() string
	Complete(ctx context.Context, req Request) (Response, error)
	// Deterministic reports whether identical requests always get identical
	// answers (temperature 0 on a real model, or the seeded simulation), so
	// answers may be cached.
	Deterministic(req Request) bool
	// VariesByVariant reports whether Meta.Variant changes the answer.
	VariesByVariant() bool
	// Simulated reports whether this backend is the offline simulation.
	Simulated() bool
}
