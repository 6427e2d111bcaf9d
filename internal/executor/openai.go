package executor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowsteer/flowsteer/internal/chatapi"
)

// Defaults of OpenAIConfig; a zero field takes these.
const (
	DefaultAPIKeyEnv      = chatapi.DefaultAPIKeyEnv
	DefaultMaxTokens      = 4096
	DefaultTimeout        = 120 * time.Second
	DefaultMaxRetries     = 4
	DefaultBackoffBase    = 500 * time.Millisecond
	DefaultBackoffMax     = 20 * time.Second
	DefaultMaxConcurrency = 8
)

// transportDefaults are the chatapi.Settings defaults of OpenAIConfig.
var transportDefaults = chatapi.Settings{
	Timeout:        DefaultTimeout,
	MaxRetries:     DefaultMaxRetries,
	BackoffBase:    DefaultBackoffBase,
	BackoffMax:     DefaultBackoffMax,
	MaxConcurrency: DefaultMaxConcurrency,
}

// reservedBodyKeys are the request fields the backend sets itself. ExtraBody
// may not override them: temperature decides Deterministic (and so caching),
// and stream or n would change the answer's shape.
var reservedBodyKeys = []string{"model", "messages", "temperature", "top_p", "max_tokens", "seed", "stream", "n"}

// OpenAIConfig configures an OpenAI-compatible chat-completions backend
// (OpenAI, vLLM, SGLang, llama.cpp server, ...). Zero fields take the
// defaults above.
type OpenAIConfig struct {
	Name    string `yaml:"name" json:"name" doc:"name of the backend in the process"`
	BaseURL string `yaml:"base_url" json:"base_url" flag:"base-url" vet:"addr" doc:"base URL of the endpoint, e.g. http://127.0.0.1:8000/v1 (required)"` // e.g. http://127.0.0.1:8000/v1
	Model   string `yaml:"model" json:"model" flag:"model" doc:"model name (required)"`
	// APIKeyEnv names the environment variable holding the key (the key
	// itself never sits in a config file). An empty value sends no
	// Authorization header, as local servers expect.
	APIKeyEnv string `yaml:"api_key_env" json:"api_key_env" flag:"api-key-env" vet:"env" doc:"environment variable holding the API key (unset = no key)"`
	// UseAPIKey sends APIKey (none when empty) instead of reading
	// APIKeyEnv: set by a server for a client's config, never from a file.
	UseAPIKey   bool    `yaml:"-" json:"-"`
	APIKey      string  `yaml:"-" json:"-"`
	Temperature float64 `yaml:"temperature" json:"temperature" flag:"temperature" doc:"sampling temperature (0 makes calls cacheable)"`
	MaxTokens   int     `yaml:"max_tokens" json:"max_tokens" flag:"max-tokens" doc:"max tokens per call"`
	// Timeout bounds one HTTP attempt, not the whole call with its retries;
	// the caller's context bounds that.
	Timeout time.Duration `yaml:"timeout" json:"timeout" flag:"backend-timeout" doc:"timeout of one HTTP attempt"`
	// MaxRetries is the number of retries after the first attempt; 0 takes
	// the default and a negative value disables retrying.
	MaxRetries     int           `yaml:"max_retries" json:"max_retries" doc:"retries after the first attempt on 429/5xx (negative = none)"`
	BackoffBase    time.Duration `yaml:"backoff_base" json:"backoff_base" doc:"first retry wait"`
	BackoffMax     time.Duration `yaml:"backoff_max" json:"backoff_max" doc:"longest retry wait"`
	MaxConcurrency int           `yaml:"max_concurrency" json:"max_concurrency" flag:"backend-concurrency" doc:"most calls in flight at once"`
	// ExtraBody is merged into every request's JSON (server-specific
	// options such as top_k or chat_template_kwargs).
	ExtraBody map[string]any `yaml:"extra_body" json:"extra_body" doc:"fields merged into every request (server-specific options such as top_k)"`
}

// Validate reports the first bad field, named as in config files.
func (c OpenAIConfig) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("openai.name must not be empty")
	}
	if err := chatapi.ValidateBaseURL("openai.base_url", c.BaseURL); err != nil {
		return err
	}
	if strings.TrimSpace(c.Model) == "" {
		return errors.New("openai.model must not be empty")
	}
	if c.Temperature < 0 || c.Temperature > 2 {
		return fmt.Errorf("openai.temperature must be in [0, 2], got %g", c.Temperature)
	}
	if c.MaxTokens < 0 {
		return fmt.Errorf("openai.max_tokens must not be negative, got %d", c.MaxTokens)
	}
	if err := c.settings().Validate("openai", transportDefaults); err != nil {
		return err
	}
	return chatapi.CheckExtraBody("openai", "the backend", c.ExtraBody, reservedBodyKeys)
}

func (c OpenAIConfig) withDefaults() OpenAIConfig {
	c.APIKeyEnv = cmp.Or(c.APIKeyEnv, DefaultAPIKeyEnv)
	c.MaxTokens = cmp.Or(c.MaxTokens, DefaultMaxTokens)
	c.settings().WithDefaults(transportDefaults).Store(&c.Timeout, &c.MaxRetries, &c.BackoffBase, &c.BackoffMax, &c.MaxConcurrency)
	return c
}

func (c OpenAIConfig) settings() chatapi.Settings {
	return chatapi.Settings{Timeout: c.Timeout, MaxRetries: c.MaxRetries, BackoffBase: c.BackoffBase, BackoffMax: c.BackoffMax, MaxConcurrency: c.MaxConcurrency}
}

// OpenAI is a Backend speaking the OpenAI chat-completions protocol.
type OpenAI struct {
	cfg    OpenAIConfig
	client *chatapi.Client
}

var _ Backend = (*OpenAI)(nil)

// NewOpenAI validates cfg, fills defaults and reads the API key from the
// environment once, so a process uses one key throughout.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &OpenAI{
		cfg: cfg,
		client: chatapi.New(chatapi.Options{
			BaseURL:     cfg.BaseURL,
			APIKeyEnv:   cfg.APIKeyEnv,
			UseAPIKey:   cfg.UseAPIKey,
			APIKey:      cfg.APIKey,
			Settings:    cfg.settings(),
			ErrorPrefix: fmt.Sprintf("openai backend %q", cfg.Name),
		}),
	}, nil
}

// Name implements Backend.
func (o *OpenAI) Name() string { return o.cfg.Name }

// Model implements Backend.
func (o *OpenAI) Model() string { return o.cfg.Model }

// Config returns the configuration with defaults filled in.
func (o *OpenAI) Config() OpenAIConfig { return o.cfg }

// Deterministic implements Backend: a real model is treated as
// deterministic at temperature 0 (greedy decoding).
func (o *OpenAI) Deterministic(req Request) bool { return o.temperature(req) == 0 }

// VariesByVariant implements Backend: the server never sees Meta.Variant.
func (o *OpenAI) VariesByVariant() bool { return false }

// Simulated implements Backend.
func (o *OpenAI) Simulated() bool { return false }

// temperature is the effective temperature of req. Sampling has no way to
// say "explicitly 0", so a request temperature <= 0 means the configured
// one; a positive one overrides it.
func (o *OpenAI) temperature(req Request) float64 {
	if req.Sampling.Temperature > 0 {
		return req.Sampling.Temperature
	}
	return o.cfg.Temperature
}

func (o *OpenAI) model(req Request) string {
	if req.Model != "" {
		return req.Model
	}
	return o.cfg.Model
}

func (o *OpenAI) requestBody(req Request) map[string]any {
	body := make(map[string]any, len(o.cfg.ExtraBody)+6)
	for k, v := range o.cfg.ExtraBody {
		body[k] = v
	}
	maxTokens := req.Sampling.MaxTokens
	if maxTokens <= 0 {
		maxTokens = o.cfg.MaxTokens
	}
	body["model"] = o.model(req)
	body["messages"] = req.Messages
	// Always sent, 0 included: servers default to 1.0 when it is absent.
	body["temperature"] = o.temperature(req)
	body["max_tokens"] = maxTokens
	if req.Sampling.TopP > 0 {
		body["top_p"] = req.Sampling.TopP
	}
	if req.Sampling.Seed != 0 {
		body["seed"] = req.Sampling.Seed
	}
	return body
}

// Complete implements Backend through chatapi.Complete: 429, 5xx,
// connection errors and attempts that hit Timeout are retried with
// exponential backoff and full jitter, honouring Retry-After up to
// BackoffMax; a malformed 200 is retried once; other 4xx fail at once.
// Latency is the whole call's, queueing and retries included, since that
// is what a workflow run waits for.
func (o *OpenAI) Complete(ctx context.Context, req Request) (Response, error) {
	start := time.Now()
	if len(req.Messages) == 0 {
		return Response{}, o.client.Errorf("request has no messages")
	}
	cr, err := chatapi.Complete[chatResponse](ctx, o.client, o.requestBody(req), nil)
	if err != nil {
		return Response{}, err
	}
	ch := cr.Choices[0]
	resp := Response{Model: cr.Model, Latency: time.Since(start)}
	if resp.Model == "" {
		resp.Model = o.model(req)
	}
	// A null content (a refusal or a reasoning model that ran out of
	// tokens) is an empty answer, not a protocol error.
	if ch.Message.Content != nil {
		resp.Text = *ch.Message.Content
	}
	if ch.FinishReason != nil {
		resp.FinishReason = *ch.FinishReason
	}
	if cr.Usage != nil {
		resp.InputTokens = cr.Usage.PromptTokens
		resp.OutputTokens = cr.Usage.CompletionTokens
		if d := cr.Usage.PromptTokensDetails; d != nil {
			resp.CachedInputTokens = min(d.CachedTokens, resp.InputTokens)
		}
	}
	return resp, nil
}

type chatResponse struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content *string `json:"content"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
		// Servers with prompt caching (OpenAI, vLLM with
		// --enable-prompt-tokens-details) report the cached part here.
		PromptTokensDetails *struct {
			CachedTokens int64 `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
}
