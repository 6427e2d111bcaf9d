package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/flowsteer/flowsteer/internal/task"
)

func newTasksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "Work with task files: generate the offline suite, inspect files",
	}
	cmd.AddCommand(newTasksGenerateCmd(), newTasksInspectCmd())
	return cmd
}

type tasksGenerateFlags struct {
	out   string
	n     int
	evalN int
	seed  int64
}

func newTasksGenerateCmd() *cobra.Command {
	f := &tasksGenerateFlags{}
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write the offline synthetic suite (math, qa, code) with known answers",
		Long: "generate writes OUT/train.jsonl (--n tasks) and OUT/eval.jsonl (--eval-n held-out tasks) in flowsteer's\n" +
			"task format: arithmetic word problems, reading comprehension over generated paragraphs (some\n" +
			"unanswerable) and small Python function tasks with public and hidden tests. The suite is a pure\n" +
			"function of --seed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.n < 1 || f.evalN < 0 {
				return fmt.Errorf("--n must be at least 1 and --eval-n at least 0")
			}
			all := task.Generate(f.n+f.evalN, f.seed)
			if err := os.MkdirAll(f.out, 0o755); err != nil {
				return err
			}
			for _, part := range []struct {
				name  string
				tasks []task.Task
			}{{"train.jsonl", all[:f.n]}, {"eval.jsonl", all[f.n:]}} {
				p := filepath.Join(f.out, part.name)
				if err := writeTasks(p, part.tasks); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %d tasks to %s\n", len(part.tasks), p)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.out, "out", "", "output directory (required)")
	cmd.Flags().IntVar(&f.n, "n", 300, "training tasks")
	cmd.Flags().IntVar(&f.evalN, "eval-n", 90, "held-out evaluation tasks")
	cmd.Flags().Int64Var(&f.seed, "seed", 1, "seed")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// writeTasks writes tasks to path atomically, so an interrupted run never
// leaves half a file behind.
func writeTasks(path string, ts []task.Task) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tasks-*.jsonl")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := task.WriteJSONL(tmp, ts); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func newTasksInspectCmd() *cobra.Command {
	var format string
	var jsonl bool
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Load a task file (any supported layout) and print what was read",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := task.Load(args[0], format)
			if err != nil {
				return err
			}
			if jsonl { // every task in flowsteer's own format (flowsteer.trl.task_dataset reads it)
				return task.WriteJSONL(cmd.OutOrStdout(), ts)
			}
			counts := map[task.Family]int{}
			for _, t := range ts {
				counts[t.Family]++
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d tasks %v\n", args[0], len(ts), counts)
			for i, t := range ts {
				if i == 3 {
					break
				}
				fmt.Fprintf(cmd.OutOrStdout(), "  %s [%s/%s] %s\n", t.ID, t.Family, t.Source, oneLine(t.Question, 90))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "auto", "layout: auto or a data set name")
	cmd.Flags().BoolVar(&jsonl, "jsonl", false, "print every task as one line of flowsteer's JSONL task format instead of a summary")
	return cmd
}
