package llm

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/chatapi"
)

// Defaults of Config; a zero field takes these (SPEC sections 5 and 7).
const (
	DefaultAPIKeyEnv       = chatapi.DefaultAPIKeyEnv
	DefaultTemperature     = 0.6
	DefaultTopP            = 0.95
	DefaultTopK            = 20
	DefaultActionMaxTokens = canvas.ActionMaxTokens // 512
	DefaultPromptMaxTokens = canvas.PromptMaxTokens // 256
	DefaultRepairMaxTokens = canvas.RepairMaxTokens // 128
	DefaultTimeout         = 120 * time.Second
	DefaultMaxRetries      = 3
	DefaultBackoffBase     = 500 * time.Millisecond
	DefaultBackoffMax      = 20 * time.Second
	DefaultMaxConcurrency  = 8
	DefaultRepairAttempts  = 1
)

// transportDefaults are the chatapi.Settings defaults of Config.
var transportDefaults = chatapi.Settings{
	Timeout:        DefaultTimeout,
	MaxRetries:     DefaultMaxRetries,
	BackoffBase:    DefaultBackoffBase,
	BackoffMax:     DefaultBackoffMax,
	MaxConcurrency: DefaultMaxConcurrency,
}

// reservedBodyKeys are the request fields the policy sets itself. ExtraBody
// may not override them: each one changes either which tokens are sampled
// or what the Decision records about them, and a Decision must describe
// exactly the request that produced it.
var reservedBodyKeys = []string{
	"model", "messages", "temperature", "top_p", "top_k", "max_tokens", "seed",
	"logprobs", "return_tokens_as_token_ids", "stream", "n",
}

// Config configures a language-model policy. Zero fields take the defaults
// above, so Config{BaseURL: ..., Model: ...} is a working policy; the
// negative values that switch a feature off are noted per field.
type Config struct {
	// BaseURL is the server's OpenAI-compatible root, e.g.
	// http://127.0.0.1:8000/v1; /chat/completions is appended.
	BaseURL string `yaml:"base_url" json:"base_url" flag:"policy-url" vet:"addr" doc:"base URL of the policy model's OpenAI-compatible endpoint (required)"`
	// Model is the served model name; with vLLM and a LoRA adapter, the
	// adapter's name. It is also the decisions' policy_version, so a
	// trainer that loads each new adapter under a new name can tell which
	// policy produced which decision.
	Model string `yaml:"model" json:"model" flag:"policy-model" doc:"the served policy model (required)"`
	// APIKeyEnv names the environment variable holding the key, so the key
	// itself never sits in a config file. An unset or empty variable sends
	// no Authorization header, as local servers expect.
	APIKeyEnv string `yaml:"api_key_env" json:"api_key_env" vet:"env" doc:"environment variable holding the API key (unset = no key)"`

	// Sampling defaults; an act's policy.Sampling overrides them. A
	// temperature of 0 takes the default: greedy decoding is asked per act
	// (Sampling.Greedy), as evaluation does. TopK < 0 leaves top_k out of
	// the request, for hosted APIs that refuse the field.
	Temperature float64 `yaml:"temperature" json:"temperature" doc:"sampling temperature (0 = the default; greedy is asked per act)"`
	TopP        float64 `yaml:"top_p" json:"top_p" doc:"nucleus sampling"`
	TopK        int     `yaml:"top_k" json:"top_k" doc:"top-k sampling (negative = left out of requests)"`

	// Reply caps per prompt kind, used when neither the act's sampling nor
	// the rendered prompt sets one; repairs always use RepairMaxTokens.
	ActionMaxTokens int `yaml:"action_max_tokens" json:"action_max_tokens" doc:"reply cap of action turns"`
	PromptMaxTokens int `yaml:"prompt_max_tokens" json:"prompt_max_tokens" doc:"reply cap of prompt-writing turns"`
	RepairMaxTokens int `yaml:"repair_max_tokens" json:"repair_max_tokens" doc:"reply cap of a repair request"`

	// Timeout bounds one HTTP attempt, not the act with its retries and
	// repairs; the caller's context bounds that.
	Timeout time.Duration `yaml:"timeout" json:"timeout" doc:"timeout of one HTTP attempt"`
	// MaxRetries is the number of retries after the first attempt on 429,
	// 5xx, connection errors and attempt timeouts; negative disables them.
	MaxRetries  int           `yaml:"max_retries" json:"max_retries" doc:"retries on 429, 5xx and timeouts (negative = none)"`
	BackoffBase time.Duration `yaml:"backoff_base" json:"backoff_base" doc:"first retry wait"`
	BackoffMax  time.Duration `yaml:"backoff_max" json:"backoff_max" doc:"longest retry wait"`
	// MaxConcurrency bounds the HTTP requests in flight across all the
	// episodes sharing this policy.
	MaxConcurrency int `yaml:"max_concurrency" json:"max_concurrency" doc:"HTTP requests in flight across episodes"`

	// Logprobs asks for the log-probability of each sampled token (the
	// default, nil, is on): CWRPO's ratio needs the acting policy's
	// log-probs of exactly the sampled tokens.
	Logprobs *bool `yaml:"logprobs" json:"logprobs" doc:"ask for sampled tokens' log-probs (CWRPO needs them)"`
	// TokenIDs sends vLLM's return_tokens_as_token_ids, so that sampled
	// tokens come back as ids rather than strings that may not re-tokenise
	// to the same ids. vLLM only: other servers reject or ignore it, and
	// a reply whose tokens are not ids is then an error.
	TokenIDs bool `yaml:"token_ids" json:"token_ids" doc:"vLLM only: sampled tokens come back as ids"`

	// RepairAttempts bounds the repair requests made when an action reply
	// holds no parsable action (SPEC section 5: one); negative disables them.
	RepairAttempts int `yaml:"repair_attempts" json:"repair_attempts" doc:"repair requests when a reply holds no action"`

	// ExtraBody is merged into every request (server options such as
	// chat_template_kwargs or min_p). Options that change how the prompt is
	// rendered, such as chat_template_kwargs, must be given to the learner
	// too: Info().Extra carries them.
	ExtraBody map[string]any `yaml:"extra_body" json:"extra_body" doc:"fields merged into every request"`
}

// DefaultConfig returns the defaults with logprobs on; BaseURL and Model
// are left for the caller.
func DefaultConfig() Config {
	on := true
	return Config{
		APIKeyEnv:       DefaultAPIKeyEnv,
		Temperature:     DefaultTemperature,
		TopP:            DefaultTopP,
		TopK:            DefaultTopK,
		ActionMaxTokens: DefaultActionMaxTokens,
		PromptMaxTokens: DefaultPromptMaxTokens,
		RepairMaxTokens: DefaultRepairMaxTokens,
		Timeout:         DefaultTimeout,
		MaxRetries:      DefaultMaxRetries,
		BackoffBase:     DefaultBackoffBase,
		BackoffMax:      DefaultBackoffMax,
		MaxConcurrency:  DefaultMaxConcurrency,
		Logprobs:        &on,
		RepairAttempts:  DefaultRepairAttempts,
	}
}

// Validate reports the first bad field, named as in config files.
func (c Config) Validate() error {
	if err := chatapi.ValidateBaseURL("llm.base_url", c.BaseURL); err != nil {
		return err
	}
	if strings.TrimSpace(c.Model) == "" {
		return errors.New("llm.model must not be empty")
	}
	switch {
	case c.Temperature < 0 || c.Temperature > 2 || c.Temperature != c.Temperature:
		return fmt.Errorf("llm.temperature must be in [0, 2], got %g", c.Temperature)
	case c.TopP < 0 || c.TopP > 1 || c.TopP != c.TopP:
		return fmt.Errorf("llm.top_p must be in (0, 1] (0 for the default), got %g", c.TopP)
	case c.ActionMaxTokens < 0:
		return fmt.Errorf("llm.action_max_tokens must not be negative, got %d", c.ActionMaxTokens)
	case c.PromptMaxTokens < 0:
		return fmt.Errorf("llm.prompt_max_tokens must not be negative, got %d", c.PromptMaxTokens)
	case c.RepairMaxTokens < 0:
		return fmt.Errorf("llm.repair_max_tokens must not be negative, got %d", c.RepairMaxTokens)
	}
	if err := c.settings().Validate("llm", transportDefaults); err != nil {
		return err
	}
	if c.TokenIDs && c.Logprobs != nil && !*c.Logprobs {
		return errors.New("llm.token_ids needs llm.logprobs: vLLM returns the sampled ids in place of the log-probs' token strings")
	}
	return chatapi.CheckExtraBody("llm", "the policy", c.ExtraBody, reservedBodyKeys)
}

// withDefaults fills zero fields and turns the negative "off" values into
// the zeros the code uses.
func (c Config) withDefaults() Config {
	c.APIKeyEnv = cmp.Or(c.APIKeyEnv, DefaultAPIKeyEnv)
	c.Temperature = cmp.Or(c.Temperature, DefaultTemperature)
	c.TopP = cmp.Or(c.TopP, DefaultTopP)
	c.TopK = cmp.Or(c.TopK, DefaultTopK)
	c.ActionMaxTokens = cmp.Or(c.ActionMaxTokens, DefaultActionMaxTokens)
	c.PromptMaxTokens = cmp.Or(c.PromptMaxTokens, DefaultPromptMaxTokens)
	c.RepairMaxTokens = cmp.Or(c.RepairMaxTokens, DefaultRepairMaxTokens)
	c.settings().WithDefaults(transportDefaults).Store(&c.Timeout, &c.MaxRetries, &c.BackoffBase, &c.BackoffMax, &c.MaxConcurrency)
	if c.Logprobs == nil {
		on := true
		c.Logprobs = &on
	}
	if c.RepairAttempts == 0 {
		c.RepairAttempts = DefaultRepairAttempts
	} else if c.RepairAttempts < 0 {
		c.RepairAttempts = 0
	}
	return c
}

func (c Config) settings() chatapi.Settings {
	return chatapi.Settings{Timeout: c.Timeout, MaxRetries: c.MaxRetries, BackoffBase: c.BackoffBase, BackoffMax: c.BackoffMax, MaxConcurrency: c.MaxConcurrency}
}
