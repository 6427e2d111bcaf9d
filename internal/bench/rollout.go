package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/system"
)

// FakeModel is the model name the fake server expects.
const FakeModel = "bench-fake-model"

// fakeReply carries every tag the builtin operators read, so each parses
// its answer on the first call: a solver's <answer>, the reviewer's
// verdict (correct, so the repair branch stays idle), Format's <answer>.
const fakeReply = "<thought>Seven pens at 6 dollars each cost 7 * 6 = 42 dollars.</thought>\n<answer>42</answer>\n" +
	"<review_result>true</review_result>\n<feedback>The computation 7 * 6 = 42 is right.</feedback>"

// FakeLLM is an OpenAI-compatible chat-completions server on loopback that
// answers every call after a fixed delay and counts what it served. It is
// not a model: the rollout section measures flowsteer's overhead around
// the calls, not answers.
type FakeLLM struct {
	URL   string // base URL, ending in /v1
	Delay time.Duration

	srv               *httptest.Server
	calls, bad        atomic.Int64
	inflight, maxSeen atomic.Int64
}

// NewFakeLLM starts the server; Close stops it.
func NewFakeLLM(delay time.Duration) *FakeLLM {
	f := &FakeLLM{Delay: delay}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL + "/v1"
	return f
}

func (f *FakeLLM) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		f.bad.Add(1)
		http.NotFound(w, r)
		return
	}
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != FakeModel || len(req.Messages) == 0 {
		f.bad.Add(1)
		http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
		return
	}
	n := f.inflight.Add(1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	t := time.NewTimer(f.Delay)
	select {
	case <-t.C:
	case <-r.Context().Done():
		t.Stop()
		f.inflight.Add(-1)
		return
	}
	f.inflight.Add(-1)
	f.calls.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "bench", "object": "chat.completion", "model": FakeModel,
		"choices": []map[string]any{{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": fakeReply}}},
		"usage":   map[string]any{"prompt_tokens": 120, "completion_tokens": 40},
	})
}

// Calls is the number of chat completions answered so far.
func (f *FakeLLM) Calls() int64 { return f.calls.Load() }

// PeakInFlight is the most calls the server held at once.
func (f *FakeLLM) PeakInFlight() int64 { return f.maxSeen.Load() }

// Bad counts requests it refused (wrong path, model or body).
func (f *FakeLLM) Bad() int64 { return f.bad.Load() }

// Close stops the server.
func (f *FakeLLM) Close() { f.srv.Close() }

// RolloutResult is the rollout efficiency against a fixed-delay endpoint.
type RolloutResult struct {
	Endpoint    string  `json:"endpoint"`
	Workflow    string  `json:"workflow"`
	DelayMs     float64 `json:"delay_ms"`
	Concurrency int     `json:"concurrency"`
	Streams     int     `json:"streams"`
	// CallsPerEpisode was counted at the server for one episode played alone.
	CallsPerEpisode int64 `json:"calls_per_episode"`
	// TurnsPerEpisode of that episode.
	TurnsPerEpisode int `json:"turns_per_episode"`
	// WindowCallsPerEpisode is the window's calls over its completed
	// episodes: close to CallsPerEpisode when every episode did the same.
	WindowCallsPerEpisode float64 `json:"window_calls_per_episode"`
	WarmupSeconds         float64 `json:"warmup_seconds"`
	WindowSeconds         float64 `json:"window_seconds"`
	Episodes              int64   `json:"episodes"`
	EpisodesPerSec        float64 `json:"episodes_per_sec"`
	// IdealPerSec is C / (CallsPerEpisode x Delay).
	IdealPerSec float64 `json:"ideal_episodes_per_sec"`
	Efficiency  float64 `json:"efficiency"`
	// CallEfficiency is the window's calls per second over C / Delay.
	CallEfficiency float64 `json:"call_efficiency"`
	PeakInFlight   int64   `json:"peak_in_flight"`
	FailedEpisodes int64   `json:"failed_episodes"`
	Target         float64 `json:"target"`
	Met            bool    `json:"met"`
}

// clientCanvas adapts the Go client to rollout.Canvas.
type clientCanvas struct{ c *flowsteer.Client }

func (o clientCanvas) Open(ctx context.Context, t *pb.Task, cfg *pb.EpisodeConfig) (rollout.Episode, error) {
	return o.c.Open(ctx, t, cfg)
}

func runRollout(ctx context.Context, cfg Config) (*RolloutResult, error) {
	fixed, err := policy.NewFixed(cfg.Workflow)
	if err != nil {
		return nil, err
	}
	fake := NewFakeLLM(cfg.Delay)
	defer fake.Close()
	o := system.DefaultOptions()
	o.Backend = executor.KindOpenAI
	o.CacheEntries = -1 // every call reaches the endpoint
	o.BackendConfig = executor.OpenAIConfig{
		Name: "openai", BaseURL: fake.URL, Model: FakeModel,
		APIKeyEnv:      "FLOWSTEER_BENCH_NO_API_KEY", // a loopback fake needs no key, and gets none
		MaxConcurrency: cfg.Concurrency, MaxRetries: -1, Timeout: time.Minute,
	}
	_, cl, stop, err := StartDialled(ctx, o)
	if err != nil {
		return nil, err
	}
	defer stop()
	cv := clientCanvas{cl}
	tk := protoconv.TaskToPB(ScriptTask)
	play := func(ctx context.Context) (rollout.Record, error) {
		return rollout.Play(ctx, cv, rollout.InProcess{P: fixed}, tk, nil, policy.Sampling{})
	}

	// One episode alone: the calls it makes, counted by the server.
	c0 := fake.Calls()
	rec, err := play(ctx)
	if err != nil {
		return nil, fmt.Errorf("calibration episode: %w", err)
	}
	if !rec.Finished() {
		return nil, fmt.Errorf("calibration episode ended %s after %d turns, not finished: %s", rec.Final.GetEndReason(), len(rec.Turns), rec.Final.GetFeedback())
	}
	if bad := fake.Bad(); bad > 0 {
		return nil, fmt.Errorf("the fake endpoint refused %d requests", bad)
	}
	perEp := fake.Calls() - c0
	if perEp <= 0 {
		return nil, errors.New("the calibration episode made no executor call: execution is not reaching the endpoint")
	}
	res := &RolloutResult{
		Endpoint: "fake OpenAI-compatible server on loopback (fixed delay, not a model)", Workflow: fixed.Info().Extra["dsl"],
		DelayMs: float64(cfg.Delay) / float64(time.Millisecond), Concurrency: cfg.Concurrency, Streams: cfg.Streams,
		CallsPerEpisode: perEp, TurnsPerEpisode: len(rec.Turns), Target: EfficiencyTarget,
	}
	res.IdealPerSec = float64(cfg.Concurrency) / (float64(perEp) * cfg.Delay.Seconds())

	// Many episodes at once. The streams start staggered over one ideal
	// episode lifetime L = streams x calls x delay / C, so completions do
	// not come in waves, and the warm-up lasts at least 1.5 L, so the
	// measured window starts in the steady state.
	life := time.Duration(float64(cfg.Streams) * float64(perEp) * float64(cfg.Delay) / float64(cfg.Concurrency))
	warmup := max(cfg.Warmup, life*3/2)
	res.WarmupSeconds = warmup.Seconds()
	cfg.progress("rollout: %d calls per episode (counted at the server), %d episodes at once (started over %s), C=%d, delay %s: warm-up %s, window %s",
		perEp, cfg.Streams, life.Round(time.Millisecond), cfg.Concurrency, cfg.Delay, warmup.Round(time.Millisecond), cfg.Window)
	wctx, stop := context.WithCancel(ctx)
	var done, failed atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range cfg.Streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if sleep(wctx, life*time.Duration(i)/time.Duration(cfg.Streams)) != nil {
				return
			}
			for wctx.Err() == nil {
				rec, err := play(wctx)
				if wctx.Err() != nil {
					return // cut by the end of the window: not counted
				}
				if err != nil || !rec.Finished() {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("episode %s: %v (end %s)", rec.EpisodeID, err, rec.Final.GetEndReason())
					}
					mu.Unlock()
					continue
				}
				done.Add(1)
			}
		}()
	}
	werr := sleep(wctx, warmup)
	t0, e0, k0 := time.Now(), done.Load(), fake.Calls()
	if werr == nil {
		werr = sleep(wctx, cfg.Window)
	}
	// On a slow machine the window stretches until MinEpisodes completed
	// in it (bounded: episodes that stop completing are a failure).
	limit := t0.Add(max(10*cfg.Window, time.Minute))
	for werr == nil && done.Load()-e0 < int64(cfg.MinEpisodes) && failed.Load() == 0 {
		if time.Now().After(limit) {
			werr = fmt.Errorf("only %d episodes completed in %s", done.Load()-e0, time.Since(t0).Round(time.Millisecond))
			break
		}
		werr = sleep(wctx, 5*time.Millisecond)
	}
	t1, e1, k1 := time.Now(), done.Load(), fake.Calls()
	stop()
	wg.Wait()
	if werr != nil {
		return nil, werr
	}
	res.FailedEpisodes = failed.Load()
	if res.FailedEpisodes > 0 {
		return nil, fmt.Errorf("%d episodes failed during the run; first: %w", res.FailedEpisodes, firstErr)
	}
	win := t1.Sub(t0).Seconds()
	res.WindowSeconds = win
	res.Episodes = e1 - e0
	res.EpisodesPerSec = float64(res.Episodes) / win
	res.Efficiency = res.EpisodesPerSec / res.IdealPerSec
	res.CallEfficiency = (float64(k1-k0) / win) / (float64(cfg.Concurrency) / cfg.Delay.Seconds())
	if res.Episodes > 0 {
		res.WindowCallsPerEpisode = float64(k1-k0) / float64(res.Episodes)
	}
	res.PeakInFlight = fake.PeakInFlight()
	res.Met = res.Efficiency >= EfficiencyTarget
	return res, nil
}
