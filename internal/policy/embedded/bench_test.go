package embedded

import (
	"context"
	"fmt"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
)

func BenchmarkAct(b *testing.B) {
	p := newTestPolicy(b, Config{})
	obs := obsOf(testTask(famMath, false), opStage(1, "Plan"), parStage(2, "Programmer", "Custom", "AnswerGenerate"), opStage(3, "ScEnsemble"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Act(ctx, obs, policy.Sampling{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdate36x20 is one training step at the paper's group size: 36
// episodes of 20 decisions each.
func BenchmarkUpdate36x20(b *testing.B) {
	p := newTestPolicy(b, Config{})
	obs := observations()
	req := &pb.UpdateRequest{}
	for e := range 36 {
		es := &pb.EpisodeSamples{EpisodeId: fmt.Sprintf("e%d", e), Advantage: float64(e%5-2) / 2}
		for k := range 20 {
			es.Decisions = append(es.Decisions, act(b, p, obs[(e+k)%len(obs)], policy.Sampling{Seed: seed(int64(e*20 + k))}))
		}
		req.Episodes = append(req.Episodes, es)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Update(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
