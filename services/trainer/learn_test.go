package trainer

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/flowsteer/flowsteer/internal/runstore"
)

// TestTrainingRaisesTheReward is the always-on, cheap form of the learning
// check (the full one is TestQuickstartLearns, build tag learning): four
// real CWRPO steps of the embedded policy on the offline suite, at a
// learning rate raised to 0.03 so that four steps are enough, raise the
// training reward and the release rate (from -0.09 over steps 1-2 to
// +0.39 over steps 3-4 when this was written).
func TestTrainingRaisesTheReward(t *testing.T) {
	cfg := tinyConfig()
	cfg.Name = "rise"
	cfg.Steps = 4
	cfg.BatchSize = 3
	cfg.GroupSize = 6
	cfg.Optimizer.LearningRate = 0.03
	cfg.Eval.Tasks = 3
	cfg.Eval.Baselines = nil
	cfg.Checkpoint.Every = 4
	ctx := context.Background()
	p, err := Prepare(ctx, cfg, Options{Dir: filepath.Join(t.TempDir(), "rise")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Trainer.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if run, _ := p.Store.GetRun("rise"); run.Status != runstore.StatusSucceeded {
		t.Fatalf("run %s (%s)", run.Status, run.Error)
	}
	steps, err := p.Store.Steps("rise")
	if err != nil || len(steps) != 4 {
		t.Fatalf("%d steps (%v)", len(steps), err)
	}
	for _, m := range steps {
		t.Logf("step %d  reward %+.3f  release %.2f  kl %.4f", m.GetStep(), m.GetMeanReward(), m.GetStructureReleaseRate(), m.GetKl())
	}
	first := (steps[0].GetMeanReward() + steps[1].GetMeanReward()) / 2
	last := (steps[2].GetMeanReward() + steps[3].GetMeanReward()) / 2
	if last < first+0.1 {
		t.Errorf("mean training reward %+.3f over steps 3-4, %+.3f over steps 1-2: it does not rise", last, first)
	}
	relFirst := (steps[0].GetStructureReleaseRate() + steps[1].GetStructureReleaseRate()) / 2
	relLast := (steps[2].GetStructureReleaseRate() + steps[3].GetStructureReleaseRate()) / 2
	if relLast <= relFirst {
		t.Errorf("release rate %.2f over steps 3-4, %.2f over steps 1-2", relLast, relFirst)
	}
}
