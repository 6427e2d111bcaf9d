package trainer

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/trainer"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
)

// flakyReplica is a canvas server on a loopback port whose first `fail`
// Interact streams lose their replica after the first action: the stream
// ends with Unavailable, as when the process dies under it.
type flakyReplica struct {
	addr    string
	streams atomic.Int64 // Interact streams started
	lost    atomic.Int64 // of which were cut
}

func startFlakyReplica(t *testing.T, fail int64) *flakyReplica {
	t.Helper()
	sys, err := system.Build(system.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	r := &flakyReplica{}
	cut := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if !strings.HasSuffix(info.FullMethod, "/Interact") {
			return h(srv, ss)
		}
		if n := r.streams.Add(1); n <= fail {
			r.lost.Add(1)
			return h(srv, &cutStream{ServerStream: ss})
		}
		return h(srv, ss)
	}
	v := server.Validators{}
	canvassvc.AddValidators(v)
	r.addr = servertest.Loopback(t, server.Options{Logger: servertest.Discard(), Validators: v,
		ExtraStream: []grpc.StreamServerInterceptor{cut}}, func(s *server.Server) {
		canvassvc.Register(s, canvassvc.New(sys.Canvas))
	})
	return r
}

// cutStream fails the stream at its second message (the first action).
type cutStream struct {
	grpc.ServerStream
	n int
}

func (c *cutStream) RecvMsg(m any) error {
	if c.n++; c.n == 2 {
		return status.Error(codes.Unavailable, "test: the replica went away")
	}
	return c.ServerStream.RecvMsg(m)
}

// episodeLog keeps the records of the episodes a step completes.
type episodeLog struct {
	mu   sync.Mutex
	recs []*rollout.Record
	logs []string
}

func (o *episodeLog) StepStarted(int64, int64, int) {}
func (o *episodeLog) EpisodeDone(_ int64, r *rollout.Record) {
	o.mu.Lock()
	o.recs = append(o.recs, r)
	o.mu.Unlock()
}
func (o *episodeLog) StepDone(*pb.StepMetrics)         {}
func (o *episodeLog) EvalStarted(int64, []string, int) {}
func (o *episodeLog) EvalDone(*pb.EvalReport)          {}
func (o *episodeLog) Log(msg string) {
	o.mu.Lock()
	o.logs = append(o.logs, msg)
	o.mu.Unlock()
}

func fanoutConfig(addrs ...string) trainer.Config {
	c := trainer.DefaultConfig()
	c.Name = "fanout"
	c.Steps = 1
	c.BatchSize = 2
	c.GroupSize = 4
	c.MaxRounds = 6
	c.Concurrency = 4
	c.Eval.Baselines = nil
	c.Canvas.Addresses = addrs
	c.Rollout.RetryBackoff = 10 * time.Millisecond
	return c
}

// Episodes that lose their canvas replica are played again on the others:
// the step completes with every group full over real gRPC (balanced
// connection, Unavailable classified retryable).
func TestStepOverReplicasReplaysEpisodesThatLoseTheirReplica(t *testing.T) {
	flaky, a, b := startFlakyReplica(t, 2), startFlakyReplica(t, 0), startFlakyReplica(t, 0)
	obs := &episodeLog{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := Prepare(ctx, fanoutConfig(flaky.addr, a.addr, b.addr), Options{Dir: filepath.Join(t.TempDir(), "run"), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m, err := p.Trainer.Step(ctx, 1)
	if err != nil {
		t.Fatalf("step: %v\nlogs: %q", err, obs.logs)
	}
	if m.GetEpisodes() != 8 || m.GetFailedEpisodes() != 0 {
		t.Fatalf("episodes %d failed %d, want every group full (8, 0)", m.GetEpisodes(), m.GetFailedEpisodes())
	}
	// Round robin gives the flaky replica a third of the streams, so it
	// cuts its two unless the first picks all went elsewhere.
	cutN := flaky.lost.Load()
	if cutN < 1 || p.Trainer.Retried() != cutN {
		t.Fatalf("%d streams cut, %d retried: want at least one, and one retry per cut stream", cutN, p.Trainer.Retried())
	}
	per := map[string]int{}
	extra := 0
	for _, r := range obs.recs {
		per[r.Replica]++
		extra += r.Attempts - 1
	}
	if int64(extra) != cutN || len(obs.recs) != 8 {
		t.Errorf("%d records with %d extra attempts, want 8 and %d", len(obs.recs), extra, cutN)
	}
	for addr := range per {
		if addr != flaky.addr && addr != a.addr && addr != b.addr {
			t.Errorf("record on unknown replica %q", addr)
		}
	}
	if int64(len(obs.logs)) != cutN {
		t.Fatalf("logs %q, want one per retry", obs.logs)
	}
	for _, l := range obs.logs {
		if !strings.Contains(l, flaky.addr) || !strings.Contains(l, "Unavailable") || !strings.Contains(l, "the replica went away") {
			t.Errorf("retry log %q does not name the replica and the cause", l)
		}
	}
}

// When the budget is spent the step fails with an error naming the
// replica and the cause, and makes no update.
func TestStepOverReplicasFailsWhenRetriesAreSpent(t *testing.T) {
	dead := startFlakyReplica(t, 1<<40)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := fanoutConfig(dead.addr)
	cfg.Rollout.Retries = 1
	p, err := Prepare(ctx, cfg, Options{Dir: filepath.Join(t.TempDir(), "run")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = p.Trainer.Step(ctx, 1)
	var lost *trainer.EpisodeLostError
	if !errors.As(err, &lost) {
		t.Fatalf("step = %v, want an EpisodeLostError", err)
	}
	for _, s := range []string{"rollout.retries 1", "canvas replica " + dead.addr, "code = Unavailable", "the replica went away"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if steps, _ := p.Store.Steps(p.Run.ID); len(steps) != 0 {
		t.Errorf("%d steps stored after a failed step", len(steps))
	}
}
