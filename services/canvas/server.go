// Package canvas serves the Canvas gRPC service over the domain canvas
// (internal/canvas): messages are converted by internal/protoconv, and the
// status code of every error is picked at this edge. One job a file:
//
//   - server.go: the service, its registration and its graceful stop (drain)
//   - validate.go: request checks run before a handler (AddValidators)
//   - status.go: domain error -> gRPC status code
//   - episodes.go: the unary episode RPCs (CreateEpisode, Step, GetEpisode,
//     CloseEpisode) and the paging of long episode records
//   - interact.go: the Interact stream that plays one episode
//   - workflow.go: ListOperators and RunWorkflow, which need no episode
package canvas

import (
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/server"
)

// Service implements pb.CanvasServiceServer.
type Service struct {
	pb.UnimplementedCanvasServiceServer
	c *canvas.Canvas

	drainOnce sync.Once
	drain     chan struct{}
}

// New wraps a canvas.
func New(c *canvas.Canvas) *Service { return &Service{c: c, drain: make(chan struct{})} }

// Register adds the service, its validators and its drain hook to s.
func Register(s *server.Server, svc *Service) {
	pb.RegisterCanvasServiceServer(s.GRPC, svc)
	s.OnDrain(svc.Drain)
}

// Drain starts a graceful stop (the server calls it once health already
// reports NOT_SERVING, so balancing clients stop picking this replica):
// new episodes (CreateEpisode, Interact open or resume) are refused with
// Unavailable, and open Interact streams end with Unavailable after their
// current turn, which finishes. Episodes live in this process's memory, so
// a client plays a lost episode again on another replica; the trainer does
// that on its own (rollout.retries).
func (s *Service) Drain() { s.drainOnce.Do(func() { close(s.drain) }) }

func (s *Service) draining() bool {
	select {
	case <-s.drain:
		return true
	default:
		return false
	}
}

// errDraining refuses a new episode during a graceful stop.
var errDraining = status.Error(codes.Unavailable,
	"this canvas is shutting down and takes no new episodes: open the episode on another canvas replica (a balancing client such as flowsteer.DialBalanced moves to the next one by itself)")
