package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/flowsteer/flowsteer/internal/experiment"
)

type experimentFlags struct {
	dir string
}

func newExperimentCmd() *cobra.Command {
	f := &experimentFlags{}
	cmd := &cobra.Command{
		Use:   "experiment [CONFIG]",
		Short: "Run a grid of arms x seeds on held-out tasks and compare them with paired intervals (simulated executor)",
		Long: "experiment runs every (arm, seed) cell of CONFIG (YAML; without it, the default grid: untrained,\n" +
			"cwrpo, grpo (correctness-only reward), cot, self-consistency, full and the searched workflow, seeds 1-5,\n" +
			"20 held-out tasks per family: configs/experiment-sim.yaml; configs/experiment-issue19.yaml is the issue's\n" +
			"full grid) on the simulated executor. Train arms train the embedded Flow-Director (train: sizes the runs,\n" +
			"train.set and an arm's set: take any `flowsteer train --set` key, checked before any cell runs; runs are\n" +
			"kept under DIR/train keyed by their trainer config, so arms that differ only in greedy: or temperature: (the\n" +
			"evaluation's sampling temperature) train once per\n" +
			"seed); the search arm runs `flowsteer search` once per family on the training split, the best-fixed arm\n" +
			"`flowsteer search --joint` once over all families for the best single workflow; every arm then plays one\n" +
			"episode per held-out task (sampled, at temperature: T, or greedy: true) with the cell's seed seeding the policy and the\n" +
			"simulation. tasks.eval_per_family beyond the built-in 30 generates the held-out set (tasks.generate_seed)\n" +
			"into DIR/eval.jsonl, never a training task. cell_concurrency cells run at once. Each finished cell is\n" +
			"appended to DIR/results.jsonl, so running the same command again skips what is done. The report\n" +
			"(DIR/report.md, also printed) gives per-arm accuracy, IQM, reward, finish rate and turns with 95%\n" +
			"stratified bootstrap intervals, what each arm builds per family, and paired differences with the\n" +
			"probability of improvement (rliable's definitions); DIR/accuracy.svg plots accuracy with its intervals.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			return runExperiment(cmd.Context(), cmd.OutOrStdout(), path, f)
		},
	}
	cmd.Flags().StringVar(&f.dir, "dir", "", "experiment directory: created, or resumed when it holds results (required)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func runExperiment(ctx context.Context, out io.Writer, path string, f *experimentFlags) error {
	cfg, err := experiment.Load(path)
	if err != nil {
		return err
	}
	// Cells running at once (the search arms' progress) and the grid's
	// progress share out.
	out = &lockedWriter{w: out}
	// Every train arm's overrides are resolved now, before anything is
	// written or run.
	if err := newArmRunnerShell(cfg, f.dir, out).CheckTrain(); err != nil {
		if path != "" {
			return fmt.Errorf("%s: %w", path, err)
		}
		return err
	}
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return err
	}
	// The config a directory was started with is the one it resumes
	// with; a different one would mix cells of two experiments. How many
	// episodes and cells run at once may change between runs.
	cfgPath := filepath.Join(f.dir, "experiment.yaml")
	if prev, err := os.ReadFile(cfgPath); err == nil {
		if old, perr := experiment.Parse(prev); perr != nil || !old.Same(cfg) {
			return fmt.Errorf("%s holds a different experiment config: use a new --dir, or the same config", cfgPath)
		}
	} else if err := os.WriteFile(cfgPath, []byte(cfg.YAML()), 0o644); err != nil {
		return err
	}
	r, err := newArmRunner(ctx, cfg, f.dir, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "experiment %s: %d arms x %d seeds on %d held-out tasks (SIMULATED executor), results in %s\n",
		cfg.Name, len(cfg.Arms), len(cfg.Seeds), len(r.eval), filepath.Join(f.dir, experiment.ResultsFile))
	cells, err := experiment.Run(ctx, cfg, f.dir, r, out)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(f.dir, experiment.PlotFile), []byte(experiment.Plot(cfg, cells)), 0o644); err != nil {
		return err
	}
	rep := "Executor: **simulated** (offline sim): these figures describe the simulation, not real models.\n\n" +
		"Held-out set: " + r.evalOrigin + ".\n\n" + experiment.Report(cfg, cells) +
		fmt.Sprintf("\n![held-out accuracy per arm and family, 95%% intervals](%s) (%s)\n", experiment.PlotFile, filepath.Join(f.dir, experiment.PlotFile))
	rep += searchedWorkflows(cfg, cells)
	if err := os.WriteFile(filepath.Join(f.dir, "report.md"), []byte(rep), 0o644); err != nil {
		return err
	}
	fmt.Fprint(out, "\n"+rep)
	return nil
}

// searchedWorkflows lists the search arms' workflows, which their cells
// carry as a JSON note (family -> DSL).
func searchedWorkflows(cfg experiment.Config, cells []experiment.Cell) string {
	var b strings.Builder
	for _, a := range cfg.Arms {
		if a.Kind != experiment.KindSearch && a.Kind != experiment.KindBestFixed && a.Kind != experiment.KindSearchPolicy {
			continue
		}
		for _, c := range cells {
			var m map[string]string
			if c.Arm != a.Name || json.Unmarshal([]byte(c.Note), &m) != nil {
				continue
			}
			if a.Kind == experiment.KindBestFixed {
				fmt.Fprintf(&b, "\nThe best single workflow found by `flowsteer search --joint` (arm %s, found once on the training tasks of every family together, played under every seed; on each family without the stages of operators it does not enable):\n\n", a.Name)
			} else if a.Kind == experiment.KindSearchPolicy {
				fmt.Fprintf(&b, "\nWorkflows found by `flowsteer search --space embedded` (arm %s: the search confined to what the embedded policy can build, found once on the training split, played under every seed):\n\n", a.Name)
			} else {
				fmt.Fprintf(&b, "\nWorkflows found by `flowsteer search` (arm %s, found once on the training split, played under every seed):\n\n", a.Name)
			}
			for _, f := range slices.Sorted(maps.Keys(m)) {
				fmt.Fprintf(&b, "- %s: `%s`\n", f, m[f])
			}
			break
		}
	}
	return b.String()
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
