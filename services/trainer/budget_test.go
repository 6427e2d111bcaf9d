package trainer

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

func budgetConfig() trainer.Config {
	cfg := tinyConfig()
	cfg.Name = "budget"
	cfg.Steps = 3
	cfg.BatchSize = 1
	cfg.GroupSize = 2
	cfg.MaxRounds = 10
	cfg.Tasks.Families = []string{"qa"} // no code tasks: fewer sandbox runs
	cfg.Concurrency = 1                 // one episode at a time: two runs spend exactly alike
	cfg.Eval.Tasks = 1
	cfg.Eval.Baselines = nil
	cfg.Checkpoint.Every = 10 // only the budget stop and the last step checkpoint
	return cfg
}

// TestBudgetStopsAtTheCrossingStepAndResumesWhenRaised: a run whose token
// budget is crossed during step 2 finishes step 2, checkpoints it, and
// ends budget_reached naming executor_tokens; resumed with the same budget
// it stops at once; resumed with a raised one it trains to the end.
func TestBudgetStopsAtTheCrossingStepAndResumesWhenRaised(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()

	// A reference run without a budget gives what each step spends.
	ref, err := Prepare(ctx, budgetConfig(), Options{Dir: filepath.Join(root, "ref")})
	if err != nil {
		t.Fatal(err)
	}
	if err := ref.Trainer.Run(ctx); err != nil {
		t.Fatal(err)
	}
	evals, _ := ref.Store.Evals(ref.Run.ID)
	steps, _ := ref.Store.Steps(ref.Run.ID)
	ref.Close()
	if len(steps) != 3 || len(evals) != 2 {
		t.Fatalf("reference run: %d steps, %d evaluations", len(steps), len(evals))
	}
	var afterStep1 cost.Summary
	afterStep1.Merge(cost.SummaryFromPB(evals[0].GetCost()))
	afterStep1.Merge(cost.SummaryFromPB(steps[0].GetCost()))
	if steps[1].GetCost().GetExecutorInputTokens() == 0 {
		t.Fatal("step 2 spent no tokens")
	}
	limit := float64(afterStep1.ExecutorTokens() + 1) // crossed during step 2

	dir := filepath.Join(root, "run")
	cfg := budgetConfig()
	cfg.Budget.ExecutorTokens = limit
	p, err := Prepare(ctx, cfg, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Trainer.Run(ctx); err != nil {
		t.Fatal(err)
	}
	run, _ := p.Store.GetRun(p.Run.ID)
	got, _ := p.Store.Steps(p.Run.ID)
	ck, ok, _ := p.Store.LastCheckpoint(p.Run.ID)
	spent, _ := p.Store.RunCost(p.Run.ID)
	p.Close()
	if run.Status != runstore.StatusBudgetReached || run.Step != 2 || len(got) != 2 {
		t.Fatalf("status %q at step %d with %d steps stored, want budget_reached at step 2", run.Status, run.Step, len(got))
	}
	if want := "budget executor_tokens reached"; len(run.Error) < len(want) || run.Error[:len(want)] != want || p.Trainer.StopReason() != run.Error {
		t.Errorf("stop reason %q / %q", run.Error, p.Trainer.StopReason())
	}
	if !ok || ck.Step != 2 {
		t.Errorf("last checkpoint %+v %v, want step 2", ck, ok)
	}
	if float64(spent.ExecutorTokens()) < limit {
		t.Errorf("spent %d < budget %v yet stopped", spent.ExecutorTokens(), limit)
	}

	// Resumed without raising the budget: nothing more is spent.
	p, err = Prepare(ctx, trainer.Config{}, Options{Dir: dir, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Start != 2 {
		t.Fatalf("resumed at %d", p.Start)
	}
	if err := p.Trainer.Run(ctx); err != nil {
		t.Fatal(err)
	}
	again, _ := p.Store.RunCost(p.Run.ID)
	run, _ = p.Store.GetRun(p.Run.ID)
	p.Close()
	if run.Status != runstore.StatusBudgetReached || again.ExecutorTokens() != spent.ExecutorTokens() {
		t.Errorf("resume with the same budget: status %q, spent %d then %d", run.Status, spent.ExecutorTokens(), again.ExecutorTokens())
	}

	// Resumed with a raised budget: the run goes on to its last step.
	raised := trainer.Budget{ExecutorTokens: 1e12}
	p, err = Prepare(ctx, trainer.Config{}, Options{Dir: dir, Resume: true, Budget: &raised})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Trainer.Run(ctx); err != nil {
		t.Fatal(err)
	}
	run, _ = p.Store.GetRun(p.Run.ID)
	got, _ = p.Store.Steps(p.Run.ID)
	if run.Status != runstore.StatusSucceeded || run.Step != 3 || len(got) != 3 || p.Trainer.StopReason() != "" {
		t.Fatalf("after raising: status %q at step %d, %d steps, reason %q", run.Status, run.Step, len(got), p.Trainer.StopReason())
	}
	if p.Config.Budget.ExecutorTokens != 1e12 {
		t.Errorf("config.yaml budget not raised: %+v", p.Config.Budget)
	}
}
