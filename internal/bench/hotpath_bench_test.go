package bench

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/policy/embedded"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/system"
)

// The hot paths of `flowsteer bench` as go test benchmarks:
//
//	go test -run '^$' -bench . -benchmem ./internal/bench
//
// One op of BenchmarkCanvasTurn is one scripted turn (execution off);
// opening and closing episodes is outside the timer.

func noExec() system.Options {
	o := system.DefaultOptions()
	o.NoExecute = true
	return o
}

func BenchmarkCanvasTurn(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		srv, err := StartCanvas(context.Background(), noExec(), ServeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Stop()
		ctx := context.Background()
		var ep *canvas.Episode
		turn := ScriptTurns
		b.ReportAllocs()
		for b.Loop() {
			if turn == ScriptTurns {
				b.StopTimer()
				if ep != nil {
					_, _ = srv.Sys.Canvas.Close(ctx, ep.ID())
					srv.Sys.Store.Delete(ep.ID())
				}
				if ep, _, err = srv.Sys.Canvas.Create(ctx, ScriptTask, canvas.DefaultConfig(), reward.Default()); err != nil {
					b.Fatal(err)
				}
				turn = 0
				b.StartTimer()
			}
			o, err := ep.Step(ctx, canvas.Input{Text: Script[turn]})
			if err != nil || !o.Valid {
				b.Fatalf("turn %d: %v %s", turn+1, err, o.Feedback)
			}
			turn++
		}
	})
	b.Run("bufconn", func(b *testing.B) {
		lis := bufconn.Listen(4 << 20)
		srv, err := StartCanvas(context.Background(), noExec(), ServeOptions{Listener: lis})
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Stop()
		conn, err := grpc.NewClient("passthrough:///bufconn",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		benchStream(b, srv, flowsteer.New(conn))
	})
	b.Run("loopback-tcp", func(b *testing.B) {
		srv, err := StartCanvas(context.Background(), noExec(), ServeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Stop()
		cl, err := flowsteer.Dial(srv.Addr)
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		benchStream(b, srv, cl)
	})
}

// benchStream plays Script on Interact streams, one turn per op.
func benchStream(b *testing.B, srv *Served, cl *flowsteer.Client) {
	ctx := context.Background()
	task := protoconv.TaskToPB(ScriptTask)
	var ep *flowsteer.Episode
	end := func() {
		if ep != nil {
			_ = ep.Close()
			_, _ = srv.Sys.Canvas.Close(ctx, ep.ID())
			srv.Sys.Store.Delete(ep.ID())
		}
	}
	defer end()
	turn := ScriptTurns
	var err error
	b.ReportAllocs()
	for b.Loop() {
		if turn == ScriptTurns {
			b.StopTimer()
			end()
			if ep, err = cl.Open(ctx, task); err != nil {
				b.Fatal(err)
			}
			turn = 0
			b.StartTimer()
		}
		o, err := ep.Step(ctx, flowsteer.Text(Script[turn]))
		if err != nil || !o.GetValid() {
			b.Fatalf("turn %d: %v %s", turn+1, err, o.GetFeedback())
		}
		turn++
	}
}

// BenchmarkCWRPOUpdate36x20 is one CWRPO update of the embedded policy on
// 36 episodes x 20 decisions taken from its own rollouts (simulated
// executor), as `flowsteer bench`'s trainer section times it.
func BenchmarkCWRPOUpdate36x20(b *testing.B) {
	cfg := DefaultConfig()
	cfg.GroupSize = 36
	tasks, err := SuiteTasks(1)
	if err != nil {
		b.Fatal(err)
	}
	played, err := playStep(context.Background(), cfg, tasks, true)
	if err != nil {
		b.Fatal(err)
	}
	req, _, _, err := Batch(played.recs, 36, 20)
	if err != nil {
		b.Fatal(err)
	}
	p, err := embedded.New(embedded.Config{Seed: cfg.Seed})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var st *pb.LossStats
	b.ReportAllocs()
	for b.Loop() {
		if st, err = p.Update(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(st.GetTokens()), "choices/op")
}
