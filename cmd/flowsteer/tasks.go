package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flowsteer/flowsteer/internal/fsutil"
	"github.com/flowsteer/flowsteer/internal/system"
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
	level string
}

func newTasksGenerateCmd() *cobra.Command {
	f := &tasksGenerateFlags{}
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write the offline synthetic suite (math, qa, code) with known answers",
		Long: "generate writes OUT/train.jsonl (--n tasks) and OUT/eval.jsonl (--eval-n held-out tasks) in flowsteer's\n" +
			"task format: arithmetic word problems, reading comprehension over generated paragraphs (some\n" +
			"unanswerable) and small Python function tasks with public and hidden tests. The suite is a pure\n" +
			"function of --seed. --level easy writes the variant a very small real model can score on: one\n" +
			"addition or subtraction of small numbers, single-hop answerable questions, one-line functions.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.n < 1 || f.evalN < 0 {
				return fmt.Errorf("--n must be at least 1 and --eval-n at least 0")
			}
			level, err := task.ParseLevel(f.level)
			if err != nil {
				return fmt.Errorf("--level: %w", err)
			}
			all := task.GenerateLevel(f.n+f.evalN, f.seed, level)
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
	cmd.Flags().StringVar(&f.level, "level", string(task.Standard), "how hard: standard or easy")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// writeTasks writes tasks to path atomically, so an interrupted run never
// leaves half a file behind.
func writeTasks(path string, ts []task.Task) error {
	var buf bytes.Buffer
	if err := task.WriteJSONL(&buf, ts); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, buf.Bytes(), 0o644)
}

func newTasksInspectCmd() *cobra.Command {
	var (
		format string
		asJSON bool
		jsonl  bool
		noVet  bool
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Load a task file (any supported layout) and show every record as flowsteer reads it",
		Long: "inspect loads FILE (or a directory: MATH's one file per problem, APPS's one directory per problem)\n" +
			"the way eval and train do, and prints per record: id, family and source, a question excerpt, the\n" +
			"gold answers (or, for code, the hidden test count and entry point), the public tests the policy and\n" +
			"the Test operator will see, and the public examples that were dropped with the reason. Public\n" +
			"examples of code tasks are run against the data set's reference solution in the sandbox first\n" +
			"(--no-vet skips that); those it fails are dropped, as eval drops them. --json prints every record as\n" +
			"one JSON object per line (the Task itself, hidden fields included) for scripts.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := task.Load(args[0], format)
			if err != nil {
				return err
			}
			dropped := 0
			if !noVet {
				if dropped, err = vetTasks(cmd.Context(), ts); err != nil {
					return fmt.Errorf("%w (pass --no-vet to inspect without running code)", err)
				}
			}
			w := cmd.OutOrStdout()
			if asJSON || jsonl { // flowsteer.trl.task_dataset reads --jsonl
				return task.WriteJSONL(w, ts)
			}
			counts := map[task.Family]int{}
			for _, t := range ts {
				counts[t.Family]++
			}
			fmt.Fprintf(w, "%s: %d tasks %v", args[0], len(ts), counts)
			if !noVet {
				fmt.Fprintf(w, ", %d public examples dropped (the reference solution fails them)", dropped)
			}
			fmt.Fprintln(w)
			for i, t := range ts {
				if limit > 0 && i == limit {
					fmt.Fprintf(w, "... %d more (--limit 0 shows all)\n", len(ts)-limit)
					break
				}
				printTask(w, t)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "auto", "layout: auto or a data set name")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print every record as JSON Lines (flowsteer's task format)")
	cmd.Flags().BoolVar(&noVet, "no-vet", false, "do not run public examples against the reference solution")
	cmd.Flags().IntVar(&limit, "limit", 0, "print at most this many records (0 = all)")
	cmd.Flags().BoolVar(&jsonl, "jsonl", false, "the same as --json (flowsteer.trl.task_dataset passes it)")
	return cmd
}

func printTask(w io.Writer, t task.Task) {
	fmt.Fprintf(w, "\n%s [%s/%s]\n  question: %s\n", t.ID, t.Family, t.Source, oneLine(t.Question, 160))
	for i, c := range t.Choices {
		fmt.Fprintf(w, "  (%c) %s\n", 'a'+i, oneLine(c, 80))
	}
	switch {
	case t.Family == task.Code:
		hidden := len(t.HiddenTests.Cases)
		if hidden == 0 {
			hidden = strings.Count(t.HiddenTests.Code, "assert")
		}
		fmt.Fprintf(w, "  hidden tests: %s style, %d", orDash(string(t.HiddenTests.Style)), hidden)
		if t.HiddenTests.Style == task.EmbedStyle {
			fmt.Fprint(w, " (the data set's evaluation program)")
		}
		fmt.Fprintf(w, "\n  entry point: %s\n  reference solution: %v\n", orDash(t.EntryPoint), t.Reference != "")
		switch {
		case len(t.PublicTests.Cases) > 0:
			fmt.Fprintf(w, "  public tests: %d stdin/stdout examples\n", len(t.PublicTests.Cases))
			for _, c := range t.PublicTests.Cases {
				fmt.Fprintf(w, "    input %q -> output %q\n", oneLine(c.Input, 60), oneLine(c.Output, 60))
			}
		case t.PublicTests.Code != "":
			fmt.Fprintln(w, "  public tests:")
			for _, l := range strings.Split(strings.TrimRight(t.PublicTests.Code, "\n"), "\n") {
				if strings.HasPrefix(l, "assert") {
					fmt.Fprintf(w, "    %s\n", oneLine(l, 150))
				}
			}
		default:
			fmt.Fprintln(w, "  public tests: none (the data set gives no public examples)")
		}
	case t.Unanswerable:
		fmt.Fprintln(w, "  gold: unanswerable (only an explicit abstention is correct)")
	default:
		fmt.Fprintf(w, "  gold: %s\n", oneLine(strings.Join(t.Answers, " | "), 160))
	}
	for _, d := range t.DroppedTests {
		fmt.Fprintf(w, "  dropped public example: %s\n    reason: %s\n", oneLine(d.Test, 150), oneLine(d.Reason, 150))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// vetTasks drops the public examples of code tasks that the data set's own
// reference solution fails, in a default sandbox, as every command does
// (system.VetTasks).
func vetTasks(ctx context.Context, ts []task.Task) (int, error) {
	return system.VetTasks(ctx, ts, nil)
}
