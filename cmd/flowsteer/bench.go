package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flowsteer/flowsteer/internal/bench"
)

type benchFlags struct {
	quick    bool
	only     []string
	jsonOut  string
	markdown string
	update   string
	cfg      bench.Config
}

func newBenchCmd() *cobra.Command {
	f := &benchFlags{cfg: bench.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure canvas overhead, rollout efficiency, cache savings, memory and update time side by side",
		Long: "bench measures flowsteer's hot paths in one run and prints absolute numbers next to ratios, with the machine:\n" +
			"  canvas    one turn with execution off, in process vs a gRPC Interact stream on loopback TCP\n" +
			"  rollout   episodes/s of a fixed workflow on the openai backend against a fake endpoint with a fixed delay,\n" +
			"            as a fraction of the ideal C / (calls per episode x delay) (target >= 0.9)\n" +
			"  cache     executor calls of one training step with the cache on and off (SIMULATED backend)\n" +
			"  memory    heap per open episode, many episodes open at once, goroutines left after closing\n" +
			"  trainer   one CWRPO update of the embedded policy on a batch of its own decisions\n" +
			"Absolute times on a shared machine are noise; compare the ratios. --update rewrites only the bench block of a file.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, f) },
	}
	fs := cmd.Flags()
	d := bench.DefaultConfig()
	fs.BoolVar(&f.quick, "quick", false, "small sizes (seconds): a first look, and what the tests run; flags below still override")
	fs.StringSliceVar(&f.only, "only", nil, "sections to run (default all: "+strings.Join(bench.Sections, ", ")+")")
	fs.StringVar(&f.jsonOut, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&f.markdown, "markdown", "", "also write the markdown block (without markers) to this file")
	fs.StringVar(&f.update, "update", "", "rewrite the block between the bench markers of this markdown file (e.g. BENCHMARKS.md)")
	fs.IntVar(&f.cfg.CanvasEpisodes, "canvas-episodes", d.CanvasEpisodes, fmt.Sprintf("canvas: scripted episodes per side (%d turns each)", bench.ScriptTurns))
	fs.DurationVar(&f.cfg.Delay, "delay", d.Delay, "rollout: the fake endpoint's answer time per call")
	fs.IntVar(&f.cfg.Concurrency, "concurrency", d.Concurrency, "rollout: C, the openai backend's max concurrency")
	fs.IntVar(&f.cfg.Streams, "streams", d.Streams, "rollout: episodes played at once")
	fs.DurationVar(&f.cfg.Warmup, "warmup", d.Warmup, "rollout: warm-up before the measured window")
	fs.DurationVar(&f.cfg.Window, "window", d.Window, "rollout: measured window")
	fs.IntVar(&f.cfg.MinEpisodes, "min-episodes", d.MinEpisodes, "rollout: stretch the window until this many episodes completed in it")
	fs.StringVar(&f.cfg.Workflow, "workflow", d.Workflow, "rollout: the fixed policy's workflow DSL")
	fs.IntVar(&f.cfg.GroupSize, "group-size", d.GroupSize, "cache: episodes per task")
	fs.IntVar(&f.cfg.Tasks, "tasks", d.Tasks, "cache: tasks of the offline suite (1-3: math, qa, code)")
	fs.IntVar(&f.cfg.OpenEpisodes, "open-episodes", d.OpenEpisodes, "memory: episodes held open at once")
	fs.IntVar(&f.cfg.UpdateEpisodes, "update-episodes", d.UpdateEpisodes, "trainer: episodes in the batch")
	fs.IntVar(&f.cfg.UpdateDecisions, "update-decisions", d.UpdateDecisions, "trainer: decisions per episode")
	fs.IntVar(&f.cfg.UpdateRepeats, "update-repeats", d.UpdateRepeats, "trainer: timed updates")
	fs.Int64Var(&f.cfg.Seed, "seed", d.Seed, "seed of the policies and the simulation")
	return cmd
}

func runBench(cmd *cobra.Command, f *benchFlags) error {
	// The sizes start from --quick's or the defaults; flags given
	// explicitly override either.
	cfg := bench.DefaultConfig()
	if f.quick {
		cfg = bench.QuickConfig()
	}
	v := f.cfg
	set := map[string]func(){
		"canvas-episodes":  func() { cfg.CanvasEpisodes = v.CanvasEpisodes },
		"delay":            func() { cfg.Delay = v.Delay },
		"concurrency":      func() { cfg.Concurrency = v.Concurrency },
		"streams":          func() { cfg.Streams = v.Streams },
		"warmup":           func() { cfg.Warmup = v.Warmup },
		"window":           func() { cfg.Window = v.Window },
		"min-episodes":     func() { cfg.MinEpisodes = v.MinEpisodes },
		"workflow":         func() { cfg.Workflow = v.Workflow },
		"group-size":       func() { cfg.GroupSize = v.GroupSize },
		"tasks":            func() { cfg.Tasks = v.Tasks },
		"open-episodes":    func() { cfg.OpenEpisodes = v.OpenEpisodes },
		"update-episodes":  func() { cfg.UpdateEpisodes = v.UpdateEpisodes },
		"update-decisions": func() { cfg.UpdateDecisions = v.UpdateDecisions },
		"update-repeats":   func() { cfg.UpdateRepeats = v.UpdateRepeats },
		"seed":             func() { cfg.Seed = v.Seed },
	}
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if apply, ok := set[fl.Name]; ok {
			apply()
		}
	})
	cfg.Only = f.only
	cfg.Progress = cmd.ErrOrStderr()
	// Check the file to update before minutes of measuring.
	var doc []byte
	if f.update != "" {
		var err error
		if doc, err = os.ReadFile(f.update); err != nil {
			return fmt.Errorf("--update: %w", err)
		}
		if _, err := bench.ReplaceBlock(string(doc), ""); err != nil {
			return fmt.Errorf("--update %s: %w", f.update, err)
		}
	}
	r, err := bench.Run(cmd.Context(), cfg)
	if err != nil {
		return err
	}
	if err := r.WriteText(cmd.OutOrStdout()); err != nil {
		return err
	}
	if f.jsonOut != "" {
		var b bytes.Buffer
		if err := r.WriteJSON(&b); err != nil {
			return err
		}
		if err := os.WriteFile(f.jsonOut, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	if f.markdown != "" {
		if err := os.WriteFile(f.markdown, []byte(r.Markdown()), 0o644); err != nil {
			return fmt.Errorf("--markdown: %w", err)
		}
	}
	if f.update != "" {
		// Re-read: the file may have changed while the bench ran (the llm
		// block has another writer).
		if doc, err = os.ReadFile(f.update); err != nil {
			return fmt.Errorf("--update: %w", err)
		}
		out, err := bench.ReplaceBlock(string(doc), r.Markdown())
		if err != nil {
			return fmt.Errorf("--update %s: %w", f.update, err)
		}
		if err := os.WriteFile(f.update, []byte(out), 0o644); err != nil {
			return fmt.Errorf("--update: %w", err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "bench: rewrote the bench block of %s\n", f.update)
	}
	if r.Rollout != nil && !r.Rollout.Met {
		fmt.Fprintf(cmd.ErrOrStderr(), "bench: rollout efficiency %.3f is below the %.2f target\n", r.Rollout.Efficiency, r.Rollout.Target)
	}
	return nil
}
