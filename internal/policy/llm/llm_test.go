package llm

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
	"gopkg.in/yaml.v3"

	"github.com/flowsteer/flowsteer/internal/chatapi/chatapitest"
)

const goodAction = "<reasoning>Programmer computes reliably.</reasoning>\n<action>add</action><operator>Programmer</operator>"

func TestActWellFormed(t *testing.T) {
	tests := []struct {
		name      string
		tokenIDs  bool
		reply     reply
		wantText  string
		wantReas  string
		wantLP    []float64
		wantIDs   []int32
		wantModel string
	}{
		{
			name:      "without logprobs",
			reply:     reply{text: goodAction},
			wantText:  goodAction,
			wantReas:  "Programmer computes reliably.",
			wantModel: "served-model",
		},
		{
			name:      "with logprobs",
			reply:     reply{text: goodAction, tokens: []string{"<reasoning>", "Programmer", "..."}, logprobs: []float64{-0.1, -0.25, -1.5}},
			wantText:  goodAction,
			wantReas:  "Programmer computes reliably.",
			wantLP:    []float64{-0.1, -0.25, -1.5},
			wantModel: "served-model",
		},
		{
			name:      "with token ids",
			tokenIDs:  true,
			reply:     reply{text: goodAction, tokens: []string{"token_id:17", "token_id:0", "token_id:151645"}, logprobs: []float64{-0.5, 0, -2}},
			wantText:  goodAction,
			wantReas:  "Programmer computes reliably.",
			wantLP:    []float64{-0.5, 0, -2},
			wantIDs:   []int32{17, 0, 151645},
			wantModel: "served-model",
		},
		{
			name:      "think block kept in the text, reasoning from it",
			reply:     reply{text: "<think>Start with code.</think>\n<action>add</action><operator>Programmer</operator>", model: "lora-7"},
			wantText:  "<think>Start with code.</think>\n<action>add</action><operator>Programmer</operator>",
			wantReas:  "Start with code.",
			wantModel: "lora-7",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := scripted(t, tc.reply)
			cfg := testConfig(cs)
			cfg.TokenIDs = tc.tokenIDs
			p := newTestPolicy(t, cfg)
			d, err := p.Act(context.Background(), actionObs(), policy.Sampling{})
			if err != nil {
				t.Fatalf("Act: %v", err)
			}
			if d.GetAction().GetText() != tc.wantText {
				t.Errorf("action text = %q, want %q", d.GetAction().GetText(), tc.wantText)
			}
			if d.GetReasoning() != tc.wantReas {
				t.Errorf("reasoning = %q, want %q", d.GetReasoning(), tc.wantReas)
			}
			if !reflect.DeepEqual(d.GetLogprobs(), tc.wantLP) {
				t.Errorf("logprobs = %v, want %v", d.GetLogprobs(), tc.wantLP)
			}
			if !reflect.DeepEqual(d.GetTokenIds(), tc.wantIDs) {
				t.Errorf("token ids = %v, want %v", d.GetTokenIds(), tc.wantIDs)
			}
			var wantMask []int32
			if n := len(tc.wantLP); n > 0 {
				wantMask = ones(n)
			}
			if !reflect.DeepEqual(d.GetMask(), wantMask) {
				t.Errorf("mask = %v, want %v", d.GetMask(), wantMask)
			}
			if d.GetRepairs() != 0 || cs.Count() != 1 {
				t.Errorf("repairs = %d after %d requests, want 0 after 1", d.GetRepairs(), cs.Count())
			}
			if d.GetModel() != tc.wantModel || d.GetPolicyVersion() != tc.wantModel {
				t.Errorf("model, version = %q, %q, want %q", d.GetModel(), d.GetPolicyVersion(), tc.wantModel)
			}
			if d.GetPromptTokens() != 100 || d.GetCompletionTokens() != int32(max(len(tc.reply.tokens), 7)) {
				t.Errorf("usage = %d/%d", d.GetPromptTokens(), d.GetCompletionTokens())
			}
			// prompt_text is exactly the messages that went out.
			msgs, err := DecodePrompt(d.GetPromptText())
			if err != nil {
				t.Fatal(err)
			}
			want := []Message{{"system", testSystem}, {"user", testUser}}
			if !reflect.DeepEqual(msgs, want) {
				t.Errorf("prompt_text messages = %+v, want %+v", msgs, want)
			}
			body := cs.Requests()[0].Body
			if got := messagesOf(t, body); !reflect.DeepEqual(got, want) {
				t.Errorf("sent messages = %+v, want %+v", got, want)
			}
			if !strings.Contains(d.GetPromptText(), "<action> tags & rules") {
				t.Errorf("prompt_text is HTML-escaped: %s", d.GetPromptText())
			}
			if cs.Requests()[0].Path != "/v1/chat/completions" {
				t.Errorf("path = %s", cs.Requests()[0].Path)
			}
			if body["logprobs"] != true {
				t.Errorf("logprobs = %v, want true", body["logprobs"])
			}
			if _, ok := body["return_tokens_as_token_ids"]; ok != tc.tokenIDs {
				t.Errorf("return_tokens_as_token_ids present = %v, want %v", ok, tc.tokenIDs)
			}
			if body["max_tokens"] != float64(512) || body["model"] != "flow-director-lora" {
				t.Errorf("max_tokens, model = %v, %v", body["max_tokens"], body["model"])
			}
		})
	}
}

func TestActTokenIDsIgnoredByServer(t *testing.T) {
	cs := scripted(t, reply{text: goodAction, tokens: []string{"<action>", "add"}, logprobs: []float64{-1, -2}})
	cfg := testConfig(cs)
	cfg.TokenIDs = true
	_, err := newTestPolicy(t, cfg).Act(context.Background(), actionObs(), policy.Sampling{})
	if err == nil || !strings.Contains(err.Error(), "token_ids") || !strings.Contains(err.Error(), `"<action>"`) {
		t.Fatalf("err = %v, want one naming the token and llm.token_ids", err)
	}
}

func TestActRepair(t *testing.T) {
	const bad1 = "I think we should start with Programmer next."
	const bad2 = "<action>add</action> but I forgot the operator"
	tests := []struct {
		name         string
		attempts     int
		replies      []reply
		wantRequests int
		wantRepairs  int32
		wantText     string
	}{
		{
			name:         "malformed then good repair",
			replies:      []reply{{text: bad1}, {text: goodAction, tokens: []string{"token_id:5"}, logprobs: []float64{-0.3}}},
			wantRequests: 2, wantRepairs: 1, wantText: goodAction,
		},
		{
			name:         "malformed twice: the last reply goes to the canvas",
			replies:      []reply{{text: bad1}, {text: bad2}},
			wantRequests: 2, wantRepairs: 1, wantText: bad2,
		},
		{
			name:         "empty reply then good repair",
			replies:      []reply{{text: ""}, {text: goodAction}},
			wantRequests: 2, wantRepairs: 1, wantText: goodAction,
		},
		{
			name:         "null content twice",
			replies:      []reply{{null: true}},
			wantRequests: 2, wantRepairs: 1, wantText: "",
		},
		{
			name:         "two attempts, both used",
			attempts:     2,
			replies:      []reply{{text: bad1}, {text: bad2}, {text: bad1}},
			wantRequests: 3, wantRepairs: 2, wantText: bad1,
		},
		{
			name:         "repairs disabled",
			attempts:     -1,
			replies:      []reply{{text: bad1}},
			wantRequests: 1, wantRepairs: 0, wantText: bad1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := scripted(t, tc.replies...)
			cfg := testConfig(cs)
			cfg.RepairAttempts = tc.attempts
			d, err := newTestPolicy(t, cfg).Act(context.Background(), actionObs(), policy.Sampling{})
			if err != nil {
				t.Fatalf("Act: %v (a reply without an action is the canvas's to answer, never an error)", err)
			}
			if cs.Count() != tc.wantRequests || d.GetRepairs() != tc.wantRepairs {
				t.Fatalf("requests, repairs = %d, %d, want %d, %d", cs.Count(), d.GetRepairs(), tc.wantRequests, tc.wantRepairs)
			}
			if d.GetAction().GetText() != tc.wantText {
				t.Errorf("action text = %q, want the last reply %q", d.GetAction().GetText(), tc.wantText)
			}
			reqs := cs.Requests()
			last := reqs[len(reqs)-1]
			if tc.wantRepairs == 0 {
				return
			}
			// The repair carries the original exchange and the bad reply.
			msgs := messagesOf(t, last.Body)
			if len(msgs) != 4 {
				t.Fatalf("repair request has %d messages, want 4: %+v", len(msgs), msgs)
			}
			prev := tc.replies[min(len(reqs)-2, len(tc.replies)-1)].text
			wantPrefix := []Message{{"system", testSystem}, {"user", testUser}, {"assistant", prev}}
			if !reflect.DeepEqual(msgs[:3], wantPrefix) {
				t.Errorf("repair messages = %+v, want prefix %+v", msgs[:3], wantPrefix)
			}
			if msgs[3].Role != "user" || !strings.Contains(msgs[3].Content, "Your last reply had no valid action") {
				t.Errorf("repair turn = %+v", msgs[3])
			}
			if last.Body["max_tokens"] != float64(128) {
				t.Errorf("repair max_tokens = %v, want 128", last.Body["max_tokens"])
			}
			if first := reqs[0].Body["max_tokens"]; first != float64(512) {
				t.Errorf("first max_tokens = %v, want 512", first)
			}
			// The decision describes the repair exchange: its prompt, its tokens.
			got, err := DecodePrompt(d.GetPromptText())
			if err != nil || !reflect.DeepEqual(got, msgs) {
				t.Errorf("prompt_text = %+v (%v), want the repair request's messages %+v", got, err, msgs)
			}
			if tc.name == "malformed then good repair" {
				if !reflect.DeepEqual(d.GetLogprobs(), []float64{-0.3}) || !reflect.DeepEqual(d.GetMask(), ones(1)) {
					t.Errorf("logprobs, mask = %v, %v, want the repair reply's", d.GetLogprobs(), d.GetMask())
				}
				if d.GetReasoning() != "Programmer computes reliably." {
					t.Errorf("reasoning = %q", d.GetReasoning())
				}
			}
		})
	}
}

func TestActRepairNamesTheProblem(t *testing.T) {
	cs := scripted(t, reply{text: "```\n<action>add</action><operator>Programmer</operator>\n```"}, reply{text: goodAction})
	d, err := newTestPolicy(t, testConfig(cs)).Act(context.Background(), actionObs(), policy.Sampling{})
	if err != nil || d.GetRepairs() != 1 {
		t.Fatalf("Act: %v, repairs %d", err, d.GetRepairs())
	}
	msgs := messagesOf(t, cs.Requests()[1].Body)
	if !strings.Contains(msgs[3].Content, "outside code blocks") {
		t.Errorf("repair text does not carry the parse error: %q", msgs[3].Content)
	}
}

func TestActNodePrompt(t *testing.T) {
	const text = "<think>Keep it short.</think>Compute 17 + 25 exactly in Python and print only the number."
	tests := []struct {
		name    string
		obs     *pb.Observation
		reply   string
		wantMax float64
	}{
		{name: "cap from the rendered prompt", obs: nodeObs(256), reply: text, wantMax: 256},
		{name: "cap from the config", obs: nodeObs(0), reply: text, wantMax: 256},
		{name: "kind inferred from the state", obs: func() *pb.Observation {
			o := nodeObs(0)
			o.Prompt.Kind = pb.PromptKind_PROMPT_KIND_UNSPECIFIED
			return o
		}(), reply: text, wantMax: 256},
		{name: "empty reply is still a reply", obs: nodeObs(256), reply: "", wantMax: 256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := scripted(t, reply{text: tc.reply})
			d, err := newTestPolicy(t, testConfig(cs)).Act(context.Background(), tc.obs, policy.Sampling{})
			if err != nil {
				t.Fatalf("Act: %v", err)
			}
			if cs.Count() != 1 || d.GetRepairs() != 0 {
				t.Fatalf("requests, repairs = %d, %d: prompt replies are never repaired", cs.Count(), d.GetRepairs())
			}
			if got := cs.Requests()[0].Body["max_tokens"]; got != tc.wantMax {
				t.Errorf("max_tokens = %v, want %v", got, tc.wantMax)
			}
			if d.GetAction().GetText() != tc.reply {
				t.Errorf("text = %q, want the raw reply", d.GetAction().GetText())
			}
			if tc.reply != "" && d.GetReasoning() != "Keep it short." {
				t.Errorf("reasoning = %q", d.GetReasoning())
			}
		})
	}
}

func TestActMaxTokens(t *testing.T) {
	tests := []struct {
		name     string
		sampling int
		rendered int32
		cfgCap   int
		want     float64
	}{
		{"sampling wins", 77, 300, 0, 77},
		{"rendered prompt next", 0, 300, 0, 300},
		{"config cap last", 0, 0, 0, 512},
		{"configured cap", 0, 0, 1024, 1024},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := scripted(t, reply{text: goodAction})
			cfg := testConfig(cs)
			cfg.ActionMaxTokens = tc.cfgCap
			obs := actionObs()
			obs.Prompt.MaxNewTokens = tc.rendered
			if _, err := newTestPolicy(t, cfg).Act(context.Background(), obs, policy.Sampling{MaxTokens: tc.sampling}); err != nil {
				t.Fatal(err)
			}
			if got := cs.Requests()[0].Body["max_tokens"]; got != tc.want {
				t.Errorf("max_tokens = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSamplingInRequest(t *testing.T) {
	seed := int64(7)
	tests := []struct {
		name   string
		cfg    func(*Config)
		s      policy.Sampling
		want   map[string]any
		absent []string
	}{
		{
			name:   "defaults",
			want:   map[string]any{"temperature": 0.6, "top_p": 0.95, "top_k": float64(20), "logprobs": true},
			absent: []string{"seed", "return_tokens_as_token_ids"},
		},
		{
			name: "greedy overrides to 0",
			s:    policy.Sampling{Greedy: true, Temperature: 0.9},
			want: map[string]any{"temperature": float64(0)},
		},
		{
			name: "sampling overrides",
			s:    policy.Sampling{Temperature: 1.1, TopP: 0.8, TopK: 5, Seed: &seed},
			want: map[string]any{"temperature": 1.1, "top_p": 0.8, "top_k": float64(5), "seed": float64(7)},
		},
		{
			name: "config overrides, top_k off, logprobs off, extra body",
			cfg: func(c *Config) {
				off := false
				c.Temperature, c.TopP, c.TopK, c.Logprobs = 0.3, 0.5, -1, &off
				c.ExtraBody = map[string]any{"min_p": 0.05}
			},
			want:   map[string]any{"temperature": 0.3, "top_p": 0.5, "min_p": 0.05},
			absent: []string{"top_k", "logprobs"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := scripted(t, reply{text: goodAction})
			cfg := testConfig(cs)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			if _, err := newTestPolicy(t, cfg).Act(context.Background(), actionObs(), tc.s); err != nil {
				t.Fatal(err)
			}
			body := cs.Requests()[0].Body
			for k, v := range tc.want {
				if body[k] != v {
					t.Errorf("%s = %v, want %v", k, body[k], v)
				}
			}
			for _, k := range tc.absent {
				if v, ok := body[k]; ok {
					t.Errorf("%s = %v, want absent", k, v)
				}
			}
		})
	}
}

func TestSamplingRejected(t *testing.T) {
	cs := scripted(t, reply{text: goodAction})
	p := newTestPolicy(t, testConfig(cs))
	for _, s := range []policy.Sampling{{Temperature: -1}, {Temperature: 3}, {TopP: 1.5}, {MaxTokens: -2}} {
		if _, err := p.Act(context.Background(), actionObs(), s); err == nil {
			t.Errorf("Act(%+v) succeeded, want an error", s)
		}
	}
	if cs.Count() != 0 {
		t.Errorf("%d requests sent for invalid sampling", cs.Count())
	}
}

func TestActRetries(t *testing.T) {
	tests := []struct {
		name         string
		statuses     []int // per request; 200 answers goodAction
		wantRequests int
		wantErr      []string
	}{
		{name: "500 then success", statuses: []int{500, 200}, wantRequests: 2},
		{name: "429 and 503 then success", statuses: []int{429, 503, 200}, wantRequests: 3},
		{name: "400 is not retried", statuses: []int{400, 200}, wantRequests: 1,
			wantErr: []string{"llm policy: POST http://127.0.0.1:", "/v1/chat/completions: 400 Bad Request: unknown field top_k"}},
		{name: "500 until retries run out", statuses: []int{500, 500, 500, 500, 200}, wantRequests: 4,
			wantErr: []string{"500 Internal Server Error: backend exploded", "gave up after 4 attempts"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := newChatServer(t, func(w http.ResponseWriter, _ *http.Request, n int, _ map[string]any) {
				switch code := tc.statuses[min(n, len(tc.statuses)-1)]; code {
				case 200:
					writeReply(w, reply{text: goodAction})
				case 400:
					chatapitest.WriteStatus(w, code, "unknown field top_k")
				default:
					chatapitest.WriteStatus(w, code, "backend exploded")
				}
			})
			d, err := newTestPolicy(t, testConfig(cs)).Act(context.Background(), actionObs(), policy.Sampling{})
			if cs.Count() != tc.wantRequests {
				t.Errorf("requests = %d, want %d", cs.Count(), tc.wantRequests)
			}
			if tc.wantErr == nil {
				if err != nil || d.GetAction().GetText() != goodAction {
					t.Fatalf("Act: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Act succeeded, want an error")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestActConnectionErrorRetried(t *testing.T) {
	var failed atomic.Bool
	cs := newChatServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ map[string]any) {
		if !failed.Swap(true) {
			// Drop the connection without an answer.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		writeReply(w, reply{text: goodAction})
	})
	d, err := newTestPolicy(t, testConfig(cs)).Act(context.Background(), actionObs(), policy.Sampling{})
	if err != nil || d.GetAction().GetText() != goodAction || cs.Count() != 2 {
		t.Fatalf("Act: %v after %d requests", err, cs.Count())
	}
}

func TestActAttemptTimeoutRetried(t *testing.T) {
	cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, n int, _ map[string]any) {
		if n == 0 {
			<-r.Context().Done() // hang until the policy gives up on the attempt
			return
		}
		writeReply(w, reply{text: goodAction})
	})
	cfg := testConfig(cs)
	cfg.Timeout = 50 * time.Millisecond
	d, err := newTestPolicy(t, cfg).Act(context.Background(), actionObs(), policy.Sampling{})
	if err != nil || d.GetAction().GetText() != goodAction || cs.Count() != 2 {
		t.Fatalf("Act: %v after %d requests", err, cs.Count())
	}
}

func TestActContextCancellation(t *testing.T) {
	t.Run("during a request", func(t *testing.T) {
		started := make(chan struct{}, 1)
		cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request, _ int, _ map[string]any) {
			started <- struct{}{}
			<-r.Context().Done()
		})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-started; cancel() }()
		_, err := newTestPolicy(t, testConfig(cs)).Act(ctx, actionObs(), policy.Sampling{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if cs.Count() != 1 {
			t.Errorf("requests = %d, want 1: a cancelled act is not retried", cs.Count())
		}
	})
	t.Run("during backoff", func(t *testing.T) {
		cs := newChatServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ map[string]any) {
			w.Header().Set("Retry-After", "60")
			chatapitest.WriteStatus(w, 503, "overloaded")
		})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		cfg := testConfig(cs)
		cfg.BackoffMax = time.Minute
		start := time.Now()
		_, err := newTestPolicy(t, cfg).Act(ctx, actionObs(), policy.Sampling{})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "503 Service Unavailable: overloaded") {
			t.Fatalf("err = %v, want DeadlineExceeded naming the last attempt", err)
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("the backoff wait ignored the context")
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		cs := scripted(t, reply{text: goodAction})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := newTestPolicy(t, testConfig(cs)).Act(ctx, actionObs(), policy.Sampling{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestAPIKeyHeader(t *testing.T) {
	tests := []struct {
		name  string
		set   bool
		value string
		want  string
	}{
		{name: "from the environment", set: true, value: "sk-test-123", want: "Bearer sk-test-123"},
		{name: "unset", want: ""},
		{name: "empty", set: true, value: "", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.set {
				t.Setenv(testKeyEnv, tc.value)
			}
			cs := newChatServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ map[string]any) {
				chatapitest.WriteStatus(w, 401, "invalid key")
			})
			_, err := newTestPolicy(t, testConfig(cs)).Act(context.Background(), actionObs(), policy.Sampling{})
			if got := cs.Requests()[0].Header.Get("Authorization"); got != tc.want {
				t.Errorf("Authorization = %q, want %q", got, tc.want)
			}
			if err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
				t.Fatalf("err = %v, want a 401", err)
			}
			if tc.value != "" && strings.Contains(err.Error(), tc.value) {
				t.Errorf("the error leaks the API key: %v", err)
			}
		})
	}
}

func TestAPIKeyDefaultEnv(t *testing.T) {
	t.Setenv(DefaultAPIKeyEnv, "sk-default")
	cs := scripted(t, reply{text: goodAction})
	cfg := testConfig(cs)
	cfg.APIKeyEnv = ""
	if _, err := newTestPolicy(t, cfg).Act(context.Background(), actionObs(), policy.Sampling{}); err != nil {
		t.Fatal(err)
	}
	if got := cs.Requests()[0].Header.Get("Authorization"); got != "Bearer sk-default" {
		t.Errorf("Authorization = %q, want the OPENAI_API_KEY one", got)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	const limit, acts = 2, 8
	var inflight, peak atomic.Int64
	cs := newChatServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ map[string]any) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		inflight.Add(-1)
		writeReply(w, reply{text: goodAction})
	})
	cfg := testConfig(cs)
	cfg.MaxConcurrency = limit
	p := newTestPolicy(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, acts)
	for range acts {
		wg.Go(func() {
			if _, err := p.Act(context.Background(), actionObs(), policy.Sampling{}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := peak.Load(); got > limit || got < limit {
		t.Errorf("peak concurrency = %d, want exactly %d", got, limit)
	}
	if cs.Count() != acts {
		t.Errorf("requests = %d, want %d", cs.Count(), acts)
	}
}

func TestConcurrencySlotHonoursContext(t *testing.T) {
	release := make(chan struct{})
	cs := newChatServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ map[string]any) {
		<-release
		writeReply(w, reply{text: goodAction})
	})
	cfg := testConfig(cs)
	cfg.MaxConcurrency = 1
	p := newTestPolicy(t, cfg)
	done := make(chan error, 1)
	go func() {
		_, err := p.Act(context.Background(), actionObs(), policy.Sampling{})
		done <- err
	}()
	for cs.Count() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := p.Act(ctx, actionObs(), policy.Sampling{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for a slot: err = %v, want DeadlineExceeded", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestActMalformedAndOversizedAnswers(t *testing.T) {
	tests := []struct {
		name         string
		write        func(w http.ResponseWriter)
		wantRequests int
		wantErr      string
	}{
		{"invalid JSON retried once", func(w http.ResponseWriter) { _, _ = w.Write([]byte("{not json")) }, 2, "malformed response: invalid JSON"},
		{"no choices", func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"choices":[]}`)) }, 2, "empty choices list"},
		{"body over 8 MiB", func(w http.ResponseWriter) {
			_, _ = w.Write([]byte(`{"choices":[{"message":{"content":"`))
			_, _ = w.Write([]byte(strings.Repeat("x", 8<<20)))
			_, _ = w.Write([]byte(`"}}]}`))
		}, 1, "response body exceeds 8 MiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := newChatServer(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ map[string]any) { tc.write(w) })
			_, err := newTestPolicy(t, testConfig(cs)).Act(context.Background(), actionObs(), policy.Sampling{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if cs.Count() != tc.wantRequests {
				t.Errorf("requests = %d, want %d", cs.Count(), tc.wantRequests)
			}
		})
	}
}

func TestActObservationErrors(t *testing.T) {
	cs := scripted(t, reply{text: goodAction})
	p := newTestPolicy(t, testConfig(cs))
	noPrompt := actionObs()
	noPrompt.Prompt = nil
	done := actionObs()
	done.Done = true
	tests := []struct {
		name string
		obs  *pb.Observation
		want string
	}{
		{"nil", nil, "observation is nil"},
		{"no rendered prompt", noPrompt, "render_prompt"},
		{"ended episode", done, "has ended"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := p.Act(context.Background(), tc.obs, policy.Sampling{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if cs.Count() != 0 {
		t.Errorf("%d requests sent", cs.Count())
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{BaseURL: "http://127.0.0.1:8000/v1", Model: "m"}
	off := false
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"valid", func(*Config) {}, ""},
		{"defaults", func(c *Config) { *c = DefaultConfig(); c.BaseURL, c.Model = ok.BaseURL, ok.Model }, ""},
		{"empty base url", func(c *Config) { c.BaseURL = "" }, "llm.base_url must be an http(s) URL"},
		{"not http", func(c *Config) { c.BaseURL = "grpc://x:1" }, "llm.base_url must be an http(s) URL"},
		{"credentials redacted", func(c *Config) { c.BaseURL = "ftp://user:hunter2@x" }, "xxxxx"},
		{"no model", func(c *Config) { c.Model = " " }, "llm.model"},
		{"temperature", func(c *Config) { c.Temperature = 2.5 }, "llm.temperature"},
		{"top_p", func(c *Config) { c.TopP = 1.2 }, "llm.top_p"},
		{"action cap", func(c *Config) { c.ActionMaxTokens = -1 }, "llm.action_max_tokens"},
		{"prompt cap", func(c *Config) { c.PromptMaxTokens = -1 }, "llm.prompt_max_tokens"},
		{"repair cap", func(c *Config) { c.RepairMaxTokens = -1 }, "llm.repair_max_tokens"},
		{"timeout", func(c *Config) { c.Timeout = -time.Second }, "llm.timeout"},
		{"backoff order", func(c *Config) { c.BackoffBase = time.Minute }, "llm.backoff_base"},
		{"concurrency", func(c *Config) { c.MaxConcurrency = -1 }, "llm.max_concurrency"},
		{"reserved extra body", func(c *Config) { c.ExtraBody = map[string]any{"logprobs": false} }, "llm.extra_body.logprobs"},
		{"token ids need logprobs", func(c *Config) { c.TokenIDs, c.Logprobs = true, &off }, "llm.token_ids"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks a password: %v", err)
			}
			if _, nerr := New(c); nerr == nil {
				t.Errorf("New accepted an invalid config")
			}
		})
	}
}

func TestDefaultsAndInfo(t *testing.T) {
	p, err := New(Config{BaseURL: "http://user:pw@127.0.0.1:9/v1/", Model: "qwen3-8b-flow", ExtraBody: map[string]any{
		"chat_template_kwargs": map[string]any{"enable_thinking": false},
	}})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config()
	want := DefaultConfig()
	want.BaseURL, want.Model, want.ExtraBody = c.BaseURL, c.Model, c.ExtraBody
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config with defaults = %+v, want %+v", c, want)
	}
	info := p.Info()
	if info.Kind != "llm" || info.CanLearn || info.Format != pb.ActionFormat_ACTION_FORMAT_TEXT || info.Model != "qwen3-8b-flow" || info.Version != "qwen3-8b-flow" {
		t.Errorf("info = %+v", info)
	}
	if info.Extra["prompt_format"] != PromptFormat || info.Extra["chat_template_kwargs"] != `{"enable_thinking":false}` {
		t.Errorf("info extra = %v", info.Extra)
	}
	if e := info.Extra["endpoint"]; strings.Contains(e, "pw") || !strings.HasSuffix(e, "/v1/chat/completions") {
		t.Errorf("endpoint = %q: want redacted, with one slash before chat/completions", e)
	}
}

func TestPromptTextRoundTrip(t *testing.T) {
	msgs := []Message{{"system", "a <b> & \"c\"\n"}, {"user", "ünïcode ✓"}, {"assistant", ""}}
	s := EncodePrompt(msgs)
	if s != `[{"role":"system","content":"a <b> & \"c\"\n"},{"role":"user","content":"ünïcode ✓"},{"role":"assistant","content":""}]` {
		t.Errorf("EncodePrompt = %s", s)
	}
	got, err := DecodePrompt(s)
	if err != nil || !reflect.DeepEqual(got, msgs) {
		t.Errorf("DecodePrompt = %+v, %v", got, err)
	}
	if _, err := DecodePrompt("not json"); err == nil {
		t.Error("DecodePrompt accepted garbage")
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = `
base_url: http://127.0.0.1:8000/v1
model: flow-director
api_key_env: VLLM_KEY
temperature: 0.7
top_k: -1
timeout: 30s
max_retries: -1
logprobs: false
repair_attempts: 2
extra_body:
  chat_template_kwargs: {enable_thinking: false}
`
	var c Config
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d := c.withDefaults()
	if d.BaseURL != "http://127.0.0.1:8000/v1" || d.APIKeyEnv != "VLLM_KEY" || d.Temperature != 0.7 || d.TopK != -1 ||
		d.Timeout != 30*time.Second || d.MaxRetries != 0 || *d.Logprobs || d.RepairAttempts != 2 || d.TopP != DefaultTopP ||
		d.ActionMaxTokens != 512 || d.PromptMaxTokens != 256 || d.RepairMaxTokens != 128 || d.MaxConcurrency != 8 {
		t.Errorf("decoded config = %+v", d)
	}
	if _, ok := d.ExtraBody["chat_template_kwargs"].(map[string]any); !ok {
		t.Errorf("extra_body = %#v", d.ExtraBody)
	}
}
