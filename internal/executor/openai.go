package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults of OpenAIConfig; a zero field takes these.
const (
	DefaultAPIKeyEnv      = "OPENAI_API_KEY"
	DefaultMaxTokens      = 4096
	DefaultTimeout        = 120 * time.Second
	DefaultMaxRetries     = 4
	DefaultBackoffBase    = 500 * time.Millisecond
	DefaultBackoffMax     = 20 * time.Second
	DefaultMaxConcurrency = 8
)

const (
	// maxResponseBytes bounds what one answer may make us buffer: a broken
	// or hostile server must not be able to exhaust memory.
	maxResponseBytes = 8 << 20
	// maxErrorBodyBytes bounds what is read of a failed answer; only a
	// message is wanted from it.
	maxErrorBodyBytes = 64 << 10
	// maxErrorMessage bounds the server text quoted in an error, so an HTML
	// error page does not flood logs and feedback.
	maxErrorMessage = 300
)

// reservedBodyKeys are the request fields the backend sets itself. ExtraBody
// may not override them: temperature decides Deterministic (and so caching),
// and stream or n would change the answer's shape.
var reservedBodyKeys = []string{"model", "messages", "temperature", "top_p", "max_tokens", "seed", "stream", "n"}

// OpenAIConfig configures an OpenAI-compatible chat-completions backend
// (OpenAI, vLLM, SGLang, llama.cpp server, ...). Zero fields take the
// defaults above.
type OpenAIConfig struct {
	Name    string `yaml:"name" json:"name"`
	BaseURL string `yaml:"base_url" json:"base_url"` // e.g. http://127.0.0.1:8000/v1
	Model   string `yaml:"model" json:"model"`
	// APIKeyEnv names the environment variable holding the key (the key
	// itself never sits in a config file). An empty value sends no
	// Authorization header, as local servers expect.
	APIKeyEnv   string  `yaml:"api_key_env" json:"api_key_env"`
	Temperature float64 `yaml:"temperature" json:"temperature"`
	MaxTokens   int     `yaml:"max_tokens" json:"max_tokens"`
	// Timeout bounds one HTTP attempt, not the whole call with its retries;
	// the caller's context bounds that.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// MaxRetries is the number of retries after the first attempt; 0 takes
	// the default and a negative value disables retrying.
	MaxRetries     int           `yaml:"max_retries" json:"max_retries"`
	BackoffBase    time.Duration `yaml:"backoff_base" json:"backoff_base"`
	BackoffMax     time.Duration `yaml:"backoff_max" json:"backoff_max"`
	MaxConcurrency int           `yaml:"max_concurrency" json:"max_concurrency"`
	// ExtraBody is merged into every request's JSON (server-specific
	// options such as top_k or chat_template_kwargs).
	ExtraBody map[string]any `yaml:"extra_body" json:"extra_body"`
}

// Validate reports the first bad field, named as in config files.
func (c OpenAIConfig) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("openai.name must not be empty")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		shown := fmt.Sprintf("%q", c.BaseURL)
		if err == nil {
			// Redacted: a base URL may carry user:password.
			shown = fmt.Sprintf("%q", u.Redacted())
		}
		return fmt.Errorf("openai.base_url must be an http(s) URL, got %s", shown)
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
	if c.Timeout < 0 {
		return fmt.Errorf("openai.timeout must not be negative, got %s", c.Timeout)
	}
	if c.BackoffBase < 0 {
		return fmt.Errorf("openai.backoff_base must not be negative, got %s", c.BackoffBase)
	}
	if c.BackoffMax < 0 {
		return fmt.Errorf("openai.backoff_max must not be negative, got %s", c.BackoffMax)
	}
	if d := c.withDefaults(); d.BackoffBase > d.BackoffMax {
		return fmt.Errorf("openai.backoff_base (%s) must not exceed openai.backoff_max (%s)", d.BackoffBase, d.BackoffMax)
	}
	if c.MaxConcurrency < 0 {
		return fmt.Errorf("openai.max_concurrency must not be negative, got %d", c.MaxConcurrency)
	}
	for _, k := range reservedBodyKeys {
		if _, ok := c.ExtraBody[k]; ok {
			return fmt.Errorf("openai.extra_body.%s is set by the backend itself and may not be overridden", k)
		}
	}
	return nil
}

func (c OpenAIConfig) withDefaults() OpenAIConfig {
	if c.APIKeyEnv == "" {
		c.APIKeyEnv = DefaultAPIKeyEnv
	}
	if c.MaxTokens == 0 {
		c.MaxTokens = DefaultMaxTokens
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	} else if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = DefaultMaxConcurrency
	}
	return c
}

// OpenAI is a Backend speaking the OpenAI chat-completions protocol.
type OpenAI struct {
	cfg      OpenAIConfig
	endpoint string
	apiKey   string // never logged nor put in errors
	client   *http.Client
	sem      chan struct{}
}

var _ Backend = (*OpenAI)(nil)

// NewOpenAI validates cfg, fills defaults and reads the API key from the
// environment once, so a process uses one key throughout.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Keep as many idle connections as calls may run at once; the default
	// of 2 per host would reopen connections under load.
	tr.MaxIdleConnsPerHost = cfg.MaxConcurrency
	return &OpenAI{
		cfg:      cfg,
		endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/chat/completions",
		apiKey:   os.Getenv(cfg.APIKeyEnv),
		// No client-wide timeout: each attempt gets its own context deadline
		// so that waiting for a concurrency slot does not count against it.
		client: &http.Client{Transport: tr},
		sem:    make(chan struct{}, cfg.MaxConcurrency),
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

func (o *OpenAI) requestBody(req Request) ([]byte, error) {
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
	return json.Marshal(body)
}

// attemptError is the outcome of one failed HTTP attempt.
type attemptError struct {
	msg        string
	retryable  bool
	malformed  bool          // a 200 whose body could not be used
	retryAfter time.Duration // from Retry-After; valid when hasAfter
	hasAfter   bool
	cause      error
}

func (e *attemptError) Error() string { return e.msg }
func (e *attemptError) Unwrap() error { return e.cause }

// Complete implements Backend. It retries 429, 5xx, connection errors and
// attempts that hit Timeout with exponential backoff and full jitter,
// honouring Retry-After up to BackoffMax. A 200 whose body is malformed
// (bad JSON, no choices) is retried once only: proxies and restarting
// servers produce the odd broken answer, but a server that keeps doing so
// will not heal within the backoff. Other 4xx fail at once. Latency is the
// whole call's, queueing and retries included, since that is what a
// workflow run waits for.
func (o *OpenAI) Complete(ctx context.Context, req Request) (Response, error) {
	start := time.Now()
	if len(req.Messages) == 0 {
		return Response{}, o.errorf("request has no messages")
	}
	body, err := o.requestBody(req)
	if err != nil {
		return Response{}, o.errorf("encoding request: %v", err)
	}
	malformedRetries := 1
	for attempt := 0; ; attempt++ {
		resp, err := o.attempt(ctx, req, body)
		if err == nil {
			resp.Latency = time.Since(start)
			return resp, nil
		}
		if ctx.Err() != nil {
			return Response{}, o.ctxError(ctx, err)
		}
		var ae *attemptError
		if !errors.As(err, &ae) || !ae.retryable || (ae.malformed && malformedRetries == 0) {
			return Response{}, o.wrapAttempts(err, attempt+1)
		}
		if attempt >= o.cfg.MaxRetries {
			return Response{}, o.wrapAttempts(err, attempt+1)
		}
		if ae.malformed {
			malformedRetries--
		}
		if err := sleepCtx(ctx, o.backoff(attempt, ae)); err != nil {
			return Response{}, o.ctxError(ctx, ae)
		}
	}
}

func (o *OpenAI) errorf(format string, args ...any) error {
	return fmt.Errorf("openai backend %q: %s", o.cfg.Name, fmt.Sprintf(format, args...))
}

func (o *OpenAI) wrapAttempts(err error, attempts int) error {
	if attempts > 1 {
		return fmt.Errorf("openai backend %q: %w (gave up after %d attempts)", o.cfg.Name, err, attempts)
	}
	return fmt.Errorf("openai backend %q: %w", o.cfg.Name, err)
}

// ctxError wraps the caller's context error (so errors.Is finds
// context.Canceled or DeadlineExceeded) and keeps the last failure, which
// is usually why the call took long enough to be cancelled.
func (o *OpenAI) ctxError(ctx context.Context, last error) error {
	var ae *attemptError
	if last != nil && errors.As(last, &ae) {
		return fmt.Errorf("openai backend %q: %w (last attempt: %s)", o.cfg.Name, ctx.Err(), ae.msg)
	}
	return fmt.Errorf("openai backend %q: %w", o.cfg.Name, ctx.Err())
}

// backoff is the wait before retry number attempt+1: Retry-After when the
// server gave one, else full jitter over an exponentially growing window,
// both capped by BackoffMax.
func (o *OpenAI) backoff(attempt int, ae *attemptError) time.Duration {
	if ae.hasAfter {
		return min(ae.retryAfter, o.cfg.BackoffMax)
	}
	window := o.cfg.BackoffBase
	for i := 0; i < attempt && window < o.cfg.BackoffMax; i++ {
		window *= 2
	}
	window = min(window, o.cfg.BackoffMax)
	if window <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(window) + 1))
}

// sleepCtx waits d or until ctx is done, whichever comes first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// acquire takes a concurrency slot, giving up when ctx is done.
func (o *OpenAI) acquire(ctx context.Context) error {
	select {
	case o.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *OpenAI) release() { <-o.sem }

// attempt makes one HTTP request. The slot is held per attempt, not across
// backoff waits, so a caller sleeping out a retry does not block others.
func (o *OpenAI) attempt(ctx context.Context, req Request, body []byte) (Response, error) {
	if err := o.acquire(ctx); err != nil {
		return Response{}, err
	}
	defer o.release()

	actx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, o.endpoint, bytes.NewReader(body))
	if err != nil {
		return Response{}, &attemptError{msg: fmt.Sprintf("building request: %v", err), cause: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if o.apiKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+o.apiKey)
	}

	hresp, err := o.client.Do(hreq)
	if err != nil {
		return Response{}, o.transportError(ctx, actx, "sending request", err)
	}
	defer hresp.Body.Close()

	if hresp.StatusCode != http.StatusOK {
		return Response{}, o.statusError(ctx, actx, hresp)
	}
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponseBytes+1))
	if err != nil {
		return Response{}, o.transportError(ctx, actx, "reading response body", err)
	}
	if len(data) > maxResponseBytes {
		return Response{}, &attemptError{msg: fmt.Sprintf("response body exceeds %d MiB", maxResponseBytes>>20)}
	}
	return o.parse(req, data)
}

// transportError classifies a failure to send or read: all are retryable,
// but one caused by the caller's context is reported as such by Complete.
func (o *OpenAI) transportError(ctx, actx context.Context, what string, err error) error {
	if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return &attemptError{
			msg:       fmt.Sprintf("attempt timed out after %s (%s)", o.cfg.Timeout, what),
			retryable: true,
			cause:     err,
		}
	}
	return &attemptError{msg: fmt.Sprintf("%s: %v", what, unwrapURLError(err)), retryable: true, cause: err}
}

// unwrapURLError drops net/http's `Post "url": ` prefix: the backend's
// name already says where the call went, and the URL may carry userinfo.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (o *OpenAI) statusError(ctx, actx context.Context, hresp *http.Response) error {
	code := hresp.StatusCode
	status := strconv.Itoa(code)
	if text := http.StatusText(code); text != "" {
		status += " " + text
	}
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxErrorBodyBytes))
	msg := status
	if m := serverMessage(data); m != "" {
		msg += ": " + m
	} else if err != nil && ctx.Err() == nil && actx.Err() == nil {
		msg += fmt.Sprintf(" (reading error body: %v)", err)
	}
	ae := &attemptError{msg: msg, retryable: code == http.StatusTooManyRequests || code >= 500}
	if ae.retryable {
		ae.retryAfter, ae.hasAfter = parseRetryAfter(hresp.Header.Get("Retry-After"), time.Now())
	}
	return ae
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || secs != secs {
			return 0, false
		}
		if secs > float64(24*time.Hour/time.Second) {
			return 24 * time.Hour, true
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// serverMessage extracts a human message from an error body in the forms
// servers use: OpenAI's {"error":{"message":..}}, {"error":".."},
// vLLM's {"message":..} and FastAPI's {"detail":..}; otherwise the text.
func serverMessage(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return ""
	}
	var e struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(data, &e) == nil {
		if m := messageOf(e.Error); m != "" {
			return clip(m)
		}
		if e.Message != "" {
			return clip(e.Message)
		}
		if m := messageOf(e.Detail); m != "" {
			return clip(m)
		}
	}
	return clip(string(data))
}

func messageOf(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Message != "" {
		return obj.Message
	}
	return string(raw)
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxErrorMessage {
		// Cut on a rune boundary.
		cut := maxErrorMessage
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

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
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

func (o *OpenAI) parse(req Request, data []byte) (Response, error) {
	var cr chatResponse
	if err := json.Unmarshal(data, &cr); err != nil {
		return Response{}, &attemptError{
			msg:       fmt.Sprintf("malformed response: invalid JSON (%v): %s", err, clip(string(data))),
			retryable: true, malformed: true, cause: err,
		}
	}
	if m := messageOf(cr.Error); m != "" {
		// Some gateways answer 200 with an error object.
		return Response{}, &attemptError{msg: "malformed response: error in a 200 answer: " + clip(m), retryable: true, malformed: true}
	}
	if len(cr.Choices) == 0 {
		return Response{}, &attemptError{msg: "malformed response: empty choices list", retryable: true, malformed: true}
	}
	ch := cr.Choices[0]
	resp := Response{Model: cr.Model}
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
	}
	return resp, nil
}
