package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeBackend answers from the request alone, counts its calls and can be
// made to block, fail or panic.
type fakeBackend struct {
	name, model string
	varies      bool

	calls   atomic.Int64
	entered chan struct{} // when set, gets a value as each call starts
	gate    chan struct{} // when set, calls block until it is closed
	fail    atomic.Int64  // the next fail calls return an error
	panics  atomic.Bool   // the next call (after the gate) panics
}

func newFake() *fakeBackend { return &fakeBackend{name: "fake", model: "base-model"} }

func (f *fakeBackend) Name() string                   { return f.name }
func (f *fakeBackend) Model() string                  { return f.model }
func (f *fakeBackend) Deterministic(req Request) bool { return req.Sampling.Temperature == 0 }
func (f *fakeBackend) VariesByVariant() bool          { return f.varies }
func (f *fakeBackend) Simulated() bool                { return false }

func (f *fakeBackend) Complete(ctx context.Context, req Request) (Response, error) {
	f.calls.Add(1)
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return Response{}, ctx.Err()
		}
	}
	if f.panics.CompareAndSwap(true, false) {
		panic("fake backend exploded")
	}
	if f.fail.Load() > 0 {
		f.fail.Add(-1)
		return Response{}, errors.New("fake backend failed")
	}
	last := ""
	if len(req.Messages) > 0 {
		last = req.Messages[len(req.Messages)-1].Content
	}
	return Response{
		Text:         fmt.Sprintf("%s/%d: %s", req.Meta.Operator, req.Meta.Variant, last),
		Model:        f.model,
		InputTokens:  int64(10 * len(req.Messages)),
		OutputTokens: 7,
		Latency:      time.Millisecond,
		FinishReason: "stop",
	}, nil
}

func baseRequest() Request {
	return Request{
		Messages: []Message{{Role: "system", Content: "sys"}, {Role: "user", Content: "solve 2+2"}},
		Meta:     Meta{Operator: "Generate", NodeID: "n1", TaskID: "t1", Episode: "e1"},
	}
}

func mustComplete(t *testing.T, b Backend, req Request) Response {
	t.Helper()
	resp, err := b.Complete(context.Background(), req)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	return resp
}

// recv receives from ch, failing the test instead of hanging when nothing
// comes.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// waitForWaiters blocks until n callers are waiting on in-flight calls.
func waitForWaiters(t *testing.T, c *Cache, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		got := 0
		for _, f := range c.inflight {
			got += f.waiters
		}
		c.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers waiting, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCacheAnswersIdenticalDeterministicRequestFromCache(t *testing.T) {
	t.Parallel()
	f := newFake()
	c := NewCache(10)
	b := Cached(f, c)
	first := mustComplete(t, b, baseRequest())
	second := mustComplete(t, b, baseRequest())
	if first.CacheHit || !second.CacheHit {
		t.Errorf("CacheHit = %v then %v, want false then true", first.CacheHit, second.CacheHit)
	}
	if second.Text != first.Text || second.InputTokens != 20 || second.OutputTokens != 7 || second.Model != "base-model" {
		t.Errorf("hit = %+v, want the original answer and token counts", second)
	}
	if f.calls.Load() != 1 {
		t.Errorf("backend called %d times, want 1", f.calls.Load())
	}
	want := CacheStats{Hits: 1, Misses: 1, Entries: 1, SavedInputTokens: 20, SavedOutputTokens: 7}
	if s := c.Stats(); s != want {
		t.Errorf("stats = %+v, want %+v", s, want)
	}
}

func TestCacheKeyCoversWhatDecidesTheAnswer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		varies  bool
		edit    func(r *Request)
		wantHit bool
	}{
		{"identical", false, func(r *Request) {}, true},
		{"changed user prompt", false, func(r *Request) { r.Messages[1].Content = "solve 3+3" }, false},
		{"changed system prompt", false, func(r *Request) { r.Messages[0].Content = "sys2" }, false},
		{"changed role", false, func(r *Request) { r.Messages[0].Role = "user" }, false},
		{"extra message", false, func(r *Request) { r.Messages = append(r.Messages, Message{Role: "user", Content: ""}) }, false},
		{"content moved across messages", false, func(r *Request) {
			r.Messages = []Message{{Role: "system", Content: "sy"}, {Role: "user", Content: "ssolve 2+2"}}
		}, false},
		{"changed top_p", false, func(r *Request) { r.Sampling.TopP = 0.9 }, false},
		{"changed max tokens", false, func(r *Request) { r.Sampling.MaxTokens = 100 }, false},
		{"changed seed", false, func(r *Request) { r.Sampling.Seed = 7 }, false},
		{"changed operator", false, func(r *Request) { r.Meta.Operator = "Review" }, false},
		{"changed model", false, func(r *Request) { r.Model = "other-model" }, false},
		{"default model named explicitly", false, func(r *Request) { r.Model = "base-model" }, true},
		{"changed node, task and episode", false, func(r *Request) { r.Meta.NodeID, r.Meta.TaskID, r.Meta.Episode = "n9", "t9", "e9" }, true},
		{"changed variant, backend ignores it", false, func(r *Request) { r.Meta.Variant = 3 }, true},
		{"changed variant, backend varies by it", true, func(r *Request) { r.Meta.Variant = 3 }, false},
		{"same variant, backend varies by it", true, func(r *Request) {}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			f.varies = c.varies
			cache := NewCache(10)
			b := Cached(f, cache)
			mustComplete(t, b, baseRequest())
			req := baseRequest()
			c.edit(&req)
			resp := mustComplete(t, b, req)
			wantCalls := int64(2)
			if c.wantHit {
				wantCalls = 1
			}
			if resp.CacheHit != c.wantHit || f.calls.Load() != wantCalls {
				t.Errorf("CacheHit = %v with %d backend calls, want %v with %d", resp.CacheHit, f.calls.Load(), c.wantHit, wantCalls)
			}
		})
	}
}

func TestCacheBackendsDoNotShareEntries(t *testing.T) {
	t.Parallel()
	a, b := newFake(), newFake()
	b.name = "other"
	c := NewCache(10)
	mustComplete(t, Cached(a, c), baseRequest())
	if resp := mustComplete(t, Cached(b, c), baseRequest()); resp.CacheHit {
		t.Error("a backend of another name was answered from the first one's entry")
	}
}

type keyedFake struct{ *fakeBackend }

func (k keyedFake) CacheKeyExtra(req Request) string { return req.Meta.TaskID }

func TestCacheAddsCacheKeyerMaterialToKey(t *testing.T) {
	t.Parallel()
	c := NewCache(10)
	b := Cached(keyedFake{newFake()}, c)
	mustComplete(t, b, baseRequest())
	req := baseRequest()
	if !mustComplete(t, b, req).CacheHit {
		t.Error("same task missed")
	}
	req.Meta.TaskID = "t2"
	if mustComplete(t, b, req).CacheHit {
		t.Error("another task hit, want the CacheKeyer's material in the key")
	}
}

func TestCacheBypassesNonDeterministicRequests(t *testing.T) {
	t.Parallel()
	f := newFake()
	c := NewCache(10)
	b := Cached(f, c)
	req := baseRequest()
	req.Sampling.Temperature = 0.7
	for range 2 {
		if resp := mustComplete(t, b, req); resp.CacheHit {
			t.Error("non-deterministic request answered from the cache")
		}
	}
	if f.calls.Load() != 2 {
		t.Errorf("backend called %d times, want 2", f.calls.Load())
	}
	want := CacheStats{Bypass: 2}
	if s := c.Stats(); s != want {
		t.Errorf("stats = %+v, want %+v", s, want)
	}
}

func TestCacheCoalescesConcurrentIdenticalRequests(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.entered = make(chan struct{}, 100)
	f.gate = make(chan struct{})
	c := NewCache(10)
	b := Cached(f, c)

	const callers = 20
	var wg sync.WaitGroup
	resps := make([]Response, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[i], errs[i] = b.Complete(context.Background(), baseRequest())
		}()
	}
	recv(t, f.entered, "the backend call")
	waitForWaiters(t, c, callers-1)
	close(f.gate)
	wg.Wait()

	hits := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if resps[i].Text != resps[0].Text || resps[i].InputTokens != 20 {
			t.Errorf("caller %d got %+v", i, resps[i])
		}
		if resps[i].CacheHit {
			hits++
		}
	}
	if f.calls.Load() != 1 {
		t.Errorf("backend called %d times, want 1", f.calls.Load())
	}
	if hits != callers-1 {
		t.Errorf("%d answers flagged CacheHit, want %d", hits, callers-1)
	}
	want := CacheStats{Misses: 1, Coalesced: callers - 1, Entries: 1, SavedInputTokens: 20 * (callers - 1), SavedOutputTokens: 7 * (callers - 1)}
	if s := c.Stats(); s != want {
		t.Errorf("stats = %+v, want %+v", s, want)
	}
}

func TestCacheWaiterTakesOverWhenLeaderIsCancelled(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.entered = make(chan struct{}, 10)
	f.gate = make(chan struct{})
	c := NewCache(10)
	b := Cached(f, c)

	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := b.Complete(leaderCtx, baseRequest())
		leaderErr <- err
	}()
	recv(t, f.entered, "the leader's backend call")
	waiter := make(chan Response, 1)
	go func() {
		resp, err := b.Complete(context.Background(), baseRequest())
		if err != nil {
			t.Errorf("waiter: %v", err)
		}
		waiter <- resp
	}()
	waitForWaiters(t, c, 1)
	cancelLeader()
	if err := recv(t, leaderErr, "the leader"); !errors.Is(err, context.Canceled) {
		t.Errorf("leader error = %v, want context.Canceled", err)
	}
	recv(t, f.entered, "the waiter's own backend call") // it now leads
	close(f.gate)
	resp := recv(t, waiter, "the waiter")
	if resp.Text == "" || resp.CacheHit {
		t.Errorf("waiter got %+v, want a fresh answer", resp)
	}
	if f.calls.Load() != 2 {
		t.Errorf("backend called %d times, want 2", f.calls.Load())
	}
}

func TestCacheWaiterReturnsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.entered = make(chan struct{}, 10)
	f.gate = make(chan struct{})
	b := Cached(f, NewCache(10))
	go b.Complete(context.Background(), baseRequest())
	recv(t, f.entered, "the leader's backend call")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.Complete(ctx, baseRequest())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %v, want promptly", d)
	}
	close(f.gate)
}

func TestCacheWaitersGetErrorWhenLeaderPanics(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.entered = make(chan struct{}, 10)
	f.gate = make(chan struct{})
	f.panics.Store(true)
	c := NewCache(10)
	b := Cached(f, c)

	recovered := make(chan any, 1)
	go func() {
		defer func() { recovered <- recover() }()
		b.Complete(context.Background(), baseRequest())
	}()
	recv(t, f.entered, "the leader's backend call")
	waiterErr := make(chan error, 1)
	go func() {
		_, err := b.Complete(context.Background(), baseRequest())
		waiterErr <- err
	}()
	waitForWaiters(t, c, 1)
	close(f.gate)
	if r := recv(t, recovered, "the leader's panic"); r == nil {
		t.Error("leader's panic was swallowed")
	}
	if err := recv(t, waiterErr, "the waiter"); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("waiter error = %v, want a panic reported", err)
	}
	if resp := mustComplete(t, b, baseRequest()); resp.CacheHit {
		t.Error("a panicked call was cached")
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	f := newFake()
	c := NewCache(2)
	b := Cached(f, c)
	req := func(p string) Request {
		r := baseRequest()
		r.Messages[1].Content = p
		return r
	}
	steps := []struct {
		prompt  string
		wantHit bool
	}{
		{"A", false},
		{"B", false},
		{"A", true},  // A becomes most recent
		{"C", false}, // evicts B
		{"A", true},
		{"B", false}, // evicts C
		{"C", false}, // evicts A
		{"B", true},
	}
	for i, s := range steps {
		if got := mustComplete(t, b, req(s.prompt)).CacheHit; got != s.wantHit {
			t.Errorf("step %d (%s): CacheHit = %v, want %v", i, s.prompt, got, s.wantHit)
		}
	}
	if s := c.Stats(); s.Entries != 2 || s.Evictions != 3 || s.Hits != 3 || s.Misses != 5 {
		t.Errorf("stats = %+v, want 2 entries, 3 evictions, 3 hits, 5 misses", s)
	}
}

func TestCacheNeverStoresErrors(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.fail.Store(1)
	c := NewCache(10)
	b := Cached(f, c)
	if _, err := b.Complete(context.Background(), baseRequest()); err == nil {
		t.Fatal("first call succeeded, want the backend's error")
	}
	if s := c.Stats(); s.Entries != 0 {
		t.Errorf("entries after an error = %d, want 0", s.Entries)
	}
	if resp := mustComplete(t, b, baseRequest()); resp.CacheHit {
		t.Error("retry after an error was a hit")
	}
	if resp := mustComplete(t, b, baseRequest()); !resp.CacheHit {
		t.Error("third call missed, want the success cached")
	}
	if f.calls.Load() != 2 {
		t.Errorf("backend called %d times, want 2", f.calls.Load())
	}
}

func TestCacheCountsSavedTokens(t *testing.T) {
	t.Parallel()
	c := NewCache(10)
	b := Cached(newFake(), c)
	short := baseRequest()
	short.Messages = short.Messages[1:]
	for range 3 {
		mustComplete(t, b, baseRequest()) // 20 in, 7 out
		mustComplete(t, b, short)         // 10 in, 7 out
	}
	if s := c.Stats(); s.SavedInputTokens != 2*20+2*10 || s.SavedOutputTokens != 4*7 || s.Hits != 4 {
		t.Errorf("stats = %+v, want 60 input and 28 output tokens saved over 4 hits", s)
	}
}

func TestCacheDefaultsAndWrapperIdentity(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, -5} {
		if got := NewCache(n).max; got != DefaultCacheEntries {
			t.Errorf("NewCache(%d) holds %d, want %d", n, got, DefaultCacheEntries)
		}
	}
	f := newFake()
	f.varies = true
	if Cached(f, nil) != Backend(f) {
		t.Error("Cached with a nil cache should return the backend itself")
	}
	b := Cached(f, NewCache(1))
	if b.Name() != "fake" || b.Model() != "base-model" || !b.VariesByVariant() || b.Simulated() || !b.Deterministic(baseRequest()) {
		t.Error("wrapper does not report the wrapped backend's identity")
	}
	if u, ok := b.(interface{ Unwrap() Backend }); !ok || u.Unwrap() != Backend(f) {
		t.Error("Unwrap does not return the wrapped backend")
	}
}
