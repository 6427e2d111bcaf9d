package trainer

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/obs"
	"github.com/flowsteer/flowsteer/internal/rollout"
)

// endStep records a training step on its span ("train.step") and in the
// metrics (step time, mean reward, each episode's reward).
func endStep(ctx context.Context, span trace.Span, start time.Time, groups []*group, m *pb.StepMetrics, err error) {
	if m != nil {
		span.SetAttributes(obs.Episodes.Int(int(m.GetEpisodes())), obs.Reward.Float64(m.GetMeanReward()))
		im := obs.M()
		im.StepDuration.Record(ctx, time.Since(start).Seconds())
		im.StepReward.Record(ctx, m.GetMeanReward())
		for _, g := range groups {
			for _, r := range g.recs {
				if r != nil && r.Err == nil && r.Final != nil {
					im.EpisodeReward.Record(ctx, r.Reward())
				}
			}
		}
	}
	obs.End(span, err)
}

// Replica is the attribute naming the canvas replica an episode ran on.
const Replica = attribute.Key("flowsteer.canvas.replica")

// instruments are the trainer's fan-out metrics.
type instruments struct {
	// retries counts episodes played again after losing their replica,
	// by the replica lost.
	retries metric.Int64Counter
	// episodes counts played episodes by replica and outcome (completed
	// or failed), retries not included: how evenly the balancer spreads
	// a run.
	episodes metric.Int64Counter
}

var (
	globalInstOnce sync.Once
	globalInst     *instruments
)

// newInstruments makes the instruments from mp; nil returns the ones made
// once from the global provider (they follow the SDK when it is installed
// later, as obs.M's do).
func newInstruments(mp metric.MeterProvider) *instruments {
	if mp == nil {
		globalInstOnce.Do(func() { globalInst = makeInstruments(otel.GetMeterProvider()) })
		return globalInst
	}
	return makeInstruments(mp)
}

// makeInstruments ignores the API's errors: they only concern invalid
// names, which are constants here, and come with a working no-op.
func makeInstruments(mp metric.MeterProvider) *instruments {
	m := mp.Meter(obs.Scope)
	i := &instruments{}
	i.retries, _ = m.Int64Counter("flowsteer.trainer.episode.retries",
		metric.WithDescription("Episodes played again from the start after losing their replica (died or drained), by the replica lost."), metric.WithUnit("{episode}"))
	i.episodes, _ = m.Int64Counter("flowsteer.trainer.episodes",
		metric.WithDescription("Training and evaluation episodes played, by canvas replica and outcome (completed, failed)."), metric.WithUnit("{episode}"))
	return i
}

func (t *Trainer) metrics() *instruments {
	if t.inst == nil {
		return newInstruments(nil)
	}
	return t.inst
}

func (i *instruments) retried(ctx context.Context, replica string) {
	i.retries.Add(ctx, 1, metric.WithAttributes(Replica.String(replicaName(replica))))
}

// countEpisode records a played episode (its last attempt).
func (t *Trainer) countEpisode(ctx context.Context, rec *rollout.Record) {
	outcome := "completed"
	if rec.Err != nil || rec.Final == nil {
		outcome = "failed"
	}
	// The run may be stopping: the count still belongs to it.
	t.metrics().episodes.Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(Replica.String(replicaName(rec.Replica)), attribute.String("flowsteer.episode.outcome", outcome)))
}

func replicaName(r string) string {
	if r == "" {
		return "unknown"
	}
	return r
}
