package auth

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// clientRates is a ratelimit.Limiter with one token bucket
// (golang.org/x/time/rate) per client identity.
type clientRates struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	clients   map[string]*rateEntry
	lastSweep time.Time
	idle      time.Duration
}

type rateEntry struct {
	lim  *rate.Limiter
	last time.Time
}

// EffectiveBurst is the burst a rate limit uses: burst, or perSecond
// rounded up (at least 1) when burst is 0.
func EffectiveBurst(perSecond float64, burst int) int {
	if burst > 0 {
		return burst
	}
	return max(1, int(math.Ceil(perSecond)))
}

func newClientRates(perSecond float64, burst int) *clientRates {
	burst = EffectiveBurst(perSecond, burst)
	// A bucket idle this long is full again, so forgetting it changes
	// nothing; forgetting keeps the map as small as the active clients.
	idle := max(10*time.Minute, time.Duration(float64(burst)/perSecond*float64(time.Second)))
	return &clientRates{limit: rate.Limit(perSecond), burst: burst, clients: map[string]*rateEntry{}, lastSweep: time.Now(), idle: idle}
}

// Limit implements ratelimit.Limiter; the interceptor answers
// ResourceExhausted with this error's text.
func (c *clientRates) Limit(ctx context.Context) error {
	client := clientKey(ctx)
	now := time.Now()
	c.mu.Lock()
	if now.Sub(c.lastSweep) > time.Minute {
		for k, e := range c.clients {
			if now.Sub(e.last) > c.idle {
				delete(c.clients, k)
			}
		}
		c.lastSweep = now
	}
	e, ok := c.clients[client]
	if !ok {
		e = &rateEntry{lim: rate.NewLimiter(c.limit, c.burst)}
		c.clients[client] = e
	}
	e.last = now
	allowed := e.lim.AllowN(now, 1)
	c.mu.Unlock()
	if !allowed {
		return fmt.Errorf("client %s is over its limit of %g requests/s (burst %d): retry with backoff, or ask the server's operator to raise `flowsteer serve --rate-limit` / `--rate-burst`", client, float64(c.limit), c.burst)
	}
	return nil
}

// episodeLimiter bounds the canvas episodes a client holds at once: its
// open Interact streams plus the episodes it made with CreateEpisode that
// are not closed yet. The canvas's own expiry and eviction are not
// visible from here, so a created episode stops counting once CloseEpisode
// or a NotFound answer about it is seen, or after ttl without a Step or
// GetEpisode on it (the canvas's idle expiry).
type episodeLimiter struct {
	max int
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	streams map[string]int // client -> open Interact streams and CreateEpisode calls in flight
	created map[string]*createdEpisode
}

type createdEpisode struct {
	client string
	last   time.Time
}

func newEpisodeLimiter(maxPerClient int, ttl time.Duration) *episodeLimiter {
	return &episodeLimiter{max: maxPerClient, ttl: ttl, now: time.Now, streams: map[string]int{}, created: map[string]*createdEpisode{}}
}

func (l *episodeLimiter) acquire(client string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.streams[client]
	now := l.now()
	for id, e := range l.created {
		if l.ttl > 0 && now.Sub(e.last) > l.ttl {
			delete(l.created, id)
			continue
		}
		if e.client == client {
			n++
		}
	}
	if n >= l.max {
		return status.Errorf(codes.ResourceExhausted,
			"client %s already holds %d open canvas episodes, the most this server allows per client (open Interact streams plus CreateEpisode episodes not yet closed): end an Interact stream or call CloseEpisode first, or ask the server's operator to raise `flowsteer serve --max-client-episodes`",
			client, l.max)
	}
	l.streams[client]++
	return nil
}

func (l *episodeLimiter) releaseLocked(client string) {
	if l.streams[client] <= 1 {
		delete(l.streams, client)
	} else {
		l.streams[client]--
	}
}

func (l *episodeLimiter) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseLocked(client)
}

type episodeRequest interface{ GetEpisodeId() string }

func (l *episodeLimiter) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	switch info.FullMethod {
	case pb.CanvasService_CreateEpisode_FullMethodName:
		client := clientKey(ctx)
		if err := l.acquire(client); err != nil {
			return nil, err
		}
		resp, err := h(ctx, req)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.releaseLocked(client)
		if r, ok := resp.(*pb.CreateEpisodeResponse); ok && err == nil {
			if id := r.GetObservation().GetEpisodeId(); id != "" {
				l.created[id] = &createdEpisode{client: client, last: l.now()}
			}
		}
		return resp, err
	case pb.CanvasService_CloseEpisode_FullMethodName, pb.CanvasService_Step_FullMethodName, pb.CanvasService_GetEpisode_FullMethodName:
		resp, err := h(ctx, req)
		if r, ok := req.(episodeRequest); ok {
			l.mu.Lock()
			defer l.mu.Unlock()
			id := r.GetEpisodeId()
			closing := info.FullMethod == pb.CanvasService_CloseEpisode_FullMethodName && err == nil
			if closing || status.Code(err) == codes.NotFound {
				delete(l.created, id)
			} else if e, ok := l.created[id]; ok {
				e.last = l.now()
			}
		}
		return resp, err
	}
	return h(ctx, req)
}

func (l *episodeLimiter) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if info.FullMethod != pb.CanvasService_Interact_FullMethodName {
		return h(srv, ss)
	}
	client := clientKey(ss.Context())
	if err := l.acquire(client); err != nil {
		return err
	}
	defer l.release(client)
	return h(srv, ss)
}
