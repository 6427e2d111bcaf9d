// Package server builds the gRPC servers every flowsteer service runs in:
// structured logging through log/slog and panic recovery
// (go-grpc-middleware v2), request validation, OpenTelemetry's stats
// handler, health and reflection, deliberate keepalive and message-size
// limits, and a graceful stop that lets in-flight turns finish.
//
// Status codes of malformed requests: a message over MaxRecvBytes is
// ResourceExhausted (grpc-go's own check); a message that does not decode,
// such as invalid UTF-8 in a proto3 string field, would be Internal in
// grpc-go ("failed to unmarshal"), so requestCodec and the validation
// interceptor make it InvalidArgument naming the field; a request the
// services' Validators refuse is InvalidArgument naming the field.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// Limits chosen on purpose: observations of long episodes and training
// batches (36 episodes x 20 decisions with token ids) stay far below
// 16 MiB, while a hostile client cannot make the server buffer more.
const (
	MaxRecvBytes = 16 << 20
	MaxSendBytes = 32 << 20
	// MaxStreams bounds concurrent streams per connection; a trainer runs
	// one Interact stream per episode of a group (36 by default).
	MaxStreams = 1024
)

// Options configure New.
type Options struct {
	Logger *slog.Logger
	// Validators check requests before handlers run (see Validators).
	Validators Validators
	// GuardUnary and GuardStream run right after logging and recovery,
	// before validation: authentication and per-client limits
	// (internal/auth), so unauthenticated calls reach nothing else and
	// their rejections are logged.
	GuardUnary  []grpc.UnaryServerInterceptor
	GuardStream []grpc.StreamServerInterceptor
	// ExtraUnary and ExtraStream run after logging, recovery, guard and validation.
	ExtraUnary  []grpc.UnaryServerInterceptor
	ExtraStream []grpc.StreamServerInterceptor
	ServerOpts  []grpc.ServerOption
}

// Server is a gRPC server with health checking and a graceful stop.
type Server struct {
	GRPC   *grpc.Server
	Health *health.Server
	log    *slog.Logger

	mu       sync.Mutex
	drainers []func()
}

// New builds a server. Register services on s.GRPC, then Serve.
func New(o Options) *Server {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	lg := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	logOpts := []logging.Option{logging.WithLogOnEvents(logging.FinishCall)}
	rec := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error: the server recovered from a panic; it was logged")
	})
	unary := []grpc.UnaryServerInterceptor{
		logging.UnaryServerInterceptor(lg, logOpts...),
		recovery.UnaryServerInterceptor(rec),
	}
	unary = append(append(append(unary, o.GuardUnary...), o.Validators.Unary()), o.ExtraUnary...)
	stream := []grpc.StreamServerInterceptor{
		logging.StreamServerInterceptor(lg, logOpts...),
		recovery.StreamServerInterceptor(rec),
	}
	stream = append(append(append(stream, o.GuardStream...), o.Validators.Stream()), o.ExtraStream...)
	opts := append([]grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler()),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(MaxRecvBytes),
		grpc.MaxSendMsgSize(MaxSendBytes),
		grpc.MaxConcurrentStreams(MaxStreams),
		// Requests that do not decode become InvalidArgument instead of
		// grpc-go's Internal (see requestCodec).
		grpc.ForceServerCodecV2(newRequestCodec()),
		// Episodes idle for minutes between turns while a slow executor
		// runs are normal, so connections are kept; pings are allowed often
		// enough for clients behind NATs and load balancers.
		// MaxConnectionAge sends clients a GOAWAY after a while (streams
		// in flight finish: the grace is unbounded), so balancing clients
		// re-resolve DNS and pick up canvas replicas added since they
		// connected.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Minute, Timeout: 20 * time.Second, MaxConnectionAge: 5 * time.Minute}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}, o.ServerOpts...)
	g := grpc.NewServer(opts...)
	h := health.NewServer()
	healthpb.RegisterHealthServer(g, h)
	reflection.Register(g)
	return &Server{GRPC: g, Health: h, log: log}
}

// OnDrain registers a function called when a graceful stop begins, before
// waiting for handlers: long-lived streams use it to end after their
// current turn.
func (s *Server) OnDrain(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainers = append(s.drainers, f)
}

// SetServing marks every registered service (and the server) serving.
func (s *Server) SetServing() {
	for name := range s.GRPC.GetServiceInfo() {
		s.Health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
}

// Serve serves on lis until ctx is done, then stops gracefully: health
// reports NOT_SERVING, drainers run, in-flight calls get up to grace to
// finish, and remaining ones are cut.
func (s *Server) Serve(ctx context.Context, lis net.Listener, grace time.Duration) error {
	s.SetServing()
	errc := make(chan error, 1)
	go func() { errc <- s.GRPC.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: finishing in-flight turns", "grace", grace.String())
	s.Health.Shutdown()
	s.mu.Lock()
	for _, d := range s.drainers {
		d()
	}
	s.mu.Unlock()
	stopped := make(chan struct{})
	go func() { s.GRPC.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(grace):
		s.log.Warn("grace period over: closing remaining calls")
		s.GRPC.Stop()
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}
