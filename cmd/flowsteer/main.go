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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowsteer/flowsteer/internal/obs"
	"github.com/flowsteer/flowsteer/internal/telemetry"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRoot().ExecuteContext(ctx)
	// Spans and metrics are flushed once the command is done: after a
	// serve's graceful stop, a training run or a single play.
	if ferr := flushTelemetry(); ferr != nil {
		fmt.Fprintln(os.Stderr, "flowsteer: telemetry:", ferr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "flowsteer:", err)
		os.Exit(1)
	}
}

type globalFlags struct {
	logLevel     string
	logFormat    string
	traceStdout  bool
	traceContent bool
	metricsAddr  string
}

// telemetryShutdown flushes what the command's telemetry holds.
var telemetryShutdown func(context.Context) error

func flushTelemetry() error {
	if telemetryShutdown == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := telemetryShutdown
	telemetryShutdown = nil
	return f(ctx)
}

// serviceName names a command's process in traces: flowsteer-serve (or
// flowsteer-canvas, flowsteer-canvas-policy, ... for --services), else
// flowsteer-<command>. OTEL_SERVICE_NAME overrides it.
func serviceName(cmd *cobra.Command) string {
	name := cmd.Name()
	if name == "serve" {
		if f := cmd.Flags().Lookup("services"); f != nil && f.Changed {
			if ss, err := cmd.Flags().GetStringSlice("services"); err == nil && len(ss) > 0 {
				for i := range ss {
					ss[i] = strings.ToLower(strings.TrimSpace(ss[i]))
				}
				slices.Sort(ss)
				name = strings.Join(ss, "-")
			}
		}
	}
	return "flowsteer-" + name
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
			if g.traceContent {
				obs.SetContentEnabled(true)
			}
			shutdown, _, err := telemetry.Setup(cmd.Context(), serviceName(cmd), telemetry.Options{
				Version: version, TraceStdout: g.traceStdout, Stdout: cmd.OutOrStdout(), MetricsAddr: g.metricsAddr, Logger: l,
				Recorder: recorderFor(cmd),
			})
			if err != nil {
				return err
			}
			telemetryShutdown = shutdown
			return nil
		},
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.PersistentFlags().BoolVar(&g.traceStdout, "trace-stdout", false, "also print every trace span as JSON on stdout (OTLP export follows the OTEL_* environment variables)")
	root.PersistentFlags().BoolVar(&g.traceContent, "trace-content", false, "record prompt and reply text on spans, cut to 1 KiB (also FLOWSTEER_TRACE_CONTENT=1); off by default")
	root.PersistentFlags().StringVar(&g.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464)")
	root.AddCommand(newServeCmd(), newDemoCmd(), newRunWorkflowCmd(), newEvalCmd(), newTasksCmd(), newTrainCmd(), newPlayCmd(), newRunsCmd(), newReportCmd(), newLLMCmd(), newVersionCmd())
	root.AddCommand(newBenchCmd())
	root.AddCommand(newEpisodesCmd(), newReplayCmd(), newUICmd())
	root.AddCommand(newOpenEnvCmd())
	root.AddCommand(newSearchCmd(), newExperimentCmd())
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
		return slog.New(telemetry.LogHandler(slog.NewTextHandler(os.Stderr, opts))), nil
	case "json":
		return slog.New(telemetry.LogHandler(slog.NewJSONHandler(os.Stderr, opts))), nil
	}
	return nil, errors.New("--log-format: use text or json")
}
