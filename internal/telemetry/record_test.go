package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowsteer/flowsteer/internal/obs"
)

type sinkRec struct {
	mu      sync.Mutex
	batches [][]RecordedSpan
}

func (s *sinkRec) put(spans []RecordedSpan) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, spans)
	return nil
}

func TestSpanRecorderKeepsARunsEpisodesWithTheirIDs(t *testing.T) {
	rec := NewSpanRecorder(1, 0)
	rec.maxPerEpisode = 4
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("test")
	var sink sinkRec
	detach := rec.Attach("run-a", sink.put)

	ctx := context.Background()
	// A run nobody attached: ignored.
	octx, other := tr.Start(ctx, "train.run")
	other.SetAttributes(obs.RunID.String("run-b"))
	_, e0 := tr.Start(octx, "episode")
	e0.End()
	other.End()

	rctx, run := tr.Start(ctx, "train.run")
	_ = rctx
	run.End()
	// The run id is read when train.run starts, as obs.Start sets it.
	rctx, run = tr.Start(ctx, "train.run", withAttr(obs.RunID.String("run-a")))
	ectx, ep := tr.Start(rctx, "episode")
	for range 6 { // over the per-episode bound of 4 (the episode span included)
		tctx, turn := tr.Start(ectx, "turn")
		_, node := tr.Start(tctx, "workflow.node")
		node.End()
		turn.End()
	}
	ep.SetAttributes(obs.EpisodeID.String("ep_1"))
	ep.End()
	run.End()
	detach()

	sink.mu.Lock()
	defer sink.mu.Unlock()
	var episode []RecordedSpan
	var other2 []string
	for _, b := range sink.batches {
		for _, s := range b {
			if s.EpisodeID == "ep_1" {
				episode = append(episode, s)
			} else {
				other2 = append(other2, s.Name)
			}
		}
	}
	if len(episode) != 5 || episode[len(episode)-1].Name != "episode" {
		t.Errorf("kept %d spans of the episode, want the bound 4 and the episode span", len(episode))
	}
	if len(other2) != 1 || other2[0] != "train.run" {
		t.Errorf("spans outside episodes: %v, want the one train.run of run-a", other2)
	}
	if rec.Dropped() != 12-4 {
		t.Errorf("dropped %d, want %d", rec.Dropped(), 12-4)
	}
	for _, s := range episode {
		if s.TraceID == "" || s.SpanID == "" || s.End.Before(s.Start) {
			t.Errorf("span %+v", s)
		}
	}
}

func TestSpanRecorderCountsASinkThatFails(t *testing.T) {
	rec := NewSpanRecorder(1, 0)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	detach := rec.Attach("r", func([]RecordedSpan) error { return errors.New("disk full") })
	ctx, run := tp.Tracer("t").Start(context.Background(), "train.run", withAttr(obs.RunID.String("r")))
	_, ep := tp.Tracer("t").Start(ctx, "episode")
	ep.End()
	run.End()
	detach()
	if rec.Dropped() != 2 {
		t.Errorf("dropped %d, want 2", rec.Dropped())
	}
}

func withAttr(kv ...attribute.KeyValue) trace.SpanStartOption { return trace.WithAttributes(kv...) }

func TestSpanRecorderSamplesEpisodesAfterTheFirst(t *testing.T) {
	rec := NewSpanRecorder(0.25, 10)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("t")
	var sink sinkRec
	detach := rec.Attach("r", sink.put)
	ctx, run := tr.Start(context.Background(), "train.run", withAttr(obs.RunID.String("r")))
	for i := range 410 {
		ectx, ep := tr.Start(ctx, "episode")
		_, turn := tr.Start(ectx, "turn")
		turn.End()
		ep.SetAttributes(obs.EpisodeID.String(fmt.Sprint("ep_", i)))
		ep.End()
	}
	run.End()
	detach()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	kept := map[string]int{}
	for _, b := range sink.batches {
		for _, s := range b {
			if s.EpisodeID != "" {
				kept[s.EpisodeID]++
			}
		}
	}
	for i := range 10 {
		if kept[fmt.Sprint("ep_", i)] != 2 {
			t.Errorf("episode %d of the first 10 not kept whole: %d spans", i, kept[fmt.Sprint("ep_", i)])
		}
	}
	for id, n := range kept {
		if n != 2 {
			t.Errorf("%s kept in part: %d spans", id, n)
		}
	}
	// 10 + a quarter of 400, give or take chance (binomial sd ~8.7).
	if n := len(kept); n < 10+100-40 || n > 10+100+40 {
		t.Errorf("kept %d episodes, want about 110", n)
	}
}
