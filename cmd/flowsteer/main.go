// Command flowsteer runs flowsteer's services and tools: serve the canvas
// (and, as they land, the policy and trainer services), play a demo
// episode, and print the version.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "flowsteer:", err)
		os.Exit(1)
	}
}

type globalFlags struct {
	logLevel  string
	logFormat string
}

func newRoot() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "flowsteer",
		Short:         "Learn to build agentic workflows with reinforcement learning",
		Long:          "flowsteer lets a policy build an agentic workflow one edit per turn on an executable canvas, and trains that policy with CWRPO.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			l, err := newLogger(g)
			if err != nil {
				return err
			}
			slog.SetDefault(l)
			return nil
		},
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(newServeCmd(), newDemoCmd(), newRunWorkflowCmd(), newEvalCmd(), newTasksCmd(), newTrainCmd(), newPlayCmd(), newRunsCmd(), newReportCmd(), newVersionCmd())
	return root
}

func newLogger(g *globalFlags) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, errors.New("--log-format: use text or json")
}
