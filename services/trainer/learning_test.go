//go:build learning

package trainer

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

// TestQuickstartLearns is the product promise, measured: the quickstart
// configuration (shortened to 20 steps, seed 1) trains a policy that
// beats both the untrained policy and the random baseline by a clear
// margin on 45 held-out tasks and releases the correctness reward more
// often than the untrained policy. It takes minutes, so it only runs with
//
//	go test -tags learning -run TestQuickstartLearns -timeout 30m ./services/trainer
func TestQuickstartLearns(t *testing.T) {
	cfg := trainer.DefaultConfig()
	cfg.Steps = 20
	cfg.Seed = 1
	cfg.Eval.Tasks = 45
	cfg.Eval.Baselines = []string{"random"}
	cfg.Checkpoint.Every = 20
	ctx := context.Background()
	began := time.Now()
	p, err := Prepare(ctx, cfg, Options{Dir: filepath.Join(t.TempDir(), "learn")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Trainer.Run(ctx); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	steps, err := p.Store.Steps(p.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range steps {
		t.Logf("step %2d  reward %+.3f  release %.2f  kl %.4f  entropy %.3f", m.GetStep(), m.GetMeanReward(), m.GetStructureReleaseRate(), m.GetKl(), m.GetEntropy())
	}
	evals, err := p.Store.Evals(p.Run.ID)
	if err != nil || len(evals) != 2 {
		t.Fatalf("evals %v (%v), want before and after", evals, err)
	}
	byName := func(r *pb.EvalReport, name string) *pb.PolicyEval {
		for _, pe := range r.GetPolicies() {
			if pe.GetPolicy() == name {
				return pe
			}
		}
		t.Fatalf("no %s in the evaluation at step %d", name, r.GetStep())
		return nil
	}
	untrained, trained := byName(evals[0], "untrained"), byName(evals[1], "trained")
	random := byName(evals[1], "random")
	for _, pe := range []*pb.PolicyEval{untrained, random, trained} {
		t.Logf("%-10s reward %+.3f [%+.3f, %+.3f]  release %.2f  finished %.2f  (%d episodes)", pe.GetPolicy(), pe.GetMeanReward(),
			pe.GetRewardCiLow(), pe.GetRewardCiHigh(), pe.GetStructureReleaseRate(), pe.GetFinishedRate(), pe.GetEpisodes())
	}
	t.Logf("%d steps and two evaluations took %s", cfg.Steps, took.Round(time.Second))
	const margin = 0.15
	if trained.GetMeanReward() < untrained.GetMeanReward()+margin {
		t.Errorf("trained reward %+.3f does not beat the untrained %+.3f by %.2f", trained.GetMeanReward(), untrained.GetMeanReward(), margin)
	}
	if trained.GetMeanReward() < random.GetMeanReward()+margin {
		t.Errorf("trained reward %+.3f does not beat random %+.3f by %.2f", trained.GetMeanReward(), random.GetMeanReward(), margin)
	}
	if trained.GetStructureReleaseRate() <= untrained.GetStructureReleaseRate() {
		t.Errorf("release rate %.2f after training, %.2f before", trained.GetStructureReleaseRate(), untrained.GetStructureReleaseRate())
	}
}
