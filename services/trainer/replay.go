package trainer

import (
	"context"
	"io"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/replay"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/server"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
)

// ReplayCanvas serves c the way a training run serves its in-process
// canvas (the Canvas service over bufconn, the Interact stream), so that a
// replay sees observations converted exactly as the recording did. It is
// a replay.Wrap.
func ReplayCanvas(ctx context.Context, c *canvas.Canvas) (rollout.Canvas, func(), error) {
	v := server.Validators{}
	canvassvc.AddValidators(v)
	srv := server.New(server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Validators: v})
	canvassvc.Register(srv, canvassvc.New(c))
	lis := bufconn.Listen(4 << 20)
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { _ = srv.Serve(sctx, lis, 5*time.Second); close(done) }()
	conn, err := grpc.NewClient("passthrough:///replay-canvas",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		stop()
		<-done
		return nil, nil, err
	}
	closeAll := func() { conn.Close(); stop(); <-done }
	return canvasClient{flowsteer.New(conn)}, closeAll, nil
}

var _ replay.Wrap = ReplayCanvas
