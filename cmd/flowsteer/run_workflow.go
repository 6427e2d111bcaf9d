package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/task"
)

type runWorkflowFlags struct {
	backendFlags
	dsl      string
	taskFile string
	format   string
	limit    int
}

func newRunWorkflowCmd() *cobra.Command {
	f := &runWorkflowFlags{}
	cmd := &cobra.Command{
		Use:   "run-workflow",
		Short: "Run a fixed workflow on every task of a file and print each node's result",
		Long: "run-workflow parses --dsl, runs it on each task of --task-file with the chosen executor backend,\n" +
			"and prints the node-by-node run, the final answer and its score.\n\n" +
			"Example:\n  flowsteer run-workflow --dsl \"Plan -> [Programmer, AnswerGenerate] -> ScEnsemble -> Review ? Revise : done -> Format\" \\\n" +
			"      --task-file tasks.jsonl --backend sim",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWorkflow(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&f.dsl, "dsl", "", "the workflow, e.g. \"Programmer -> Format\" (required)")
	cmd.Flags().StringVar(&f.taskFile, "task-file", "", "JSONL or JSON task file in a public layout (required)")
	cmd.Flags().StringVar(&f.format, "format", "auto", "task file layout: auto, or one of "+strings.Join(task.Formats(), ", "))
	cmd.Flags().IntVar(&f.limit, "limit", 0, "run at most this many tasks (0 = all)")
	_ = cmd.MarkFlagRequired("dsl")
	_ = cmd.MarkFlagRequired("task-file")
	return cmd
}

func runWorkflow(ctx context.Context, out io.Writer, f *runWorkflowFlags) error {
	job, err := prepareWorkflowJob(ctx, &f.backendFlags, "--dsl", f.dsl, f.taskFile, f.format, f.limit)
	if err != nil {
		return err
	}
	defer job.sys.Close()
	sys, g, tasks := job.sys, job.graph, job.tasks
	b, _ := sys.Backends.Get("")
	label := b.Name() + " / " + b.Model()
	if sys.Simulated {
		label += " — SIMULATED executor, not a real model"
	}
	fmt.Fprintf(out, "workflow: %s\nexecutor: %s\ntasks: %d from %s\n", g.String(), label, len(tasks), f.taskFile)
	correct := 0
	for i, t := range tasks {
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Fprintf(out, "\n[%d/%d] %s (%s): %s\n", i+1, len(tasks), t.ID, t.Family, oneLine(t.Question, 100))
		ex, err := sys.Engine.Execute(ctx, canvas.ExecRequest{Graph: g.Clone(), Task: t, Library: sys.Library,
			OnNode: func(n canvas.NodeResult) { printNode(out, n) }})
		if err != nil {
			return err
		}
		if ex.Error != "" {
			fmt.Fprintf(out, "  run error: %s\n", ex.Error)
		}
		sc := canvas.ScoreExecution(ctx, sys.Scorer, t, g, ex)
		if sc.Correct {
			correct++
		}
		fmt.Fprintf(out, "  final answer: %s\n  score: %.2f (%s) %s\n", oneLine(ex.FinalAnswer, 120), sc.Value, sc.Method, sc.Explanation)
		fmt.Fprintf(out, "  calls: %d (cache hits %d), tokens in/out: %d/%d, sandbox runs: %d\n",
			ex.Stats.Calls, ex.Stats.CacheHits, ex.Stats.InputTokens, ex.Stats.OutputTokens, ex.Stats.SandboxRuns)
		if ex.Note != "" {
			fmt.Fprintf(out, "  note: %s\n", ex.Note)
		}
	}
	fmt.Fprintf(out, "\ncorrect: %d/%d\n", correct, len(tasks))
	if sys.Simulated {
		fmt.Fprintln(out, "(executor: simulated — these figures describe the offline simulation, not a real model)")
	}
	return nil
}

func printNode(out io.Writer, n canvas.NodeResult) {
	status := string(n.Status)
	extra := ""
	if n.CacheHit {
		extra = " (cached)"
	}
	if n.Iteration > 0 {
		extra += fmt.Sprintf(" (iteration %d)", n.Iteration+1)
	}
	body := oneLine(n.Output, 100)
	if n.Error != "" {
		body = "error: " + oneLine(n.Error, 100)
	}
	fmt.Fprintf(out, "  %-12s %-14s %-7s%s %s\n", n.NodeID, n.Operator, status, extra, body)
}
