// Package canvas serves the Canvas gRPC service: it translates between
// flowsteer.v1 messages and the domain canvas (internal/canvas) and picks
// the status code of every error at this edge.
package canvas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/auth"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/workflow"
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

// firstMessageWait bounds how long a draining canvas waits for the first
// message of a new stream before refusing it.
const firstMessageWait = time.Second

// errDraining refuses a new episode during a graceful stop.
var errDraining = status.Error(codes.Unavailable,
	"this canvas is shutting down and takes no new episodes: open the episode on another canvas replica (a balancing client such as flowsteer.DialBalanced moves to the next one by itself)")

// drainedStream ends an open stream at a graceful stop.
func drainedStream(id string) error {
	return status.Errorf(codes.Unavailable,
		"the canvas is shutting down: episode %s ended here after its last turn and cannot be resumed on another canvas (episodes live in one canvas's memory): play it again in a new episode on another replica", id)
}

// Limits on what a request may carry; larger inputs are refused with
// InvalidArgument before they reach the domain.
const (
	maxTextBytes = 64 << 10 // action text and structured fields, RunWorkflow prompts
)

// AddValidators registers request checks for this service's messages.
func AddValidators(v server.Validators) {
	server.Add(v, func(m *pb.CreateEpisodeRequest) error { return validateCreate("", m) })
	server.Add(v, func(m *pb.StepRequest) error {
		if err := requireID(m.GetEpisodeId()); err != nil {
			return err
		}
		return validateAction("action", m.GetAction())
	})
	server.Add(v, func(m *pb.GetEpisodeRequest) error {
		if m.GetTurnsFrom() < 0 {
			return fmt.Errorf("turns_from must be >= 0, got %d", m.GetTurnsFrom())
		}
		return requireID(m.GetEpisodeId())
	})
	server.Add(v, func(m *pb.CloseEpisodeRequest) error { return requireID(m.GetEpisodeId()) })
	server.Add(v, func(m *pb.InteractRequest) error {
		switch x := m.GetMsg().(type) {
		case *pb.InteractRequest_Open:
			return validateCreate("open.", x.Open)
		case *pb.InteractRequest_Resume:
			if err := requireID(x.Resume.GetEpisodeId()); err != nil {
				return fmt.Errorf("resume.%w", err)
			}
		case *pb.InteractRequest_Action:
			return validateAction("action", x.Action)
		default:
			return errors.New("msg is required: send open, resume or action")
		}
		return nil
	})
	server.Add(v, func(m *pb.RunWorkflowRequest) error {
		if blank(m.GetDsl()) {
			return errors.New("dsl is required")
		}
		if len(m.GetDsl()) > workflow.MaxTextBytes {
			return fmt.Errorf("dsl is %d bytes, at most %d", len(m.GetDsl()), workflow.MaxTextBytes)
		}
		for id, p := range m.GetPrompts() {
			if len(p) > maxTextBytes {
				return fmt.Errorf("prompts[%s] is %d bytes, at most %d", id, len(p), maxTextBytes)
			}
		}
		return protoconv.ValidateTask("task", m.GetTask())
	})
	server.Add(v, func(m *pb.ListOperatorsRequest) error {
		if f := m.GetFamily(); f != pb.TaskFamily_TASK_FAMILY_UNSPECIFIED && protoconv.FamilyFromPB(f) == "" {
			return fmt.Errorf("family has unknown value %d", f)
		}
		return nil
	})
}

// requireID refuses a missing id, and one longer than any id a canvas
// makes before any lookup (the id is not echoed back).
func requireID(id string) error {
	if blank(id) {
		return errors.New("episode_id is required")
	}
	if len(id) > canvas.MaxIDBytes {
		return fmt.Errorf("episode_id is %d bytes; episode ids are at most %d", len(id), canvas.MaxIDBytes)
	}
	return nil
}

func validateCreate(prefix string, m *pb.CreateEpisodeRequest) error {
	if err := protoconv.ValidateTask(prefix+"task", m.GetTask()); err != nil {
		return err
	}
	if c := m.GetConfig(); c != nil && c.MaxRounds != nil && (c.GetMaxRounds() < 1 || c.GetMaxRounds() > canvas.MaxRoundsLimit) {
		return fmt.Errorf("%sconfig.max_rounds must be in 1..%d, got %d", prefix, canvas.MaxRoundsLimit, c.GetMaxRounds())
	}
	return nil
}

// validateAction refuses only what no canvas could read (missing or huge);
// everything else about an action is canvas feedback, never an RPC error.
func validateAction(field string, a *pb.Action) error {
	if a == nil {
		return fmt.Errorf("%s is required", field)
	}
	if len(a.GetText()) > maxTextBytes {
		return fmt.Errorf("%s.text is %d bytes, at most %d", field, len(a.GetText()), maxTextBytes)
	}
	// A NUL byte in text is an invalid reply, canvas feedback like any
	// other (internal/canvas); in structured fields it is malformed input.
	if s := a.GetStructured(); s != nil && len(s.GetOperators()) > 64 {
		return fmt.Errorf("%s.structured.operators has %d entries, at most 64", field, len(s.GetOperators()))
	}
	if s := a.GetStructured(); s != nil {
		n := len(s.GetOperator()) + len(s.GetCondition()) + len(s.GetIfTrue()) + len(s.GetIfFalse()) + len(s.GetTarget()) +
			len(s.GetPrompt()) + len(s.GetAnswer()) + len(s.GetReasoning())
		for _, op := range s.GetOperators() {
			n += len(op)
		}
		if n > maxTextBytes {
			return fmt.Errorf("%s.structured holds %d bytes of text, at most %d", field, n, maxTextBytes)
		}
		for _, f := range append([]string{s.GetOperator(), s.GetCondition(), s.GetIfTrue(), s.GetIfFalse(), s.GetTarget(), s.GetPrompt(), s.GetAnswer(), s.GetReasoning()}, s.GetOperators()...) {
			if strings.IndexByte(f, 0) >= 0 {
				return fmt.Errorf("%s.structured holds a NUL byte", field)
			}
		}
	}
	return nil
}

// toStatus picks the status code for a domain error.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, canvas.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, canvas.ErrClosed), errors.Is(err, canvas.ErrDone):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, canvas.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, canvas.ErrExhausted):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func (s *Service) ListOperators(_ context.Context, req *pb.ListOperatorsRequest) (*pb.ListOperatorsResponse, error) {
	lib, err := s.c.Libraries().Get(req.GetLibrary())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "library: %v", err)
	}
	fam := protoconv.FamilyFromPB(req.GetFamily())
	out := &pb.ListOperatorsResponse{}
	for _, d := range lib.Defs() {
		out.Operators = append(out.Operators, protoconv.OperatorToPB(d, lib.Name(), fam == "" || d.EnabledFor(fam)))
	}
	return out, nil
}

func (s *Service) create(ctx context.Context, req *pb.CreateEpisodeRequest) (*canvas.Episode, canvas.Observation, error) {
	cfg, rw, err := protoconv.ConfigFromPB(req.GetConfig())
	if err != nil {
		return nil, canvas.Observation{}, status.Error(codes.InvalidArgument, err.Error())
	}
	t := protoconv.TaskFromPB(req.GetTask())
	e, obs, err := s.c.Create(canvas.WithOwner(ctx, auth.Tenant(ctx)), t, cfg, rw)
	return e, obs, toStatus(err)
}

// episode finds id for the caller: an episode of another tenant is
// NotFound with the very message of a missing one, so ids do not leak.
func (s *Service) episode(ctx context.Context, id string) (*canvas.Episode, error) {
	e, err := s.c.Get(id)
	if err != nil {
		return nil, toStatus(err)
	}
	if !auth.CanAccess(ctx, e.Owner()) {
		return nil, status.Errorf(codes.NotFound, "%v: no episode %q on this canvas", canvas.ErrNotFound, id)
	}
	return e, nil
}

func (s *Service) CreateEpisode(ctx context.Context, req *pb.CreateEpisodeRequest) (*pb.CreateEpisodeResponse, error) {
	if s.draining() {
		return nil, errDraining
	}
	_, obs, err := s.create(ctx, req)
	if err != nil {
		return nil, err
	}
	return &pb.CreateEpisodeResponse{Observation: protoconv.ObservationToPB(obs)}, nil
}

func (s *Service) Step(ctx context.Context, req *pb.StepRequest) (*pb.StepResponse, error) {
	e, err := s.episode(ctx, req.GetEpisodeId())
	if err != nil {
		return nil, err
	}
	obs, err := e.Step(ctx, protoconv.InputFromPB(req.GetAction()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.StepResponse{Observation: protoconv.ObservationToPB(obs)}, nil
}

func (s *Service) GetEpisode(ctx context.Context, req *pb.GetEpisodeRequest) (*pb.GetEpisodeResponse, error) {
	e, err := s.episode(ctx, req.GetEpisodeId())
	if err != nil {
		return nil, err
	}
	ep, next := pageTurns(protoconv.SnapshotToPB(e.Snapshot(req.GetIncludeTurns())), int(req.GetTurnsFrom()))
	return &pb.GetEpisodeResponse{Episode: ep, NextTurnsFrom: int32(next)}, nil
}

func (s *Service) CloseEpisode(ctx context.Context, req *pb.CloseEpisodeRequest) (*pb.CloseEpisodeResponse, error) {
	if _, err := s.episode(ctx, req.GetEpisodeId()); err != nil {
		return nil, err
	}
	snap, err := s.c.Close(ctx, req.GetEpisodeId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CloseEpisodeResponse{Episode: fitReply(protoconv.SnapshotToPB(snap))}, nil
}

// replyBudget leaves room under the server's send limit for the rest of
// the reply and gRPC's framing.
const replyBudget = server.MaxSendBytes - 1<<20

// fitReply keeps an episode record under the send limit by dropping its
// oldest turns (each Turn carries its number, so a reader sees where the
// history starts): a reply that cannot be sent would otherwise fail after
// its side effect (a CloseEpisode that closed the episode anyway).
func fitReply(ep *pb.Episode) *pb.Episode {
	size := proto.Size(ep)
	if size <= replyBudget {
		return ep
	}
	drop := 0
	for drop < len(ep.Turns) && size > replyBudget {
		size -= proto.Size(ep.Turns[drop]) + 8
		drop++
	}
	ep.Turns = ep.Turns[drop:]
	return ep
}

// pageTurns keeps the turns of ep from index from on that fit under the
// send limit, and returns the index where the next page starts (0: none),
// so a record of any size is read page by page (GetEpisode's turns_from).
// A page holds at least one turn, whatever its size (a turn is bounded by
// the request limits, far under the send limit).
func pageTurns(ep *pb.Episode, from int) (*pb.Episode, int) {
	turns := ep.Turns
	if from >= len(turns) {
		ep.Turns = nil
		return ep, 0
	}
	ep.Turns = nil
	size := proto.Size(ep)
	end := from
	for end < len(turns) {
		n := proto.Size(turns[end]) + 8 // field tag and length
		if end > from && size+n > replyBudget {
			break
		}
		size += n
		end++
	}
	ep.Turns = turns[from:end]
	if end < len(turns) {
		return ep, end
	}
	return ep, 0
}

// Interact plays one episode over a stream: open or resume first, then one
// observation per action. The stream ends when the client closes its side;
// actions after the episode is done get FailedPrecondition.
func (s *Service) Interact(stream grpc.BidiStreamingServer[pb.InteractRequest, pb.InteractResponse]) error {
	ctx := stream.Context()
	// Recv blocks, so a reader owned by this handler feeds a channel; it
	// ends when the stream does (Recv fails once the handler returns).
	msgs := make(chan *pb.InteractRequest)
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	// onDrain is what a graceful stop answers in place of the next message.
	onDrain := func() error { return errDraining }
	started := false // an episode is open on this stream
	next := func() (*pb.InteractRequest, error) {
		// Once a stop has begun, a started episode takes no further turn
		// even when its next action is already waiting: select would pick
		// between the two at random.
		if started && s.draining() {
			return nil, onDrain()
		}
		select {
		case m := <-msgs:
			return m, nil
		case err := <-errc:
			return nil, err
		case <-s.drain:
			if !started {
				// The first message is on its way (a client sends it as it
				// opens the stream): wait a moment for it, so an open or a
				// resume is answered for what it asks.
				wait := time.NewTimer(firstMessageWait)
				defer wait.Stop()
				select {
				case m := <-msgs:
					return m, nil
				case err := <-errc:
					return nil, err
				case <-wait.C:
				case <-ctx.Done():
				}
			}
			return nil, onDrain()
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}

	first, err := next()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	if s.draining() {
		if r := first.GetResume(); r != nil {
			return drainedStream(r.GetEpisodeId())
		}
		return errDraining
	}
	var ep *canvas.Episode
	var obs canvas.Observation
	switch x := first.GetMsg().(type) {
	case *pb.InteractRequest_Open:
		ep, obs, err = s.create(ctx, x.Open)
		if err != nil {
			return err
		}
	case *pb.InteractRequest_Resume:
		ep, err = s.episode(ctx, x.Resume.GetEpisodeId())
		if err != nil {
			return err
		}
		if ep.Snapshot(false).Closed {
			return status.Errorf(codes.FailedPrecondition, "episode %s is closed; open a new one", ep.ID())
		}
		obs = ep.Observe()
	default:
		return status.Error(codes.InvalidArgument, "the first message must be open or resume, not an action")
	}
	finished := obs.Done
	// While this stream is open the episode does not expire; when it ends
	// unfinished, the client has the store's resume grace to come back.
	if t, ok := s.c.Store().(canvas.StreamTracker); ok {
		detach, err := t.Attach(ep.ID())
		if err != nil {
			return toStatus(err)
		}
		defer func() { detach(!finished) }()
	}
	id := ep.ID()
	started = true
	onDrain = func() error { return drainedStream(id) }
	if err := stream.Send(&pb.InteractResponse{Observation: protoconv.ObservationToPB(obs)}); err != nil {
		return err
	}
	for {
		m, err := next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		a, ok := m.GetMsg().(*pb.InteractRequest_Action)
		if !ok {
			return status.Error(codes.InvalidArgument, "after open or resume, every message must be an action")
		}
		obs, err := ep.Step(turnContext(ctx, m.GetTraceContext()), protoconv.InputFromPB(a.Action))
		if err != nil {
			return toStatus(err)
		}
		finished = obs.Done
		if err := stream.Send(&pb.InteractResponse{Observation: protoconv.ObservationToPB(obs)}); err != nil {
			return err
		}
	}
}

// RunWorkflow runs a DSL workflow on a task and streams node events.
func (s *Service) RunWorkflow(req *pb.RunWorkflowRequest, stream grpc.ServerStreamingServer[pb.RunWorkflowResponse]) error {
	lib, err := s.c.Libraries().Get(req.GetLibrary())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "library: %v", err)
	}
	g, err := workflow.Parse(req.GetDsl(), lib)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "dsl: %v", err)
	}
	for id, p := range req.GetPrompts() {
		if err := g.SetPrompt(id, p); err != nil {
			return status.Errorf(codes.InvalidArgument, "prompts[%s]: %v", id, err)
		}
	}
	t := protoconv.TaskFromPB(req.GetTask())
	if err := canvas.ValidateTask(t); err != nil {
		return toStatus(err)
	}
	x := s.c.Executor()
	if x == nil {
		return status.Error(codes.FailedPrecondition, "this canvas has no executor configured, so workflows cannot be run; start it with an executor backend")
	}
	ctx := stream.Context()
	var sendErr error
	var mu sync.Mutex
	ex, err := x.Execute(ctx, canvas.ExecRequest{Graph: g.Clone(), Task: t, Library: lib, Backend: req.GetBackend(), OnNode: func(n canvas.NodeResult) {
		mu.Lock()
		defer mu.Unlock()
		if sendErr == nil {
			sendErr = stream.Send(&pb.RunWorkflowResponse{Event: &pb.RunWorkflowResponse_Node{Node: protoconv.NodeResultToPB(n)}})
		}
	}})
	if err != nil {
		return toStatus(err)
	}
	if sendErr != nil {
		return sendErr
	}
	res := &pb.RunWorkflowResult{Workflow: protoconv.WorkflowToPB(g), Execution: protoconv.ExecutionToPB(ex)}
	if req.GetScore() {
		sc := s.c.Scorer()
		if sc == nil {
			return status.Error(codes.FailedPrecondition, "score was asked for but this canvas has no scorer configured")
		}
		v := canvas.ScoreExecution(ctx, sc, t, g, ex)
		res.Score = &pb.Score{Value: v.Value, Correct: v.Correct, Method: v.Method, Explanation: v.Explanation}
	}
	return stream.Send(&pb.RunWorkflowResponse{Event: &pb.RunWorkflowResponse_Result{Result: res}})
}

// turnContext continues the client's turn trace carried in the message
// (gRPC metadata carries only the stream's), so the canvas's spans for this
// turn become children of the client's span for it.
func turnContext(ctx context.Context, tc map[string]string) context.Context {
	if len(tc) == 0 {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(tc))
}

// blank reports whether s is empty after trimming white space.
func blank(s string) bool { return strings.TrimSpace(s) == "" }
