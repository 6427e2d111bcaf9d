package trainer

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/executor/sim"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

// estimateConfig is the quickstart's shape scaled down to seconds: the
// same policy, suite, simulated executor, group size and evaluation with
// every baseline, fewer steps and tasks.
func estimateConfig() trainer.Config {
	cfg := trainer.DefaultConfig()
	cfg.Name = "estimate"
	cfg.Steps = 2
	cfg.BatchSize = 2
	cfg.GroupSize = 4
	cfg.Eval.Tasks = 2
	cfg.Estimate.PilotGroups = 3
	// A made-up price for the simulated model, so money is projected too.
	cfg.Prices = cost.Table{{Model: sim.ModelName, Input: 1, Output: 4}}
	return cfg
}

// TestEstimateCoversTheRealRun: the pilot's projection of billed executor
// tokens and of wall time holds the real run's figures within its stated
// interval.
func TestEstimateCoversTheRealRun(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	p, err := Prepare(ctx, estimateConfig(), Options{Dir: filepath.Join(root, "pilot")})
	if err != nil {
		t.Fatal(err)
	}
	est, err := p.Trainer.Estimate(ctx)
	p.Close()
	if err != nil {
		t.Fatal(err)
	}
	if est.PilotGroups != 3 || est.PilotEpisodes != 3*4 || est.TrainGroups != 2*2 || est.EvalEpisodes != 2*2*5 {
		t.Fatalf("pilot %d groups %d episodes; run %d groups %d eval episodes", est.PilotGroups, est.PilotEpisodes, est.TrainGroups, est.EvalEpisodes)
	}

	p, err = Prepare(ctx, estimateConfig(), Options{Dir: filepath.Join(root, "real")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Trainer.Run(ctx); err != nil {
		t.Fatal(err)
	}
	real, err := p.Store.RunCost(p.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("projected tokens %.0f [%.0f, %.0f], real %d; wall %.1fs [%.1f, %.1f], real %.1fs",
		est.ExecutorTokens.Mean, est.ExecutorTokens.Low, est.ExecutorTokens.High, real.ExecutorTokens(),
		est.WallSeconds.Mean, est.WallSeconds.Low, est.WallSeconds.High, real.WallSeconds)
	if !est.ExecutorTokens.Contains(float64(real.ExecutorTokens())) {
		t.Errorf("real executor tokens %d outside the projected [%.0f, %.0f]", real.ExecutorTokens(), est.ExecutorTokens.Low, est.ExecutorTokens.High)
	}
	if real.Money() == 0 || !est.Money.Contains(real.Money()) {
		t.Errorf("real money %v outside the projected [%v, %v]", real.Money(), est.Money.Low, est.Money.High)
	}
}
