package server_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
)

type canvas struct {
	pb.UnimplementedCanvasServiceServer
}

func (canvas) ListOperators(context.Context, *pb.ListOperatorsRequest) (*pb.ListOperatorsResponse, error) {
	return &pb.ListOperatorsResponse{}, nil
}

// The guard runs before validation (an unauthenticated caller learns
// nothing about its request) and before the extra interceptors; without a
// guard the server behaves as before.
func TestGuardRunsBeforeValidation(t *testing.T) {
	deny := func(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) {
		return nil, status.Error(codes.Unauthenticated, "denied")
	}
	allow := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(ctx, req)
	}
	cases := []struct {
		name  string
		guard []grpc.UnaryServerInterceptor
		want  codes.Code
	}{
		{"no guard: validation answers", nil, codes.InvalidArgument},
		{"guard that allows: validation answers", []grpc.UnaryServerInterceptor{allow}, codes.InvalidArgument},
		{"guard that denies: validation never runs", []grpc.UnaryServerInterceptor{deny}, codes.Unauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := server.Validators{}
			server.Add(v, func(*pb.ListOperatorsRequest) error { return errors.New("library: always wrong") })
			var extraRan atomic.Bool
			extra := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				extraRan.Store(true)
				return h(ctx, req)
			}
			conn := servertest.Bufconn(t, server.Options{Validators: v, GuardUnary: tc.guard, ExtraUnary: []grpc.UnaryServerInterceptor{extra}},
				func(s *server.Server) { pb.RegisterCanvasServiceServer(s.GRPC, canvas{}) })
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer ccancel()
			_, err := pb.NewCanvasServiceClient(conn).ListOperators(cctx, &pb.ListOperatorsRequest{})
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code %v (%v), want %v", got, err, tc.want)
			}
			if extraRan.Load() {
				t.Error("an extra interceptor ran before the guard or validation rejected the call")
			}
		})
	}
}
