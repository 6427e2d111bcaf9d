package executor

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/chatapi/chatapitest"
)

// Backend faults not covered by openai_test.go and the chatapi tests, at
// the backend's own level: every server misbehaviour is retried where a
// retry can help, and ends in one error that says what went wrong (never a
// hang, never a panic, never a half-read answer passed on as text).
func TestOpenAIBackendFaults(t *testing.T) {
	t.Parallel()
	hang := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
	}
	html := func(code int) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(code)
			io.WriteString(w, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"+
				strings.Repeat("<!-- padding -->", 200)+"</body></html>")
		}
	}
	body := func(s string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, s)
		}
	}
	tooManyAfter := func(after string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			if after != "" {
				w.Header().Set("Retry-After", after)
			}
			chatapitest.WriteStatus(w, 429, "rate limit reached")
		}
	}
	cases := []struct {
		name string
		bad  func(w http.ResponseWriter, r *http.Request)
		// badTimes answers are bad before good ones; 99 = always bad.
		badTimes int
		wantErr  string // "" = the good answer comes back
		wantText string
		requests int
		within   time.Duration
	}{
		{"500 once is retried", func(w http.ResponseWriter, r *http.Request) { chatapitest.WriteStatus(w, 500, "boom") }, 1, "", "good", 2, 2 * time.Second},
		{"500 always exhausts the retries", func(w http.ResponseWriter, r *http.Request) { chatapitest.WriteStatus(w, 500, "boom") }, 99,
			`500 Internal Server Error: boom (gave up after 4 attempts)`, "", 4, 2 * time.Second},
		{"429 with Retry-After is retried after it", tooManyAfter("0"), 2, "", "good", 3, 2 * time.Second},
		{"429 with a Retry-After date is retried", tooManyAfter(time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)), 1, "", "good", 2, 2 * time.Second},
		{"429 with an unreadable Retry-After falls back to backoff", tooManyAfter("soon"), 1, "", "good", 2, 2 * time.Second},
		{"429 without Retry-After is retried", tooManyAfter(""), 1, "", "good", 2, 2 * time.Second},
		{"429 always names the rate limit", tooManyAfter("1"), 99, `429 Too Many Requests: rate limit reached (gave up after 4 attempts)`, "", 4, 2 * time.Second},
		{"a hang past the timeout every time", hang, 99, "attempt timed out after 150ms (sending request) (gave up after 4 attempts)", "", 4, 3 * time.Second},
		{"502 HTML page from a proxy", html(502), 99, "502 Bad Gateway: <html>", "", 4, 2 * time.Second},
		{"200 HTML page", html(200), 99, "malformed response: invalid JSON", "", 2, 2 * time.Second},
		{"200 plain text", body("upstream connect error or disconnect/reset before headers"), 99, "malformed response: invalid JSON", "", 2, 2 * time.Second},
		{"200 empty body", body(""), 99, "malformed response: invalid JSON", "", 2, 2 * time.Second},
		{"200 JSON null", body("null"), 99, "malformed response: empty choices list", "", 2, 2 * time.Second},
		{"200 JSON without choices", body(`{"id":"x","object":"chat.completion","model":"m"}`), 99, "malformed response: empty choices list", "", 2, 2 * time.Second},
		{"200 JSON with choices null", body(`{"choices":null}`), 99, "malformed response: empty choices list", "", 2, 2 * time.Second},
		{"200 JSON with choices of the wrong type", body(`{"choices":"none"}`), 99, "malformed response: invalid JSON", "", 2, 2 * time.Second},
		{"200 JSON with a choice of the wrong type", body(`{"choices":[42]}`), 99, "malformed response: invalid JSON", "", 2, 2 * time.Second},
		{"200 JSON array", body(`[{"choices":[]}]`), 99, "malformed response: invalid JSON", "", 2, 2 * time.Second},
		{"200 JSON with content of the wrong type", body(`{"choices":[{"message":{"content":["a","b"]}}]}`), 99, "malformed response: invalid JSON", "", 2, 2 * time.Second},
		{"200 JSON cut short", body(`{"choices":[{"message":{"content":"hal`), 1, "", "good", 2, 2 * time.Second},
		// Empty answers are answers: the operator above decides what an
		// empty output means (see TestBackendFaultsAreNodeErrors).
		{"empty content", body(`{"choices":[{"message":{"role":"assistant","content":""},"finish_reason":"stop"}]}`), 99, "", "", 1, 2 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n < c.badTimes {
					c.bad(w, r)
					return
				}
				writeAnswer(w, "good", 1, 1)
			})
			cfg := testConfig(cs)
			cfg.Timeout = 150 * time.Millisecond
			o := newTestOpenAI(t, cfg)
			start := time.Now()
			resp, err := o.Complete(context.Background(), userRequest("x"))
			el := time.Since(start)
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("Complete: %v, want the answer %q", err, c.wantText)
			case c.wantErr == "" && resp.Text != c.wantText:
				t.Errorf("text %q, want %q", resp.Text, c.wantText)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("error %v, want it to contain %q", err, c.wantErr)
			case c.wantErr != "" && !strings.HasPrefix(err.Error(), `openai backend "local": `):
				t.Errorf("error %q does not name the backend", err)
			case c.wantErr != "" && len(err.Error()) > 1000:
				t.Errorf("error of %d bytes: server text is not clipped", len(err.Error()))
			}
			if cs.Count() != c.requests {
				t.Errorf("server saw %d requests, want %d", cs.Count(), c.requests)
			}
			if el > c.within {
				t.Errorf("took %v, want at most %v", el, c.within)
			}
		})
	}
}

// A caller's deadline bounds the whole call, retries and Retry-After
// included: a server that says "come back in an hour" does not hold a
// workflow node for an hour.
func TestOpenAIBackendFaultsRespectTheCallersDeadline(t *testing.T) {
	t.Parallel()
	cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "3600")
		chatapitest.WriteStatus(w, 503, "overloaded")
	})
	cfg := testConfig(cs)
	cfg.BackoffMax = time.Hour
	o := newTestOpenAI(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := o.Complete(ctx, userRequest("x"))
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("returned after %v, want the 300ms deadline", el)
	}
	if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") || !strings.Contains(err.Error(), "503") {
		t.Errorf("error %v, want the deadline and the last 503", err)
	}
}
