package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flowsteer/flowsteer/internal/replay"
	trainersvc "github.com/flowsteer/flowsteer/services/trainer"
)

// errReplayDiffers makes the command exit non-zero without repeating the
// report it printed.
var errReplayDiffers = errors.New("the replay differs from the recording")

func newReplayCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replay BUNDLE",
		Short: "Play an exported episode again with its recorded replies and report the first difference, or \"identical\"",
		Long: "Re-run the canvas on the bundle's task with the recorded policy replies and executor replies (answered by request digest: " +
			"no model, no network; generated code runs in the sandbox again) and compare every observation, node result and the reward " +
			"with the recording. Prints \"identical\" or the first turn and node that differ; exits 1 when they differ.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := replay.ReadBundle(args[0])
			if err != nil {
				return err
			}
			res, err := replay.Run(cmd.Context(), b, trainersvc.ReplayCanvas)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "episode %s of run %s: %s\n", b.EpisodeID, b.RunID, res)
			}
			if !res.Identical {
				return errReplayDiffers
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
