package trainer

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

// The best fixed workflows of the grid per family (BENCHMARKS.md): code
// checks its programs with Test, which the finish rules ask of code.
const (
	shownDSL     = "Plan -> [Programmer, Programmer, Custom] -> Aggregate -> Revise -> Verify ? Revise : done -> Format"
	shownCodeDSL = "Plan -> [Programmer, Programmer, Custom] -> Aggregate -> Revise -> Test ? Programmer : done -> Verify ? Revise : done -> Format"
)

func TestWarmStartClonesTheShownWorkflowBeforeTheFirstEvaluation(t *testing.T) {
	cfg := tinyConfig()
	cfg.Name = "warm"
	cfg.Steps = 1
	cfg.Eval.Tasks = 6
	cfg.Eval.Baselines = nil
	cfg.Eval.Sample = false // greedy: what the clone makes most likely
	// Training at a vanishing rate leaves the clone as it is: the warm
	// start clones at its own rate.
	cfg.Optimizer.LearningRate = 1e-9
	cfg.WarmStart = trainer.WarmStart{Workflows: map[string]string{"math": shownDSL, "qa": shownDSL, "code": shownCodeDSL}, Tasks: 9, Passes: 300, LearningRate: 3e-3}
	ctx := context.Background()
	logs := &episodeLog{}
	p, err := Prepare(ctx, cfg, Options{Dir: filepath.Join(t.TempDir(), "warm"), Observer: logs})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Trainer.Run(ctx); err != nil {
		t.Fatal(err)
	}
	step0 := int64(0)
	eps, err := p.Store.Episodes("warm", runstore.EpisodeFilter{Step: &step0, Phase: runstore.EvalPhase("warm-start")})
	if err != nil || len(eps) == 0 {
		t.Fatalf("%d step-0 evaluation episodes (%v)", len(eps), err)
	}
	// Greedy decoding repeats one operator across a parallel block's
	// branches (one head, one state), so the block is Programmer x3.
	greedy := func(dsl string) string { return strings.Replace(dsl, "Custom]", "Programmer]", 1) }
	for _, e := range eps {
		want := greedy(shownDSL)
		if strings.HasPrefix(e.TaskID, "syn-code") {
			want = greedy(shownCodeDSL)
		}
		if e.DSL != want {
			t.Errorf("task %s: the warm policy built %q, want %q", e.TaskID, e.DSL, want)
		}
	}
	if !slices.Contains(logs.logs, "warm start: showing 3 families' workflows on 9 training tasks") {
		t.Errorf("no warm start in the run's log:\n%s", strings.Join(logs.logs, "\n"))
	}
}

func TestWarmStartRefusesAWorkflowThePolicyCannotBuild(t *testing.T) {
	cfg := tinyConfig()
	cfg.Name = "cold"
	cfg.WarmStart = trainer.WarmStart{Workflows: map[string]string{"math": "[Programmer, Programmer, Verify] -> ScEnsemble -> Verify ? Revise : done -> Format"}, Tasks: 2, Passes: 1}
	ctx := context.Background()
	p, err := Prepare(ctx, cfg, Options{Dir: filepath.Join(t.TempDir(), "cold")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	err = p.Trainer.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), `branch operator "Verify"`) {
		t.Fatalf("Run = %v, want a refusal naming the branch", err)
	}
	if run, _ := p.Store.GetRun("cold"); run.Status != "failed" {
		t.Errorf("run status %s", run.Status)
	}
}
