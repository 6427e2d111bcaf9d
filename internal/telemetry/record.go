package telemetry

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowsteer/flowsteer/internal/obs"
)

// RecordedSpan is a finished span as the span recorder hands it to a
// sink: flat, with its attributes as plain values.
type RecordedSpan struct {
	EpisodeID string // the episode whose subtree holds it ("" outside episodes)
	TraceID   string
	SpanID    string
	ParentID  string
	Name      string
	Start     time.Time
	End       time.Time
	Status    string // "" unless the span ended with an error: "error: message"
	Attrs     map[string]any
}

// SpanSink stores a batch of spans of one run (the run store's PutSpans).
// It runs on the recorder's own goroutine.
type SpanSink func(spans []RecordedSpan) error

// Bounds of a SpanRecorder.
const (
	// DefaultMaxSpansPerEpisode caps the spans kept of one episode; the
	// rest are counted, not kept.
	DefaultMaxSpansPerEpisode = 5000
	// DefaultMaxOpenEpisodes caps the episodes buffered at once.
	DefaultMaxOpenEpisodes = 4096
	// DefaultEpisodeRatio is the share of episodes whose spans are kept
	// after a run's first DefaultFirstEpisodes, which are all kept: an
	// episode is about 150 spans (60 kB), so a quickstart run keeping
	// every one would grow its store by hundreds of megabytes.
	DefaultEpisodeRatio  = 0.1
	DefaultFirstEpisodes = 200
	// recorderQueue is how many batches may wait for the sink; more are
	// dropped (and counted) rather than slowing training down.
	recorderQueue = 256
)

// SpanRecorder is a span processor that records flowsteer's own spans into
// a run's store, next to any OTLP exporter, so traces can be read with no
// Jaeger at all. Only spans under a "train.run" span whose run has a sink
// attached are kept; an episode's spans are buffered until its "episode"
// span ends and then handed over in one batch with its id. What is
// recorded follows the tracer provider's sampler (OTEL_TRACES_SAMPLER), and
// is bounded per episode and in total.
type SpanRecorder struct {
	maxPerEpisode int
	maxOpen       int
	ratio         float64
	first         int

	mu      sync.Mutex
	sinks   map[string]SpanSink           // by run id
	runOf   map[trace.SpanID]string       // open span -> its run
	epOf    map[trace.SpanID]trace.SpanID // open span -> its episode span
	buffers map[trace.SpanID]*epBuffer    // by episode span
	started map[string]int                // episodes seen per run
	dropped int64

	queue chan batch
	wg    sync.WaitGroup
	once  sync.Once
	idle  sync.Cond // signalled when the queue drains
	busy  int       // batches queued or being written; guarded by mu
}

type epBuffer struct {
	run   string
	spans []RecordedSpan
}

type batch struct {
	sink  SpanSink
	spans []RecordedSpan
}

var _ sdktrace.SpanProcessor = (*SpanRecorder)(nil)

// NewSpanRecorder returns a recorder with no sink attached that keeps the
// spans of a run's first firstEpisodes episodes and of a ratio of the
// others (chosen by the episode span's random id, so uniformly); ratio
// outside [0, 1] means the defaults.
func NewSpanRecorder(ratio float64, firstEpisodes int) *SpanRecorder {
	if ratio < 0 || ratio > 1 {
		ratio, firstEpisodes = DefaultEpisodeRatio, DefaultFirstEpisodes
	}
	r := &SpanRecorder{maxPerEpisode: DefaultMaxSpansPerEpisode, maxOpen: DefaultMaxOpenEpisodes, ratio: ratio, first: max(0, firstEpisodes),
		sinks: map[string]SpanSink{}, runOf: map[trace.SpanID]string{}, epOf: map[trace.SpanID]trace.SpanID{},
		buffers: map[trace.SpanID]*epBuffer{}, started: map[string]int{}, queue: make(chan batch, recorderQueue)}
	r.idle.L = &r.mu
	r.wg.Add(1)
	go r.work()
	return r
}

func (r *SpanRecorder) work() {
	defer r.wg.Done()
	for b := range r.queue {
		if err := b.sink(b.spans); err != nil {
			r.mu.Lock()
			r.dropped += int64(len(b.spans))
			r.mu.Unlock()
		}
		r.mu.Lock()
		r.busy--
		if r.busy == 0 {
			r.idle.Broadcast()
		}
		r.mu.Unlock()
	}
}

// Attach records the spans of run runID into sink until the returned
// detach is called (which flushes what is queued).
func (r *SpanRecorder) Attach(runID string, sink SpanSink) (detach func()) {
	r.mu.Lock()
	r.sinks[runID] = sink
	r.mu.Unlock()
	return func() {
		_ = r.ForceFlush(context.Background())
		r.mu.Lock()
		delete(r.sinks, runID)
		delete(r.started, runID)
		r.mu.Unlock()
	}
}

// Dropped counts spans not recorded: over a bound, or refused by the sink.
func (r *SpanRecorder) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// OnStart places the span in its run and episode.
func (r *SpanRecorder) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	id, parent := s.SpanContext().SpanID(), s.Parent().SpanID()
	r.mu.Lock()
	defer r.mu.Unlock()
	run := r.runOf[parent]
	if s.Name() == "train.run" {
		for _, a := range s.Attributes() {
			if a.Key == obs.RunID {
				run = a.Value.AsString()
			}
		}
	}
	if run == "" || r.sinks[run] == nil {
		return
	}
	if s.Name() == "episode" {
		n := r.started[run]
		r.started[run] = n + 1
		if n >= r.first && float64(id[0])+float64(id[1])/256 >= 256*r.ratio {
			return // not sampled: neither it nor its subtree is kept
		}
		r.runOf[id] = run
		if len(r.buffers) >= r.maxOpen {
			return // counted as dropped when its spans end unbuffered
		}
		r.buffers[id] = &epBuffer{run: run}
		r.epOf[id] = id
		return
	}
	// The subtree of an episode that was not sampled never gets here: its
	// parent has no run.
	if ep, ok := r.epOf[parent]; ok {
		r.epOf[id] = ep
	}
	r.runOf[id] = run
}

// OnEnd buffers the span with its episode, or hands it over (an episode
// span with its whole subtree; a span outside episodes alone).
func (r *SpanRecorder) OnEnd(s sdktrace.ReadOnlySpan) {
	id := s.SpanContext().SpanID()
	r.mu.Lock()
	defer r.mu.Unlock()
	run, ok := r.runOf[id]
	if !ok {
		return
	}
	delete(r.runOf, id)
	ep, inEpisode := r.epOf[id]
	delete(r.epOf, id)
	sink := r.sinks[run]
	if sink == nil {
		return
	}
	rs := flatten(s)
	if !inEpisode {
		if s.Name() == "episode" {
			r.dropped++ // over maxOpen when it started
			return
		}
		r.enqueueLocked(sink, []RecordedSpan{rs})
		return
	}
	buf := r.buffers[ep]
	if buf == nil {
		r.dropped++
		return
	}
	if len(buf.spans) < r.maxPerEpisode || ep == id { // the episode span itself is always kept
		buf.spans = append(buf.spans, rs)
	} else {
		r.dropped++
	}
	if ep != id {
		return
	}
	delete(r.buffers, ep)
	epID := ""
	for _, a := range s.Attributes() {
		if a.Key == obs.EpisodeID {
			epID = a.Value.AsString()
		}
	}
	for i := range buf.spans {
		buf.spans[i].EpisodeID = epID
	}
	r.enqueueLocked(sink, buf.spans)
}

func (r *SpanRecorder) enqueueLocked(sink SpanSink, spans []RecordedSpan) {
	select {
	case r.queue <- batch{sink: sink, spans: spans}:
		r.busy++
	default:
		r.dropped += int64(len(spans))
	}
}

func flatten(s sdktrace.ReadOnlySpan) RecordedSpan {
	rs := RecordedSpan{TraceID: s.SpanContext().TraceID().String(), SpanID: s.SpanContext().SpanID().String(), Name: s.Name(),
		Start: s.StartTime(), End: s.EndTime(), Attrs: map[string]any{}}
	if p := s.Parent(); p.SpanID().IsValid() {
		rs.ParentID = p.SpanID().String()
	}
	if st := s.Status(); st.Code == codes.Error {
		rs.Status = "error: " + st.Description
	}
	for _, a := range s.Attributes() {
		rs.Attrs[string(a.Key)] = a.Value.AsInterface()
	}
	return rs
}

// ForceFlush waits until every queued batch reached its sink.
func (r *SpanRecorder) ForceFlush(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		r.mu.Lock()
		for r.busy > 0 {
			r.idle.Wait()
		}
		r.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown flushes and stops the recorder.
func (r *SpanRecorder) Shutdown(ctx context.Context) error {
	err := r.ForceFlush(ctx)
	r.once.Do(func() { close(r.queue) })
	r.wg.Wait()
	return err
}
