package llm

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
	"strconv"
	"strings"
	"time"
)

const (
	// maxResponseBytes bounds what one answer may make us buffer: a broken
	// or hostile server must not be able to exhaust memory. 512 tokens with
	// their log-probs take well under 1 MiB.
	maxResponseBytes = 8 << 20
	// maxErrorBodyBytes bounds what is read of a failed answer; only a
	// message is wanted from it.
	maxErrorBodyBytes = 64 << 10
	// maxErrorMessage bounds the server text quoted in an error, so an HTML
	// error page does not flood logs.
	maxErrorMessage = 300
)

// chatRequest is the sampling part of one request; the messages travel
// separately so their exact encoding is the one recorded in prompt_text.
type chatRequest struct {
	messages    []Message
	maxTokens   int
	temperature float64
	topP        float64
	topK        int // < 0: not sent
	seed        *int64
}

// completion is what one successful request returned.
type completion struct {
	text             string
	reasoningContent string
	model            string
	tokens           []string
	logprobs         []float64
	tokenIDs         []int32 // vLLM's choices[].token_ids, when the server sends them
	promptTokenIDs   []int32 // vLLM's prompt_token_ids, when the server sends them
	promptTokens     int32
	completionTokens int32
}

// client is a small chat-completions client: the executor's one returns
// no log-probs, and a policy must not share the executor's concurrency
// slots or cache anyway.
type client struct {
	cfg      Config
	endpoint string // for requests
	shown    string // endpoint for errors, userinfo redacted
	apiKey   string // never logged nor put in errors
	http     *http.Client
	sem      chan struct{}
}

func newClient(cfg Config, apiKey string) *client {
	endpoint := strings.TrimRight(cfg.BaseURL, "/") + "/chat/completions"
	shown := endpoint
	if u, err := url.Parse(endpoint); err == nil {
		shown = u.Redacted()
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// As many idle connections as requests may run at once; the default of
	// 2 per host would reopen connections under load.
	tr.MaxIdleConnsPerHost = cfg.MaxConcurrency
	return &client{
		cfg:      cfg,
		endpoint: endpoint,
		shown:    shown,
		apiKey:   apiKey,
		// No client-wide timeout: each attempt gets its own deadline so
		// that waiting for a concurrency slot does not count against it.
		http: &http.Client{Transport: tr},
		sem:  make(chan struct{}, cfg.MaxConcurrency),
	}
}

func (c *client) body(req chatRequest) ([]byte, error) {
	body := make(map[string]any, len(c.cfg.ExtraBody)+9)
	for k, v := range c.cfg.ExtraBody {
		body[k] = v
	}
	body["model"] = c.cfg.Model
	body["messages"] = req.messages
	body["max_tokens"] = req.maxTokens
	// Always sent, 0 included: servers default to 1.0 when it is absent.
	body["temperature"] = req.temperature
	body["top_p"] = req.topP
	if req.topK >= 0 {
		body["top_k"] = req.topK
	}
	if req.seed != nil {
		body["seed"] = *req.seed
	}
	if *c.cfg.Logprobs {
		body["logprobs"] = true
	}
	if c.cfg.TokenIDs {
		body["return_tokens_as_token_ids"] = true
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// attemptError is the outcome of one failed HTTP attempt.
type attemptError struct {
	msg        string
	retryable  bool
	malformed  bool // a 200 whose body could not be used
	retryAfter time.Duration
	hasAfter   bool
	cause      error
}

func (e *attemptError) Error() string { return e.msg }
func (e *attemptError) Unwrap() error { return e.cause }

// complete sends one request, retrying 429, 5xx, connection errors and
// attempts that hit Timeout with exponential backoff and full jitter
// (Retry-After wins when the server sends one, capped by BackoffMax). A
// 200 with a malformed body is retried once only: a proxy may garble one
// answer, but a server that keeps doing so will not heal within the
// backoff. Other 4xx fail at once: the request itself is wrong.
func (c *client) complete(ctx context.Context, req chatRequest) (completion, error) {
	body, err := c.body(req)
	if err != nil {
		return completion{}, c.errorf("encoding request: %v", err)
	}
	malformedRetries := 1
	for attempt := 0; ; attempt++ {
		out, err := c.attempt(ctx, body)
		if err == nil {
			return out, nil
		}
		if ctx.Err() != nil {
			return completion{}, c.ctxError(ctx, err)
		}
		var ae *attemptError
		if !errors.As(err, &ae) || !ae.retryable || (ae.malformed && malformedRetries == 0) || attempt >= c.cfg.MaxRetries {
			return completion{}, c.wrapAttempts(err, attempt+1)
		}
		if ae.malformed {
			malformedRetries--
		}
		if sleepCtx(ctx, c.backoff(attempt, ae)) != nil {
			return completion{}, c.ctxError(ctx, ae)
		}
	}
}

func (c *client) errorf(format string, args ...any) error {
	return fmt.Errorf("llm policy: POST %s: %s", c.shown, fmt.Sprintf(format, args...))
}

func (c *client) wrapAttempts(err error, attempts int) error {
	if attempts > 1 {
		return fmt.Errorf("llm policy: POST %s: %w (gave up after %d attempts)", c.shown, err, attempts)
	}
	return fmt.Errorf("llm policy: POST %s: %w", c.shown, err)
}

// ctxError wraps the caller's context error, so errors.Is finds
// context.Canceled or DeadlineExceeded, and keeps the last failure, which
// is usually why the act took long enough to be cancelled.
func (c *client) ctxError(ctx context.Context, last error) error {
	var ae *attemptError
	if last != nil && errors.As(last, &ae) {
		return fmt.Errorf("llm policy: POST %s: %w (last attempt: %s)", c.shown, ctx.Err(), ae.msg)
	}
	return fmt.Errorf("llm policy: POST %s: %w", c.shown, ctx.Err())
}

func (c *client) backoff(attempt int, ae *attemptError) time.Duration {
	if ae.hasAfter {
		return min(ae.retryAfter, c.cfg.BackoffMax)
	}
	window := c.cfg.BackoffBase
	for i := 0; i < attempt && window < c.cfg.BackoffMax; i++ {
		window *= 2
	}
	window = min(window, c.cfg.BackoffMax)
	if window <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(window) + 1))
}

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

// attempt makes one HTTP request. The slot is held per attempt, not across
// backoff waits, so an episode sleeping out a retry does not hold back the
// other episodes of its group.
func (c *client) attempt(ctx context.Context, body []byte) (completion, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return completion{}, ctx.Err()
	}
	defer func() { <-c.sem }()

	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return completion{}, &attemptError{msg: fmt.Sprintf("building request: %v", err), cause: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if c.apiKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	hresp, err := c.http.Do(hreq)
	if err != nil {
		return completion{}, c.transportError(ctx, actx, "sending request", err)
	}
	defer hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK {
		return completion{}, statusError(hresp)
	}
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponseBytes+1))
	if err != nil {
		return completion{}, c.transportError(ctx, actx, "reading response body", err)
	}
	if len(data) > maxResponseBytes {
		return completion{}, &attemptError{msg: fmt.Sprintf("response body exceeds %d MiB", maxResponseBytes>>20)}
	}
	return c.parse(data)
}

// transportError classifies a failure to send or read: all are retryable;
// one caused by the caller's context is reported as such by complete.
func (c *client) transportError(ctx, actx context.Context, what string, err error) error {
	if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return &attemptError{msg: fmt.Sprintf("attempt timed out after %s (%s)", c.cfg.Timeout, what), retryable: true, cause: err}
	}
	// net/http's `Post "url": ` prefix repeats the endpoint, unredacted.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &attemptError{msg: fmt.Sprintf("%s: %v", what, err), retryable: true, cause: err}
}

func statusError(hresp *http.Response) error {
	code := hresp.StatusCode
	status := strconv.Itoa(code)
	if text := http.StatusText(code); text != "" {
		status += " " + text
	}
	data, _ := io.ReadAll(io.LimitReader(hresp.Body, maxErrorBodyBytes))
	msg := status
	if m := serverMessage(data); m != "" {
		msg += ": " + m
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
		return time.Duration(min(secs, 86400) * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// serverMessage extracts a human message from an error body in the forms
// servers use: OpenAI's {"error":{"message":..}}, {"error":".."}, vLLM's
// {"message":..} and FastAPI's {"detail":..}; otherwise the text.
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
		cut := maxErrorMessage
		for cut > 0 && s[cut]&0xC0 == 0x80 { // back to a rune start
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

type chatResponse struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content *string `json:"content"`
			// vLLM with a reasoning parser, and some hosted APIs, move the
			// model's thinking here.
			ReasoningContent *string `json:"reasoning_content"`
		} `json:"message"`
		Logprobs *struct {
			Content []struct {
				Token   string   `json:"token"`
				Logprob *float64 `json:"logprob"`
			} `json:"content"`
		} `json:"logprobs"`
		TokenIDs []int32 `json:"token_ids"`
	} `json:"choices"`
	PromptTokenIDs []int32 `json:"prompt_token_ids"`
	Usage          *struct {
		PromptTokens     int32 `json:"prompt_tokens"`
		CompletionTokens int32 `json:"completion_tokens"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

func (c *client) parse(data []byte) (completion, error) {
	var cr chatResponse
	if err := json.Unmarshal(data, &cr); err != nil {
		return completion{}, &attemptError{
			msg:       fmt.Sprintf("malformed response: invalid JSON (%v): %s", err, clip(string(data))),
			retryable: true, malformed: true, cause: err,
		}
	}
	if m := messageOf(cr.Error); m != "" {
		// Some gateways answer 200 with an error object.
		return completion{}, &attemptError{msg: "malformed response: error in a 200 answer: " + clip(m), retryable: true, malformed: true}
	}
	if len(cr.Choices) == 0 {
		return completion{}, &attemptError{msg: "malformed response: empty choices list", retryable: true, malformed: true}
	}
	ch := cr.Choices[0]
	out := completion{model: cr.Model, tokenIDs: ch.TokenIDs, promptTokenIDs: cr.PromptTokenIDs}
	if out.model == "" {
		out.model = c.cfg.Model
	}
	// A null content (a refusal, or a reasoning model that ran out of
	// tokens) is an empty reply for the canvas to answer, not a failure.
	if ch.Message.Content != nil {
		out.text = *ch.Message.Content
	}
	if ch.Message.ReasoningContent != nil {
		out.reasoningContent = *ch.Message.ReasoningContent
	}
	if ch.Logprobs != nil {
		for i, t := range ch.Logprobs.Content {
			if t.Logprob == nil {
				return completion{}, &attemptError{msg: fmt.Sprintf("malformed response: logprobs.content[%d] has no logprob", i)}
			}
			out.tokens = append(out.tokens, t.Token)
			out.logprobs = append(out.logprobs, *t.Logprob)
		}
	}
	if cr.Usage != nil {
		out.promptTokens = cr.Usage.PromptTokens
		out.completionTokens = cr.Usage.CompletionTokens
	}
	return out, nil
}
