package canvas_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
)

// harness runs a canvas service over bufconn.
type harness struct {
	client *flowsteer.Client
	conn   *grpc.ClientConn
	svc    *canvassvc.Service
}

func start(t *testing.T, opts ...canvas.Option) *harness {
	t.Helper()
	return serve(t, canvas.New(opts...))
}

// serve serves cv the way `flowsteer serve` does (server.New with the
// service's validators) over bufconn.
func serve(t *testing.T, cv *canvas.Canvas) *harness {
	t.Helper()
	v := server.Validators{}
	canvassvc.AddValidators(v)
	svc := canvassvc.New(cv)
	conn := servertest.Bufconn(t, server.Options{Logger: servertest.Discard(), Validators: v}, func(s *server.Server) {
		canvassvc.Register(s, svc)
	})
	return &harness{client: flowsteer.New(conn), conn: conn, svc: svc}
}

// open opens an episode of mathTask over Interact; its stream closes at
// the end of the test.
func (h *harness) open(t *testing.T, c context.Context) *flowsteer.Episode {
	t.Helper()
	ep, err := h.client.Open(c, mathTask())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	return ep
}

func mathTask() *pb.Task {
	return &pb.Task{Id: "t1", Family: pb.TaskFamily_TASK_FAMILY_MATH, Question: "What is 6 times 7?", Answers: []string{"42"}, Distractors: []string{"48"}}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestDrainEndsStreamsAfterTheirTurn(t *testing.T) {
	h := start(t)
	c := ctx(t)
	ep := h.open(t, c)
	h.svc.Drain()
	_, err := ep.Step(c, flowsteer.Text("<action>add</action><operator>Custom</operator>"))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("step while draining: %v, want Unavailable naming resume", err)
	}
}
