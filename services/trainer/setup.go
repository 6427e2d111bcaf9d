// Package trainer serves the Trainer gRPC service and wires a training
// run to the world: the canvas (in process over bufconn, or remote
// canvases), the policy (the embedded Go learner in process, or a remote
// PolicyService learner), tasks, and the run directory with its store.
package trainer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	"github.com/flowsteer/flowsteer/data"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/fsutil"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/replay"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/trainer"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
)

// Prepared is a run ready to start; Close releases what it holds.
type Prepared struct {
	Trainer *trainer.Trainer
	Config  trainer.Config
	Store   runstore.Store
	Run     runstore.Run
	Dir     string
	// Start is the last completed step (non-zero when resuming).
	Start     int64
	Simulated bool
	Models    []string
	Hardware  string
	// model is the executor's model, for the run record.
	model   string
	closers []func()
	// dialOptions are added to every connection to remote services
	// (Options.DialOptions).
	dialOptions []grpc.DialOption
	creds       func(string) (string, error)
	serverKeys  bool
}

// withCredential returns auth with the bearer token of the declared
// credential name in place of its own, when name is set.
func (p *Prepared) withCredential(key string, auth flowsteer.Credentials, name string) (flowsteer.Credentials, error) {
	if name == "" {
		return auth, nil
	}
	if p.creds == nil {
		return auth, fmt.Errorf("%s %q: this process declares no credentials (flowsteer serve --credential NAME=...)", key, name)
	}
	tok, err := p.creds(name)
	if err != nil {
		return auth, fmt.Errorf("%s: %w", key, err)
	}
	auth.Token, auth.TokenFile, auth.TokenEnv = tok, "", ""
	return auth, nil
}

// Close stops the in-process canvas and closes connections and the store.
func (p *Prepared) Close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

// Options of Prepare.
type Options struct {
	// Dir is the run directory: created for a new run, read for a resume.
	Dir    string
	Resume bool
	// Observer hears progress.
	Observer trainer.Observer
	Logger   *slog.Logger
	// DialOptions are added to the connections to remote canvases and
	// policies (credentials, a context dialer, ...), after the defaults.
	DialOptions []grpc.DialOption
	// Check, when set, vets the config (the new one, or the one read for
	// a resume) before anything is dialled or read: a server refuses
	// client configs that name files, variables or addresses it does
	// not allow.
	Check func(trainer.Config) error
	// Credentials resolves canvas.credential, policy.credential and
	// backend.credential; nil: naming one is an error. Resolved values
	// reach only the connections, never config.yaml or the run record.
	Credentials func(name string) (string, error)
	// ServerKeys: the openai backend sends only backend.credential's key,
	// never one read from the server's environment.
	ServerKeys bool
	// Budget, when set, replaces the run's budget; on a resume it is
	// written to config.yaml (a budget is not part of the config hash, so
	// a run stopped by its budget resumes with a raised one).
	Budget *trainer.Budget
}

// NewRunDir names a fresh run directory under root, NAME-TIMESTAMP, and
// creates it so that two runs started in the same second (a sweep, two
// clients) do not collide: the second gets NAME-TIMESTAMP-2, and so on.
// When the directory cannot be made the name is returned anyway and
// Prepare reports the error.
func NewRunDir(root, name string) string {
	base := filepath.Join(root, fmt.Sprintf("%s-%s", name, time.Now().UTC().Format("20060102-150405")))
	if err := os.MkdirAll(root, 0o755); err != nil {
		return base
	}
	dir := base
	for i := 2; i < 1000; i++ {
		if err := os.Mkdir(dir, 0o755); !errors.Is(err, fs.ErrExist) {
			return dir
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
	return dir
}

// Prepare sets a run up: for a new run cfg is written to Dir/config.yaml;
// for a resume the config is read from there and cfg is ignored.
func Prepare(ctx context.Context, cfg trainer.Config, o Options) (_ *Prepared, err error) {
	// p is not the named result: every error return sets that to nil, and
	// the deferred Close must still reach what was opened.
	p := &Prepared{Dir: o.Dir, Hardware: hardware(), dialOptions: o.DialOptions, creds: o.Credentials, serverKeys: o.ServerKeys}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	cfgPath := filepath.Join(o.Dir, "config.yaml")
	if o.Resume {
		if cfg, err = trainer.LoadConfig(cfgPath); err != nil {
			return nil, fmt.Errorf("resume %s: %w", o.Dir, err)
		}
		if o.Check != nil {
			if err := o.Check(cfg); err != nil {
				return nil, err
			}
		}
		if o.Budget != nil {
			cfg.Budget = *o.Budget
			if err := cfg.Validate(); err != nil {
				return nil, fmt.Errorf("resume %s: %w", o.Dir, err)
			}
			if err := fsutil.WriteFileAtomic(cfgPath, []byte(cfg.YAML()), 0o644); err != nil {
				return nil, err
			}
		}
	} else {
		if o.Check != nil {
			if err := o.Check(cfg); err != nil {
				return nil, err
			}
		}
		if o.Budget != nil {
			cfg.Budget = *o.Budget
		}
		if runstore.Exists(o.Dir) {
			return nil, fmt.Errorf("%s already holds a run: resume it with --resume %s, or choose another directory", o.Dir, o.Dir)
		}
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return nil, err
		}
		if err := fsutil.WriteFileAtomic(cfgPath, []byte(cfg.YAML()), 0o644); err != nil {
			return nil, err
		}
	}
	// The run lock says the run's process lives (runstore.Alive): a run
	// stored as running whose lock is free shows as interrupted.
	release, err := runstore.Lock(o.Dir)
	if err != nil {
		return nil, err
	}
	p.closers = append(p.closers, release)
	p.Config = cfg
	// A new run records its store kind (cfg.Store) in its directory; a
	// resume reopens what that record names. A run killed before it made
	// its store has none yet and makes it as a new run would.
	var st runstore.Store
	if o.Resume && runstore.Exists(o.Dir) {
		st, err = runstore.Open(o.Dir)
	} else {
		st, err = runstore.Create(ctx, o.Dir, cfg.Store)
	}
	if err != nil {
		return nil, err
	}
	p.Store = st
	p.closers = append(p.closers, func() { st.Close() })

	train, evalTasks, err := loadTasks(ctx, cfg)
	if err != nil {
		return nil, err
	}

	env := trainer.Env{Store: st, Dir: o.Dir, Observer: o.Observer, Hardware: p.Hardware}
	bc, err := cfg.BackendConfig()
	if err != nil {
		return nil, err
	}
	if err := p.canvas(ctx, cfg, bc, &env, o.Logger); err != nil {
		return nil, err
	}
	if err := p.policy(ctx, cfg, &env); err != nil {
		return nil, err
	}

	runID := filepath.Base(o.Dir)
	if o.Resume {
		if p.Run, err = st.GetRun(runID); errors.Is(err, runstore.ErrNotFound) {
			// Killed before its run record was written: the run is empty,
			// and resuming it starts it.
			p.Run = newRunRecord(runID, cfg, p)
			if err := st.CreateRun(p.Run); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, fmt.Errorf("resume %s: %w", o.Dir, err)
		}
		ck, ok, err := st.LastCheckpoint(runID)
		if err != nil {
			return nil, err
		}
		if ok {
			if ck.ConfigHash != cfg.Hash() {
				return nil, fmt.Errorf("resume %s: the checkpoint was made with config %s but config.yaml is now %s: restore the original config", o.Dir, ck.ConfigHash, cfg.Hash())
			}
			if _, err := env.Learner.Load(ck.Path, ck.Checksum); err != nil {
				return nil, fmt.Errorf("resume %s: %w", o.Dir, err)
			}
			p.Start = ck.Step
		}
		// Whatever was stored after the checkpoint belongs to the step in
		// flight when the run stopped: it is played again. The resume is
		// noted first so the viewer can show the interrupted step.
		if err := st.RecordResume(runID, p.Start); err != nil {
			return nil, err
		}
		if err := st.Truncate(runID, p.Start); err != nil {
			return nil, err
		}
	} else {
		p.Run = newRunRecord(runID, cfg, p)
		if err := st.CreateRun(p.Run); err != nil {
			return nil, err
		}
	}
	p.Trainer, err = trainer.New(cfg, env, p.Run, p.Start, train, evalTasks)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func newRunRecord(id string, cfg trainer.Config, p *Prepared) runstore.Run {
	return runstore.Run{ID: id, Name: cfg.Name, Status: "pending", ConfigYAML: cfg.YAML(), ConfigHash: cfg.Hash(),
		Backend: cfg.Backend.Kind, Policy: cfg.Policy.Kind, Model: p.model, Hardware: p.Hardware, Simulated: p.Simulated,
		TotalSteps: int64(cfg.Steps), Created: time.Now(), Updated: time.Now()}
}

func hardware() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s, %d CPUs, %s/%s, %s", host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// loadTasks reads the train and eval sets (the built-in offline suite when
// no file is given) and converts them to the contract type. Task files go
// through system.PrepareTasks, as in eval and play: public examples the
// data set's reference solution fails are dropped. The built-in suite is
// generated with references that pass its public tests (a test of
// internal/task checks it), so it is not run again here.
func loadTasks(ctx context.Context, cfg trainer.Config) (train, evalSet []*pb.Task, err error) {
	read := func(path string, builtin []byte, limit int) ([]task.Task, error) {
		ts, err := task.ReadJSONL(bytes.NewReader(builtin))
		if path != "" {
			ts, err = task.Load(path, cfg.Tasks.Format)
		}
		if err != nil {
			return nil, err
		}
		if path == "" {
			return system.FilterTasks(ts, cfg.Tasks.Families, limit), nil
		}
		ts, _, err = system.PrepareTasks(ctx, ts, cfg.Tasks.Families, limit, nil) // nil: a default sandbox, as the in-process canvas's
		return ts, err
	}
	tr, err := read(cfg.Tasks.Train, data.Train, cfg.Tasks.Limit)
	if err != nil {
		return nil, nil, fmt.Errorf("tasks.train: %w", err)
	}
	var ev []task.Task
	if cfg.Tasks.Eval != "" || cfg.Tasks.Train == "" {
		if ev, err = read(cfg.Tasks.Eval, data.Eval, 0); err != nil {
			return nil, nil, fmt.Errorf("tasks.eval: %w", err)
		}
	}
	for _, t := range tr {
		train = append(train, protoconv.TaskToPB(t))
	}
	for _, t := range ev {
		evalSet = append(evalSet, protoconv.TaskToPB(t))
	}
	if len(train) == 0 {
		return nil, nil, errors.New("tasks: no training task is left after the family filter")
	}
	return train, evalSet, nil
}

// canvas connects the run to canvases: in process (a real Canvas server
// on bufconn, so episodes travel the same Interact stream as remote ones)
// or the configured addresses: one balanced connection over every replica
// (flowsteer.DialBalanced), each episode on one healthy replica, round
// robin, and an episode that loses its replica played again elsewhere.
//
// bc is the backend's config, decoded from cfg's backend section (or given
// by Evaluate) by executor.Backends.
func (p *Prepared) canvas(ctx context.Context, cfg trainer.Config, bc component.Config, env *trainer.Env, log *slog.Logger) error {
	env.Retryable = flowsteer.Retryable
	if len(cfg.Canvas.Addresses) > 0 {
		creds, err := p.withCredential("canvas.credential", flowsteer.Credentials(cfg.Canvas.Auth), cfg.Canvas.Credential)
		if err != nil {
			return err
		}
		auth, err := creds.DialOptions()
		if err != nil {
			return fmt.Errorf("canvas.auth: %w", err)
		}
		c, err := flowsteer.DialBalanced(cfg.Canvas.Addresses, append(auth, p.dialOptions...)...)
		if err != nil {
			return fmt.Errorf("canvas.addresses: %w", err)
		}
		p.closers = append(p.closers, func() { c.Close() })
		env.Canvas = canvasClient{c}
		info, _ := executor.Backends.Lookup(cfg.Backend.Kind)
		p.Simulated = info.HasTrait(executor.TraitSimulated)
		p.model = cfg.Backend.Model
		if p.model == "" {
			p.model = cfg.Backend.Kind
		}
		p.Models = append(p.Models, "math grader: the remote canvases' own (flowsteer serve --math-grader)")
		return nil
	}
	o := system.DefaultOptions()
	o.Backend, o.BackendConfig = cfg.Backend.Kind, bc
	if cfg.Backend.Credential != "" || p.serverKeys {
		key := ""
		if cfg.Backend.Credential != "" {
			c, err := p.withCredential("backend.credential", flowsteer.Credentials{}, cfg.Backend.Credential)
			if err != nil {
				return err
			}
			key = c.Token
		}
		o.APIKey = &key
	}
	mg, err := system.MathGraderSetting(cfg.Backend.MathGrader)
	if err != nil {
		return err
	}
	o.MathGrader = mg
	o.Libraries = cfg.Canvas.Libraries
	o.LibraryDeps.Dial = p.libraryDialer()
	sys, err := system.BuildContext(ctx, o)
	if err != nil {
		return err
	}
	p.closers = append(p.closers, func() { _ = sys.Close() }) // a managed llama.cpp server stops last
	p.Simulated = sys.Simulated
	b, _ := sys.Backends.Get("")
	p.model = b.Model()
	p.Models = append(p.Models, "executor: "+b.Model(), "math grader: "+sys.MathGraderName())
	// Every executor call is recorded per episode so that each stored
	// episode can be replayed exactly (internal/replay).
	rec := replay.NewRecorder(replay.BackendInfo{Name: b.Name(), Model: b.Model(), Simulated: b.Simulated()})
	sys.Engine.SetRecorder(rec.Record)
	env.Replay = rec
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	v := server.Validators{}
	canvassvc.AddValidators(v)
	srv := server.New(server.Options{Logger: log, Validators: v})
	canvassvc.Register(srv, canvassvc.New(sys.Canvas))
	lis := bufconn.Listen(4 << 20)
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { _ = srv.Serve(sctx, lis, 10*time.Second); close(done) }()
	conn, err := grpc.NewClient("passthrough:///in-process-canvas",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
	if err != nil {
		stop()
		return err
	}
	p.closers = append(p.closers, func() { stop(); <-done }, func() { conn.Close() })
	env.Canvas = canvasClient{flowsteer.New(conn)}
	if sys.Cache != nil {
		cache := sys.Cache
		env.ExecutorCalls = func() (int64, int64) {
			s := cache.Stats()
			return s.Misses + s.Bypass, s.Hits + s.Coalesced
		}
	}
	return nil
}

// policy creates the learner through policy.Kinds: the embedded Go
// learner in process, or a remote PolicyService whose episodes each get an
// ActStream. Only kinds with policy.TraitLearns get here (Config.Validate).
func (p *Prepared) policy(ctx context.Context, cfg trainer.Config, env *trainer.Env) error {
	pc, err := cfg.PolicyConfig()
	if err != nil {
		return err
	}
	creds, err := p.withCredential("policy.credential", flowsteer.Credentials(cfg.Policy.Auth), cfg.Policy.Credential)
	if err != nil {
		return err
	}
	deps := policy.Deps{Seed: cfg.Seed, LearningRate: cfg.Optimizer.LearningRate, MaxGradNorm: cfg.Optimizer.MaxGradNorm,
		Connect: p.policyConnector("policy.auth", creds)}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pol, err := policy.Kinds.Create(dctx, cfg.Policy.Kind, pc, deps)
	if err != nil {
		return err
	}
	l, ok := pol.(policy.Learner)
	if !ok || !pol.Info().CanLearn {
		return fmt.Errorf("policy %s (%s) cannot learn: training needs a learner", strings.Join(cfg.PolicyAddresses(), ","), pol.Info().Kind)
	}
	env.Learner = l
	if sp, ok := pol.(rollout.SessionPolicy); ok {
		env.NewActor = sp.NewActor
	}
	p.Models = append(p.Models, "policy: "+policy.Name(pol))
	return nil
}

// policyConnector reaches PolicyService replicas for policy kind remote:
// one balanced connection (each episode's ActStream goes to one healthy
// replica; a lone address behaves as a plain connection), closed with p.
func (p *Prepared) policyConnector(key string, creds flowsteer.Credentials) func(context.Context, []string) (pb.PolicyServiceClient, error) {
	return func(_ context.Context, addrs []string) (pb.PolicyServiceClient, error) {
		auth, err := creds.DialOptions()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		conn, err := flowsteer.BalancedConn(pb.PolicyService_ServiceDesc.ServiceName, addrs, append(auth, p.dialOptions...)...)
		if err != nil {
			return nil, err
		}
		p.closers = append(p.closers, func() { conn.Close() })
		return pb.NewPolicyServiceClient(conn), nil
	}
}

// libraryDialer connects the in-process canvas to the OperatorServices
// of canvas.libraries (kind remote): plaintext, with Options.DialOptions,
// closed with p.
func (p *Prepared) libraryDialer() func(context.Context, string) (any, error) {
	return func(_ context.Context, addr string) (any, error) {
		opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithStatsHandler(otelgrpc.NewClientHandler())}, p.dialOptions...)
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			return nil, err
		}
		p.closers = append(p.closers, func() { conn.Close() })
		return conn, nil
	}
}

// canvasClient opens episodes through one (possibly balanced) client.
type canvasClient struct{ c *flowsteer.Client }

func (c canvasClient) Open(ctx context.Context, t *pb.Task, cfg *pb.EpisodeConfig) (rollout.Episode, error) {
	ep, err := c.c.Open(ctx, t, cfg)
	if err != nil {
		return nil, err // not a nil *Episode in a non-nil interface
	}
	return ep, nil
}
