package auth

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// Created episodes stop counting when the canvas would have expired them
// or when the canvas says it no longer has them.
func TestEpisodeLimiterForgets(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newEpisodeLimiter(1, time.Minute)
	l.now = func() time.Time { return now }
	ctx := NewContext(context.Background(), Identity{Kind: KindToken, Name: "alice"})
	n := 0
	create := func() (string, error) {
		n++
		id := string(rune('a' + n))
		_, err := l.unary(ctx, &pb.CreateEpisodeRequest{}, &grpc.UnaryServerInfo{FullMethod: pb.CanvasService_CreateEpisode_FullMethodName},
			func(context.Context, any) (any, error) {
				return &pb.CreateEpisodeResponse{Observation: &pb.Observation{EpisodeId: id}}, nil
			})
		return id, err
	}
	call := func(method, id string, answer error) {
		_, _ = l.unary(ctx, &pb.StepRequest{EpisodeId: id}, &grpc.UnaryServerInfo{FullMethod: method},
			func(context.Context, any) (any, error) { return nil, answer })
	}
	steps := []struct {
		name    string
		before  func(id string)
		wantErr codes.Code
	}{
		{name: "a Step keeps the episode alive", before: func(id string) {
			now = now.Add(50 * time.Second)
			call(pb.CanvasService_Step_FullMethodName, id, nil)
			now = now.Add(50 * time.Second)
		}, wantErr: codes.ResourceExhausted},
		{name: "idle past the TTL: expired", before: func(string) { now = now.Add(61 * time.Second) }, wantErr: codes.OK},
		{name: "NotFound from the canvas: forgotten", before: func(id string) {
			call(pb.CanvasService_GetEpisode_FullMethodName, id, status.Error(codes.NotFound, "gone"))
		}, wantErr: codes.OK},
		{name: "a failed CloseEpisode keeps it", before: func(id string) {
			call(pb.CanvasService_CloseEpisode_FullMethodName, id, status.Error(codes.Unavailable, "try again"))
		}, wantErr: codes.ResourceExhausted},
	}
	id, err := create()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		st.before(id)
		next, err := create()
		if got := status.Code(err); got != st.wantErr {
			t.Fatalf("%s: code %v (%v), want %v", st.name, got, err, st.wantErr)
		}
		if err == nil {
			id = next
		}
	}
}
