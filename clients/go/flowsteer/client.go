// Package flowsteer is the Go client of flowsteer's services. Play an
// episode on a canvas in a few lines:
//
//	c, err := flowsteer.Dial("127.0.0.1:50051")
//	if err != nil { ... }
//	defer c.Close()
//	ep, err := c.Open(ctx, &pb.Task{Question: "What is 6*7?", Family: pb.TaskFamily_TASK_FAMILY_MATH})
//	obs, err := ep.Step(ctx, flowsteer.Text("<action>add</action><operator>Programmer</operator>"))
//
// Each Episode is one Interact stream: one observation back per action.
//
// Several canvas replicas: DialBalanced puts each episode on one healthy
// replica, round robin, over one connection; Retryable tells the errors
// after which an episode may be played again on another replica.
package flowsteer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// Client talks to a flowsteer server.
type Client struct {
	conn   *grpc.ClientConn
	owned  bool
	Canvas pb.CanvasServiceClient
}

// Dial connects to addr. Without options the connection is plaintext,
// which suits the loopback default; for TLS and tokens pass
// Credentials.DialOptions (options given here override the defaults).
// For several canvas replicas use DialBalanced.
func Dial(addr string, opts ...grpc.DialOption) (*Client, error) {
	conn, err := grpc.NewClient(addr, append(baseOptions(), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("flowsteer: dial %s: %w", addr, err)
	}
	c := New(conn)
	c.owned = true
	return c, nil
}

// baseOptions come before the caller's options, which may override them.
func baseOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
	}
}

// New wraps an existing connection (which the caller keeps owning).
func New(conn *grpc.ClientConn) *Client {
	return &Client{conn: conn, Canvas: pb.NewCanvasServiceClient(conn)}
}

// Close closes a connection made by Dial.
func (c *Client) Close() error {
	if c.owned {
		return c.conn.Close()
	}
	return nil
}

// Text is an action given as the policy's raw reply text.
func Text(reply string) *pb.Action { return &pb.Action{Text: reply} }

// Structured is an action given in structured form.
func Structured(a *pb.StructuredAction) *pb.Action { return &pb.Action{Structured: a} }

// Episode is one open episode on an Interact stream. Its methods may be
// called from one goroutine at a time.
type Episode struct {
	stream grpc.BidiStreamingClient[pb.InteractRequest, pb.InteractResponse]
	cancel context.CancelFunc
	first  *pb.Observation
	last   *pb.Observation
	peer   string
	mu     sync.Mutex
	closed bool
}

// Open starts an episode on task; config may be nil for the defaults.
func (c *Client) Open(ctx context.Context, task *pb.Task, config ...*pb.EpisodeConfig) (*Episode, error) {
	req := &pb.CreateEpisodeRequest{Task: task}
	if len(config) > 0 {
		req.Config = config[0]
	}
	return c.start(ctx, &pb.InteractRequest{Msg: &pb.InteractRequest_Open{Open: req}})
}

// Resume re-attaches to an open episode by id, e.g. after a disconnect.
// The canvas keeps an unfinished episode whose stream ended for its resume
// grace (`flowsteer serve --resume-grace`, 2m by default), then answers
// NotFound saying it expired. Episodes live in one replica's memory: resume
// through a client dialed to Episode.Peer(), not a balanced one.
func (c *Client) Resume(ctx context.Context, episodeID string) (*Episode, error) {
	return c.start(ctx, &pb.InteractRequest{Msg: &pb.InteractRequest_Resume{Resume: &pb.ResumeEpisode{EpisodeId: episodeID}}})
}

func (c *Client) start(ctx context.Context, first *pb.InteractRequest) (*Episode, error) {
	// The stream outlives ctx's deadline for the open itself, so it gets a
	// context of its own that Close (or a failed step) cancels.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stream, err := c.Canvas.Interact(sctx)
	if err != nil {
		cancel()
		return nil, err
	}
	e := &Episode{stream: stream, cancel: cancel}
	obs, err := e.roundTrip(ctx, first)
	e.peer = streamPeer(stream)
	if err != nil {
		cancel()
		return nil, withPeer(err, e.peer)
	}
	e.first, e.last = obs, obs
	return e, nil
}

// roundTrip sends one message and waits for one observation, giving up
// (and ending the stream; the episode stays resumable) when ctx is done.
func (e *Episode) roundTrip(ctx context.Context, m *pb.InteractRequest) (*pb.Observation, error) {
	stop := context.AfterFunc(ctx, e.cancel)
	defer stop()
	if err := e.stream.Send(m); err != nil {
		if err == io.EOF {
			// The server ended the stream; RecvMsg holds the real status.
			_, err = e.stream.Recv()
		}
		return nil, e.ctxErr(ctx, err)
	}
	resp, err := e.stream.Recv()
	if err != nil {
		return nil, e.ctxErr(ctx, err)
	}
	return resp.GetObservation(), nil
}

// streamPeer is the address of the server end of stream ("" when unknown).
func streamPeer(stream grpc.ClientStream) string {
	if p, ok := peer.FromContext(stream.Context()); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

func (e *Episode) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("flowsteer: %w (the episode can be resumed by id)", ctx.Err())
	}
	return err
}

// ID is the episode id.
func (e *Episode) ID() string { return e.first.GetEpisodeId() }

// First is the observation returned when the episode was opened or resumed.
func (e *Episode) First() *pb.Observation { return e.first }

// Peer is the address of the canvas replica serving the episode, as this
// client connected to it ("" when unknown).
func (e *Episode) Peer() string { return e.peer }

// Last is the most recent observation.
func (e *Episode) Last() *pb.Observation { return e.last }

// Step sends one action and returns the next observation.
func (e *Episode) Step(ctx context.Context, a *pb.Action) (*pb.Observation, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.New("flowsteer: step on a closed episode stream")
	}
	m := &pb.InteractRequest{Msg: &pb.InteractRequest_Action{Action: a}}
	// The stream's metadata carried the trace context of the open; each
	// step carries its own, so the canvas's turn spans join this turn.
	tc := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, tc)
	if len(tc) > 0 {
		m.TraceContext = tc
	}
	obs, err := e.roundTrip(ctx, m)
	if err != nil {
		return nil, err
	}
	e.last = obs
	return obs, nil
}

// Close ends the stream. The episode stays on the canvas (read it with
// GetEpisode, end it with CloseEpisode) until the canvas expires it.
func (e *Episode) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	defer e.cancel()
	if err := e.stream.CloseSend(); err != nil {
		return err
	}
	// Drain so the server's final status is observed.
	for {
		if _, err := e.stream.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// GetEpisode returns an episode's record.
func (c *Client) GetEpisode(ctx context.Context, id string, withTurns bool) (*pb.Episode, error) {
	r, err := c.Canvas.GetEpisode(ctx, &pb.GetEpisodeRequest{EpisodeId: id, IncludeTurns: withTurns})
	if err != nil {
		return nil, err
	}
	ep := r.GetEpisode()
	// A record larger than one reply comes in pages of turns.
	for next := r.GetNextTurnsFrom(); next > 0; next = r.GetNextTurnsFrom() {
		if r, err = c.Canvas.GetEpisode(ctx, &pb.GetEpisodeRequest{EpisodeId: id, IncludeTurns: true, TurnsFrom: next}); err != nil {
			return nil, err
		}
		ep.Turns = append(ep.Turns, r.GetEpisode().GetTurns()...)
	}
	return ep, nil
}

// CloseEpisode ends an episode and returns its final record.
func (c *Client) CloseEpisode(ctx context.Context, id string) (*pb.Episode, error) {
	r, err := c.Canvas.CloseEpisode(ctx, &pb.CloseEpisodeRequest{EpisodeId: id})
	return r.GetEpisode(), err
}

// ListOperators describes the operator library ("" for the default).
func (c *Client) ListOperators(ctx context.Context, library string) ([]*pb.OperatorInfo, error) {
	r, err := c.Canvas.ListOperators(ctx, &pb.ListOperatorsRequest{Library: library})
	return r.GetOperators(), err
}
