package executor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/chatapi/chatapitest"
)

// chatServer is chatapitest's loopback chat-completions server.
type chatServer = chatapitest.Server

func newChatServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *chatServer {
	return chatapitest.New(t, func(w http.ResponseWriter, r *http.Request, n int, _ map[string]any) { handle(w, r, n) })
}

func writeAnswer(w http.ResponseWriter, text string, in, out int) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"x","object":"chat.completion","model":"served-model",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, text, in, out, in+out)
}

// testKeyEnv is never set outside the tests that set it, so other tests
// send no Authorization header whatever the environment holds.
const testKeyEnv = "FLOWSTEER_EXECUTOR_TEST_API_KEY"

func testConfig(cs *chatServer) OpenAIConfig {
	return OpenAIConfig{
		Name:        "local",
		BaseURL:     cs.URL + "/v1",
		Model:       "m",
		APIKeyEnv:   testKeyEnv,
		Timeout:     5 * time.Second,
		MaxRetries:  3,
		BackoffBase: time.Millisecond,
		BackoffMax:  5 * time.Millisecond,
	}
}

func newTestOpenAI(t *testing.T, cfg OpenAIConfig) *OpenAI {
	t.Helper()
	o, err := NewOpenAI(cfg)
	if err != nil {
		t.Fatalf("NewOpenAI: %v", err)
	}
	return o
}

func userRequest(prompt string) Request {
	return Request{Messages: []Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: prompt}}}
}

func TestOpenAIReturnsAnswerWithUsageAndSendsDefaults(t *testing.T) {
	t.Parallel()
	cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeAnswer(w, "42", 17, 3)
	})
	o := newTestOpenAI(t, testConfig(cs))
	resp, err := o.Complete(context.Background(), userRequest("6*7?"))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	want := Response{Text: "42", Model: "served-model", InputTokens: 17, OutputTokens: 3, FinishReason: "stop"}
	got := resp
	got.Latency = 0
	if got != want {
		t.Errorf("response = %+v, want %+v", got, want)
	}
	if resp.Latency <= 0 {
		t.Errorf("latency = %v, want > 0", resp.Latency)
	}
	reqs := cs.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/v1/chat/completions" {
		t.Errorf("request = %s %s, want POST /v1/chat/completions", r.Method, r.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if r.Body["model"] != "m" || r.Body["temperature"] != 0.0 || r.Body["max_tokens"] != 4096.0 {
		t.Errorf("body = %v, want model m, temperature 0, max_tokens 4096", r.Body)
	}
	for _, absent := range []string{"top_p", "seed", "stream"} {
		if _, ok := r.Body[absent]; ok {
			t.Errorf("body has %s, want it absent: %v", absent, r.Body)
		}
	}
	msgs, _ := r.Body["messages"].([]any)
	if len(msgs) != 2 || msgs[1].(map[string]any)["content"] != "6*7?" || msgs[0].(map[string]any)["role"] != "system" {
		t.Errorf("messages = %v", r.Body["messages"])
	}
}

func TestOpenAISendsRequestSamplingAndModel(t *testing.T) {
	t.Parallel()
	cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) { writeAnswer(w, "ok", 1, 1) })
	o := newTestOpenAI(t, testConfig(cs))
	req := userRequest("hi")
	req.Model = "other"
	req.Sampling = Sampling{Temperature: 0.7, TopP: 0.9, MaxTokens: 100, Seed: 42}
	if _, err := o.Complete(context.Background(), req); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	b := cs.Requests()[0].Body
	want := map[string]any{"model": "other", "temperature": 0.7, "top_p": 0.9, "max_tokens": 100.0, "seed": 42.0}
	for k, v := range want {
		if b[k] != v {
			t.Errorf("body[%s] = %v, want %v", k, b[k], v)
		}
	}
}

func TestOpenAIGivesUpAfterMaxRetriesNamingTheStatus(t *testing.T) {
	t.Parallel()
	cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		chatapitest.WriteStatus(w, 503, "model is loading")
	})
	cfg := testConfig(cs)
	cfg.MaxRetries = 2
	o := newTestOpenAI(t, cfg)
	_, err := o.Complete(context.Background(), userRequest("x"))
	if err == nil {
		t.Fatal("Complete succeeded, want an error")
	}
	want := `openai backend "local": 503 Service Unavailable: model is loading (gave up after 3 attempts)`
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if cs.Count() != 3 {
		t.Errorf("server saw %d requests, want 3", cs.Count())
	}
}

func TestOpenAIDoesNotRetryWhenRetriesDisabled(t *testing.T) {
	t.Parallel()
	cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) { chatapitest.WriteStatus(w, 500, "boom") })
	cfg := testConfig(cs)
	cfg.MaxRetries = -1
	o := newTestOpenAI(t, cfg)
	if _, err := o.Complete(context.Background(), userRequest("x")); err == nil || cs.Count() != 1 {
		t.Errorf("err = %v after %d requests, want an error after 1", err, cs.Count())
	}
}

func TestOpenAIDoesNotRetryClientErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		handle  func(w http.ResponseWriter)
		wantErr string
	}{
		{"401 with OpenAI error object", func(w http.ResponseWriter) { chatapitest.WriteStatus(w, 401, "invalid api key") },
			`openai backend "local": 401 Unauthorized: invalid api key`},
		{"400 with vLLM message", func(w http.ResponseWriter) {
			w.WriteHeader(400)
			io.WriteString(w, `{"object":"error","message":"maximum context length is 4096 tokens","type":"BadRequestError","code":400}`)
		}, `openai backend "local": 400 Bad Request: maximum context length is 4096 tokens`},
		{"404 with plain text", func(w http.ResponseWriter) {
			w.WriteHeader(404)
			io.WriteString(w, "no such\n route")
		}, `openai backend "local": 404 Not Found: no such route`},
		{"422 with FastAPI detail", func(w http.ResponseWriter) {
			w.WriteHeader(422)
			io.WriteString(w, `{"detail":"messages: field required"}`)
		}, `openai backend "local": 422 Unprocessable Entity: messages: field required`},
		{"403 with empty body", func(w http.ResponseWriter) { w.WriteHeader(403) },
			`openai backend "local": 403 Forbidden`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) { c.handle(w) })
			o := newTestOpenAI(t, testConfig(cs))
			_, err := o.Complete(context.Background(), userRequest("x"))
			if err == nil || err.Error() != c.wantErr {
				t.Errorf("error = %v, want %q", err, c.wantErr)
			}
			if cs.Count() != 1 {
				t.Errorf("server saw %d requests, want 1 (no retry)", cs.Count())
			}
		})
	}
}

func TestOpenAIRetriesAttemptThatHitsTimeout(t *testing.T) {
	t.Parallel()
	cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		writeAnswer(w, "late but fine", 1, 1)
	})
	cfg := testConfig(cs)
	cfg.Timeout = 200 * time.Millisecond
	o := newTestOpenAI(t, cfg)
	start := time.Now()
	resp, err := o.Complete(context.Background(), userRequest("x"))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if resp.Text != "late but fine" || cs.Count() != 2 {
		t.Errorf("text %q after %d requests, want success on the 2nd", resp.Text, cs.Count())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("call took %v, want the first attempt cut at 200ms", d)
	}
}

func TestOpenAIHandlesBrokenAnswers(t *testing.T) {
	t.Parallel()
	truncated := func(w http.ResponseWriter) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"choices\":[{\"mess")
		buf.Flush()
		conn.Close()
	}
	malformed := func(w http.ResponseWriter) { io.WriteString(w, `{"choices": [ {"message": `) }
	empty := func(w http.ResponseWriter) {
		io.WriteString(w, `{"model":"m","choices":[],"usage":{"prompt_tokens":1}}`)
	}
	errorIn200 := func(w http.ResponseWriter) { io.WriteString(w, `{"error":{"message":"upstream failed"}}`) }
	cases := []struct {
		name string
		bad  func(w http.ResponseWriter)
		// badTimes answers are broken before a good one.
		badTimes     int
		wantErr      string // "" = success expected
		wantRequests int
	}{
		{"malformed JSON once is retried", malformed, 1, "", 2},
		{"malformed JSON twice is an error", malformed, 99, "malformed response: invalid JSON", 2},
		{"empty choices once is retried", empty, 1, "", 2},
		{"empty choices twice is an error", empty, 99, "malformed response: empty choices list", 2},
		{"error object in a 200 is an error", errorIn200, 99, "upstream failed", 2},
		{"truncated body once is retried", truncated, 1, "", 2},
		{"truncated body always exhausts retries", truncated, 99, "reading response body: unexpected EOF", 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n < c.badTimes {
					c.bad(w)
					return
				}
				writeAnswer(w, "good", 1, 1)
			})
			o := newTestOpenAI(t, testConfig(cs))
			resp, err := o.Complete(context.Background(), userRequest("x"))
			if c.wantErr == "" {
				if err != nil || resp.Text != "good" {
					t.Errorf("Complete = %q, %v; want good", resp.Text, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error = %v, want it to contain %q", err, c.wantErr)
			}
			if cs.Count() != c.wantRequests {
				t.Errorf("server saw %d requests, want %d", cs.Count(), c.wantRequests)
			}
		})
	}
}

func TestOpenAIAcceptsNullContentAndMissingUsage(t *testing.T) {
	t.Parallel()
	cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":null},"finish_reason":"length"}]}`)
	})
	o := newTestOpenAI(t, testConfig(cs))
	resp, err := o.Complete(context.Background(), userRequest("x"))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if resp.Text != "" || resp.FinishReason != "length" || resp.Model != "m" || resp.InputTokens != 0 {
		t.Errorf("response = %+v, want empty text, finish length, model m (the request's)", resp)
	}
}

func TestOpenAIRespectsMaxConcurrency(t *testing.T) {
	t.Parallel()
	var cur, peak atomic.Int64
	cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		now := cur.Add(1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		cur.Add(-1)
		writeAnswer(w, "ok", 1, 1)
	})
	cfg := testConfig(cs)
	cfg.MaxConcurrency = 2
	o := newTestOpenAI(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := o.Complete(context.Background(), userRequest(fmt.Sprint(i)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Complete: %v", err)
		}
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrent requests at the server = %d, want 2", p)
	}
	if cs.Count() != 10 {
		t.Errorf("server saw %d requests, want 10", cs.Count())
	}
}

func TestOpenAISendsAPIKeyFromEnvironment(t *testing.T) {
	cases := []struct {
		name, keyEnv, setEnv, value, wantHeader string
	}{
		{"named variable set", testKeyEnv, testKeyEnv, "sk-test-secret", "Bearer sk-test-secret"},
		{"named variable empty", testKeyEnv, testKeyEnv, "", ""},
		{"default variable", "", "OPENAI_API_KEY", "sk-default", "Bearer sk-default"},
		{"default variable empty", "", "OPENAI_API_KEY", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(c.setEnv, c.value)
			cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 0 {
					writeAnswer(w, "ok", 1, 1)
					return
				}
				chatapitest.WriteStatus(w, 401, "invalid api key")
			})
			cfg := testConfig(cs)
			cfg.APIKeyEnv = c.keyEnv
			o := newTestOpenAI(t, cfg)
			if _, err := o.Complete(context.Background(), userRequest("x")); err != nil {
				t.Fatalf("Complete: %v", err)
			}
			h := cs.Requests()[0].Header
			if got := h.Get("Authorization"); got != c.wantHeader {
				t.Errorf("Authorization = %q, want %q", got, c.wantHeader)
			}
			if _, present := h["Authorization"]; c.wantHeader == "" && present {
				t.Error("Authorization header present, want none")
			}
			_, err := o.Complete(context.Background(), userRequest("x"))
			if err == nil || (c.value != "" && strings.Contains(err.Error(), c.value)) {
				t.Errorf("error = %v, want a 401 that does not contain the key", err)
			}
		})
	}
}

func TestOpenAIMergesExtraBody(t *testing.T) {
	t.Parallel()
	cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) { writeAnswer(w, "ok", 1, 1) })
	cfg := testConfig(cs)
	cfg.ExtraBody = map[string]any{"top_k": 20, "chat_template_kwargs": map[string]any{"enable_thinking": false}}
	o := newTestOpenAI(t, cfg)
	if _, err := o.Complete(context.Background(), userRequest("x")); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	b := cs.Requests()[0].Body
	if b["top_k"] != 20.0 {
		t.Errorf("top_k = %v, want 20", b["top_k"])
	}
	if kw, _ := b["chat_template_kwargs"].(map[string]any); kw == nil || kw["enable_thinking"] != false {
		t.Errorf("chat_template_kwargs = %v", b["chat_template_kwargs"])
	}
	if b["model"] != "m" || b["messages"] == nil {
		t.Errorf("standard fields lost: %v", b)
	}
}

func TestOpenAIConfigValidateNamesTheBadField(t *testing.T) {
	t.Parallel()
	good := OpenAIConfig{Name: "local", BaseURL: "http://127.0.0.1:8000/v1", Model: "m"}
	cases := []struct {
		name    string
		edit    func(c *OpenAIConfig)
		wantErr string
	}{
		{"defaults are valid", func(c *OpenAIConfig) {}, ""},
		{"https and every field set", func(c *OpenAIConfig) {
			*c = OpenAIConfig{Name: "a", BaseURL: "https://api.example.com/v1/", Model: "x", APIKeyEnv: "K", Temperature: 1,
				MaxTokens: 10, Timeout: time.Second, MaxRetries: 2, BackoffBase: time.Millisecond, BackoffMax: time.Second, MaxConcurrency: 3}
		}, ""},
		{"empty name", func(c *OpenAIConfig) { c.Name = " " }, "openai.name must not be empty"},
		{"empty base URL", func(c *OpenAIConfig) { c.BaseURL = "" }, "openai.base_url must be an http(s) URL"},
		{"ftp base URL", func(c *OpenAIConfig) { c.BaseURL = "ftp://host/v1" }, "openai.base_url must be an http(s) URL"},
		{"base URL without host", func(c *OpenAIConfig) { c.BaseURL = "http:///v1" }, "openai.base_url must be an http(s) URL"},
		{"base URL password is redacted", func(c *OpenAIConfig) { c.BaseURL = "ftp://u:hunter2@host" }, `got "ftp://u:xxxxx@host"`},
		{"empty model", func(c *OpenAIConfig) { c.Model = "" }, "openai.model must not be empty"},
		{"negative temperature", func(c *OpenAIConfig) { c.Temperature = -0.1 }, "openai.temperature"},
		{"temperature above 2", func(c *OpenAIConfig) { c.Temperature = 2.5 }, "openai.temperature"},
		{"negative max tokens", func(c *OpenAIConfig) { c.MaxTokens = -1 }, "openai.max_tokens"},
		{"negative timeout", func(c *OpenAIConfig) { c.Timeout = -time.Second }, "openai.timeout"},
		{"negative backoff base", func(c *OpenAIConfig) { c.BackoffBase = -1 }, "openai.backoff_base must not be negative"},
		{"negative backoff max", func(c *OpenAIConfig) { c.BackoffMax = -1 }, "openai.backoff_max"},
		{"base above max", func(c *OpenAIConfig) { c.BackoffBase = time.Minute }, "openai.backoff_base (1m0s) must not exceed openai.backoff_max (20s)"},
		{"negative concurrency", func(c *OpenAIConfig) { c.MaxConcurrency = -1 }, "openai.max_concurrency"},
		{"extra body overriding temperature", func(c *OpenAIConfig) { c.ExtraBody = map[string]any{"temperature": 1} }, "openai.extra_body.temperature"},
		{"extra body asking for streaming", func(c *OpenAIConfig) { c.ExtraBody = map[string]any{"stream": true} }, "openai.extra_body.stream"},
	}
	for _, c := range cases {
		cfg := good
		c.edit(&cfg)
		err := cfg.Validate()
		if c.wantErr == "" {
			if err != nil {
				t.Errorf("%s: Validate = %v, want nil", c.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: Validate = %v, want it to contain %q", c.name, err, c.wantErr)
		}
		if _, err := NewOpenAI(cfg); err == nil {
			t.Errorf("%s: NewOpenAI accepted an invalid config", c.name)
		}
	}
}

func TestOpenAIFillsDefaults(t *testing.T) {
	t.Parallel()
	o, err := NewOpenAI(OpenAIConfig{Name: "local", BaseURL: "http://127.0.0.1:1/v1", Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	got := o.Config()
	want := OpenAIConfig{Name: "local", BaseURL: "http://127.0.0.1:1/v1", Model: "m", APIKeyEnv: "OPENAI_API_KEY",
		MaxTokens: 4096, Timeout: 120 * time.Second, MaxRetries: 4, BackoffBase: 500 * time.Millisecond,
		BackoffMax: 20 * time.Second, MaxConcurrency: 8}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("config = %+v, want %+v", got, want)
	}
	if o.Name() != "local" || o.Model() != "m" || o.VariesByVariant() || o.Simulated() {
		t.Errorf("identity = %q %q varies=%v sim=%v", o.Name(), o.Model(), o.VariesByVariant(), o.Simulated())
	}
}

func TestOpenAIIsDeterministicAtEffectiveTemperatureZero(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cfgTemp, reqTemp float64
		want             bool
	}{
		{0, 0, true},
		{0, 0.7, false},
		{0.5, 0, false},
		{0.5, 0.2, false},
	}
	for _, c := range cases {
		o, err := NewOpenAI(OpenAIConfig{Name: "x", BaseURL: "http://127.0.0.1:1", Model: "m", Temperature: c.cfgTemp})
		if err != nil {
			t.Fatal(err)
		}
		req := userRequest("x")
		req.Sampling.Temperature = c.reqTemp
		if got := o.Deterministic(req); got != c.want {
			t.Errorf("config temperature %g, request %g: Deterministic = %v, want %v", c.cfgTemp, c.reqTemp, got, c.want)
		}
	}
}

func TestOpenAIRejectsRequestWithoutMessages(t *testing.T) {
	t.Parallel()
	cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) { writeAnswer(w, "ok", 1, 1) })
	o := newTestOpenAI(t, testConfig(cs))
	if _, err := o.Complete(context.Background(), Request{}); err == nil || !strings.Contains(err.Error(), "no messages") {
		t.Errorf("error = %v, want no messages", err)
	}
	if cs.Count() != 0 {
		t.Errorf("server saw %d requests, want 0", cs.Count())
	}
}

func TestOpenAIRetriesRefusedConnection(t *testing.T) {
	t.Parallel()
	// A server that is closed at once leaves a loopback port nobody listens on.
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	o := newTestOpenAI(t, OpenAIConfig{Name: "local", BaseURL: url, Model: "m", APIKeyEnv: testKeyEnv,
		MaxRetries: 2, BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond})
	_, err := o.Complete(context.Background(), userRequest("x"))
	if err == nil || !strings.Contains(err.Error(), "sending request") || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Errorf("error = %v, want a connection error after 3 attempts", err)
	}
}

func TestCachedOpenAICallsServerOnceForIdenticalRequests(t *testing.T) {
	t.Parallel()
	cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) { writeAnswer(w, "cached", 11, 2) })
	c := NewCache(0)
	b := Cached(newTestOpenAI(t, testConfig(cs)), c)
	for i := range 3 {
		resp, err := b.Complete(context.Background(), userRequest("same"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != "cached" || resp.CacheHit != (i > 0) {
			t.Errorf("call %d: %+v", i, resp)
		}
	}
	if cs.Count() != 1 {
		t.Errorf("server saw %d requests, want 1", cs.Count())
	}
	if s := c.Stats(); s.Hits != 2 || s.SavedInputTokens != 22 || s.SavedOutputTokens != 4 {
		t.Errorf("stats = %+v", s)
	}
}
