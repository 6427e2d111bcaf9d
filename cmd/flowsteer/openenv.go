package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func newOpenEnvCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "openenv",
		Short: "Serve a canvas to OpenEnv clients (python -m flowsteer.openenv)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newOpenEnvServeCmd())
	return cmd
}

type openEnvServeFlags struct {
	canvas, host, python string
	port                 int
}

func newOpenEnvServeCmd() *cobra.Command {
	f := &openEnvServeFlags{}
	cmd := &cobra.Command{
		Use:   "serve [-- MORE FLAGS]",
		Short: "Run the OpenEnv server of the Python client in the foreground until Ctrl-C",
		Long: "serve runs `PYTHON -m flowsteer.openenv` (the flowsteer[openenv] extra: openenv-core's create_app over\n" +
			"a canvas: /ws reset, step, state, close; /schema; /health) with this binary as FLOWSTEER_BIN, so that\n" +
			"without --canvas it starts a canvas of its own. Flags after -- go to the Python server (--tasks FILE,\n" +
			"--max-sessions N, --max-rounds N, --observation incremental, --no-two-step). Ctrl-C or SIGTERM stops it.\n" +
			"The OpenEnv server itself is Python because OpenEnv's contract is its Python package.",
		RunE: func(cmd *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			argv := []string{"-m", "flowsteer.openenv", "--host", f.host, "--port", strconv.Itoa(f.port)}
			if f.canvas != "" {
				argv = append(argv, "--canvas", f.canvas)
			}
			c := exec.CommandContext(cmd.Context(), f.python, append(argv, args...)...)
			c.Stdout, c.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			c.Env = append(os.Environ(), "FLOWSTEER_BIN="+self)
			c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
			c.WaitDelay = 10 * time.Second
			err = c.Run()
			if cmd.Context().Err() != nil {
				return nil // stopped by Ctrl-C or SIGTERM
			}
			var ee *exec.Error
			if errors.As(err, &ee) {
				return fmt.Errorf("%s not found: set --python (or FLOWSTEER_PYTHON) to an interpreter with flowsteer[openenv] installed (make integrations-deps): %w", f.python, err)
			}
			return err
		},
	}
	python := os.Getenv("FLOWSTEER_PYTHON")
	if python == "" {
		python = "python3"
	}
	cmd.Flags().StringVar(&f.canvas, "canvas", "", "canvas address HOST:PORT (default $FLOWSTEER_CANVAS, else a canvas started for it)")
	cmd.Flags().StringVar(&f.host, "host", "127.0.0.1", "listen address")
	cmd.Flags().IntVar(&f.port, "port", 8000, "listen port; 0 picks a free one and the first line says which")
	cmd.Flags().StringVar(&f.python, "python", python, "Python interpreter with flowsteer[openenv] (default $FLOWSTEER_PYTHON, else python3)")
	return cmd
}
