package chatapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/chatapi/chatapitest"
)

// server is chatapitest's loopback chat-completions server.
type server = chatapitest.Server

func newServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *server {
	return chatapitest.New(t, func(w http.ResponseWriter, r *http.Request, n int, _ map[string]any) { handle(w, r, n) })
}

func writeOK(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"model":"served","choices":[{"message":{"role":"assistant","content":%q}}]}`, text)
}

// answer is a caller's view of a reply.
type answer struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
}

func (a answer) text() string { return a.Choices[0].Message.Content }

// testKeyEnv is set only by the tests that set it.
const testKeyEnv = "FLOWSTEER_CHATAPI_TEST_API_KEY"

func testOptions(s *server) Options {
	return Options{
		BaseURL:     s.URL + "/v1/",
		APIKeyEnv:   testKeyEnv,
		Settings:    Settings{Timeout: 5 * time.Second, MaxRetries: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, MaxConcurrency: 4},
		ErrorPrefix: "test client",
	}
}

func body(prompt string) map[string]any {
	return map[string]any{"model": "m", "messages": []map[string]string{{"role": "user", "content": prompt}}}
}

func TestCompleteDecodesAnswerAndPostsBody(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { writeOK(w, "42") })
	c := New(testOptions(s))
	a, err := Complete[answer](context.Background(), c, body("<b> & 6*7?"), nil)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if a.Model != "served" || a.text() != "42" {
		t.Errorf("answer = %+v", a)
	}
	r := s.Requests()[0]
	if r.Path != "/v1/chat/completions" {
		t.Errorf("path = %s, want /v1/chat/completions (one slash)", r.Path)
	}
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json" {
		t.Errorf("headers = %v", r.Header)
	}
	if !strings.Contains(string(r.Raw), `"content":"<b> & 6*7?"`) {
		t.Errorf("body is HTML-escaped or wrong: %s", r.Raw)
	}
	var got map[string]any
	if err := json.Unmarshal(r.Raw, &got); err != nil || got["model"] != "m" {
		t.Errorf("body = %s (%v)", r.Raw, err)
	}
}

func TestCompleteRetriesTransientStatuses(t *testing.T) {
	t.Parallel()
	for _, code := range []int{429, 500, 502, 503} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			t.Parallel()
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n < 2 {
					chatapitest.WriteStatus(w, code, "try later")
					return
				}
				writeOK(w, "fine")
			})
			a, err := Complete[answer](context.Background(), New(testOptions(s)), body("x"), nil)
			if err != nil || a.text() != "fine" || s.Count() != 3 {
				t.Errorf("Complete = %+v, %v after %d requests; want fine after 3", a, err, s.Count())
			}
		})
	}
}

func TestCompleteGivesUpAfterMaxRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		retries  int
		requests int
		want     string
	}{
		{2, 3, `test client: 503 Service Unavailable: model is loading (gave up after 3 attempts)`},
		{0, 1, `test client: 503 Service Unavailable: model is loading`},
	} {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
			chatapitest.WriteStatus(w, 503, "model is loading")
		})
		o := testOptions(s)
		o.MaxRetries = tc.retries
		_, err := Complete[answer](context.Background(), New(o), body("x"), nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("retries %d: error = %v, want %q", tc.retries, err, tc.want)
		}
		if s.Count() != tc.requests {
			t.Errorf("retries %d: server saw %d requests, want %d", tc.retries, s.Count(), tc.requests)
		}
	}
}

func TestCompleteDoesNotRetryClientErrorsAndNamesTheMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		handle func(w http.ResponseWriter)
		want   string
	}{
		{"OpenAI error object", func(w http.ResponseWriter) { chatapitest.WriteStatus(w, 401, "invalid api key") },
			"test client: 401 Unauthorized: invalid api key"},
		{"error string", func(w http.ResponseWriter) {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"bad request body"}`)
		}, "test client: 400 Bad Request: bad request body"},
		{"vLLM message", func(w http.ResponseWriter) {
			w.WriteHeader(400)
			io.WriteString(w, `{"object":"error","message":"maximum context length is 4096 tokens","type":"BadRequestError","code":400}`)
		}, "test client: 400 Bad Request: maximum context length is 4096 tokens"},
		{"FastAPI detail", func(w http.ResponseWriter) {
			w.WriteHeader(422)
			io.WriteString(w, `{"detail":"messages: field required"}`)
		}, "test client: 422 Unprocessable Entity: messages: field required"},
		{"FastAPI detail list", func(w http.ResponseWriter) {
			w.WriteHeader(422)
			io.WriteString(w, `{"detail":[{"loc":["body"],"msg":"x"}]}`)
		}, `test client: 422 Unprocessable Entity: [{"loc":["body"],"msg":"x"}]`},
		{"plain text", func(w http.ResponseWriter) {
			w.WriteHeader(404)
			io.WriteString(w, "no such\n route")
		}, "test client: 404 Not Found: no such route"},
		{"empty body", func(w http.ResponseWriter) { w.WriteHeader(403) }, "test client: 403 Forbidden"},
		{"unknown status", func(w http.ResponseWriter) { w.WriteHeader(499) }, "test client: 499"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { c.handle(w) })
			_, err := Complete[answer](context.Background(), New(testOptions(s)), body("x"), nil)
			if err == nil || err.Error() != c.want {
				t.Errorf("error = %v, want %q", err, c.want)
			}
			if s.Count() != 1 {
				t.Errorf("server saw %d requests, want 1 (no retry)", s.Count())
			}
		})
	}
}

func TestCompleteHonoursRetryAfterCappedByBackoffMax(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			chatapitest.WriteStatus(w, 429, "slow down")
			return
		}
		writeOK(w, "ok")
	})
	o := testOptions(s)
	o.BackoffMax = 80 * time.Millisecond // jitter alone would wait <= 1ms
	if _, err := Complete[answer](context.Background(), New(o), body("x"), nil); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("server saw %d requests, want 2", len(reqs))
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < o.BackoffMax || gap >= 900*time.Millisecond {
		t.Errorf("retry came %v after the 429, want the 1s Retry-After capped to %v", gap, o.BackoffMax)
	}
}

func TestBackoffStaysWithinExponentialWindow(t *testing.T) {
	t.Parallel()
	c := &Client{set: Settings{BackoffBase: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}}
	for attempt, window := range []time.Duration{10, 20, 40, 80, 100, 100, 100} {
		window *= time.Millisecond
		var maxSeen time.Duration
		for range 200 {
			d := c.backoff(attempt, &attemptError{})
			if d < 0 || d > window {
				t.Fatalf("attempt %d: backoff %v outside [0, %v]", attempt, d, window)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < window/2 {
			t.Errorf("attempt %d: largest of 200 draws %v, want jitter over [0, %v]", attempt, maxSeen, window)
		}
	}
	if d := c.backoff(60, &attemptError{}); d > 100*time.Millisecond {
		t.Errorf("attempt 60: backoff %v exceeds BackoffMax", d)
	}
	if d := c.backoff(0, &attemptError{hasAfter: true, retryAfter: time.Hour}); d != 100*time.Millisecond {
		t.Errorf("Retry-After 1h: backoff %v, want BackoffMax", d)
	}
	if d := (&Client{}).backoff(3, &attemptError{}); d != 0 {
		t.Errorf("zero backoff settings: backoff %v, want 0", d)
	}
}

func TestParseRetryAfterReadsSecondsAndDates(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"2", 2 * time.Second, true},
		{" 0 ", 0, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"1e12", 24 * time.Hour, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"soon", 0, false},
	}
	for _, c := range cases {
		got, ok := parseRetryAfter(c.in, now)
		if got != c.want || ok != c.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestCompleteRetriesMalformedAnswerOnce(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, bad, wantErr string
	}{
		{"invalid JSON", `{"choices": [ {"message": `, "test client: malformed response: invalid JSON"},
		{"wrong type", `{"model": 5, "choices": [{}]}`, "test client: malformed response: invalid JSON"},
		{"error in a 200", `{"error":{"message":"upstream failed"}}`, "test client: malformed response: error in a 200 answer: upstream failed"},
		{"empty choices", `{"model":"m","choices":[]}`, "test client: malformed response: empty choices list"},
	}
	for _, c := range cases {
		for _, badTimes := range []int{1, 99} {
			t.Run(fmt.Sprintf("%s x%d", c.name, badTimes), func(t *testing.T) {
				t.Parallel()
				s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
					if n < badTimes {
						io.WriteString(w, c.bad)
						return
					}
					writeOK(w, "good")
				})
				a, err := Complete[answer](context.Background(), New(testOptions(s)), body("x"), nil)
				if badTimes == 1 {
					if err != nil || a.text() != "good" {
						t.Errorf("Complete = %+v, %v; want good", a, err)
					}
				} else if err == nil || !strings.HasPrefix(err.Error(), c.wantErr) || !strings.HasSuffix(err.Error(), "(gave up after 2 attempts)") {
					t.Errorf("error = %v, want %q... after 2 attempts", err, c.wantErr)
				}
				if s.Count() != 2 {
					t.Errorf("server saw %d requests, want 2", s.Count())
				}
			})
		}
	}
}

func TestCompleteDecodesEachAttemptIntoAFreshValue(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			io.WriteString(w, `{"model":"stale","choices":[]}`)
			return
		}
		io.WriteString(w, `{"choices":[{"message":{"content":"ok"}}]}`)
	})
	a, err := Complete[answer](context.Background(), New(testOptions(s)), body("x"), nil)
	if err != nil || a.Model != "" || a.text() != "ok" {
		t.Errorf("Complete = %+v, %v; want no model left from the malformed answer", a, err)
	}
}

func TestCompleteCheckErrorIsNotRetried(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { writeOK(w, "no") })
	bad := errors.New("answer unusable")
	_, err := Complete(context.Background(), New(testOptions(s)), body("x"), func(a *answer) error {
		if a.text() == "no" {
			return bad
		}
		return nil
	})
	if !errors.Is(err, bad) || err.Error() != "test client: answer unusable" || s.Count() != 1 {
		t.Errorf("error = %v after %d requests, want the check's error after 1", err, s.Count())
	}
}

func TestCompleteRejectsOversizedBody(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		io.WriteString(w, `{"choices":[{"message":{"content":"`)
		chunk := strings.Repeat("a", 1<<20)
		for range 9 {
			io.WriteString(w, chunk)
		}
		io.WriteString(w, `"}}]}`)
	})
	_, err := Complete[answer](context.Background(), New(testOptions(s)), body("x"), nil)
	if err == nil || err.Error() != "test client: response body exceeds 8 MiB" || s.Count() != 1 {
		t.Errorf("error = %v after %d requests, want the body cap named after 1", err, s.Count())
	}
}

func TestCompleteRejectsUnencodableBody(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { writeOK(w, "ok") })
	_, err := Complete[answer](context.Background(), New(testOptions(s)), map[string]any{"x": make(chan int)}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "test client: encoding request: ") || s.Count() != 0 {
		t.Errorf("error = %v after %d requests, want an encoding error and no request", err, s.Count())
	}
}

func TestCompleteRetriesAttemptThatHitsTimeout(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			<-r.Context().Done()
			return
		}
		writeOK(w, "late but fine")
	})
	o := testOptions(s)
	o.Timeout = 50 * time.Millisecond
	a, err := Complete[answer](context.Background(), New(o), body("x"), nil)
	if err != nil || a.text() != "late but fine" || s.Count() != 2 {
		t.Errorf("Complete = %+v, %v after %d requests, want success on the 2nd", a, err, s.Count())
	}

	slow := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { <-r.Context().Done() })
	o = testOptions(slow)
	o.Timeout, o.MaxRetries = 20*time.Millisecond, 1
	_, err = Complete[answer](context.Background(), New(o), body("x"), nil)
	want := "test client: attempt timed out after 20ms (sending request) (gave up after 2 attempts)"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestCompleteRetriesRefusedConnectionWithoutShowingPassword(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	base := strings.Replace(dead.URL, "http://", "http://user:hunter2@", 1)
	dead.Close()
	c := New(Options{BaseURL: base, APIKeyEnv: testKeyEnv, ErrorPrefix: "p",
		Settings: Settings{Timeout: time.Second, MaxRetries: 2, BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond}})
	_, err := Complete[answer](context.Background(), c, body("x"), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "p: sending request: ") || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Errorf("error = %v, want a connection error after 3 attempts", err)
	}
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
	if e := c.Endpoint(); strings.Contains(e, "hunter2") || !strings.HasSuffix(e, "/chat/completions") {
		t.Errorf("Endpoint() = %q, want it redacted", e)
	}
}

func TestCompleteReturnsPromptlyWhenCancelledDuringBackoff(t *testing.T) {
	t.Parallel()
	first := make(chan struct{}, 1)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "30")
		chatapitest.WriteStatus(w, 503, "overloaded")
		select {
		case first <- struct{}{}:
		default:
		}
	})
	o := testOptions(s)
	o.BackoffMax = 30 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-first
		time.Sleep(20 * time.Millisecond) // let the client enter its backoff
		cancel()
	}()
	start := time.Now()
	_, err := Complete[answer](ctx, New(o), body("x"), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	want := "test client: context canceled (last attempt: 503 Service Unavailable: overloaded)"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v, want promptly", d)
	}
	if s.Count() != 1 {
		t.Errorf("server saw %d requests, want 1", s.Count())
	}
}

func TestCompleteDoesNotRetryWhenCallerContextEndsDuringAttempt(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		cancel()
		<-r.Context().Done()
	})
	_, err := Complete[answer](ctx, New(testOptions(s)), body("x"), nil)
	if !errors.Is(err, context.Canceled) || s.Count() != 1 {
		t.Errorf("error = %v after %d requests, want context.Canceled after 1", err, s.Count())
	}
}

func TestCompleteBacksOffWithJitterWithoutRetryAfter(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n < 3 {
			chatapitest.WriteStatus(w, 429, "slow down")
			return
		}
		writeOK(w, "ok")
	})
	o := testOptions(s)
	o.BackoffMax = 10 * time.Second // the small base, not the cap, must decide
	start := time.Now()
	if _, err := Complete[answer](context.Background(), New(o), body("x"), nil); err != nil || s.Count() != 4 {
		t.Fatalf("Complete: %v after %d requests, want success after 4", err, s.Count())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("call took %v, want backoff windows of 1, 2, 4ms", d)
	}
}

func TestCompleteHoldsSlotPerAttemptOnly(t *testing.T) {
	t.Parallel()
	// The first caller's request gets a 503 with Retry-After: 1; while it
	// sleeps that out, the second caller must get the only slot.
	failed := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			chatapitest.WriteStatus(w, 503, "busy")
			close(failed)
			return
		}
		writeOK(w, "ok")
	})
	o := testOptions(s)
	o.MaxConcurrency, o.BackoffMax = 1, time.Second
	c := New(o)
	done := make(chan error, 1)
	go func() {
		_, err := Complete[answer](context.Background(), c, body("sleeper"), nil)
		done <- err
	}()
	<-failed
	time.Sleep(20 * time.Millisecond) // let the first caller release its slot
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := Complete[answer](ctx, c, body("other"), nil); err != nil {
		t.Errorf("second caller: %v, want it served during the first one's backoff", err)
	}
	if err := <-done; err != nil {
		t.Errorf("first caller: %v", err)
	}
}

func TestCompleteStopsWaitingForSlotWhenContextEnds(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		entered <- struct{}{}
		<-release
		writeOK(w, "ok")
	})
	o := testOptions(s)
	o.MaxConcurrency = 1
	c := New(o)
	done := make(chan error, 1)
	go func() {
		_, err := Complete[answer](context.Background(), c, body("holder"), nil)
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := Complete[answer](ctx, c, body("waiter"), nil)
	if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "test client: context deadline exceeded" {
		t.Errorf("waiter error = %v, want context.DeadlineExceeded", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("holder: %v", err)
	}
	if s.Count() != 1 {
		t.Errorf("server saw %d requests, want 1", s.Count())
	}
}

func TestNewReadsAPIKeyFromEnvironment(t *testing.T) {
	cases := []struct {
		name, keyEnv, setEnv, value, want string
	}{
		{"named variable", testKeyEnv, testKeyEnv, "sk-test-secret", "Bearer sk-test-secret"},
		{"named variable empty", testKeyEnv, testKeyEnv, "", ""},
		{"default variable", "", DefaultAPIKeyEnv, "sk-default", "Bearer sk-default"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(c.setEnv, c.value)
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				chatapitest.WriteStatus(w, 401, "invalid api key")
			})
			o := testOptions(s)
			o.APIKeyEnv = c.keyEnv
			_, err := Complete[answer](context.Background(), New(o), body("x"), nil)
			h := s.Requests()[0].Header
			if got := h.Get("Authorization"); got != c.want {
				t.Errorf("Authorization = %q, want %q", got, c.want)
			}
			if _, present := h["Authorization"]; c.want == "" && present {
				t.Error("Authorization header present, want none")
			}
			if err == nil || (c.value != "" && strings.Contains(err.Error(), c.value)) {
				t.Errorf("error = %v, want a 401 without the key", err)
			}
		})
	}
}

func TestClipCollapsesWhitespaceAndCutsOnARune(t *testing.T) {
	t.Parallel()
	if got := Clip(" a \n\t b "); got != "a b" {
		t.Errorf("Clip = %q", got)
	}
	long := strings.Repeat("a", 299) + "é" + strings.Repeat("b", 10)
	got := Clip(long)
	if got != strings.Repeat("a", 299)+"..." {
		t.Errorf("Clip cut inside a rune or at the wrong place: %q", got[290:])
	}
}

func TestSettingsDefaultsAndValidation(t *testing.T) {
	t.Parallel()
	d := Settings{Timeout: time.Minute, MaxRetries: 4, BackoffBase: time.Second, BackoffMax: 20 * time.Second, MaxConcurrency: 8}
	if got := (Settings{}).WithDefaults(d); got != d {
		t.Errorf("zero settings with defaults = %+v, want %+v", got, d)
	}
	set := Settings{Timeout: time.Second, MaxRetries: -1, BackoffBase: 2 * time.Millisecond, BackoffMax: time.Second, MaxConcurrency: 2}
	want := set
	want.MaxRetries = 0
	if got := set.WithDefaults(d); got != want {
		t.Errorf("with defaults = %+v, want %+v (negative retries off)", got, want)
	}
	cases := []struct {
		s    Settings
		want string
	}{
		{Settings{}, ""},
		{Settings{Timeout: -1}, "x.timeout must not be negative, got -1ns"},
		{Settings{BackoffBase: -1}, "x.backoff_base must not be negative"},
		{Settings{BackoffMax: -1}, "x.backoff_max must not be negative"},
		{Settings{MaxConcurrency: -1}, "x.max_concurrency must not be negative, got -1"},
		{Settings{BackoffBase: time.Minute}, "x.backoff_base (1m0s) must not exceed x.backoff_max (20s)"},
		{Settings{BackoffMax: 10 * time.Millisecond}, "x.backoff_base (1s) must not exceed x.backoff_max (10ms)"},
	}
	for _, c := range cases {
		err := c.s.Validate("x", d)
		if c.want == "" {
			if err != nil {
				t.Errorf("%+v: Validate = %v, want nil", c.s, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: Validate = %v, want %q", c.s, err, c.want)
		}
	}
}

func TestValidateBaseURL(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"http://127.0.0.1:8000/v1", "https://api.example.com/v1/", "http://u:p@host"} {
		if err := ValidateBaseURL("f", ok); err != nil {
			t.Errorf("ValidateBaseURL(%q) = %v", ok, err)
		}
	}
	cases := map[string]string{
		"":                     `f must be an http(s) URL, got ""`,
		"ftp://host/v1":        `f must be an http(s) URL, got "ftp://host/v1"`,
		"http:///v1":           `f must be an http(s) URL, got "http:///v1"`,
		"ftp://u:hunter2@host": `f must be an http(s) URL, got "ftp://u:xxxxx@host"`,
	}
	for in, want := range cases {
		if err := ValidateBaseURL("f", in); err == nil || err.Error() != want {
			t.Errorf("ValidateBaseURL(%q) = %v, want %q", in, err, want)
		}
	}
	if got := Redact("http://u:pw@h/v1"); got != "http://u:xxxxx@h/v1" {
		t.Errorf("Redact = %q", got)
	}
	if got := Endpoint("http://h/v1//"); got != "http://h/v1/chat/completions" {
		t.Errorf("Endpoint = %q", got)
	}
}
