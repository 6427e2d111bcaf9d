// Package chatapi is a small client for OpenAI-compatible chat-completions
// endpoints (OpenAI, vLLM, SGLang, llama.cpp's server, Ollama, ...): one
// POST {base}/chat/completions with the caller's request body, retried on
// transient failures, and the answer decoded into the caller's type. It
// holds no request or answer schema beyond the envelope every server
// shares (choices, error), so each caller asks for and reads what it needs.
//
// Standard library only.
package chatapi

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
	// maxRetryAfter caps a Retry-After before BackoffMax caps it again.
	maxRetryAfter = 24 * time.Hour
)

// Options configure a Client.
type Options struct {
	// BaseURL is the server's OpenAI-compatible root, e.g.
	// http://127.0.0.1:8000/v1; /chat/completions is appended.
	BaseURL string
	// APIKeyEnv names the environment variable holding the key, read once
	// by New; empty means DefaultAPIKeyEnv. An unset or empty variable sends
	// no Authorization header, as local servers expect.
	APIKeyEnv string
	// UseAPIKey sends APIKey (none when empty) and never reads the
	// environment: a server running a client's config uses only keys its
	// operator declared (flowsteer serve --credential).
	UseAPIKey bool
	APIKey    string
	// Settings, defaults already filled in: zero values are taken as they
	// are (no per-attempt timeout, no retries, no backoff wait), except a
	// MaxConcurrency below 1, which means 1.
	Settings
	// ErrorPrefix opens every error the client returns, followed by ": ",
	// e.g. `openai backend "local"`. It should name the caller and, where
	// useful, the endpoint (see Client.Endpoint); it must not hold secrets.
	ErrorPrefix string
}

// Client sends chat-completions requests to one endpoint. It is safe for
// concurrent use; at most Settings.MaxConcurrency attempts are in flight at
// once, a slot being held per attempt, not across backoff waits.
type Client struct {
	set      Settings
	prefix   string
	endpoint string // for requests
	shown    string // endpoint for errors and display, password redacted
	apiKey   string // never logged nor put in errors
	http     *http.Client
	sem      chan struct{}
}

// New builds a Client, reading the API key from the environment once so
// that a process uses one key throughout.
func New(o Options) *Client {
	env := o.APIKeyEnv
	if env == "" {
		env = DefaultAPIKeyEnv
	}
	set := o.Settings
	set.MaxConcurrency = max(set.MaxConcurrency, 1)
	set.MaxRetries = max(set.MaxRetries, 0)
	key := os.Getenv(env)
	if o.UseAPIKey {
		key = o.APIKey
	}
	endpoint := Endpoint(o.BaseURL)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// As many idle connections as requests may run at once; the default of
	// 2 per host would reopen connections under load.
	tr.MaxIdleConnsPerHost = set.MaxConcurrency
	return &Client{
		set:      set,
		prefix:   o.ErrorPrefix,
		endpoint: endpoint,
		shown:    Redact(endpoint),
		apiKey:   key,
		// No client-wide timeout: each attempt gets its own deadline so
		// that waiting for a concurrency slot does not count against it.
		http: &http.Client{Transport: tr},
		sem:  make(chan struct{}, set.MaxConcurrency),
	}
}

// Endpoint is the URL requests go to, with any password redacted.
func (c *Client) Endpoint() string { return c.shown }

// CloseIdleConnections closes the connections kept for reuse.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Errorf formats an error opened by the client's ErrorPrefix.
func (c *Client) Errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s", c.prefix, fmt.Sprintf(format, args...))
}

// Complete POSTs body (encoded as JSON, without HTML escaping) to c's
// endpoint and decodes the 200 answer into a new T.
//
// It retries 429, 5xx, connection errors and attempts that hit
// Settings.Timeout, up to Settings.MaxRetries times, with exponential
// backoff and full jitter; Retry-After wins when the server sends one, both
// capped by BackoffMax. A 200 whose body is malformed (bad JSON, an error
// object, no choices) is retried once only: a proxy or a restarting server
// may garble one answer, but a server that keeps doing so will not heal
// within the backoff. Other 4xx fail at once with an error naming the
// status and the server's message. check, if not nil, vets each decoded
// answer; an error from it ends the call without a retry.
//
// Errors open with ErrorPrefix and end with "(gave up after N attempts)"
// when there were several. When ctx ends, the error wraps ctx.Err() and
// names the last failed attempt, if any.
func Complete[T any](ctx context.Context, c *Client, body any, check func(*T) error) (T, error) {
	var zero T
	data, err := encode(body)
	if err != nil {
		return zero, c.Errorf("encoding request: %v", err)
	}
	malformedRetries := 1
	for attempt := 0; ; attempt++ {
		out, err := attemptOnce(ctx, c, data, check)
		if err == nil {
			return out, nil
		}
		if ctx.Err() != nil {
			return zero, c.ctxError(ctx, err)
		}
		var ae *attemptError
		if !errors.As(err, &ae) || !ae.retryable || (ae.malformed && malformedRetries == 0) || attempt >= c.set.MaxRetries {
			return zero, c.wrapAttempts(err, attempt+1)
		}
		if ae.malformed {
			malformedRetries--
		}
		if sleepCtx(ctx, c.backoff(attempt, ae)) != nil {
			return zero, c.ctxError(ctx, ae)
		}
	}
}

func encode(body any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Prompts are full of tags; \u003c escapes gain nothing.
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
	malformed  bool          // a 200 whose body could not be used
	retryAfter time.Duration // from Retry-After; valid when hasAfter
	hasAfter   bool
	cause      error
}

func (e *attemptError) Error() string { return e.msg }
func (e *attemptError) Unwrap() error { return e.cause }

func (c *Client) wrapAttempts(err error, attempts int) error {
	if attempts > 1 {
		return fmt.Errorf("%s: %w (gave up after %d attempts)", c.prefix, err, attempts)
	}
	return fmt.Errorf("%s: %w", c.prefix, err)
}

// ctxError wraps the caller's context error (so errors.Is finds
// context.Canceled or DeadlineExceeded) and keeps the last failure, which
// is usually why the call took long enough to be cancelled.
func (c *Client) ctxError(ctx context.Context, last error) error {
	var ae *attemptError
	if last != nil && errors.As(last, &ae) {
		return fmt.Errorf("%s: %w (last attempt: %s)", c.prefix, ctx.Err(), ae.msg)
	}
	return fmt.Errorf("%s: %w", c.prefix, ctx.Err())
}

// backoff is the wait before retry number attempt+1: Retry-After when the
// server gave one, else full jitter over an exponentially growing window,
// both capped by BackoffMax.
func (c *Client) backoff(attempt int, ae *attemptError) time.Duration {
	if ae.hasAfter {
		return min(ae.retryAfter, c.set.BackoffMax)
	}
	window := c.set.BackoffBase
	for i := 0; i < attempt && window < c.set.BackoffMax; i++ {
		window *= 2
	}
	window = min(window, c.set.BackoffMax)
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

// attemptOnce makes one HTTP request. The slot is held per attempt, not
// across backoff waits, so a caller sleeping out a retry does not hold back
// the others.
func attemptOnce[T any](ctx context.Context, c *Client, body []byte, check func(*T) error) (T, error) {
	var zero T
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	defer func() { <-c.sem }()

	actx, cancel := ctx, context.CancelFunc(func() {})
	if c.set.Timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, c.set.Timeout)
	}
	defer cancel()
	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return zero, &attemptError{msg: fmt.Sprintf("building request: %v", unwrapURLError(err)), cause: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if c.apiKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	hresp, err := c.http.Do(hreq)
	if err != nil {
		return zero, c.transportError(ctx, actx, "sending request", err)
	}
	defer hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK {
		return zero, statusError(ctx, actx, hresp)
	}
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponseBytes+1))
	if err != nil {
		return zero, c.transportError(ctx, actx, "reading response body", err)
	}
	if len(data) > maxResponseBytes {
		return zero, &attemptError{msg: fmt.Sprintf("response body exceeds %d MiB", maxResponseBytes>>20)}
	}
	return decode(data, check)
}

// decode reads a 200 answer into a new T and checks the envelope every
// server shares: an error object or an empty choices list make the answer
// malformed.
func decode[T any](data []byte, check func(*T) error) (T, error) {
	var out, zero T
	var env struct {
		Error   json.RawMessage   `json:"error"`
		Choices []json.RawMessage `json:"choices"`
	}
	err := json.Unmarshal(data, &out)
	if err == nil {
		err = json.Unmarshal(data, &env)
	}
	if err != nil {
		return zero, &attemptError{
			msg:       fmt.Sprintf("malformed response: invalid JSON (%v): %s", err, Clip(string(data))),
			retryable: true, malformed: true, cause: err,
		}
	}
	if m := messageOf(env.Error); m != "" {
		// Some gateways answer 200 with an error object.
		return zero, &attemptError{msg: "malformed response: error in a 200 answer: " + Clip(m), retryable: true, malformed: true}
	}
	if len(env.Choices) == 0 {
		return zero, &attemptError{msg: "malformed response: empty choices list", retryable: true, malformed: true}
	}
	if check != nil {
		if err := check(&out); err != nil {
			return zero, err
		}
	}
	return out, nil
}

// transportError classifies a failure to send or read: all are retryable,
// but one caused by the caller's context is reported as such by Complete.
func (c *Client) transportError(ctx, actx context.Context, what string, err error) error {
	if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return &attemptError{
			msg:       fmt.Sprintf("attempt timed out after %s (%s)", c.set.Timeout, what),
			retryable: true,
			cause:     err,
		}
	}
	return &attemptError{msg: fmt.Sprintf("%s: %v", what, unwrapURLError(err)), retryable: true, cause: err}
}

// unwrapURLError drops net/http's `Post "url": ` prefix: the error prefix
// already says where the call went, and the URL may carry userinfo.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func statusError(ctx, actx context.Context, hresp *http.Response) error {
	code := hresp.StatusCode
	msg := strconv.Itoa(code)
	if text := http.StatusText(code); text != "" {
		msg += " " + text
	}
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxErrorBodyBytes))
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
		if secs > maxRetryAfter.Seconds() {
			return maxRetryAfter, true
		}
		return time.Duration(secs * float64(time.Second)), true
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
			return Clip(m)
		}
		if e.Message != "" {
			return Clip(e.Message)
		}
		if m := messageOf(e.Detail); m != "" {
			return Clip(m)
		}
	}
	return Clip(string(data))
}

// messageOf reads an error field that is a string, an object with a
// message, or anything else (returned as its JSON text).
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

// Clip makes server text fit an error message: whitespace runs become one
// space and text beyond 300 bytes is cut, on a rune boundary, with "...".
func Clip(s string) string {
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
