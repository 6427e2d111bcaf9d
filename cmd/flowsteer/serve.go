package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"

	"github.com/flowsteer/flowsteer/internal/auth"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/operator"
	opremote "github.com/flowsteer/flowsteer/internal/operator/remote"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/system"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
	policysvc "github.com/flowsteer/flowsteer/services/policy"
	trainersvc "github.com/flowsteer/flowsteer/services/trainer"
)

type serveFlags struct {
	backendFlags
	play        playFlags // policy service: --policy and its options
	runsDir     string
	dataDir     string
	libraries   []string
	noExecute   bool
	addr        string
	services    []string
	grace       time.Duration
	maxEpisodes int
	idleTTL     time.Duration
	resumeGrace time.Duration
	access      serverAuthFlags // TLS, authentication, per-client limits
	ui          uiFlags         // --ui: the web viewer beside the services
	credentials []string        // --credential NAME=token-file:PATH|env:VAR
	allowDial   []string        // --allow-dial
	memory      string          // --episode-memory
	tenantMem   string          // --client-episode-memory
	// closers run when serve returns, last registered first.
	closers []func()
}

// serviceBuilders are the services this build can run, by name.
var serviceBuilders = map[string]func(ctx context.Context, s *server.Server, v server.Validators, f *serveFlags) error{
	"canvas": func(ctx context.Context, s *server.Server, v server.Validators, f *serveFlags) error {
		o, err := f.options()
		if err != nil {
			return err
		}
		maxBytes, err := parseBytes("--episode-memory", cmp.Or(f.memory, defaultEpisodeMemory))
		if err != nil {
			return err
		}
		tenantBytes, err := parseBytes("--client-episode-memory", cmp.Or(f.tenantMem, defaultClientEpisodeMemory))
		if err != nil {
			return err
		}
		o.Store = canvas.StoreConfig{MaxEpisodes: f.maxEpisodes, IdleTTL: f.idleTTL, ResumeGrace: f.resumeGrace,
			MaxTenantEpisodes: f.access.maxClientEpisodes, MaxBytes: maxBytes, MaxTenantBytes: tenantBytes}
		if maxBytes > 0 && os.Getenv("GOMEMLIMIT") == "" {
			// Episodes stay within maxBytes of live data; a soft limit
			// on the Go heap makes the collector return garbage before
			// the process grows far past it (Go lets the heap reach
			// twice the live data between collections by default).
			debug.SetMemoryLimit(maxBytes + memoryHeadroom)
		}
		o.NoExecute = f.noExecute
		if o.Libraries, err = librarySpecs(f.libraries); err != nil {
			return err
		}
		o.LibraryDeps.Dial = func(_ context.Context, addr string) (any, error) {
			creds, err := f.play.auth.dialOptions()
			if err != nil {
				return nil, err
			}
			conn, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler())}, creds...)...)
			if err != nil {
				return nil, err
			}
			go func() { <-ctx.Done(); conn.Close() }() // serve's context: the connection lives as long as the canvas
			return conn, nil
		}
		sys, err := system.BuildContext(ctx, o)
		if err != nil {
			return err
		}
		f.closers = append(f.closers, func() { _ = sys.Close() }) // a managed llama.cpp server, after the server stops
		for _, spec := range o.Libraries {
			if l, err := sys.Canvas.Libraries().Get(spec.Name); err == nil {
				slog.Default().Info("operator library", "name", spec.Name, "kind", spec.Kind, "options", spec.Options, "operators", strings.Join(l.Names(), ","))
			}
		}
		go sys.Store.Run(ctx, min(f.idleTTL/4, time.Minute))
		logSystem(sys)
		canvassvc.AddValidators(v)
		canvassvc.Register(s, canvassvc.New(sys.Canvas))
		return nil
	},
	"policy": func(ctx context.Context, s *server.Server, v server.Validators, f *serveFlags) error {
		p, closeP, err := f.play.pol.build(ctx, f.play.seed, &f.play.auth)
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
		svc := trainersvc.NewService(ctx, f.runsDir, slog.Default())
		svc.OnRun = attachSpans
		svc.DataDir = f.dataDir
		creds, err := auth.NewCredentials(f.credentials)
		if err != nil {
			return err
		}
		allow, err := auth.NewDialAllow(f.allowDial)
		if err != nil {
			return err
		}
		svc.ClientConfigs, svc.Credentials, svc.AllowDial = true, creds, allow
		slog.Default().Info("trainer service", "credentials", strings.Join(creds.Names(), ","), "allow_dial", allow.String())
		trainersvc.Register(s, svc)
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

func newServeCmd() *cobra.Command { return newServeCmdWith(&serveFlags{}) }

// newServeCmdWith binds the serve command's flags to f.
func newServeCmdWith(f *serveFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run flowsteer's gRPC services in one process",
		Long: "serve runs the chosen services on one gRPC server with health, reflection, logging and recovery.\n" +
			"It listens on 127.0.0.1:50051 by default and stops gracefully on Ctrl-C or SIGTERM, finishing in-flight turns.\n\n" +
			"Access control: on a non-loopback --addr, serve requires TLS (--tls-cert, --tls-key) and authentication\n" +
			"(--auth-token-file or $" + serverTokensEnv + ", and/or client certificates with --tls-client-ca), or --insecure.\n" +
			"On loopback they are optional and honoured when given. Health and reflection answer without credentials.\n" +
			"Per-client limits: --rate-limit, --rate-burst, --max-client-episodes. The --dial-* flags are the credentials\n" +
			"serve itself uses towards --operator-library and --policy-addr servers.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), f, nil)
		},
	}
	f.register(cmd.Flags())
	f.access.register(cmd.Flags())
	f.play.auth.register(cmd.Flags(), "dial-", "--operator-library and --policy-addr connections")
	f.play.pol.register(cmd.Flags(), "embedded", "policy service")
	cmd.Flags().Int64Var(&f.play.seed, "policy-seed", 1, "policy service: seed")
	cmd.Flags().StringArrayVar(&f.credentials, "credential", nil, "trainer service: a secret clients' run configs may name (canvas.credential, policy.credential, backend.credential) without seeing it: NAME=token-file:PATH or NAME=env:VAR (repeatable)")
	cmd.Flags().StringSliceVar(&f.allowDial, "allow-dial", auth.DefaultDialAllow, "trainer service: addresses runs and evaluations may dial for clients: loopback, CIDRs, IPs, host names, host:port, or * for any")
	cmd.Flags().StringVar(&f.memory, "episode-memory", defaultEpisodeMemory, "canvas: memory budget of all stored episodes (what each holds plus what it may still grow to), checked when an episode opens (0 = none)")
	cmd.Flags().StringVar(&f.tenantMem, "client-episode-memory", defaultClientEpisodeMemory, "canvas: the same budget per client (tenant) (0 = none)")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", ".", "trainer service: task and sim-config files clients name must lie inside this directory (relative paths resolve in it)")
	cmd.Flags().StringVar(&f.runsDir, "runs-dir", "runs", "trainer service: where runs are stored (also confines policy checkpoint paths)")
	cmd.Flags().StringArrayVar(&f.libraries, "operator-library", nil, "canvas: extra operator library served by an OperatorService, NAME=HOST:PORT (repeatable; an operator library of kind remote, docs/config.md); episodes pick it with config.library")
	cmd.Flags().BoolVar(&f.noExecute, "no-execute", false, "canvas: apply and validate edits without executing workflows")
	cmd.Flags().StringVar(&f.addr, "addr", "127.0.0.1:50051", "address to listen on")
	cmd.Flags().Bool("record-spans", true, "trainer service: record each run's spans into its store for the viewer's trace pages (sampled as OTEL_TRACES_SAMPLER says, at most 5000 per episode)")
	cmd.Flags().Float64("span-episodes", 0.1, "share of episodes whose spans are recorded after a run's first 200, which all are (0 to 1)")
	f.ui.register(cmd, "ui", "", "also serve the read-only web viewer over --runs-dir on this address (e.g. 127.0.0.1:8080), under the same TLS and token rules")
	cmd.Flags().StringSliceVar(&f.services, "services", nil, "services to run (default all: "+strings.Join(serviceNames(), ", ")+")")
	cmd.Flags().DurationVar(&f.grace, "grace", 30*time.Second, "how long a graceful stop waits for in-flight calls")
	cmd.Flags().IntVar(&f.maxEpisodes, "max-episodes", canvas.DefaultStoreConfig().MaxEpisodes, "most episodes a canvas holds; the least recently used expires first")
	cmd.Flags().DurationVar(&f.idleTTL, "episode-ttl", canvas.DefaultStoreConfig().IdleTTL, "idle episodes expire after this long")
	cmd.Flags().DurationVar(&f.resumeGrace, "resume-grace", canvas.DefaultStoreConfig().ResumeGrace, "canvas: an unfinished episode whose stream ended stays resumable by id this long (0 = until --episode-ttl idle); an open stream keeps its episode")
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
	acc, err := f.access.build(f.addr, f.idleTTL, log)
	if err != nil {
		return err
	}
	v := server.Validators{}
	s := server.New(server.Options{Logger: log, Validators: v,
		GuardUnary: acc.guard.Unary(), GuardStream: acc.guard.Stream(), ServerOpts: acc.serverOpts})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() {
		for i := len(f.closers) - 1; i >= 0; i-- {
			f.closers[i]()
		}
		f.closers = nil
	}()
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
	if f.ui.addr != "" {
		// The viewer reads the trainer service's runs under the same
		// access rules as the gRPC server.
		f.ui.runsDir, f.ui.certFile, f.ui.keyFile, f.ui.tokenFile, f.ui.insecure = f.runsDir, f.access.certFile, f.access.keyFile, f.access.tokenFile, f.access.insecure
		uiReady := make(chan string, 1)
		uiErr := make(chan error, 1)
		go func() { uiErr <- serveUI(ctx, &f.ui, uiReady) }()
		select {
		case a := <-uiReady:
			log.Info("web viewer", "url", a, "runs_dir", f.runsDir)
		case err := <-uiErr:
			return fmt.Errorf("--ui: %w", err)
		}
	}
	lis, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	if err := acc.checkBound(lis.Addr(), log); err != nil {
		lis.Close()
		return err
	}
	slices.Sort(names)
	log.Info("flowsteer serving", append([]any{"addr", lis.Addr().String(), "services", strings.Join(names, ","), "version", version}, acc.fields...)...)
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
	log.Info("math grader", "grader", sys.MathGraderName())
	iso := sys.Sandbox.Isolation()
	cg := iso.Cgroup
	if cg == "" {
		cg = "none (memory capped per process only)"
	}
	if iso.Note != "" {
		log.Warn("sandbox isolation is reduced", "mode", iso.Mode, "seccomp", iso.Seccomp, "cgroup", cg, "note", iso.Note)
	} else {
		log.Info("sandbox", "mode", iso.Mode, "seccomp", iso.Seccomp, "cgroup", cg)
	}
}

// The episode memory budgets of serve, and of the in-process canvases that
// play and demo start with serveFlags left empty.
const (
	defaultEpisodeMemory       = "2GiB"
	defaultClientEpisodeMemory = "512MiB"
)

// memoryHeadroom is what serve allows beyond --episode-memory for
// everything else a process holds (executor cache, gRPC buffers, the
// runtime) in the Go heap's soft limit.
const memoryHeadroom = 128 << 20

// parseBytes reads a size such as 512MiB, 2GiB, 64KiB or a plain number
// of bytes; 0 turns the limit off.
func parseBytes(flag, v string) (int64, error) {
	t := strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%s %q: give a size such as 512MiB, 2GiB or a number of bytes (0 = no limit)", flag, v)
	}
	return n * mult, nil
}

// librarySpecs reads --operator-library NAME=HOST:PORT: sugar for an
// operator library of kind remote with that address.
func librarySpecs(flags []string) ([]operator.LibrarySpec, error) {
	var out []operator.LibrarySpec
	for _, spec := range flags {
		name, addr, ok := strings.Cut(spec, "=")
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("--operator-library %q: use NAME=HOST:PORT", spec)
		}
		out = append(out, operator.LibrarySpec{Name: name, Kind: opremote.Kind, Options: map[string]any{"addr": addr}})
	}
	if err := operator.CheckLibraries(out); err != nil {
		return nil, fmt.Errorf("--operator-library: %w", err)
	}
	return out, nil
}
