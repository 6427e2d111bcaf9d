package servertest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
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
