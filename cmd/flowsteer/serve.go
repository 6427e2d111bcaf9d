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
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/system"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
	opsvc "github.com/flowsteer/flowsteer/services/operator"
	policysvc "github.com/flowsteer/flowsteer/services/policy"
	trainersvc "github.com/flowsteer/flowsteer/services/trainer"
)

type serveFlags struct {
	backendFlags
	play        playFlags // policy service: --policy and its options
	runsDir     string
	libraries   []string
	noExecute   bool
	addr        string
	services    []string
	grace       time.Duration
	maxEpisodes int
	idleTTL     time.Duration
}

// serviceBuilders are the services this build can run, by name.
var serviceBuilders = map[string]func(ctx context.Context, s *server.Server, v server.Validators, f *serveFlags) error{
	"canvas": func(ctx context.Context, s *server.Server, v server.Validators, f *serveFlags) error {
		o, err := f.options()
		if err != nil {
			return err
		}
		o.Store = canvas.StoreConfig{MaxEpisodes: f.maxEpisodes, IdleTTL: f.idleTTL}
		o.NoExecute = f.noExecute
		for _, spec := range f.libraries {
			name, addr, ok := strings.Cut(spec, "=")
			if !ok || name == "" || addr == "" {
				return fmt.Errorf("--operator-library %q: use NAME=HOST:PORT", spec)
			}
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
			if err != nil {
				return fmt.Errorf("--operator-library %s: %w", name, err)
			}
			go func() { <-ctx.Done(); conn.Close() }()
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			lib, err := opsvc.RemoteLibrary(dctx, name, conn)
			cancel()
			if err != nil {
				return err
			}
			o.Libraries = append(o.Libraries, lib)
			slog.Default().Info("operator library", "name", name, "addr", addr, "operators", strings.Join(lib.Names(), ","))
		}
		sys, err := system.Build(o)
		if err != nil {
			return err
		}
		go sys.Store.Run(ctx, min(f.idleTTL/4, time.Minute))
		logSystem(sys)
		canvassvc.AddValidators(v)
		canvassvc.Register(s, canvassvc.New(sys.Canvas))
		return nil
	},
	"policy": func(ctx context.Context, s *server.Server, v server.Validators, f *serveFlags) error {
		p, closeP, err := buildPolicy(ctx, &f.play)
		if err != nil {
			return err
		}
		go func() { <-ctx.Done(); closeP() }()
		slog.Default().Info("policy service", "kind", p.Info().Kind, "version", p.Info().Version, "learns", p.Info().CanLearn)
		policysvc.AddValidators(v)
		svc := policysvc.New(p)
		svc.CheckpointDir = f.runsDir
		policysvc.Register(s, svc)
		return nil
	},
	"trainer": func(ctx context.Context, s *server.Server, v server.Validators, f *serveFlags) error {
		trainersvc.AddValidators(v)
		trainersvc.Register(s, trainersvc.NewService(ctx, f.runsDir, slog.Default()))
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
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&f.play.policy, "policy", "embedded", "policy service: embedded, llm, remote, random or fixed:\"DSL\"")
	cmd.Flags().StringVar(&f.play.checkpoint, "checkpoint", "", "policy service: embedded checkpoint to load")
	cmd.Flags().StringVar(&f.play.policyURL, "policy-url", "", "policy service: llm endpoint base URL")
	cmd.Flags().StringVar(&f.play.policyMdl, "policy-model", "", "policy service: llm model name")
	cmd.Flags().StringVar(&f.play.policyAddr, "policy-addr", "", "policy service: address of the remote policy it forwards to")
	cmd.Flags().Int64Var(&f.play.seed, "policy-seed", 1, "policy service: seed")
	cmd.Flags().StringVar(&f.runsDir, "runs-dir", "runs", "trainer service: where runs are stored (also confines policy checkpoint paths)")
	cmd.Flags().StringArrayVar(&f.libraries, "operator-library", nil, "canvas: extra operator library served by an OperatorService, NAME=HOST:PORT (repeatable); episodes pick it with config.library")
	cmd.Flags().BoolVar(&f.noExecute, "no-execute", false, "canvas: apply and validate edits without executing workflows")
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

// logSystem says which executor runs workflows, plainly when it is simulated.
func logSystem(sys *system.System) {
	log := slog.Default()
	if sys.Engine == nil {
		log.Warn("workflows are not executed (--no-execute)")
		return
	}
	b, _ := sys.Backends.Get("")
	if sys.Simulated {
		log.Info("executor backend: SIMULATED (offline sim; results say nothing about real models)", "backend", b.Name(), "model", b.Model())
	} else {
		log.Info("executor backend", "backend", b.Name(), "model", b.Model())
	}
	iso := sys.Sandbox.Isolation()
	if iso.Note != "" {
		log.Warn("sandbox isolation is reduced", "mode", iso.Mode, "note", iso.Note)
	} else {
		log.Info("sandbox", "mode", iso.Mode)
	}
}
