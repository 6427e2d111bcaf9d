package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/flowsteer/flowsteer/internal/eval"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

type evalFlags struct {
	backendFlags
	tasks       string
	format      string
	workflow    string
	out         string
	concurrency int
	limit       int
	noProgress  bool
}

func newEvalCmd() *cobra.Command {
	f := &evalFlags{}
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Run a fixed workflow over a task file and report per-family accuracy",
		Long: "eval runs --workflow on every task of --tasks with bounded concurrency, shows progress,\n" +
			"prints per-family accuracy (EM and F1 for qa, pass@1 for code) with counts and 95% intervals,\n" +
			"and writes one JSON line per task to --out.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEval(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&f.tasks, "tasks", "", "task file (required)")
	cmd.Flags().StringVar(&f.format, "format", "auto", "task file layout: auto, or one of "+strings.Join(task.Formats(), ", "))
	cmd.Flags().StringVar(&f.workflow, "workflow", "", "workflow DSL to evaluate (required)")
	cmd.Flags().StringVar(&f.out, "out", "", "write per-task results as JSONL here")
	cmd.Flags().IntVar(&f.concurrency, "concurrency", 4, "tasks run at once")
	cmd.Flags().IntVar(&f.limit, "limit", 0, "evaluate at most this many tasks (0 = all)")
	cmd.Flags().BoolVar(&f.noProgress, "no-progress", false, "do not draw a progress bar")
	_ = cmd.MarkFlagRequired("tasks")
	_ = cmd.MarkFlagRequired("workflow")
	return cmd
}

func runEval(ctx context.Context, out, errOut io.Writer, f *evalFlags) error {
	if f.concurrency < 1 {
		return fmt.Errorf("--concurrency must be at least 1")
	}
	o, err := f.options()
	if err != nil {
		return err
	}
	sys, err := system.Build(o)
	if err != nil {
		return err
	}
	g, err := workflow.Parse(f.workflow, sys.Library)
	if err != nil {
		return fmt.Errorf("--workflow: %w", err)
	}
	tasks, err := task.Load(f.tasks, f.format)
	if err != nil {
		return err
	}
	if f.limit > 0 && len(tasks) > f.limit {
		tasks = tasks[:f.limit]
	}
	var sink *os.File
	var enc *json.Encoder
	if f.out != "" {
		if err := os.MkdirAll(filepath.Dir(f.out), 0o755); err != nil {
			return err
		}
		if sink, err = os.Create(f.out); err != nil {
			return err
		}
		defer sink.Close()
		enc = json.NewEncoder(sink)
	}
	b, _ := sys.Backends.Get("")
	simNote := ""
	if sys.Simulated {
		simNote = " (SIMULATED executor: figures describe the offline sim, not a real model)"
	}
	fmt.Fprintf(out, "evaluating %s on %d tasks from %s with %s / %s%s\n", g.String(), len(tasks), f.tasks, b.Name(), b.Model(), simNote)
	var bar *progressbar.ProgressBar
	if !f.noProgress {
		bar = progressbar.NewOptions(len(tasks), progressbar.OptionSetWriter(errOut), progressbar.OptionSetDescription("tasks"),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
	}
	var writeErr error
	r := &eval.Runner{Executor: sys.Engine, Library: sys.Library, Scorer: sys.Scorer, Concurrency: f.concurrency,
		OnResult: func(res eval.Result) {
			if enc != nil && writeErr == nil {
				writeErr = enc.Encode(res)
			}
			if bar != nil {
				_ = bar.Add(1)
			}
		}}
	results, err := r.Run(ctx, g, tasks)
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return err
	}
	if writeErr != nil {
		return fmt.Errorf("--out: %w", writeErr)
	}
	fmt.Fprint(out, eval.Format(eval.Summarize(results)))
	calls, hits, failed := 0, 0, 0
	for _, res := range results {
		calls += res.Calls
		hits += res.CacheHits
		failed += res.FailedNodes
	}
	fmt.Fprintf(out, "executor calls: %d (cache hits %d), failed nodes: %d\n", calls, hits, failed)
	if f.out != "" {
		fmt.Fprintf(out, "per-task results: %s\n", f.out)
	}
	if sys.Simulated {
		fmt.Fprintln(out, "executor: simulated")
	}
	return nil
}
