package executor

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCacheEntries is the cache bound used when NewCache gets <= 0.
const DefaultCacheEntries = 50_000

// CacheKeyer may be implemented by a Backend whose deterministic answers
// depend on more than the cache key holds by default (backend, model,
// operator, messages, sampling, and the variant when VariesByVariant): the
// returned material is added to the key. A simulated backend that reads
// Meta.Sim or Meta.TaskID should implement it.
type CacheKeyer interface {
	CacheKeyExtra(req Request) string
}

// CacheStats are a Cache's counters. A Cache shared by several wrapped
// backends reports their sum.
type CacheStats struct {
	Hits      int64 // answered from a stored entry (local LRU or shared tier)
	Misses    int64 // deterministic calls that went to the backend
	Coalesced int64 // answered by an identical call already in flight
	Bypass    int64 // non-deterministic calls, never cached
	Entries   int64
	Evictions int64
	// Tokens the backend would have been billed for the hits and coalesced
	// calls, had they not been answered here.
	SavedInputTokens  int64
	SavedOutputTokens int64
}

// Cache is a bounded LRU of deterministic answers, shared by every episode
// of a process so that identical executor calls (the same workflow prefix
// rebuilt by several members of a training group) are paid once. Safe for
// concurrent use.
type Cache struct {
	max int

	mu       sync.Mutex
	lru      *list.List // of *cacheEntry, most recent first
	entries  map[cacheKey]*list.Element
	inflight map[cacheKey]*flight

	hits, misses, coalesced, bypass, evictions atomic.Int64
	savedIn, savedOut                          atomic.Int64

	shared *sharedTier // optional second tier shared by replicas (shared.go)
}

type cacheKey [sha256.Size]byte

type cacheEntry struct {
	key  cacheKey
	resp Response
}

// flight is one backend call that identical concurrent calls wait on.
// Its result fields are written before done is closed and read after.
type flight struct {
	done            chan struct{}
	resp            Response
	err             error
	leaderCancelled bool // err came from the leader's own context
	waiters         int  // guarded by Cache.mu; for tests
}

// NewCache returns an empty cache holding at most maxEntries answers
// (DefaultCacheEntries when maxEntries <= 0).
func NewCache(maxEntries int) *Cache {
	if maxEntries <= 0 {
		maxEntries = DefaultCacheEntries
	}
	return &Cache{
		max:      maxEntries,
		lru:      list.New(),
		entries:  make(map[cacheKey]*list.Element),
		inflight: make(map[cacheKey]*flight),
	}
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	n := int64(c.lru.Len())
	c.mu.Unlock()
	return CacheStats{
		Hits:              c.hits.Load(),
		Misses:            c.misses.Load(),
		Coalesced:         c.coalesced.Load(),
		Bypass:            c.bypass.Load(),
		Entries:           n,
		Evictions:         c.evictions.Load(),
		SavedInputTokens:  c.savedIn.Load(),
		SavedOutputTokens: c.savedOut.Load(),
	}
}

func (c *Cache) getLocked(k cacheKey) (Response, bool) {
	el, ok := c.entries[k]
	if !ok {
		return Response{}, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry).resp, true
}

func (c *Cache) addLocked(k cacheKey, resp Response) {
	if el, ok := c.entries[k]; ok {
		el.Value.(*cacheEntry).resp = resp
		c.lru.MoveToFront(el)
		return
	}
	c.entries[k] = c.lru.PushFront(&cacheEntry{key: k, resp: resp})
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).key)
		c.evictions.Add(1)
	}
}

func (c *Cache) saved(resp Response) {
	c.savedIn.Add(resp.InputTokens)
	c.savedOut.Add(resp.OutputTokens)
}

// Cached wraps b so that its deterministic calls are answered from c.
// A nil c returns b unchanged.
func Cached(b Backend, c *Cache) Backend {
	if c == nil {
		return b
	}
	return &cachedBackend{b: b, c: c}
}

type cachedBackend struct {
	b Backend
	c *Cache
}

var _ Backend = (*cachedBackend)(nil)

func (cb *cachedBackend) Name() string                   { return cb.b.Name() }
func (cb *cachedBackend) Model() string                  { return cb.b.Model() }
func (cb *cachedBackend) Deterministic(req Request) bool { return cb.b.Deterministic(req) }
func (cb *cachedBackend) VariesByVariant() bool          { return cb.b.VariesByVariant() }
func (cb *cachedBackend) Simulated() bool                { return cb.b.Simulated() }

// Unwrap returns the backend behind the cache.
func (cb *cachedBackend) Unwrap() Backend { return cb.b }

// Complete answers from the cache when it can. Identical calls in flight
// at the same time are coalesced onto one backend call: a small
// singleflight written here because golang.org/x/sync is not a dependency,
// and because it must also consult the LRU under the same lock (so a call
// never misses an answer that landed between lookup and joining a flight)
// and let a waiter take over when the leader's own context was cancelled.
// Hits and coalesced answers carry CacheHit and the original token counts;
// their Latency is the time spent here. Errors are never stored.
func (cb *cachedBackend) Complete(ctx context.Context, req Request) (Response, error) {
	c := cb.c
	if !cb.b.Deterministic(req) {
		c.bypass.Add(1)
		return cb.b.Complete(ctx, req)
	}
	start := time.Now()
	key := cb.key(req)
	for {
		c.mu.Lock()
		if resp, ok := c.getLocked(key); ok {
			c.mu.Unlock()
			c.hits.Add(1)
			c.saved(resp)
			resp.CacheHit = true
			resp.CacheTier = TierLocal
			resp.Latency = time.Since(start)
			return resp, nil
		}
		if f, ok := c.inflight[key]; ok {
			f.waiters++
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				c.mu.Lock()
				f.waiters--
				c.mu.Unlock()
				return Response{}, fmt.Errorf("executor cache %q: %w", cb.b.Name(), ctx.Err())
			}
			if f.err != nil {
				if f.leaderCancelled && ctx.Err() == nil {
					// The leader gave up, not the backend: try again,
					// possibly leading the next flight.
					continue
				}
				return Response{}, f.err
			}
			c.coalesced.Add(1)
			c.saved(f.resp)
			resp := f.resp
			resp.CacheHit = true
			resp.CacheTier = TierLocal
			resp.Latency = time.Since(start)
			return resp, nil
		}
		f := &flight{done: make(chan struct{})}
		c.inflight[key] = f
		c.mu.Unlock()
		return cb.lead(ctx, key, f, req, start)
	}
}

// lead makes the backend call for a flight and publishes its outcome, also
// when the backend panics, so waiters are never stranded.
//
// With a shared tier the leader asks it first, so identical calls in this
// process still make one lookup; the backend's answer is stored in both.
func (cb *cachedBackend) lead(ctx context.Context, key cacheKey, f *flight, req Request, start time.Time) (resp Response, err error) {
	c := cb.c
	finished := false
	defer func() {
		if !finished {
			f.err = fmt.Errorf("executor cache %q: backend panicked during an identical call", cb.b.Name())
		}
		c.mu.Lock()
		delete(c.inflight, key)
		if f.err == nil {
			c.addLocked(key, f.resp)
		}
		c.mu.Unlock()
		close(f.done)
	}()
	if s := c.shared; s != nil {
		if r, ok := s.get(ctx, key); ok {
			c.hits.Add(1)
			c.saved(r)
			f.resp = r
			finished = true
			r.CacheHit = true
			r.CacheTier = TierShared
			r.Latency = time.Since(start)
			return r, nil
		}
	}
	c.misses.Add(1)
	resp, err = cb.b.Complete(ctx, req)
	f.resp, f.err = resp, err
	f.leaderCancelled = err != nil && ctx.Err() != nil
	finished = true
	if err == nil && c.shared != nil {
		c.shared.set(ctx, key, resp)
	}
	return resp, err
}

// key hashes everything that decides a deterministic answer. Fields are
// length-prefixed so that no two different requests hash the same input
// ("ab"+"c" vs "a"+"bc").
func (cb *cachedBackend) key(req Request) cacheKey {
	h := sha256.New()
	var buf [8]byte
	u64 := func(v uint64) {
		binary.BigEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	str := func(s string) {
		u64(uint64(len(s)))
		h.Write([]byte(s))
	}
	str("flowsteer-executor-cache-v1")
	str(cb.b.Name())
	model := req.Model
	if model == "" {
		model = cb.b.Model()
	}
	str(model)
	str(req.Meta.Operator)
	u64(uint64(len(req.Messages)))
	for _, m := range req.Messages {
		str(m.Role)
		str(m.Content)
	}
	u64(math.Float64bits(req.Sampling.Temperature))
	u64(math.Float64bits(req.Sampling.TopP))
	u64(uint64(int64(req.Sampling.MaxTokens)))
	u64(uint64(req.Sampling.Seed))
	if cb.b.VariesByVariant() {
		h.Write([]byte{1})
		u64(uint64(int64(req.Meta.Variant)))
	} else {
		h.Write([]byte{0})
	}
	if k, ok := cb.b.(CacheKeyer); ok {
		h.Write([]byte{1})
		str(k.CacheKeyExtra(req))
	} else {
		h.Write([]byte{0})
	}
	var out cacheKey
	h.Sum(out[:0])
	return out
}
