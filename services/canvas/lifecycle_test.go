package canvas_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
)

func wantCode(t *testing.T, what string, err error, code codes.Code, texts ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
	for _, s := range texts {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("%s: %q does not say %q", what, err.Error(), s)
		}
	}
}

func storeOf(t *testing.T, cfg canvas.StoreConfig) *canvas.MemoryStore {
	t.Helper()
	st, err := canvas.NewMemoryStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A client that disconnects mid-episode resumes it by id within the grace
// and continues the same episode; once the grace is over, resume answers
// NotFound saying the episode expired.
func TestResumeWithinGraceThenExpired(t *testing.T) {
	const grace = 40 * time.Millisecond
	st := storeOf(t, canvas.StoreConfig{MaxEpisodes: 10, IdleTTL: time.Hour, ResumeGrace: grace})
	h := start(t, canvas.WithStore(st))
	c := ctx(t)
	id := disconnectAfterOneTurn(t, h, c)
	again := resumeAndPlay(t, h, c, id)
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(grace + 30*time.Millisecond)
	_, err := h.client.Resume(c, id)
	wantCode(t, "resume after the grace", err, codes.NotFound, id, "expired", "resume grace period of 40ms")
	if st.Len() != 0 {
		t.Errorf("the expired episode is still stored (Len %d)", st.Len())
	}
}

// An episode driven by an open stream does not expire however long the
// policy thinks; without a stream it would.
func TestOpenStreamKeepsItsEpisode(t *testing.T) {
	st := storeOf(t, canvas.StoreConfig{MaxEpisodes: 10, IdleTTL: 20 * time.Millisecond, ResumeGrace: 20 * time.Millisecond})
	h := start(t, canvas.WithStore(st))
	c := ctx(t)
	ep := h.open(t, c)
	unary, err := h.client.Canvas.CreateEpisode(c, &pb.CreateEpisodeRequest{Task: mathTask()})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // past the idle TTL and the grace
	if n := st.Sweep(); n != 1 {
		t.Fatalf("Sweep = %d, want 1 (the unary episode only)", n)
	}
	if _, err := h.client.GetEpisode(c, ep.ID(), false); err != nil {
		t.Fatalf("the streamed episode expired while its stream was open: %v", err)
	}
	if obs, err := ep.Step(c, flowsteer.Text("<action>add</action><operator>Custom</operator>")); err != nil || !obs.GetValid() {
		t.Fatalf("step: %v %v", err, obs)
	}
	_, err = h.client.GetEpisode(c, unary.GetObservation().GetEpisodeId(), false)
	wantCode(t, "idle unary episode", err, codes.NotFound, "idle")
}

// While draining, a canvas refuses new episodes with Unavailable and an
// actionable message; an open stream ends after its turn.
func TestDrainRefusesNewEpisodes(t *testing.T) {
	h := start(t)
	c := ctx(t)
	ep := h.open(t, c)
	id := ep.ID()
	h.svc.Drain()
	_, err := h.client.Open(c, mathTask())
	wantCode(t, "open while draining", err, codes.Unavailable, "shutting down", "takes no new episodes", "another canvas replica")
	_, err = h.client.Canvas.CreateEpisode(c, &pb.CreateEpisodeRequest{Task: mathTask()})
	wantCode(t, "CreateEpisode while draining", err, codes.Unavailable, "takes no new episodes")
	_, err = h.client.Resume(c, id)
	wantCode(t, "resume while draining", err, codes.Unavailable, id, "cannot be resumed on another canvas")
	_, err = ep.Step(c, flowsteer.Text("<action>add</action><operator>Custom</operator>"))
	wantCode(t, "step on an open stream while draining", err, codes.Unavailable, id, "new episode on another replica")
	// Reads of existing episodes still answer.
	if _, err := h.client.GetEpisode(c, id, false); err != nil {
		t.Fatalf("GetEpisode while draining: %v", err)
	}
}

// A graceful stop reports NOT_SERVING to health watchers (what a balancing
// client acts on) and then drains: the turn in flight completes, the
// stream ends with Unavailable.
func TestGracefulStopReportsNotServingThenDrains(t *testing.T) {
	lis := bufconn.Listen(1 << 20)
	v := server.Validators{}
	canvassvc.AddValidators(v)
	s := server.New(server.Options{Logger: servertest.Discard(), Validators: v})
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	canvassvc.Register(s, canvassvc.New(canvas.New(canvas.WithExecutor(slowExec{entered: entered, release: release}))))
	drained := make(chan struct{}) // drainers run in order: the canvas's first
	s.OnDrain(func() { close(drained) })
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(sctx, lis, 5*time.Second) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := ctx(t)
	wctx, endWatch := context.WithCancel(c)
	defer endWatch()
	watch, err := healthpb.NewHealthClient(conn).Watch(wctx, &healthpb.HealthCheckRequest{Service: pb.CanvasService_ServiceDesc.ServiceName})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health before the stop: %v %v", r, err)
	}
	client := flowsteer.New(conn)
	ep, err := client.Open(c, mathTask())
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	// A complete single-node workflow runs the (slow) executor: the turn
	// is in flight when the stop begins.
	type result struct {
		obs *pb.Observation
		err error
	}
	turn := make(chan result, 1)
	go func() {
		o, err := ep.Step(c, flowsteer.Text("<action>add</action><operator>Custom</operator><prompt>Answer.</prompt>"))
		turn <- result{o, err}
	}()
	select {
	case <-entered:
	case <-c.Done():
		t.Fatal("the turn never reached the executor")
	}
	stop()
	if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health after the stop began: %v %v, want NOT_SERVING", r, err)
	}
	endWatch() // a balancing client drops its watch when the connection goes away
	<-drained
	close(release)
	r := <-turn
	if r.err != nil || r.obs.GetTurn() != 1 {
		t.Fatalf("the turn in flight did not complete: %v %v", r.err, r.obs)
	}
	_, err = ep.Step(c, flowsteer.Text("<action>finish</action>"))
	wantCode(t, "next turn after the stop began", err, codes.Unavailable, "shutting down")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not stop after its streams drained")
	}
}

// slowExec blocks each workflow run until release is closed.
type slowExec struct {
	entered chan struct{}
	release chan struct{}
}

func (x slowExec) Execute(ctx context.Context, _ canvas.ExecRequest) (canvas.Execution, error) {
	select {
	case x.entered <- struct{}{}:
	default:
	}
	select {
	case <-x.release:
	case <-ctx.Done():
		return canvas.Execution{}, ctx.Err()
	}
	return canvas.Execution{Executed: true, FinalAnswer: "42"}, nil
}
