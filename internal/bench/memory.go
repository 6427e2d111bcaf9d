package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/system"
)

// memoryTurns are played on every held episode, so it holds a graph, a
// history and a rendered prompt, not just a task.
const memoryTurns = 3

// MemoryResult is the heap held by open episodes and what is left once
// they are closed. Heap figures are runtime.MemStats.HeapAlloc after two
// garbage collections.
type MemoryResult struct {
	Episodes  int `json:"episodes"`
	TurnsEach int `json:"turns_each"`
	// Over gRPC: one Interact stream per episode, client and server in
	// this process (both sides' stream state is counted).
	HeapBaseline    uint64  `json:"heap_baseline_bytes"`
	HeapOpen        uint64  `json:"heap_open_bytes"`
	PerEpisodeBytes float64 `json:"per_open_episode_bytes"`
	// HeapClosed: streams ended and episodes closed; the store keeps each
	// record readable (GetEpisode) until its TTL or the LRU bound.
	HeapClosed         uint64  `json:"heap_closed_bytes"`
	PerClosedBytes     float64 `json:"per_closed_episode_bytes"`
	HeapDropped        uint64  `json:"heap_dropped_bytes"`
	DomainPerEpisode   float64 `json:"domain_per_open_episode_bytes"`
	GoroutinesBaseline int     `json:"goroutines_baseline"`
	GoroutinesOpen     int     `json:"goroutines_open"`
	GoroutinesAfter    int     `json:"goroutines_after"`
	GoroutinesLeaked   int     `json:"goroutines_leaked"`
	// FDs count /proc/self/fd (-1 where there is none).
	FDsBaseline int `json:"fds_baseline"`
	FDsAfter    int `json:"fds_after"`
}

// HeapAfterGC returns HeapAlloc after two collections (the second frees
// what finalizers released in the first).
func HeapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// OpenFDs counts this process's open file descriptors, -1 when unknown.
func OpenFDs() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(es) - 1 // ReadDir's own descriptor
}

// SettleGoroutines waits (at most limit) until no more than want
// goroutines run, and returns the last count.
func SettleGoroutines(ctx context.Context, want int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) || ctx.Err() != nil {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// StableGoroutines waits (at most limit) until the goroutine count has
// not changed for 100ms, and returns it.
func StableGoroutines(ctx context.Context, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	last, since := runtime.NumGoroutine(), time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		if n := runtime.NumGoroutine(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= 100*time.Millisecond {
			break
		}
	}
	return last
}

// streamsPerConn stays below the server's MaxConcurrentStreams (1024).
const streamsPerConn = 500

func runMemory(ctx context.Context, cfg Config) (*MemoryResult, error) {
	n := cfg.OpenEpisodes
	cfg.progress("memory: %d episodes held open at once over gRPC (%d turns each), then in process", n, memoryTurns)
	o := system.DefaultOptions()
	o.NoExecute = true
	o.Store.MaxEpisodes = max(o.Store.MaxEpisodes, 2*n)
	srv, err := StartCanvas(ctx, o, ServeOptions{})
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	var clients []*flowsteer.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	tk := protoconv.TaskToPB(ScriptTask)
	for range (n + streamsPerConn - 1) / streamsPerConn {
		c, err := flowsteer.Dial(srv.Addr)
		if err != nil {
			return nil, err
		}
		clients = append(clients, c)
		// One episode per connection first, so the baseline holds the
		// connections' own goroutines and buffers.
		ep, err := c.Open(ctx, tk)
		if err != nil {
			return nil, err
		}
		id := ep.ID()
		if err := ep.Close(); err != nil {
			return nil, err
		}
		srv.Sys.Store.Delete(id)
	}
	res := &MemoryResult{Episodes: n, TurnsEach: memoryTurns}
	res.GoroutinesBaseline = StableGoroutines(ctx, 2*time.Second)
	res.FDsBaseline = OpenFDs()
	res.HeapBaseline = HeapAfterGC()

	eps := make([]*flowsteer.Episode, 0, n)
	closeAll := func() {
		for _, ep := range eps {
			_ = ep.Close()
		}
	}
	for i := range n {
		ep, err := clients[i/streamsPerConn].Open(ctx, tk)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("open episode %d: %w", i, err)
		}
		eps = append(eps, ep)
		for t := range memoryTurns {
			if _, err := ep.Step(ctx, flowsteer.Text(Script[t])); err != nil {
				closeAll()
				return nil, fmt.Errorf("episode %d turn %d: %w", i, t+1, err)
			}
		}
		if (i+1)%max(n/4, 1) == 0 {
			cfg.progress("memory: %d/%d episodes open", i+1, n)
		}
	}
	res.GoroutinesOpen = runtime.NumGoroutine()
	res.HeapOpen = HeapAfterGC()
	res.PerEpisodeBytes = (float64(res.HeapOpen) - float64(res.HeapBaseline)) / float64(n)

	ids := make([]string, 0, n)
	for _, ep := range eps {
		ids = append(ids, ep.ID())
		if err := ep.Close(); err != nil {
			return nil, fmt.Errorf("close stream: %w", err)
		}
		if _, err := clients[0].CloseEpisode(ctx, ep.ID()); err != nil {
			return nil, fmt.Errorf("close episode: %w", err)
		}
	}
	eps = nil
	res.GoroutinesAfter = SettleGoroutines(ctx, res.GoroutinesBaseline, 10*time.Second)
	res.GoroutinesLeaked = max(res.GoroutinesAfter-res.GoroutinesBaseline, 0)
	res.FDsAfter = OpenFDs()
	res.HeapClosed = HeapAfterGC()
	res.PerClosedBytes = (float64(res.HeapClosed) - float64(res.HeapBaseline)) / float64(n)
	for _, id := range ids {
		srv.Sys.Store.Delete(id)
	}
	res.HeapDropped = HeapAfterGC()

	// The same episodes on the domain canvas: no stream, no messages.
	h0 := HeapAfterGC()
	dom := make([]*canvas.Episode, 0, n)
	for range n {
		ep, _, err := srv.Sys.Canvas.Create(ctx, ScriptTask, canvas.DefaultConfig(), reward.Default())
		if err != nil {
			return nil, err
		}
		for t := range memoryTurns {
			if _, err := ep.Step(ctx, canvas.Input{Text: Script[t]}); err != nil {
				return nil, err
			}
		}
		dom = append(dom, ep)
	}
	h1 := HeapAfterGC()
	res.DomainPerEpisode = (float64(h1) - float64(h0)) / float64(n)
	for _, ep := range dom {
		_, _ = srv.Sys.Canvas.Close(ctx, ep.ID())
		srv.Sys.Store.Delete(ep.ID())
	}
	runtime.KeepAlive(dom)
	return res, nil
}
