package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/server"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
)

type serveFlags struct {
	addr        string
	services    []string
	grace       time.Duration
	maxEpisodes int
	idleTTL     time.Duration
}

// serviceBuilders are the services this build can run, by name.
var serviceBuilders = map[string]func(ctx context.Context, s *server.Server, v server.Validators, f *serveFlags) error{
	"canvas": func(ctx context.Context, s *server.Server, v server.Validators, f *serveFlags) error {
		store, err := canvas.NewMemoryStore(canvas.StoreConfig{MaxEpisodes: f.maxEpisodes, IdleTTL: f.idleTTL})
		if err != nil {
			return err
		}
		go store.Run(ctx, min(f.idleTTL/4, time.Minute))
		canvassvc.AddValidators(v)
		canvassvc.Register(s, canvassvc.New(canvas.New(canvas.WithStore(store))))
		return nil
	},
}

func serviceNames() []string {
	names := make([]string, 0, len(serviceBuilders))
	for n := range serviceBuilders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func newServeCmd() *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run flowsteer's gRPC services in one process",
		Long: "serve runs the chosen services on one gRPC server with health, reflection, logging and recovery.\n" +
			"It listens on 127.0.0.1:50051 by default and stops gracefully on Ctrl-C or SIGTERM, finishing in-flight turns.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), f, nil)
		},
	}
	cmd.Flags().StringVar(&f.addr, "addr", "127.0.0.1:50051", "address to listen on")
	cmd.Flags().StringSliceVar(&f.services, "services", nil, "services to run (default all: "+strings.Join(serviceNames(), ", ")+")")
	cmd.Flags().DurationVar(&f.grace, "grace", 30*time.Second, "how long a graceful stop waits for in-flight calls")
	cmd.Flags().IntVar(&f.maxEpisodes, "max-episodes", canvas.DefaultStoreConfig().MaxEpisodes, "most episodes a canvas holds; the least recently used expires first")
	cmd.Flags().DurationVar(&f.idleTTL, "episode-ttl", canvas.DefaultStoreConfig().IdleTTL, "idle episodes expire after this long")
	return cmd
}

// serve runs until ctx is done. ready, when set, receives the bound
// address once the server accepts connections.
func serve(ctx context.Context, f *serveFlags, ready chan<- string) error {
	names := f.services
	if len(names) == 0 {
		names = serviceNames()
	}
	log := slog.Default()
	v := server.Validators{}
	s := server.New(server.Options{Logger: log, Validators: v})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		build, ok := serviceBuilders[n]
		if !ok {
			return fmt.Errorf("--services: unknown service %q: this build has %s", n, strings.Join(serviceNames(), ", "))
		}
		if err := build(ctx, s, v, f); err != nil {
			return fmt.Errorf("%s service: %w", n, err)
		}
	}
	lis, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	slices.Sort(names)
	log.Info("flowsteer serving", "addr", lis.Addr().String(), "services", strings.Join(names, ","), "version", version)
	if ready != nil {
		ready <- lis.Addr().String()
	}
	return s.Serve(ctx, lis, f.grace)
}
