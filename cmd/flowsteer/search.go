package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flowsteer/flowsteer/internal/policy/embedded"
	"github.com/flowsteer/flowsteer/internal/search"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

type searchFlags struct {
	backendFlags
	tasks       string
	format      string
	families    []string
	perFamily   int
	budget      int
	maxEvals    int
	seed        int64
	maxRounds   int
	concurrency int
	out         string
	quiet       bool
	joint       bool
	space       string
}

func newSearchCmd() *cobra.Command {
	f := &searchFlags{}
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Search the workflow space for the best fixed workflow of each task family (a baseline)",
		Long: "search runs an AFlow-style search per task family of --tasks (the training split): an archive of\n" +
			"evaluated workflows, a parent drawn among the best with AFlow's mixed probability, one atomic DSL edit\n" +
			"of the set the canvas allows (add an operator, parallel block, conditional or loop; delete a stage;\n" +
			"change an operator), the child scored by its accuracy on the family's first --tasks-per-family tasks.\n" +
			"Candidates obey the canvas's finish rules and fit in --max-rounds turns of a fixed policy. It stops at\n" +
			"--budget executor calls (cache hits are free) or --max-evals candidates per family, and prints each\n" +
			"family's best workflow as DSL, ready for `flowsteer eval --policy fixed:DSL`.\n\n" +
			"--joint searches once over every family together for the best single workflow (the \"best single fixed\n" +
			"workflow\" baseline): a candidate must be valid on every family's canvas, where stages of operators a\n" +
			"family does not enable (Test without tests) are left out, and scores the mean of the families' accuracies.\n" +
			"Its budget is --budget times the number of families (what the per-family searches spend together) and\n" +
			"--max-evals candidates.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSearch(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&f.tasks, "tasks", "", "training task file (required)")
	cmd.Flags().StringVar(&f.format, "format", "auto", "task file layout: auto, or one of "+strings.Join(task.Formats(), ", "))
	cmd.Flags().StringSliceVar(&f.families, "families", nil, "search only these families (default: every family of --tasks)")
	cmd.Flags().IntVar(&f.perFamily, "tasks-per-family", 10, "training tasks each candidate is scored on, per family")
	cmd.Flags().IntVar(&f.budget, "budget", 3000, "executor calls per family (0 = no limit; cache hits are free)")
	cmd.Flags().IntVar(&f.maxEvals, "max-evals", 0, "candidates per family (0 = no limit)")
	cmd.Flags().Int64Var(&f.seed, "seed", 1, "search seed")
	cmd.Flags().IntVar(&f.maxRounds, "max-rounds", 20, "the canvas's rounds: a candidate must be buildable and finished in them")
	cmd.Flags().IntVar(&f.concurrency, "concurrency", 4, "tasks run at once while scoring a candidate")
	cmd.Flags().StringVar(&f.out, "out", "", "write every evaluated candidate as a JSON line here")
	cmd.Flags().BoolVar(&f.quiet, "quiet", false, "print only the results, not every candidate")
	cmd.Flags().StringVar(&f.space, "space", "canvas", "the workflows searched: canvas (every one the canvas accepts) or embedded (only those the embedded policy can build, edit by edit: its warm-start demonstrations)")
	cmd.Flags().BoolVar(&f.joint, "joint", false, "find one workflow for every family together (the best single fixed workflow), not one per family")
	_ = cmd.MarkFlagRequired("tasks")
	return cmd
}

func runSearch(ctx context.Context, out io.Writer, f *searchFlags) error {
	if f.budget <= 0 && f.maxEvals <= 0 {
		return fmt.Errorf("set --budget or --max-evals: an unbounded search never ends")
	}
	var restrict func(*workflow.Graph) error
	switch f.space {
	case "canvas":
	case "embedded":
		if f.joint {
			return fmt.Errorf("--space embedded searches per family; it does not combine with --joint")
		}
		restrict = embedded.Expressible
	default:
		return fmt.Errorf("--space must be canvas or embedded, got %q", f.space)
	}
	if f.perFamily < 1 || f.concurrency < 1 || f.maxRounds < 1 {
		return fmt.Errorf("--tasks-per-family, --concurrency and --max-rounds must be at least 1")
	}
	o, err := f.options()
	if err != nil {
		return err
	}
	sys, err := system.BuildContext(ctx, o)
	if err != nil {
		return err
	}
	defer sys.Close()
	tasks, _, err := system.LoadTasks(ctx, f.tasks, f.format, f.families, 0, sys.Scorer.CodeRunner())
	if err != nil {
		return err
	}
	if len(tasks) == 0 {
		return fmt.Errorf("--tasks: no tasks (of --families %v)", f.families)
	}
	var enc *json.Encoder
	var encErr error
	if f.out != "" {
		fh, err := os.Create(f.out)
		if err != nil {
			return err
		}
		defer fh.Close()
		enc = json.NewEncoder(fh)
	}
	sim := ""
	if sys.Simulated {
		sim = " (SIMULATED executor)"
	}
	if f.joint {
		fams, _ := familyTasks(tasks, 0)
		fmt.Fprintf(out, "searching one workflow for %d families (%d training tasks from %s), seed %d, budget %d calls (%d per family) / %d candidates%s\n",
			len(fams), len(tasks), f.tasks, f.seed, f.budget*len(fams), f.budget, f.maxEvals, sim)
	} else {
		fmt.Fprintf(out, "searching %d training tasks from %s, seed %d, budget %d calls / %d candidates per family%s\n", len(tasks), f.tasks, f.seed, f.budget, f.maxEvals, sim)
	}
	var progress io.Writer
	if !f.quiet {
		progress = out
	}
	onEval := func(fam task.Family, c search.Candidate) {
		if enc != nil && encErr == nil {
			encErr = enc.Encode(struct {
				Family string `json:"family"`
				search.Candidate
			}{string(fam), c})
		}
	}
	if f.joint {
		return runJointSearch(ctx, out, f, sys, tasks, progress, enc, &encErr)
	}
	res, err := searchFamilies(ctx, sys, tasks, f.perFamily, search.Config{Seed: f.seed, Budget: f.budget, MaxEvals: f.maxEvals}, f.maxRounds, f.concurrency, restrict, progress, onEval)
	for _, fam := range slices.Sorted(maps.Keys(res)) {
		r := res[fam]
		fmt.Fprintf(out, "%s: best %.3f on %d training tasks after %d candidates, %d executor calls (stopped: %s)\n  %s\n  baseline: fixed:%s\n",
			fam, r.Best.Score, min(f.perFamily, countFamily(tasks, fam)), len(r.Evaluated), r.Spent, r.Stopped, r.Best.DSL, r.Best.DSL)
	}
	if sys.Simulated {
		fmt.Fprintln(out, "executor: simulated")
	}
	if err != nil {
		return err
	}
	if encErr != nil {
		return fmt.Errorf("--out: %w", encErr)
	}
	return nil
}

// runJointSearch is `flowsteer search --joint`.
func runJointSearch(ctx context.Context, out io.Writer, f *searchFlags, sys *system.System, tasks []task.Task, progress io.Writer, enc *json.Encoder, encErr *error) error {
	onEval := func(c search.Candidate) {
		if enc != nil && *encErr == nil {
			*encErr = enc.Encode(struct {
				Family string `json:"family"`
				search.Candidate
			}{"*", c})
		}
	}
	r, err := searchJoint(ctx, sys, tasks, f.perFamily, search.Config{Seed: f.seed, Budget: f.budget, MaxEvals: f.maxEvals}, f.maxRounds, f.concurrency, progress, onEval)
	if r.Best.DSL != "" {
		fmt.Fprintf(out, "every family: best %.3f (mean of the families' accuracies) after %d candidates, %d executor calls (stopped: %s)\n  %s\n",
			r.Best.Score, len(r.Evaluated), r.Spent, r.Stopped, r.Best.DSL)
		for _, fam := range slices.Sorted(maps.Keys(r.Families)) {
			fmt.Fprintf(out, "  %s plays: fixed:%s\n", fam, r.Families[fam])
		}
	}
	if sys.Simulated {
		fmt.Fprintln(out, "executor: simulated")
	}
	if err != nil {
		return err
	}
	if *encErr != nil {
		return fmt.Errorf("--out: %w", *encErr)
	}
	return nil
}

func countFamily(ts []task.Task, f task.Family) int {
	n := 0
	for _, t := range ts {
		if t.Family == f {
			n++
		}
	}
	return n
}
