package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/report"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/trainer"
	trainersvc "github.com/flowsteer/flowsteer/services/trainer"
)

type trainFlags struct {
	config     string
	resume     string
	runsDir    string
	dir        string
	ablation   string
	steps      int
	noProgress bool
	sets       []string // --set key=value, set_flag.go
	printCfg   bool     // --print-config, set_flag.go
	// cost (issue 23)
	estimate     bool
	pilotGroups  int
	budgetMoney  float64
	budgetTokens float64
	budgetWall   time.Duration
	store        string // --store KIND, with its kind's option flags
	fs           *pflag.FlagSet
}

func newTrainCmd() *cobra.Command {
	f := &trainFlags{}
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a Flow-Director with CWRPO (offline quickstart without flags)",
		Long: "train runs CWRPO: for each step it plays a group of episodes per task against the canvas,\n" +
			"turns rewards into group-relative advantages and updates the policy. It evaluates the policy and\n" +
			"the baselines on held-out tasks before and after training, stores everything under the run\n" +
			"directory (run.db, checkpoints/, config.yaml) and writes report.html.\n\n" +
			"Without --config it trains the embedded Go policy on the built-in offline suite with the\n" +
			"simulated executor. Ctrl-C stops after saving what is done; --resume RUN_DIR continues.\n\n" +
			"Kinds a run config may name (their options: docs/config.md):\n" +
			"  backend.kind: " + executor.Backends.Describe() + "\n" +
			"  policy.kind: " + policy.Kinds.Describe() + " (training needs one that learns)\n" +
			"  store.kind: " + runstore.Kinds.Describe(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTrain(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	cmd.Flags().StringVar(&f.config, "config", "", "run configuration (YAML); default: the offline quickstart")
	cmd.Flags().StringVar(&f.resume, "resume", "", "continue the run in this directory from its last checkpoint")
	cmd.Flags().StringVar(&f.runsDir, "runs-dir", "runs", "where new run directories are made")
	cmd.Flags().Bool("record-spans", true, "record the run's spans into its store for `flowsteer ui`'s trace pages (sampled as OTEL_TRACES_SAMPLER says, at most 5000 per episode)")
	cmd.Flags().Float64("span-episodes", 0.1, "share of episodes whose spans are recorded after a run's first 200, which all are (0 to 1)")
	cmd.Flags().StringVar(&f.dir, "dir", "", "run directory for a new run (default: RUNS_DIR/NAME-TIMESTAMP)")
	cmd.Flags().StringVar(&f.ablation, "ablation", "", "\"correctness\": plain GRPO with the correctness-only reward, to compare with CWRPO's")
	cmd.Flags().IntVar(&f.steps, "steps", 0, "override the number of training steps")
	cmd.Flags().StringArrayVar(&f.sets, "set", nil, "override a config key before decoding, e.g. --set policy.address=127.0.0.1:50752 --set tasks.families=[math] (repeatable; dotted keys; YAML values)")
	cmd.Flags().BoolVar(&f.printCfg, "print-config", false, "print the run config that --config, --set, --steps and --ablation give, as JSON, and exit")
	cmd.Flags().BoolVar(&f.noProgress, "no-progress", false, "print one line per step, no progress bar")
	cmd.Flags().BoolVar(&f.estimate, "estimate", false, "play a small pilot and print the projected cost and time of the whole run, then exit")
	cmd.Flags().IntVar(&f.pilotGroups, "pilot-groups", 0, "groups the --estimate pilot plays (default estimate.pilot_groups, else 4)")
	cmd.Flags().Float64Var(&f.budgetMoney, "budget-money", 0, "override budget.money (also on --resume, to raise a spent budget)")
	cmd.Flags().Float64Var(&f.budgetTokens, "budget-executor-tokens", 0, "override budget.executor_tokens (also on --resume)")
	cmd.Flags().DurationVar(&f.budgetWall, "budget-wall", 0, "override budget.wall (also on --resume)")
	cmd.Flags().StringVar(&f.store, "store", "", "run store kind of a new run, overriding store.kind: "+runstore.Kinds.Describe()+" (default sqlite; a resumed run keeps its own)")
	runstore.Kinds.BindFlags(cmd.Flags())
	f.fs = cmd.Flags()
	return cmd
}

func runTrain(ctx context.Context, out, errOut io.Writer, f *trainFlags) error {
	cfg := trainer.DefaultConfig()
	var err error
	if f.config != "" {
		if f.resume != "" {
			return errors.New("--config and --resume exclude each other: a resumed run keeps its own config.yaml")
		}
		if cfg, err = trainer.LoadConfig(f.config); err != nil {
			return err
		}
	}
	if len(f.sets) > 0 {
		if cfg, err = trainConfigWithSets(f.config, f.resume, f.sets); err != nil {
			return err
		}
	}
	switch f.ablation {
	case "":
	case "correctness":
		cfg.Reward.Kind = reward.Correctness
		cfg.Name += "-correctness"
	default:
		return fmt.Errorf("--ablation: %q is not known: use correctness", f.ablation)
	}
	if f.steps > 0 {
		cfg.Steps = f.steps
	}
	if err := storeFromFlags(f, &cfg); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if f.printCfg {
		return printConfigJSON(out, cfg, f.resume)
	}
	if f.pilotGroups > 0 {
		cfg.Estimate.PilotGroups = f.pilotGroups
	}
	if f.estimate {
		if f.resume != "" {
			return errors.New("--estimate projects a new run: give its --config, not --resume")
		}
		return runEstimate(ctx, out, cfg) // in a scratch directory: no run directory is made
	}
	dir := f.dir
	if f.resume != "" {
		dir = f.resume
	} else if dir == "" {
		dir = trainersvc.NewRunDir(f.runsDir, cfg.Name)
	}
	var budget *trainer.Budget
	if f.budgetMoney > 0 || f.budgetTokens > 0 || f.budgetWall > 0 {
		b := cfg.Budget
		if f.resume != "" {
			b = trainer.Budget{} // the stored config's budget is replaced below, field by field
			if stored, err := trainer.LoadConfig(filepath.Join(dir, "config.yaml")); err == nil {
				b = stored.Budget
			}
		}
		if f.budgetMoney > 0 {
			b.Money = f.budgetMoney
		}
		if f.budgetTokens > 0 {
			b.ExecutorTokens = f.budgetTokens
		}
		if f.budgetWall > 0 {
			b.Wall = f.budgetWall
		}
		budget = &b
	}
	obs := newTermObserver(out, errOut, !f.noProgress)
	p, err := trainersvc.Prepare(ctx, cfg, trainersvc.Options{Dir: dir, Resume: f.resume != "", Observer: obs, Budget: budget})
	if err != nil {
		return err
	}
	defer p.Close()
	defer attachSpans(p.Store, p.Run.ID)() // flushed before the store closes
	cfg = p.Config
	fmt.Fprintf(out, "run %s: %d steps x %d tasks x %d episodes (policy %s, reward %s, loss %s)\n", dir, cfg.Steps, cfg.BatchSize, cfg.GroupSize, cfg.Policy.Kind, cfg.Reward.Kind, cfg.Loss.Kind)
	for _, m := range p.Models {
		fmt.Fprintf(out, "  %s\n", m)
	}
	if p.Simulated {
		fmt.Fprintln(out, "  executor: SIMULATED (offline sim) — results describe the simulated environment, not real models")
	}
	if p.Start > 0 {
		fmt.Fprintf(out, "resuming after step %d\n", p.Start)
	}
	runErr := p.Trainer.Run(ctx)
	obs.finish()
	path := filepath.Join(dir, "report.html")
	if err := writeReport(p, path); err != nil {
		fmt.Fprintf(errOut, "report: %v\n", err)
	} else {
		fmt.Fprintf(out, "report: %s\n", path)
	}
	if runErr != nil {
		if errors.Is(runErr, context.Canceled) {
			fmt.Fprintf(out, "stopped; continue with: flowsteer train --resume %s\n", dir)
		}
		return runErr
	}
	if reason := p.Trainer.StopReason(); reason != "" {
		fmt.Fprintf(out, "stopped at a budget (%s); raise it and continue with: flowsteer train --resume %s --budget-...\n", reason, dir)
		return nil
	}
	fmt.Fprintf(out, "done: %s\n", dir)
	return nil
}

func writeReport(p *trainersvc.Prepared, path string) error {
	run, err := p.Store.GetRun(p.Run.ID)
	if err != nil {
		return err
	}
	steps, err := p.Store.Steps(p.Run.ID)
	if err != nil {
		return err
	}
	evals, err := p.Store.Evals(p.Run.ID)
	if err != nil {
		return err
	}
	from := int64(0)
	if n := int64(len(steps)); n > 4 {
		from = steps[n-n/4].GetStep()
	}
	top, err := p.Store.TopWorkflows(p.Run.ID, "train", from, 5)
	if err != nil {
		return err
	}
	sections, err := p.Store.Sections(p.Run.ID) // added by `flowsteer runs add-section`, kept across a resume
	if err != nil {
		return err
	}
	title := "flowsteer run " + run.Name
	return report.WriteFile(path, report.Data{Run: run, Steps: steps, Evals: evals, TopWorkflows: top, Simulated: p.Simulated,
		Title: title, Models: p.Models, Hardware: p.Hardware, Sections: sections})
}

// termObserver prints a progress bar per step and one line per step.
type termObserver struct {
	out, errOut io.Writer
	bars        bool
	evalOnly    bool // a plain evaluation, not part of a training run
	mu          sync.Mutex
	bar         *progressbar.ProgressBar
}

// isTerminal reports whether w is a terminal: a progress bar only helps
// there; in a log file it is noise.
func isTerminal(w io.Writer) bool {
	fi, ok := w.(*os.File)
	return ok && fi != nil && term.IsTerminal(int(fi.Fd()))
}

func newTermObserver(out, errOut io.Writer, bars bool) *termObserver {
	if !isTerminal(errOut) {
		bars = false
	}
	return &termObserver{out: out, errOut: errOut, bars: bars}
}

func (o *termObserver) newBar(n int, desc string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.bars {
		return
	}
	o.bar = progressbar.NewOptions(n, progressbar.OptionSetWriter(o.errOut), progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(), progressbar.OptionSetWidth(30))
}

func (o *termObserver) finish() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.bar != nil {
		_ = o.bar.Finish()
		o.bar = nil
	}
}

func (o *termObserver) StepStarted(step, total int64, episodes int) {
	o.newBar(episodes, fmt.Sprintf("step %d/%d", step, total))
}

func (o *termObserver) EpisodeDone(int64, *rollout.Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.bar != nil {
		_ = o.bar.Add(1)
	}
}

func (o *termObserver) StepDone(m *pb.StepMetrics) {
	o.finish()
	fams := make([]string, 0, len(m.GetAccuracyByFamily()))
	for f, v := range m.GetAccuracyByFamily() {
		fams = append(fams, fmt.Sprintf("%s %.2f", f, v))
	}
	sort.Strings(fams)
	c := m.GetCost()
	fmt.Fprintf(o.out, "step %3d  reward %+.3f  release %.2f  correct %.2f  [%s]  turns %.1f  invalid %.2f  kl %.4f  ent %.3f  calls %d  cache %.0f%%  tokens %d  money %.4f  %.1fs\n",
		m.GetStep(), m.GetMeanReward(), m.GetStructureReleaseRate(), m.GetCorrectness(), strings.Join(fams, ", "), m.GetMeanTurns(),
		m.GetInvalidActionRate(), m.GetKl(), m.GetEntropy(), m.GetExecutorCalls(), 100*m.GetCacheHitRate(),
		c.GetExecutorInputTokens()+c.GetExecutorOutputTokens(), c.GetExecutorMoney()+c.GetPolicyMoney(),
		m.GetPhaseSeconds()["rollout"]+m.GetPhaseSeconds()["update"])
}

func (o *termObserver) EvalStarted(step int64, policies []string, episodes int) {
	label := "evaluation after step " + fmt.Sprint(step)
	switch {
	case o.evalOnly:
		label = fmt.Sprintf("evaluating on %d episodes", episodes)
	case step == 0:
		label = "evaluation before training"
	}
	fmt.Fprintf(o.out, "%s: %s\n", label, strings.Join(policies, ", "))
	o.newBar(episodes, "eval")
}

func (o *termObserver) EvalDone(r *pb.EvalReport) {
	o.finish()
	fmt.Fprintf(o.out, "  %-18s %9s  %-17s %8s %8s %7s %11s  %s\n", "policy", "reward", "95% CI", "release", "finished", "turns", "tokens/task", "accuracy by family")
	for _, p := range r.GetPolicies() {
		var acc []string
		for _, m := range p.GetMetrics() {
			acc = append(acc, fmt.Sprintf("%s %.2f", m.GetFamily(), m.GetValue()))
		}
		tok := "-"
		if c := p.GetCost(); c.GetEpisodes() > 0 {
			tok = fmt.Sprintf("%.0f", float64(c.GetFinalWorkflowTokens())/float64(c.GetEpisodes()))
		}
		fmt.Fprintf(o.out, "  %-18s %+9.3f  [%+.3f, %+.3f] %8.2f %8.2f %7.1f %11s  %s\n", p.GetPolicy(), p.GetMeanReward(), p.GetRewardCiLow(), p.GetRewardCiHigh(),
			p.GetStructureReleaseRate(), p.GetFinishedRate(), p.GetMeanTurns(), tok, strings.Join(acc, ", "))
	}
	if c := r.GetCost(); c.GetEpisodes() > 0 {
		fmt.Fprintf(o.out, "  cost: %s\n", cost.SummaryFromPB(c))
	}
}

func (o *termObserver) Log(msg string) { fmt.Fprintln(o.out, msg) }

// storeFromFlags applies --store and its kind's option flags to a new
// run's config: another kind than the config's drops the config's store
// options, which belong to that kind. A resumed run keeps the store its
// directory records.
func storeFromFlags(f *trainFlags, cfg *trainer.Config) error {
	if f.fs == nil {
		return nil
	}
	kind := cfg.Store.KindOrDefault()
	if f.store != "" {
		if _, ok := runstore.Kinds.Lookup(f.store); !ok {
			return fmt.Errorf("--store: %w", runstore.Kinds.UnknownKind(f.store))
		}
		kind = f.store
	}
	set, err := runstore.Kinds.FromFlags(f.fs, kind)
	if err != nil {
		return err
	}
	if f.store == "" && len(set) == 0 {
		return nil
	}
	if f.resume != "" {
		return errors.New("--store and its options choose a new run's store: a resumed run keeps the one its directory records")
	}
	if kind != cfg.Store.KindOrDefault() {
		cfg.Store = runstore.Spec{}
	}
	cfg.Store.Kind = kind
	if cfg.Store.Options == nil && len(set) > 0 {
		cfg.Store.Options = map[string]any{}
	}
	for k, v := range set {
		cfg.Store.Options[k] = v
	}
	if _, err := cfg.Store.Config(); err != nil {
		return runstore.Kinds.FlagError(kind, err)
	}
	return nil
}
