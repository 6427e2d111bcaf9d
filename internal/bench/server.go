package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/system"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
)

// Served is a canvas service on loopback TCP, assembled the way `flowsteer
// serve` assembles its canvas: system.Build, the store's sweeper, the
// canvas validators and service on a server.New server (logging, panic
// recovery, validation, stats handler, limits), and a graceful stop.
type Served struct {
	Addr string
	Sys  *system.System

	stop context.CancelFunc
	wg   sync.WaitGroup
	err  error
}

// ServeOptions tune StartCanvas.
type ServeOptions struct {
	// Logger receives the server's logs (nil = discarded).
	Logger *slog.Logger
	// Grace is the graceful stop's wait for in-flight calls (default 5s).
	Grace time.Duration
	// SweepEvery is the store sweeper's interval (default: a quarter of
	// the store's idle TTL, at most a minute, as serve does).
	SweepEvery time.Duration
	// Listener replaces the loopback TCP listener (e.g. a bufconn).
	Listener net.Listener
}

// StartCanvas builds a system from o and serves its canvas on
// 127.0.0.1:0 (or so.Listener) until Stop (or ctx's end).
func StartCanvas(ctx context.Context, o system.Options, so ServeOptions) (*Served, error) {
	sys, err := system.Build(o)
	if err != nil {
		return nil, err
	}
	log := so.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if so.Grace <= 0 {
		so.Grace = 5 * time.Second
	}
	if so.SweepEvery <= 0 {
		ttl := o.Store.IdleTTL
		if ttl <= 0 {
			ttl = 30 * time.Minute
		}
		so.SweepEvery = min(ttl/4, time.Minute)
	}
	v := server.Validators{}
	canvassvc.AddValidators(v)
	srv := server.New(server.Options{Logger: log, Validators: v})
	canvassvc.Register(srv, canvassvc.New(sys.Canvas))
	lis := so.Listener
	if lis == nil {
		if lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("listen on loopback: %w", err)
		}
	}
	sctx, stop := context.WithCancel(ctx)
	s := &Served{Addr: lis.Addr().String(), Sys: sys, stop: stop}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		sys.Store.Run(sctx, so.SweepEvery)
	}()
	go func() {
		defer s.wg.Done()
		s.err = srv.Serve(sctx, lis, so.Grace)
	}()
	return s, nil
}

// StartDialled is StartCanvas with a client dialled to it over loopback
// gRPC; stop closes the client and stops the server.
func StartDialled(ctx context.Context, o system.Options) (srv *Served, cl *flowsteer.Client, stop func(), err error) {
	if srv, err = StartCanvas(ctx, o, ServeOptions{}); err != nil {
		return nil, nil, nil, err
	}
	if cl, err = flowsteer.Dial(srv.Addr); err != nil {
		srv.Stop()
		return nil, nil, nil, err
	}
	return srv, cl, func() { cl.Close(); srv.Stop() }, nil
}

// Stop stops the server gracefully and waits for its goroutines.
func (s *Served) Stop() error {
	s.stop()
	s.wg.Wait()
	return s.err
}

// Latency summarises a set of durations, in microseconds.
type Latency struct {
	N      int     `json:"n"`
	P50us  float64 `json:"p50_us"`
	P99us  float64 `json:"p99_us"`
	MeanUs float64 `json:"mean_us"`
}

func summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return Latency{N: len(s), P50us: us(quantile(s, 0.50)), P99us: us(quantile(s, 0.99)), MeanUs: us(sum) / float64(len(s))}
}

// quantile is the nearest-rank quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
