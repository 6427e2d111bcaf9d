package executor

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/executor/redistest"
)

// detBackend answers deterministically and counts the calls it gets.
type detBackend struct {
	calls atomic.Int64
	text  string
}

func (d *detBackend) Name() string                 { return "det" }
func (d *detBackend) Model() string                { return "m" }
func (d *detBackend) Deterministic(r Request) bool { return r.Sampling.Temperature == 0 }
func (d *detBackend) VariesByVariant() bool        { return false }
func (d *detBackend) Simulated() bool              { return false }
func (d *detBackend) Complete(_ context.Context, r Request) (Response, error) {
	d.calls.Add(1)
	return Response{Text: d.text + r.Messages[0].Content, Model: "m", InputTokens: 7, OutputTokens: 3, FinishReason: "stop"}, nil
}

func req(s string) Request {
	return Request{Messages: []Message{{Role: "user", Content: s}}}
}

// replica is one process's view: its own LRU over the shared tier.
func replica(t *testing.T, addr string, opt SharedOptions, b Backend) (Backend, *Cache) {
	t.Helper()
	tier, err := NewRedisTier(RedisConfig{Addr: addr, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tier.Close() })
	c := NewCache(100)
	c.SetShared(tier, opt)
	return Cached(b, c), c
}

func TestSharedTierAnswersAnotherReplicasCall(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	b := &detBackend{text: "answer to "}
	a, ca := replica(t, srv.Addr, SharedOptions{}, b)
	z, cz := replica(t, srv.Addr, SharedOptions{}, b)
	first, err := a.Complete(ctx, req("q1"))
	if err != nil || first.CacheHit {
		t.Fatalf("first call: %+v %v", first, err)
	}
	got, err := z.Complete(ctx, req("q1"))
	if err != nil {
		t.Fatal(err)
	}
	if !got.CacheHit || got.CacheTier != TierShared || got.Text != first.Text || got.InputTokens != 7 || got.FinishReason != "stop" {
		t.Fatalf("second replica got %+v, want a shared hit of %+v", got, first)
	}
	if n := b.calls.Load(); n != 1 {
		t.Fatalf("backend called %d times, want 1", n)
	}
	// The shared hit is now in z's own LRU: the next one is local.
	if again, _ := z.Complete(ctx, req("q1")); again.CacheTier != TierLocal {
		t.Fatalf("third call tier %q, want local", again.CacheTier)
	}
	if s := ca.SharedStats(); s.Stores != 1 || s.Misses != 1 {
		t.Fatalf("replica a shared stats %+v", s)
	}
	if s := cz.SharedStats(); s.Hits != 1 {
		t.Fatalf("replica z shared stats %+v", s)
	}
	if s := cz.Stats(); s.Hits != 2 || s.Misses != 0 {
		t.Fatalf("replica z stats %+v", s)
	}
}

func TestSharedTierNeverSeesNonDeterministicCalls(t *testing.T) {
	srv := redistest.Start(t)
	b := &detBackend{}
	a, ca := replica(t, srv.Addr, SharedOptions{}, b)
	r := req("q")
	r.Sampling.Temperature = 0.7
	for range 2 {
		if _, err := a.Complete(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if s := ca.SharedStats(); s != (SharedStats{}) || b.calls.Load() != 2 {
		t.Fatalf("shared stats %+v, calls %d", s, b.calls.Load())
	}
}

func TestSharedTierKeepsBigAnswersLocal(t *testing.T) {
	srv := redistest.Start(t)
	b := &detBackend{text: strings.Repeat("x", 2000)}
	a, ca := replica(t, srv.Addr, SharedOptions{MaxValueBytes: 1000}, b)
	z, _ := replica(t, srv.Addr, SharedOptions{MaxValueBytes: 1000}, b)
	ctx := context.Background()
	if _, err := a.Complete(ctx, req("q")); err != nil {
		t.Fatal(err)
	}
	if r, _ := z.Complete(ctx, req("q")); r.CacheHit {
		t.Fatal("an answer over the size limit was shared")
	}
	if s := ca.SharedStats(); s.TooBig != 1 || s.Stores != 0 {
		t.Fatalf("shared stats %+v", s)
	}
}

func TestSharedEntriesExpire(t *testing.T) {
	srv := redistest.Start(t)
	tier, err := NewRedisTier(RedisConfig{Addr: srv.Addr, TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tier.Close()
	ctx := context.Background()
	if err := tier.Set(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if ttl := tier.c.TTL(ctx, "k").Val(); ttl <= 0 || ttl > time.Second {
		t.Fatalf("ttl %v, want (0, 1s]", ttl)
	}
}

func TestLosingTheSharedTierDegradesToLocalCaching(t *testing.T) {
	srv := redistest.Start(t)
	b := &detBackend{}
	a, ca := replica(t, srv.Addr, SharedOptions{RetryAfter: time.Hour}, b)
	ctx := context.Background()
	if _, err := a.Complete(ctx, req("before")); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	for i := range 3 {
		r, err := a.Complete(ctx, req("after"))
		if err != nil {
			t.Fatalf("call %d with the tier gone: %v", i, err)
		}
		if i > 0 && (!r.CacheHit || r.CacheTier != TierLocal) {
			t.Fatalf("call %d: %+v, want a local hit", i, r)
		}
	}
	if r, err := a.Complete(ctx, req("before")); err != nil || r.CacheTier != TierLocal {
		t.Fatalf("old entry: %+v %v", r, err)
	}
	s := ca.SharedStats()
	if s.Errors != 1 || s.Skipped == 0 {
		t.Fatalf("shared stats %+v: want one error, then lookups skipped while down", s)
	}
	if n := b.calls.Load(); n != 2 {
		t.Fatalf("backend calls %d, want 2", n)
	}
}

func TestRedisConfigValidateNamesTheKey(t *testing.T) {
	for _, c := range []struct {
		cfg  RedisConfig
		want string
	}{
		{RedisConfig{}, "addr"},
		{RedisConfig{Addr: "x:1", TTL: -1}, "ttl"},
		{RedisConfig{Addr: "x:1", DB: -1}, "db"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.cfg, err, c.want)
		}
	}
}
