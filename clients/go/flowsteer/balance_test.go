package flowsteer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/server"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
)

// replica is a canvas server on a loopback port.
type replica struct {
	addr string
	srv  *server.Server
	svc  *canvassvc.Service
}

func startReplicas(t *testing.T, n int) []*replica {
	t.Helper()
	var out []*replica
	for range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		v := server.Validators{}
		canvassvc.AddValidators(v)
		s := server.New(server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Validators: v})
		svc := canvassvc.New(canvas.New())
		canvassvc.Register(s, svc)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, lis, time.Second) }()
		t.Cleanup(func() { cancel(); <-done })
		out = append(out, &replica{addr: lis.Addr().String(), srv: s, svc: svc})
	}
	return out
}

func task() *pb.Task {
	return &pb.Task{Family: pb.TaskFamily_TASK_FAMILY_MATH, Question: "What is 6*7?", Answers: []string{"42"}}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openOn opens an episode and returns the replica that serves it.
func openOn(t *testing.T, ctx context.Context, c *flowsteer.Client) string {
	t.Helper()
	ep, err := c.Open(ctx, task())
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if ep.Peer() == "" {
		t.Fatal("episode without a peer")
	}
	return ep.Peer()
}

// waitSpread opens episodes until every address in want has served one:
// the balancer's subchannels connect one by one at first.
func waitSpread(t *testing.T, ctx context.Context, c *flowsteer.Client, want ...string) {
	t.Helper()
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		seen[openOn(t, ctx, c)] = true
		all := true
		for _, w := range want {
			all = all && seen[w]
		}
		if all {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("episodes reached %v only, want %v", seen, want)
}

func TestDialBalancedSpreadsEpisodesEvenly(t *testing.T) {
	rs := startReplicas(t, 3)
	ctx := testCtx(t)
	// A list, as entries and comma-separated.
	c, err := flowsteer.DialBalanced([]string{rs[0].addr, rs[1].addr + "," + rs[2].addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitSpread(t, ctx, c, rs[0].addr, rs[1].addr, rs[2].addr)
	// With every replica ready, round robin gives each the same share;
	// the episodes stay open, each on its own stream.
	count := map[string]int{}
	var eps []*flowsteer.Episode
	for range 12 {
		ep, err := c.Open(ctx, task())
		if err != nil {
			t.Fatal(err)
		}
		eps = append(eps, ep)
		count[ep.Peer()]++
	}
	for _, r := range rs {
		if count[r.addr] != 4 {
			t.Errorf("episodes per replica %v, want 4 each", count)
			break
		}
	}
	// Each episode keeps its replica for every turn.
	for _, ep := range eps {
		o, err := ep.Step(ctx, flowsteer.Text("<action>add</action><operator>Custom</operator>"))
		if err != nil || o.GetEpisodeId() != ep.ID() || o.GetTurn() != 1 {
			t.Fatalf("step on %s: %v %v", ep.Peer(), err, o)
		}
		ep.Close()
	}
}

func TestDialBalancedAvoidsReplicasThatAreNotServing(t *testing.T) {
	rs := startReplicas(t, 3)
	ctx := testCtx(t)
	c, err := flowsteer.DialBalanced([]string{rs[0].addr, rs[1].addr, rs[2].addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitSpread(t, ctx, c, rs[0].addr, rs[1].addr, rs[2].addr)
	rs[1].srv.Health.SetServingStatus(pb.CanvasService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	// The health watch reaches the client asynchronously: wait for six
	// opens in a row to avoid the replica; then every later one must.
	deadline := time.Now().Add(10 * time.Second)
	for streak := 0; streak < 6; {
		if time.Now().After(deadline) {
			t.Fatal("the balancer kept picking the NOT_SERVING replica")
		}
		if openOn(t, ctx, c) == rs[1].addr {
			streak = 0
			time.Sleep(5 * time.Millisecond)
			continue
		}
		streak++
	}
	for range 9 {
		if p := openOn(t, ctx, c); p == rs[1].addr {
			t.Fatalf("episode opened on %s, which reports NOT_SERVING", p)
		}
	}
	// Serving again: it gets episodes again.
	rs[1].srv.Health.SetServingStatus(pb.CanvasService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	waitSpread(t, ctx, c, rs[1].addr)
}

// A draining replica's refusal is retryable and names the replica.
func TestOpenErrorOfADrainingReplicaIsRetryableAndNamesIt(t *testing.T) {
	rs := startReplicas(t, 1)
	ctx := testCtx(t)
	c, err := flowsteer.Dial(rs[0].addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rs[0].svc.Drain()
	_, err = c.Open(ctx, task())
	if status.Code(err) != codes.Unavailable || !flowsteer.Retryable(err) {
		t.Fatalf("open on a draining canvas: %v, want a retryable Unavailable", err)
	}
	if got := flowsteer.PeerOf(err); got != rs[0].addr {
		t.Errorf("PeerOf = %q, want %s", got, rs[0].addr)
	}
	// The wrapper changes neither the text nor the status.
	if s, ok := status.FromError(err); !ok || !strings.HasPrefix(err.Error(), "rpc error: code = Unavailable") || s.Code() != codes.Unavailable {
		t.Errorf("error %q (status %v)", err, s)
	}
	// A bad request is not retryable, and names its replica too.
	_, err = c.Open(ctx, &pb.Task{Question: "no family"})
	if status.Code(err) != codes.InvalidArgument || flowsteer.Retryable(err) || flowsteer.PeerOf(err) != rs[0].addr {
		t.Errorf("invalid open: %v, retryable %v, peer %q", err, flowsteer.Retryable(err), flowsteer.PeerOf(err))
	}
}

func TestRetryableClassifiesErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{status.Error(codes.Unavailable, "connection refused"), true},
		{fmt.Errorf("canvas step 3: %w", status.Error(codes.Unavailable, "error reading from server: EOF")), true},
		{status.Error(codes.Internal, "stream terminated by RST_STREAM with error code: PROTOCOL_ERROR"), true},
		{status.Error(codes.Internal, "internal error: the server recovered from a panic"), false},
		{status.Error(codes.InvalidArgument, "task.family is required"), false},
		{status.Error(codes.NotFound, "no episode"), false},
		{status.Error(codes.FailedPrecondition, "episode is done"), false},
		{status.Error(codes.DeadlineExceeded, "deadline"), false},
		{status.Error(codes.Canceled, "canceled"), false},
		{context.Canceled, false},
		{errors.New("unavailable, but not a status"), false},
	} {
		if got := flowsteer.Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestBalancedConnChecksTargets(t *testing.T) {
	for _, tc := range []struct {
		targets []string
		want    string // "" = accepted
	}{
		{[]string{"127.0.0.1:1"}, ""},
		{[]string{"dns:///canvas.internal:50051"}, ""},
		{[]string{"unix:///tmp/canvas.sock"}, ""},
		{[]string{"127.0.0.1:1", "127.0.0.1:2"}, ""},
		{[]string{" 127.0.0.1:1 , 127.0.0.1:2 ", ""}, ""},
		{[]string{"[::1]:1", "localhost:2"}, ""},
		{nil, "no address given"},
		{[]string{" ", ","}, "no address given"},
		{[]string{"127.0.0.1:1", "dns:///x:1"}, "a list holds host:port entries only"},
		{[]string{"127.0.0.1:1", "nohost"}, `address "nohost": want host:port`},
		{[]string{"127.0.0.1:1", "127.0.0.1:"}, "want host:port"},
		{[]string{"127.0.0.1:1", "127.0.0.1:1"}, "listed twice"},
	} {
		conn, err := flowsteer.BalancedConn(pb.CanvasService_ServiceDesc.ServiceName, tc.targets)
		if err == nil {
			conn.Close()
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("BalancedConn(%q): %v", tc.targets, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("BalancedConn(%q) = %v, want an error saying %q", tc.targets, err, tc.want)
		}
	}
	if got := flowsteer.ServiceConfig("flowsteer.v1.CanvasService"); !strings.Contains(got, `"round_robin"`) || !strings.Contains(got, `"healthCheckConfig":{"serviceName":"flowsteer.v1.CanvasService"}`) {
		t.Errorf("service config %s", got)
	}
}

// Concurrent opens over a balanced client are safe and all land.
func TestDialBalancedConcurrentOpens(t *testing.T) {
	rs := startReplicas(t, 2)
	ctx := testCtx(t)
	c, err := flowsteer.DialBalanced([]string{rs[0].addr, rs[1].addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			ep, err := c.Open(ctx, task())
			if err != nil {
				errs <- err
				return
			}
			errs <- ep.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
