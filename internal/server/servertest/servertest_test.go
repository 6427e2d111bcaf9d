package servertest_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
)

func healthy(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", r, err)
	}
}

func TestBufconnAndLoopbackServe(t *testing.T) {
	registered := 0
	register := func(*server.Server) { registered++ }
	healthy(t, servertest.Bufconn(t, server.Options{Logger: servertest.Discard()}, register))
	addr := servertest.Loopback(t, server.Options{Logger: servertest.Discard()}, register)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	healthy(t, conn)
	if registered != 2 {
		t.Fatalf("register ran %d times, want 2", registered)
	}
}

func TestWithInvalidUTF8(t *testing.T) {
	m := &pb.CreateEpisodeRequest{Task: &pb.Task{Id: "t1", Question: "q"}}
	raw := servertest.WithInvalidUTF8(t, m, "task", "question")
	err := proto.Unmarshal(raw, &pb.CreateEpisodeRequest{})
	if err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("unmarshal: %v, want an invalid UTF-8 error", err)
	}
	var got pb.CreateEpisodeRequest
	if err := proto.Unmarshal(raw[:proto.Size(m)], &got); err != nil || !proto.Equal(&got, m) {
		t.Fatalf("the message before the appended field: %v %v", &got, err)
	}
	b, err := servertest.RawCodec{}.Marshal(raw)
	if err != nil || string(b.Materialize()) != string(raw) {
		t.Fatalf("RawCodec changed a RawMsg: %v", err)
	}
}

func TestRecvAll(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name  string
		items []error
		want  error
	}{
		{"ends cleanly", []error{nil, nil, io.EOF}, nil},
		{"ends with an error", []error{nil, boom}, boom},
		{"ends at once", []error{io.EOF}, nil},
	} {
		i := 0
		got := servertest.RecvAll(func() (int, error) { err := tc.items[i]; i++; return i, err })
		if !errors.Is(got, tc.want) || i != len(tc.items) {
			t.Errorf("%s: RecvAll = %v after %d reads, want %v after %d", tc.name, got, i, tc.want, len(tc.items))
		}
	}
}

func TestCheckRefusals(t *testing.T) {
	ran := 0
	servertest.CheckRefusals(t, []servertest.Refusal{
		{"refused", func(context.Context) error { return status.Error(codes.InvalidArgument, "x is required") }, codes.InvalidArgument},
		{"answered", func(context.Context) error { return nil }, codes.OK},
	}, func(*testing.T) { ran++ })
	if ran != 2 {
		t.Errorf("after ran %d times, want 2", ran)
	}
}

func TestStreamErrReturnsTheServersError(t *testing.T) {
	conn := servertest.Bufconn(t, server.Options{Logger: servertest.Discard()}, func(*server.Server) {})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := servertest.StreamErr(ctx, conn, "/flowsteer.v1.CanvasService/Interact", &pb.InteractResponse{}, &pb.InteractRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("StreamErr on a server without the service: %v, want Unimplemented", err)
	}
}
