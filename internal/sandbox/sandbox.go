package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowsteer/flowsteer/internal/obs"
)

// Isolation modes accepted in Config.Isolation and reported in Isolation.Mode.
const (
	ModeAuto       = "auto"
	ModeBwrap      = "bwrap"
	ModeNamespaces = "namespaces"
	ModeNone       = "none"
)

// ErrUnavailable is returned (wrapped) by New when the requested isolation
// mode cannot be used on this machine.
var ErrUnavailable = errors.New("sandbox: isolation mode unavailable")

// Config sets the limits of every run of a Runner. Zero values mean the
// defaults named on each field.
type Config struct {
	Python      string        // interpreter, default "python3"
	Timeout     time.Duration // wall clock per run, default 10s
	CPUSeconds  int           // RLIMIT_CPU, default = ceil(Timeout)
	MemoryBytes int64         // address-space limit per process, default 512 MiB
	OutputBytes int           // cap on captured stdout and stderr each, default 64 KiB
	MaxProcs    int           // processes/threads a run may have, default 32
	FileBytes   int64         // RLIMIT_FSIZE, default 16 MiB
	// DiskBytes bounds what a run can write in the isolated modes: its
	// scratch dir, /tmp and /dev/shm are each a tmpfs of this size, so a
	// full one is ENOSPC for the program and the host's disk never sees
	// the data. Default max(4*FileBytes, 16 MiB). "none" mode has only
	// RLIMIT_FSIZE per file.
	DiskBytes   int64
	MaxParallel int    // runs at once in this Runner, default runtime.NumCPU()
	Isolation   string // "auto" (default), "bwrap", "namespaces", "none"
	ScratchRoot string // parent dir for scratch dirs, default os.TempDir()
}

// Validate reports the first field holding a value no run could use.
func (c Config) Validate() error {
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("sandbox: Config.Timeout %v is negative", c.Timeout)
	case c.CPUSeconds < 0:
		return fmt.Errorf("sandbox: Config.CPUSeconds %d is negative", c.CPUSeconds)
	case c.MemoryBytes < 0:
		return fmt.Errorf("sandbox: Config.MemoryBytes %d is negative", c.MemoryBytes)
	case c.MemoryBytes > 0 && c.MemoryBytes < 32<<20:
		return fmt.Errorf("sandbox: Config.MemoryBytes %d is below the 32 MiB the interpreter needs to start", c.MemoryBytes)
	case c.OutputBytes < 0:
		return fmt.Errorf("sandbox: Config.OutputBytes %d is negative", c.OutputBytes)
	case c.MaxProcs < 0:
		return fmt.Errorf("sandbox: Config.MaxProcs %d is negative", c.MaxProcs)
	case c.FileBytes < 0:
		return fmt.Errorf("sandbox: Config.FileBytes %d is negative", c.FileBytes)
	case c.DiskBytes < 0:
		return fmt.Errorf("sandbox: Config.DiskBytes %d is negative", c.DiskBytes)
	case c.DiskBytes > 0 && c.DiskBytes < 1<<20:
		return fmt.Errorf("sandbox: Config.DiskBytes %d is below the 1 MiB a program and its files need", c.DiskBytes)
	case c.MaxParallel < 0:
		return fmt.Errorf("sandbox: Config.MaxParallel %d is negative", c.MaxParallel)
	}
	switch c.Isolation {
	case "", ModeAuto, ModeBwrap, ModeNamespaces, ModeNone:
	default:
		return fmt.Errorf("sandbox: Config.Isolation %q is not one of auto, bwrap, namespaces, none", c.Isolation)
	}
	if c.ScratchRoot != "" && !filepath.IsAbs(c.ScratchRoot) {
		return fmt.Errorf("sandbox: Config.ScratchRoot %q is not an absolute path", c.ScratchRoot)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Python == "" {
		c.Python = "python3"
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.CPUSeconds == 0 {
		c.CPUSeconds = int(math.Ceil(c.Timeout.Seconds()))
	}
	if c.MemoryBytes == 0 {
		c.MemoryBytes = 512 << 20
	}
	if c.OutputBytes == 0 {
		c.OutputBytes = 64 << 10
	}
	if c.MaxProcs == 0 {
		c.MaxProcs = 32
	}
	if c.FileBytes == 0 {
		c.FileBytes = 16 << 20
	}
	if c.DiskBytes == 0 {
		c.DiskBytes = max(4*c.FileBytes, 16<<20)
	}
	if c.MaxParallel == 0 {
		c.MaxParallel = runtime.NumCPU()
	}
	if c.Isolation == "" {
		c.Isolation = ModeAuto
	}
	if c.ScratchRoot == "" {
		c.ScratchRoot = os.TempDir()
	}
	return c
}

// Isolation describes what a runner actually applies.
type Isolation struct {
	Mode         string // "bwrap", "namespaces" or "none"
	Network      bool   // network cut off (empty network namespace)
	Filesystem   bool   // project files invisible, writes outside scratch (and a private /tmp) fail
	ProcessLimit bool   // RLIMIT_NPROC binds the run (it runs as an unprivileged uid)
	Note         string // plain words on what is reduced; empty when nothing is
	// Seccomp: the filter of seccomp.go is loaded before the program
	// starts (every mode). Cgroup: "v2" or "v1" when each run has a
	// cgroup with memory and pids limits for all its processes together
	// (cgroup.go); "" when the host allows none, and memory is then
	// capped per process only.
	Seccomp bool
	Cgroup  string
}

// Spec is one program to run.
type Spec struct {
	Code    string            // main program, written to main.py in the scratch dir
	Stdin   string            // fed to the program's stdin
	Files   map[string]string // extra files in the scratch dir, relative slash-separated names
	Args    []string          // sys.argv[1:]
	Timeout time.Duration     // optional override, at most Config.Timeout
}

// Result is what a run produced. A program that fails is a Result, not an
// error.
type Result struct {
	Stdout, Stderr string
	// ExitCode is the exit status, or 128+N when killed by signal N (the
	// pid-namespace inits of bwrap and the harness report signal deaths that
	// way, so all modes do; an exit(137) therefore reads as SIGKILL).
	ExitCode int
	TimedOut bool // killed at the wall-clock limit
	// Killed is a best-effort reason the run was stopped: "" when it ended on
	// its own, "timeout", "cancelled", "output", "memory", "cpu", or
	// "signal: <name>".
	Killed    string
	Truncated bool // some output was dropped at Config.OutputBytes
	Duration  time.Duration
	Isolation Isolation
}

// Runner runs programs under one Config. It is safe for concurrent use.
type Runner struct {
	cfg  Config
	py   *interpreter
	plan *plan
	sem  chan struct{}
}

// New checks cfg, finds the interpreter and settles which isolation mode
// works, so that every later run uses the same, known protection.
func New(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.ScratchRoot, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: scratch root: %w", err)
	}
	py, err := findInterpreter(cfg.Python)
	if err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, py: py, sem: make(chan struct{}, cfg.MaxParallel)}
	p, err := choosePlan(r)
	if err != nil {
		return nil, err
	}
	r.plan = p
	return r, nil
}

// Isolation reports the protection every run of r gets.
func (r *Runner) Isolation() Isolation {
	iso := r.plan.iso
	iso.Seccomp, iso.Cgroup = true, hostCgroups().version
	return iso
}

// Config returns the effective configuration, defaults filled in.
func (r *Runner) Config() Config { return r.cfg }

// Run executes s and waits for it. The error is non-nil only when the
// sandbox itself failed (bad Spec, scratch dir, interpreter, setup) or ctx
// ended: before the start no Result is produced; during the run the Result
// of the killed program comes back together with ctx's error.
func (r *Runner) Run(ctx context.Context, s Spec) (res Result, err error) {
	ctx, span := obs.Start(ctx, "sandbox.run", attribute.String("flowsteer.sandbox.mode", r.plan.iso.Mode))
	defer func() { r.traceRun(ctx, span, res, err) }()
	if err := checkSpec(s, r.cfg); err != nil {
		return Result{}, err
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	defer func() { <-r.sem }()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	return r.run(ctx, r.plan, s)
}

// traceRun ends a run's span and counts it (runs by mode and outcome,
// kills by reason).
func (r *Runner) traceRun(ctx context.Context, span trace.Span, res Result, err error) {
	outcome := "ok"
	switch {
	case err != nil:
		outcome = "error"
	case res.Killed != "":
		outcome = "killed"
	case res.ExitCode != 0:
		outcome = "failed"
	}
	span.SetAttributes(attribute.Int("flowsteer.sandbox.exit_code", res.ExitCode), attribute.Bool("flowsteer.sandbox.timed_out", res.TimedOut),
		attribute.String("flowsteer.sandbox.killed", res.Killed), attribute.Bool("flowsteer.sandbox.truncated", res.Truncated),
		attribute.String("flowsteer.sandbox.outcome", outcome))
	m := obs.M()
	mode := attribute.String("flowsteer.sandbox.mode", r.plan.iso.Mode)
	m.SandboxRuns.Add(ctx, 1, metric.WithAttributes(mode, attribute.String("flowsteer.sandbox.outcome", outcome)))
	if res.Killed != "" {
		reason, _, _ := strings.Cut(res.Killed, ":")
		m.SandboxKills.Add(ctx, 1, metric.WithAttributes(mode, attribute.String("flowsteer.sandbox.killed", reason)))
	}
	if res.Duration > 0 {
		m.SandboxDuration.Record(ctx, res.Duration.Seconds(), metric.WithAttributes(mode))
	}
	obs.End(span, err)
}

func checkSpec(s Spec, cfg Config) error {
	if s.Timeout < 0 || s.Timeout > cfg.Timeout {
		return fmt.Errorf("sandbox: Spec.Timeout %v must be 0 (use the Config's) or at most %v", s.Timeout, cfg.Timeout)
	}
	for name := range s.Files {
		if err := checkFileName(name); err != nil {
			return err
		}
	}
	for _, a := range s.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return errors.New("sandbox: Spec.Args holds a NUL byte")
		}
	}
	return nil
}

// checkFileName keeps Spec.Files inside the scratch dir and away from the
// program itself.
func checkFileName(name string) error {
	bad := func(why string) error { return fmt.Errorf("sandbox: Spec.Files name %q %s", name, why) }
	switch {
	case name == "":
		return bad("is empty")
	case strings.IndexByte(name, 0) >= 0:
		return bad("holds a NUL byte")
	case strings.HasPrefix(name, "/") || filepath.IsAbs(name):
		return bad("is absolute")
	case strings.Contains(name, "\\"):
		return bad("holds a backslash")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return bad("climbs out with ..")
		}
		if part == "" || part == "." {
			return bad("is not a clean relative path")
		}
	}
	if name == "main.py" {
		return bad("would replace the program")
	}
	return nil
}
