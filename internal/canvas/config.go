package canvas

import (
	"fmt"
	"time"
)

// FinishRules decide when a finish action is accepted (SPEC section 4).
// Each rule is configurable; the defaults are the SPEC's.
type FinishRules struct {
	RequireNonEmpty                bool `yaml:"require_nonempty"`
	MinOperators                   int  `yaml:"min_operators"`
	RequireStructure               bool `yaml:"require_structure"`
	RequireSolver                  bool `yaml:"require_solver"`
	RequireChecker                 bool `yaml:"require_checker"`
	RequireTestForCode             bool `yaml:"require_test_for_code"`
	RequireProgrammerOrTestForCode bool `yaml:"require_programmer_or_test_for_code"`
	RequireFormatWhenVerbose       bool `yaml:"require_format_when_verbose"`
}

// DefaultFinishRules are SPEC section 4's.
func DefaultFinishRules() FinishRules {
	return FinishRules{
		RequireNonEmpty:                true,
		MinOperators:                   5,
		RequireStructure:               true,
		RequireSolver:                  true,
		RequireChecker:                 true,
		RequireTestForCode:             true,
		RequireProgrammerOrTestForCode: true,
		RequireFormatWhenVerbose:       true,
	}
}

// Config configures one episode.
type Config struct {
	MaxRounds       int  `yaml:"max_rounds"`        // default 20
	TwoStep         bool `yaml:"two_step"`          // collect a prompt for each new node
	Lenient         bool `yaml:"lenient"`           // lenient parsing when no <action> tag
	ExecuteEachStep bool `yaml:"execute_each_step"` // run the workflow after every completed edit
	Hints           bool `yaml:"hints"`             // advisory hints in observations
	RenderPrompt    bool `yaml:"render_prompt"`     // render system/user prompts for LLM policies
	Finish          FinishRules
	Library         string `yaml:"library"` // operator library, "" for the default
	Backend         string `yaml:"backend"` // executor backend, "" for the canvas's default

	// Observation is how rendered prompts grow: full (default) or
	// incremental (observation_mode.go).
	Observation ObservationMode `yaml:"observation"`

	// Bounds on what observations carry, so a long episode never produces
	// an unbounded message.
	FeedbackLimit int `yaml:"feedback_limit"` // characters of feedback in rendered prompts, default 1500
	ExcerptLimit  int `yaml:"excerpt_limit"`  // characters of each node output excerpt, default 400
	HistoryLimit  int `yaml:"history_limit"`  // recent turns in observations, default 8
}

// DefaultConfig is SPEC's: 20 rounds, two-step editing, lenient parsing,
// execution after each step, no hints.
func DefaultConfig() Config {
	return Config{
		MaxRounds:       20,
		TwoStep:         true,
		Lenient:         true,
		ExecuteEachStep: true,
		RenderPrompt:    true,
		Observation:     ObservationFull,
		Finish:          DefaultFinishRules(),
		FeedbackLimit:   1500,
		ExcerptLimit:    400,
		HistoryLimit:    8,
	}
}

// MaxRoundsLimit bounds max_rounds so a client cannot hold an episode open forever.
const MaxRoundsLimit = 1000

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.MaxRounds < 1 || c.MaxRounds > MaxRoundsLimit:
		return fmt.Errorf("max_rounds must be in 1..%d, got %d", MaxRoundsLimit, c.MaxRounds)
	case c.Finish.MinOperators < 0 || c.Finish.MinOperators > 1000:
		return fmt.Errorf("finish.min_operators must be in 0..1000, got %d", c.Finish.MinOperators)
	case c.FeedbackLimit < 100:
		return fmt.Errorf("feedback_limit must be at least 100, got %d", c.FeedbackLimit)
	case c.ExcerptLimit < 20:
		return fmt.Errorf("excerpt_limit must be at least 20, got %d", c.ExcerptLimit)
	case c.HistoryLimit < 0 || c.HistoryLimit > 100:
		return fmt.Errorf("history_limit must be in 0..100, got %d", c.HistoryLimit)
	case !c.Observation.valid():
		return fmt.Errorf("observation must be %q or %q, got %q", ObservationFull, ObservationIncremental, c.Observation)
	}
	return nil
}

// StoreConfig bounds the in-memory episode store.
//
// Expiry, by how an episode is used:
//
//   - driven by a live Interact stream: never expires for being idle (a
//     slow policy may think for longer than IdleTTL); only a full store
//     may evict it, after every episode without a stream.
//   - unfinished, its stream ended (the client disconnected): resumable by
//     id for ResumeGrace from the moment the stream ended, then it expires
//     and a resume answers NotFound saying so.
//   - otherwise (played through the unary API, or ended and kept for
//     GetEpisode): expires after IdleTTL without a turn.
type StoreConfig struct {
	MaxEpisodes int           // default 10000; when full the least recently used episode expires
	IdleTTL     time.Duration // episodes idle this long expire, default 30m
	// ResumeGrace is how long an unfinished episode whose stream ended
	// stays resumable, default 2m; 0 leaves such episodes to IdleTTL.
	ResumeGrace time.Duration
	// MaxTenantEpisodes bounds the episodes one tenant (an authenticated
	// client; everyone on an open server) holds, every stored episode
	// counted however it was opened; 0: no limit. Over it the tenant's
	// own ended episodes expire first, then new ones are refused.
	MaxTenantEpisodes int
	// MaxBytes and MaxTenantBytes bound the memory of stored episodes
	// (budget.go), globally and per tenant; 0: no limit.
	MaxBytes       int64
	MaxTenantBytes int64
}

// Byte budgets flowsteer serve applies by default (--episode-memory,
// --client-episode-memory); an in-process canvas has none unless given.
const (
	DefaultServeMaxBytes       = 2 << 30
	DefaultServeMaxTenantBytes = 512 << 20
)

// DefaultStoreConfig returns the defaults.
func DefaultStoreConfig() StoreConfig {
	return StoreConfig{MaxEpisodes: 10000, IdleTTL: 30 * time.Minute, ResumeGrace: 2 * time.Minute}
}

// Validate names the first bad field.
func (c StoreConfig) Validate() error {
	if c.MaxEpisodes < 1 {
		return fmt.Errorf("max_episodes must be at least 1, got %d", c.MaxEpisodes)
	}
	if c.IdleTTL <= 0 {
		return fmt.Errorf("idle_ttl must be positive, got %s", c.IdleTTL)
	}
	if c.MaxTenantEpisodes < 0 || c.MaxBytes < 0 || c.MaxTenantBytes < 0 {
		return fmt.Errorf("max_tenant_episodes, max_bytes and max_tenant_bytes must be >= 0 (0 = no limit)")
	}
	if c.ResumeGrace < 0 {
		return fmt.Errorf("resume_grace must be >= 0 (0 = the idle TTL applies), got %s", c.ResumeGrace)
	}
	return nil
}
