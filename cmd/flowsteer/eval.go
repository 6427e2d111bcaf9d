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

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/eval"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/task"
	trainersvc "github.com/flowsteer/flowsteer/services/trainer"
)

type evalFlags struct {
	backendFlags
	tasks       string
	format      string
	workflow    string
	prices      string
	out         string
	concurrency int
	limit       int
	noProgress  bool
	pol         policyFlags
	auth        clientAuthFlags // --policy-addr connection
	baselines   []string
	greedy      bool
	sampleTemp  float64
}

func newEvalCmd() *cobra.Command {
	f := &evalFlags{}
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Evaluate a fixed workflow, or a policy next to the baselines, on a task file",
		Long: "With --workflow, eval runs that workflow on every task of --tasks with bounded concurrency, shows\n" +
			"progress, prints per-family accuracy (EM and F1 for qa, pass@1 for code) with counts and 95%\n" +
			"intervals, and writes one JSON line per task to --out.\n\n" +
			"With --policy (a kind below and its flags, e.g. embedded --checkpoint FILE, or fixed:DSL), eval plays\n" +
			"one sampled episode per task (--greedy for argmax) with that policy and with each --baselines policy on an in-process\n" +
			"canvas, and prints mean reward, structure-release rate and per-family accuracy with 95% intervals.",
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
	f.pol.register(cmd.Flags(), "", "evaluate a policy instead of a workflow")
	f.auth.register(cmd.Flags(), "", "--policy remote: the --policy-addr connection")
	cmd.Flags().StringSliceVar(&f.baselines, "baselines", []string{"random", "cot", "self-consistency", "full"}, "--policy: baselines to run beside it")
	cmd.Flags().Float64Var(&f.sampleTemp, "sample-temperature", 1, "--policy: temperature of the policy's sampled decisions (1 = as the embedded policy trains; lower is nearer --greedy)")
	cmd.Flags().BoolVar(&f.greedy, "greedy", false, "--policy: take each head's most likely choice instead of sampling (a policy trained by sampling can be degenerate greedily)")
	_ = cmd.MarkFlagRequired("tasks")
	cmd.Flags().StringVar(&f.prices, "prices", "", "price table (YAML list of backend, model, input, output, cached_input per million tokens) for money per task")
	cmd.MarkFlagsMutuallyExclusive("workflow", "policy")
	cmd.MarkFlagsOneRequired("workflow", "policy")
	return cmd
}

func runEval(ctx context.Context, out, errOut io.Writer, f *evalFlags) error {
	if f.concurrency < 1 {
		return fmt.Errorf("--concurrency must be at least 1")
	}
	if f.pol.policy != "" {
		return evalPolicy(ctx, out, errOut, f)
	}
	job, err := prepareWorkflowJob(ctx, &f.backendFlags, "--workflow", f.workflow, f.tasks, f.format, f.limit)
	if err != nil {
		return err
	}
	defer job.sys.Close()
	sys, g, tasks := job.sys, job.graph, job.tasks
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
	if job.droppedTests > 0 {
		fmt.Fprintf(out, "public tests: %d examples dropped because the data set's reference solution fails them (flowsteer tasks inspect lists them)\n", job.droppedTests)
	}
	var bar *progressbar.ProgressBar
	if !f.noProgress && isTerminal(errOut) {
		bar = progressbar.NewOptions(len(tasks), progressbar.OptionSetWriter(errOut), progressbar.OptionSetDescription("tasks"),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
	}
	var writeErr error
	prices, err := loadPrices(f.prices)
	if err != nil {
		return err
	}
	r := &eval.Runner{Executor: sys.Engine, Library: sys.Library, Scorer: sys.Scorer, Concurrency: f.concurrency, Prices: prices,
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
	fmt.Fprint(out, costTable(results))
	if g := mathGraders(results); g != "" {
		fmt.Fprintf(out, "math graded by: %s\n", g)
	}
	if f.out != "" {
		fmt.Fprintf(out, "per-task results: %s\n", f.out)
	}
	if sys.Simulated {
		fmt.Fprintln(out, "executor: simulated")
	}
	return nil
}

func evalPolicy(ctx context.Context, out, errOut io.Writer, f *evalFlags) error {
	if !(f.sampleTemp > 0 && f.sampleTemp <= 5) {
		return fmt.Errorf("--sample-temperature must be in (0, 5], got %v", f.sampleTemp)
	}
	kind, set, err := f.pol.spec()
	if err != nil {
		return err
	}
	bset, err := f.backendOptions()
	if err != nil {
		return err
	}
	// Bad options are named by their flags before anything starts.
	if _, err := policy.Kinds.Decode(kind, set); err != nil {
		return policy.Kinds.FlagError(kind, err)
	}
	if _, err := executor.Backends.Decode(f.backend, bset); err != nil {
		return executor.Backends.FlagError(f.backend, err)
	}
	tasks, n, err := system.LoadTasks(ctx, f.tasks, f.format, nil, f.limit, nil)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(out, "public tests: %d examples dropped because the data set's reference solution fails them (flowsteer tasks inspect lists them)\n", n)
	}
	var pts []*pb.Task
	for _, t := range tasks {
		pts = append(pts, protoconv.TaskToPB(t))
	}
	prices, err := loadPrices(f.prices)
	if err != nil {
		return err
	}
	obs := newTermObserver(out, errOut, !f.noProgress)
	obs.evalOnly = true
	dialOpts, err := f.auth.dialOptions()
	if err != nil {
		return err
	}
	rep, err := trainersvc.EvaluatePolicy(ctx, trainersvc.EvalSpec{Policy: kind, PolicyOptions: set, Tasks: pts, Baselines: f.baselines, Concurrency: f.concurrency,
		Backend: f.backend, BackendOptions: bset, Sample: !f.greedy, Temperature: f.sampleTemp, Seed: f.seed(), Observer: obs, DialOptions: dialOpts, Prices: prices,
		MathGrader: f.mathGrader})
	obs.finish()
	if err != nil {
		return err
	}
	obs.EvalDone(rep)
	if rep.GetSimulated() {
		fmt.Fprintln(out, "executor: SIMULATED (offline sim) — these figures describe the simulation, not real models")
	}
	return nil
}

// mathGraders says which grader scored the math answers: math-verify
// results carry its name and version in their explanation, Go scorer
// results their numeric/expression method.
func mathGraders(results []eval.Result) string {
	mv, goScorer, name := 0, 0, ""
	for _, r := range results {
		if r.Family != task.Math {
			continue
		}
		if r.Method == task.MethodMathVerify {
			mv++
			if i := strings.Index(r.Explanation, "math-verify "); i >= 0 && name == "" {
				name = strings.Fields(r.Explanation[i:])[0] + " " + strings.Fields(r.Explanation[i:])[1]
			}
			continue
		}
		goScorer++
	}
	var parts []string
	if mv > 0 {
		if name == "" {
			name = "math-verify"
		}
		parts = append(parts, fmt.Sprintf("%s: %d answers", name, mv))
	}
	if goScorer > 0 {
		parts = append(parts, fmt.Sprintf("flowsteer Go scorer: %d answers", goScorer))
	}
	return strings.Join(parts, "; ")
}
