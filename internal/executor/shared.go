package executor

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"sync/atomic"
	"time"
)

// SharedTier is a cache tier that several processes (canvas replicas)
// share, consulted behind a Cache's own LRU: a call that misses locally
// asks the tier before it goes to the backend, and a backend answer is
// stored in both. The tier is an optimisation only: every error it returns
// is counted and then treated as a miss, so losing it degrades to
// per-replica caching, never to failed calls. RedisTier is the
// implementation (redis.go).
type SharedTier interface {
	// Get returns the stored value of key; ok is false when there is none.
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Set stores val under key (with the tier's own expiry).
	Set(ctx context.Context, key string, val []byte) error
	// Name says what the tier is ("redis 127.0.0.1:6379"), for logs.
	Name() string
}

// SharedOptions bound a Cache's use of its shared tier.
type SharedOptions struct {
	// MaxValueBytes: larger answers stay in the local LRU only
	// (default 1 MiB).
	MaxValueBytes int
	// Timeout bounds each Get and Set (default 250 ms): a slow tier must
	// cost a call little more than a miss.
	Timeout time.Duration
	// RetryAfter is how long the tier is left alone after an error
	// (default 2 s), so a dead server is not dialled on every call.
	RetryAfter time.Duration
}

func (o SharedOptions) withDefaults() SharedOptions {
	if o.MaxValueBytes <= 0 {
		o.MaxValueBytes = 1 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 250 * time.Millisecond
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 2 * time.Second
	}
	return o
}

// SharedStats are the counters of a Cache's shared tier.
type SharedStats struct {
	Hits    int64 // answered from the shared tier
	Misses  int64 // asked, not there
	Stores  int64 // backend answers written to it
	TooBig  int64 // answers over MaxValueBytes, kept local only
	Errors  int64 // failed Gets and Sets, each treated as a miss / skipped
	Skipped int64 // lookups not tried because the tier failed recently
}

// sharedTier is a Cache's handle on its SharedTier.
type sharedTier struct {
	tier SharedTier
	opt  SharedOptions

	downUntil atomic.Int64 // unix nanos; 0 = up

	hits, misses, stores, tooBig, errors, skipped atomic.Int64
}

// SetShared puts t behind the cache's LRU. Call it before the cache is
// used; a nil t removes the tier.
func (c *Cache) SetShared(t SharedTier, opt SharedOptions) {
	if t == nil {
		c.shared = nil
		return
	}
	c.shared = &sharedTier{tier: t, opt: opt.withDefaults()}
}

// SharedStats returns the shared tier's counters (zero without a tier).
func (c *Cache) SharedStats() SharedStats {
	s := c.shared
	if s == nil {
		return SharedStats{}
	}
	return SharedStats{
		Hits: s.hits.Load(), Misses: s.misses.Load(), Stores: s.stores.Load(),
		TooBig: s.tooBig.Load(), Errors: s.errors.Load(), Skipped: s.skipped.Load(),
	}
}

// sharedKey is the tier's key: versioned like the local key's material,
// so a change of either format never reads an old entry.
func sharedKey(k cacheKey) string { return "flowsteer:exec:v1:" + hex.EncodeToString(k[:]) }

// storedResponse is a Response as the tier holds it: what a hit returns
// (latency and the hit flags are the hit's own).
type storedResponse struct {
	Text         string `json:"t"`
	Model        string `json:"m,omitempty"`
	InputTokens  int64  `json:"i"`
	OutputTokens int64  `json:"o"`
	Simulated    bool   `json:"s,omitempty"`
	FinishReason string `json:"f,omitempty"`
}

func (s *sharedTier) up() bool {
	until := s.downUntil.Load()
	return until == 0 || time.Now().UnixNano() >= until
}

func (s *sharedTier) failed() {
	s.errors.Add(1)
	s.downUntil.Store(time.Now().Add(s.opt.RetryAfter).UnixNano())
}

// get asks the tier for key. Any failure is a miss.
func (s *sharedTier) get(ctx context.Context, k cacheKey) (Response, bool) {
	if !s.up() {
		s.skipped.Add(1)
		return Response{}, false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.Timeout)
	defer cancel()
	val, ok, err := s.tier.Get(ctx, sharedKey(k))
	if err != nil {
		s.failed()
		return Response{}, false
	}
	var sr storedResponse
	if !ok || json.Unmarshal(val, &sr) != nil {
		s.misses.Add(1)
		return Response{}, false
	}
	s.downUntil.Store(0)
	s.hits.Add(1)
	return Response{Text: sr.Text, Model: sr.Model, InputTokens: sr.InputTokens, OutputTokens: sr.OutputTokens, Simulated: sr.Simulated, FinishReason: sr.FinishReason}, true
}

// set stores a backend answer, unless it is too big or the tier is down.
func (s *sharedTier) set(ctx context.Context, k cacheKey, r Response) {
	val, err := json.Marshal(storedResponse{Text: r.Text, Model: r.Model, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, Simulated: r.Simulated, FinishReason: r.FinishReason})
	if err != nil {
		return
	}
	if len(val) > s.opt.MaxValueBytes {
		s.tooBig.Add(1)
		return
	}
	if !s.up() {
		s.skipped.Add(1)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.Timeout)
	defer cancel()
	if err := s.tier.Set(ctx, sharedKey(k), val); err != nil {
		s.failed()
		return
	}
	s.stores.Add(1)
}
