package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/report"
	"github.com/flowsteer/flowsteer/internal/runstore"
)

func newRunsCmd() *cobra.Command {
	var runsDir string
	cmd := &cobra.Command{Use: "runs", Short: "List and show training runs"}
	cmd.PersistentFlags().StringVar(&runsDir, "runs-dir", "runs", "where run directories live")
	list := &cobra.Command{
		Use: "list", Short: "List runs with their status and last step", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, err := os.ReadDir(runsDir)
			if err != nil {
				if os.IsNotExist(err) {
					fmt.Fprintf(cmd.OutOrStdout(), "no runs under %s\n", runsDir)
					return nil
				}
				return err
			}
			var names []string
			for _, e := range entries {
				if e.IsDir() && runstore.Exists(filepath.Join(runsDir, e.Name())) {
					names = append(names, e.Name())
				}
			}
			sort.Strings(names)
			fmt.Fprintf(cmd.OutOrStdout(), "%-40s %-10s %9s  %-9s %s\n", "run", "status", "step", "policy", "backend")
			for _, n := range names {
				st, err := runstore.Open(filepath.Join(runsDir, n))
				if err != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%-40s unreadable: %v\n", n, err)
					continue
				}
				if r, err := st.GetRun(n); err == nil {
					sim := ""
					if r.Simulated {
						sim = " (simulated)"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%-40s %-10s %4d/%-4d  %-9s %s%s\n", n, runstore.ShownStatus(filepath.Join(runsDir, n), r.Status), r.Step, r.TotalSteps, r.Policy, r.Backend, sim)
				}
				st.Close()
			}
			return nil
		},
	}
	var asJSON bool
	show := &cobra.Command{
		Use: "show RUN", Short: "Show a run's configuration, steps and evaluations", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, st, err := openRun(runsDir, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			id := filepath.Base(dir)
			if asJSON {
				return writeRunJSON(cmd.OutOrStdout(), st, dir, id)
			}
			r, err := st.GetRun(id)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "run %s: %s, step %d/%d, policy %s, backend %s, simulated %v\nconfig hash %s\n", r.ID, runstore.ShownStatus(dir, r.Status), r.Step, r.TotalSteps, r.Policy, r.Backend, r.Simulated, r.ConfigHash)
			if r.Error != "" && r.Status == runstore.StatusBudgetReached {
				fmt.Fprintf(out, "stopped: %s\n", r.Error)
			} else if r.Error != "" {
				fmt.Fprintf(out, "error: %s\n", r.Error)
			}
			steps, err := st.Steps(id)
			if err != nil {
				return err
			}
			for _, m := range steps {
				c := m.GetCost()
				fmt.Fprintf(out, "step %3d  reward %+.3f  release %.2f  correct %.2f  turns %.1f  invalid %.2f  exec tokens %d  money %.4f  saved %.4f\n", m.GetStep(), m.GetMeanReward(), m.GetStructureReleaseRate(), m.GetCorrectness(), m.GetMeanTurns(), m.GetInvalidActionRate(),
					c.GetExecutorInputTokens()+c.GetExecutorOutputTokens(), c.GetExecutorMoney()+c.GetPolicyMoney(), c.GetSavedMoney())
			}
			evals, err := st.Evals(id)
			if err != nil {
				return err
			}
			for _, e := range evals {
				fmt.Fprintf(out, "eval at step %d:\n", e.GetStep())
				for _, p := range e.GetPolicies() {
					fmt.Fprintf(out, "  %-18s reward %+.3f [%+.3f, %+.3f]  release %.2f  episodes %d  %s\n", p.GetPolicy(), p.GetMeanReward(), p.GetRewardCiLow(), p.GetRewardCiHigh(), p.GetStructureReleaseRate(), p.GetEpisodes(), perEpisode(p.GetCost()))
				}
			}
			total, err := st.RunCost(id)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "cost: %s\n", total)
			fmt.Fprintf(out, "time: %.1fs wall, %.1fs policy, %.1fs executor calls, %.1fs sandbox\n", total.WallSeconds, total.PolicySeconds, total.ExecutorSeconds, total.SandboxSeconds)
			return nil
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print the run as JSON (format 1: run, config, steps, evals, eval_episodes, sections; see docs/llm-cpu.md)")
	addSection := &cobra.Command{
		Use:   "add-section RUN FILE",
		Short: "Add a titled section (JSON: key, title, facts, table) to a run's report, then rewrite its report.html",
		Long: "add-section stores a section in the run's store, replacing one with the same key, and rewrites\n" +
			"RUN_DIR/report.html, which shows it after the evaluation. FILE \"-\" reads standard input. The JSON is\n" +
			`{"key": "llm-before-after", "title": "...", "facts": ["..."], "table": {"header": ["..."], "rows": [["..."]]}}`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sec, err := readSection(args[1], cmd.InOrStdin())
			if err != nil {
				return err
			}
			dir := runDir(runsDir, args[0])
			if !runstore.Exists(dir) {
				return fmt.Errorf("run %s: no run in %s", args[0], dir) // Open would create an empty store
			}
			st, err := runstore.Open(dir)
			if err != nil {
				return err
			}
			defer st.Close()
			id := filepath.Base(dir)
			if err := st.PutSection(id, sec); err != nil {
				return err
			}
			out := filepath.Join(dir, "report.html")
			if err := writeRunReport(st, id, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "section %s added; wrote %s\n", sec.Key, out)
			return nil
		},
	}
	cmd.AddCommand(list, show, addSection)
	return cmd
}

// runDir accepts a run name under runsDir or a path to a run directory.
// A path comes back absolute, so that its base name is the run's id even
// for "." or "runs/x/".
// openRun opens the run store of the run arg names (see runDir) and
// returns its folder too; the caller closes the store.
func openRun(runsDir, arg string) (string, runstore.Store, error) {
	dir := runDir(runsDir, arg)
	st, err := runstore.Open(dir)
	return dir, st, err
}

func runDir(runsDir, arg string) string {
	if runstore.Exists(arg) {
		if abs, err := filepath.Abs(arg); err == nil {
			return abs
		}
		return arg
	}
	return filepath.Join(runsDir, arg)
}

func newReportCmd() *cobra.Command {
	var runsDir, out string
	cmd := &cobra.Command{
		Use:   "report RUN",
		Short: "Write a run's self-contained HTML report",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, st, err := openRun(runsDir, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			if out == "" {
				out = filepath.Join(dir, "report.html")
			}
			if err := writeRunReport(st, filepath.Base(dir), out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&runsDir, "runs-dir", "runs", "where run directories live")
	cmd.Flags().StringVar(&out, "out", "", "output file (default RUN_DIR/report.html)")
	return cmd
}

// writeRunReport renders run id's report from its store into out.
func writeRunReport(st runstore.Store, id, out string) error {
	r, err := st.GetRun(id)
	if err != nil {
		return err
	}
	steps, err := st.Steps(id)
	if err != nil {
		return err
	}
	evals, err := st.Evals(id)
	if err != nil {
		return err
	}
	from := int64(0)
	if n := int64(len(steps)); n > 4 {
		from = steps[n-n/4].GetStep()
	}
	top, err := st.TopWorkflows(id, "train", from, 5)
	if err != nil {
		return err
	}
	sections, err := st.Sections(id)
	if err != nil {
		return err
	}
	models := []string{"executor backend: " + r.Backend, "policy: " + r.Policy}
	return report.WriteFile(out, report.Data{Run: r, Steps: steps, Evals: evals, TopWorkflows: top, Simulated: r.Simulated,
		Title: "flowsteer run " + r.Name, Models: models, Hardware: r.Hardware, Sections: sections})
}

// perEpisode describes c per episode: billed executor tokens, and the
// tokens of one run of the final workflow (cache hits included: what the
// designed workflow costs on a task).
func perEpisode(c *pb.CostSummary) string {
	if c.GetEpisodes() == 0 {
		return ""
	}
	n := float64(c.GetEpisodes())
	return fmt.Sprintf(" billed exec tokens/episode %.0f  workflow tokens/task %.0f  workflow money/task %.5f",
		float64(c.GetExecutorInputTokens()+c.GetExecutorOutputTokens())/n, float64(c.GetFinalWorkflowTokens())/n, c.GetFinalWorkflowMoney()/n)
}
