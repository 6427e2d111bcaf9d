package trainer

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/obs"
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
