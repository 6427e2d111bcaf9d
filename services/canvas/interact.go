package canvas

import (
	"context"
	"io"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/protoconv"
)

// firstMessageWait bounds how long a draining canvas waits for the first
// message of a new stream before refusing it.
const firstMessageWait = time.Second

// drainedStream ends an open stream at a graceful stop.
func drainedStream(id string) error {
	return status.Errorf(codes.Unavailable,
		"the canvas is shutting down: episode %s ended here after its last turn and cannot be resumed on another canvas (episodes live in one canvas's memory): play it again in a new episode on another replica", id)
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

// turnContext continues the client's turn trace carried in the message
// (gRPC metadata carries only the stream's), so the canvas's spans for this
// turn become children of the client's span for it.
func turnContext(ctx context.Context, tc map[string]string) context.Context {
	if len(tc) == 0 {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(tc))
}
