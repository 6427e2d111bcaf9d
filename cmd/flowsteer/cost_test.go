package main

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/eval"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

func TestEvalCostTablePutsTokensAndMoneyNextToAccuracy(t *testing.T) {
	out := costTable([]eval.Result{
		{Family: "math", Correct: true, Tokens: 100, WorkflowTokens: 300, Money: 0.001, WorkflowMoney: 0.003},
		{Family: "math", Correct: false, Tokens: 0, WorkflowTokens: 300, Money: 0, WorkflowMoney: 0.003},
		{Family: "qa", Correct: true, Tokens: 50, WorkflowTokens: 50, Unpriced: true},
	})
	for _, want := range []string{
		"math         2     0.500            300             50       0.003000       0.000500",
		"qa           1     1.000             50             50       0.000000       0.000000  (unpriced model: money 0)",
		"all          3     0.667            217             50",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestFormatEstimateStatesTheInterval(t *testing.T) {
	s := FormatEstimate(trainer.Estimate{PilotGroups: 4, PilotEpisodes: 32, TrainGroups: 80, EvalEpisodes: 600,
		ExecutorTokens: trainer.Interval{Mean: 2e6, Low: 1e6, High: 3e6}, Money: trainer.Interval{Mean: 2, Low: 1, High: 3},
		WallSeconds: trainer.Interval{Mean: 600, Low: 300, High: math.Inf(1)}}, true)
	for _, want := range []string{"80 training groups + 600 evaluation episodes", "2000000 [95% 1000000, 3000000]", "10m0s [5m0s, inf]", "SIMULATED"} {
		if !strings.Contains(s, want) {
			t.Errorf("estimate lacks %q:\n%s", want, s)
		}
	}
}

func TestRunsShowPrintsCost(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r1")
	st, err := runstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRun(runstore.Run{ID: "r1", Status: runstore.StatusBudgetReached, Error: "budget money reached: spent 1.0000 of 1.0000"}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutStep("r1", &pb.StepMetrics{Step: 1, Cost: &pb.CostSummary{Episodes: 4, ExecutorCalls: 9, ExecutorInputTokens: 700, ExecutorOutputTokens: 70, ExecutorMoney: 1, SavedMoney: 0.25}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	cmd := newRunsCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"show", dir})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"stopped: budget money reached", "exec tokens 770  money 1.0000  saved 0.2500", "cost: executor 9 calls, 770 tokens"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("runs show lacks %q:\n%s", want, out.String())
		}
	}
}

// TestTrainBudgetFlagsRaiseAStoppedRun goes through the command: a run
// whose budget is spent by its first evaluation stops budget_reached, and
// --resume with --budget-executor-tokens raises it and finishes the run.
func TestTrainBudgetFlagsRaiseAStoppedRun(t *testing.T) {
	root := t.TempDir()
	cfgPath := filepath.Join(root, "tiny.yaml")
	yaml := "name: tiny\nsteps: 1\nbatch_tasks: 1\ngroup_size: 2\nmax_rounds: 8\nconcurrency: 2\n" +
		"tasks: {families: [qa]}\neval: {tasks: 1, baselines: []}\nbudget: {executor_tokens: 1}\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "run")
	var out bytes.Buffer
	if err := runTrain(context.Background(), &out, io.Discard, &trainFlags{config: cfgPath, dir: dir, noProgress: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "stopped at a budget (budget executor_tokens reached") {
		t.Fatalf("first run:\n%s", out.String())
	}
	out.Reset()
	if err := runTrain(context.Background(), &out, io.Discard, &trainFlags{resume: dir, noProgress: true, budgetTokens: 1e12}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "done: "+dir) {
		t.Fatalf("resumed run:\n%s", out.String())
	}
	cfg, err := trainer.LoadConfig(filepath.Join(dir, "config.yaml"))
	if err != nil || cfg.Budget.ExecutorTokens != 1e12 {
		t.Errorf("config.yaml budget %+v (%v)", cfg.Budget, err)
	}
}
