package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/flowsteer/flowsteer/internal/replay"
)

func newEpisodesCmd() *cobra.Command {
	var runsDir string
	cmd := &cobra.Command{Use: "episodes", Short: "Export a stored episode for exact replay"}
	cmd.PersistentFlags().StringVar(&runsDir, "runs-dir", "runs", "where run directories live")
	var out string
	export := &cobra.Command{
		Use:   "export RUN EPISODE",
		Short: "Write an episode's self-contained replay bundle (task, canvas and reward config, every reply and executor call, versions)",
		Long: "Write a self-contained JSON bundle of one stored episode: the task (gold included), the canvas and reward configuration, " +
			"every turn's policy reply and observation digest, every executor call's request digest and reply, and the versions. " +
			"`flowsteer replay BUNDLE` plays it again with no model and no network.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, st, err := openRun(runsDir, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			b, err := replay.Export(st, filepath.Base(filepath.Clean(dir)), args[1], buildVersion())
			if err != nil {
				return err
			}
			data, err := b.Marshal()
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			if err := os.WriteFile(out, data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: episode %s of run %s, %d turns, %d executor calls\n", out, b.EpisodeID, b.RunID, len(b.Turns), len(b.Calls))
			return nil
		},
	}
	export.Flags().StringVarP(&out, "out", "o", "", "write the bundle here (default: standard output)")
	cmd.AddCommand(export)
	return cmd
}

// buildVersion is the version `flowsteer version` prints.
func buildVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return v
}
