package bench

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/reward"
)

// BenchmarkCanvasTurnLatency is BenchmarkCanvasTurn/in-process with the
// distribution of one turn: wall-clock p50, p99 and mean, and the p99 and
// mean of the turn's CPU time on its thread (CLOCK_THREAD_CPUTIME_ID), which
// includes the garbage collector's assist work charged to the turn but not
// the time spent waiting for a core.
//
// This file uses only what the canvas and this package had at 05ebaf7, so
// scripts/bench_canvas_turn.sh copies it into a checkout of that commit and
// runs both sides alternately in one run.
func BenchmarkCanvasTurnLatency(b *testing.B) {
	srv, err := StartCanvas(context.Background(), noExec(), ServeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	ctx := context.Background()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ep *canvas.Episode
	turn := ScriptTurns
	walls := make([]time.Duration, 0, b.N)
	cpus := make([]time.Duration, 0, b.N)
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
		c0, t0 := threadCPU(), time.Now()
		o, err := ep.Step(ctx, canvas.Input{Text: Script[turn]})
		walls = append(walls, time.Since(t0))
		cpus = append(cpus, threadCPU()-c0)
		if err != nil || !o.Valid {
			b.Fatalf("turn %d: %v %s", turn+1, err, o.Feedback)
		}
		turn++
	}
	q := func(ds []time.Duration, p float64) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(p*float64(len(s))))])
	}
	mean := func(ds []time.Duration) float64 {
		var t time.Duration
		for _, d := range ds {
			t += d
		}
		return float64(t) / float64(len(ds))
	}
	b.ReportMetric(q(walls, 0.50), "p50-ns")
	b.ReportMetric(q(walls, 0.99), "p99-ns")
	b.ReportMetric(mean(walls), "mean-ns")
	b.ReportMetric(q(cpus, 0.99), "cpu-p99-ns")
	b.ReportMetric(mean(cpus), "cpu-mean-ns")
}
