package trainer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/auth"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

// Service implements pb.TrainerServiceServer: it starts runs in the
// background under RunsDir, streams their events and answers queries from
// the runs' stores.
type Service struct {
	pb.UnimplementedTrainerServiceServer
	RunsDir string
	// DataDir confines the files clients name (tasks.train, tasks.eval,
	// backend.sim_config, Evaluate's tasks_file): relative paths resolve
	// inside it and paths leading out of it are refused, so a client of
	// this service cannot make the server read arbitrary files. "" allows
	// any path (in-process use).
	DataDir string
	Logger  *slog.Logger
	// OnRun, when set, is called as each run starts; the returned detach
	// runs when it ends, before its store closes (serve records the run's
	// spans into its store this way).
	OnRun func(st runstore.Store, runID string) (detach func())
	// ClientConfigs: run configs come from clients (flowsteer serve), so
	// they may name only declared Credentials, never files or variables,
	// and dial only what AllowDial allows (nil: anything); see tenancy.go.
	ClientConfigs bool
	Credentials   *auth.Credentials
	AllowDial     *auth.DialAllow

	ctx    context.Context // owns every run's goroutine
	mu     sync.Mutex
	active map[string]*activeRun
	// finishing holds the runs that left active but still hold their
	// directory (the store closes after the final status went out): a
	// resume waits for their done channel instead of failing on the lock.
	finishing map[string]chan struct{}
	wg        sync.WaitGroup
}

type activeRun struct {
	owner  string
	cancel context.CancelFunc
	prep   *Prepared
	hub    *hub
	done   chan struct{}
	// storeMu keeps prep.Store open while a reader (withStore) uses it;
	// the run's goroutine takes it to close the store and set closed.
	storeMu sync.RWMutex
	closed  bool
}

// NewService returns a service whose runs live until ctx ends.
func NewService(ctx context.Context, runsDir string, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{RunsDir: runsDir, Logger: log, ctx: ctx, active: map[string]*activeRun{}, finishing: map[string]chan struct{}{}}
}

// Register adds the service to s.
func Register(s *server.Server, svc *Service) { pb.RegisterTrainerServiceServer(s.GRPC, svc) }

// AddValidators registers request checks.
func AddValidators(v server.Validators) {
	server.Add(v, func(m *pb.StartRunRequest) error {
		if m.GetResume() && m.GetRunDir() == "" {
			return errors.New("run_dir is required with resume")
		}
		if len(m.GetRunDir()) > maxRunIDBytes {
			return fmt.Errorf("run_dir is %d bytes, at most %d", len(m.GetRunDir()), maxRunIDBytes)
		}
		if !m.GetResume() && strings.TrimSpace(m.GetConfigYaml()) == "" {
			return errors.New("config_yaml is required (send {} for the defaults)")
		}
		if n := len(m.GetConfigYaml()); n > maxConfigBytes {
			return fmt.Errorf("config_yaml is %d bytes, at most %d", n, maxConfigBytes)
		}
		return nil
	})
	server.Add(v, checkEvaluate)
	server.Add(v, func(m *pb.WatchRunRequest) error { return needRun(m.GetRunId()) })
	server.Add(v, func(m *pb.GetRunRequest) error { return needRun(m.GetRunId()) })
	server.Add(v, func(m *pb.CancelRunRequest) error { return needRun(m.GetRunId()) })
}

// Limits on what a request may carry.
const (
	maxConfigBytes = 1 << 20
	maxBaselines   = 64
	maxRunIDBytes  = 255 // a file name
	// backend_options: a kind has a handful of options, each a scalar.
	maxBackendOptions   = 32
	maxOptionKeyBytes   = 64
	maxOptionValueBytes = 4096
)

// checkEvaluate refuses an Evaluate request no evaluation could run,
// before a canvas is built or an episode plays.
func checkEvaluate(m *pb.EvaluateRequest) error {
	if m.GetPolicy().GetKind() == "" {
		return fmt.Errorf("policy.kind is required (%s)", strings.Join(policy.Kinds.Kinds(), ", "))
	}
	set, err := PolicySpecOptions(m.GetPolicy())
	if err != nil {
		return err
	}
	if _, err := policy.Kinds.Decode(m.GetPolicy().GetKind(), set); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if len(m.GetTasks()) == 0 && m.GetTasksFile() == "" {
		return errors.New("tasks or tasks_file is required")
	}
	for i, t := range m.GetTasks() {
		if err := protoconv.ValidateTask(fmt.Sprintf("tasks[%d]", i), t); err != nil {
			return err
		}
	}
	if c := m.GetConcurrency(); c < 0 || c > trainer.MaxConcurrency {
		return fmt.Errorf("concurrency must be in 0..%d (0 = one at a time), got %d", trainer.MaxConcurrency, c)
	}
	if n := len(m.GetBaselines()); n > maxBaselines {
		return fmt.Errorf("baselines has %d entries, at most %d", n, maxBaselines)
	}
	for i, b := range m.GetBaselines() {
		// The rule of a run's eval.baselines.
		if _, _, err := policy.CheckBaseline(b); err != nil {
			return fmt.Errorf("baselines[%d]: %w", i, err)
		}
	}
	if b := m.GetBackend(); b != "" {
		if _, ok := executor.Backends.Lookup(b); !ok {
			return fmt.Errorf("backend: %w", executor.Backends.UnknownKind(b))
		}
	}
	if n := len(m.GetBackendOptions()); n > maxBackendOptions {
		return fmt.Errorf("backend_options has %d entries, at most %d", n, maxBackendOptions)
	}
	for k, v := range m.GetBackendOptions() {
		if len(k) > maxOptionKeyBytes || len(v) > maxOptionValueBytes {
			return fmt.Errorf("backend_options[%q]: keys are at most %d bytes and values %d", auth.Clip(k, 64), maxOptionKeyBytes, maxOptionValueBytes)
		}
	}
	if _, err := executor.Backends.Decode(evalBackend(m), BackendOptions(m)); err != nil {
		return fmt.Errorf("backend_options: %w", err)
	}
	return nil
}

func needRun(id string) error {
	if strings.TrimSpace(id) == "" || strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
		return errors.New("run_id must be a run name (no slashes)")
	}
	if len(id) > maxRunIDBytes {
		return fmt.Errorf("run_id is %d bytes, at most %d", len(id), maxRunIDBytes)
	}
	return nil
}

// Wait blocks until every run started by the service has stopped.
func (s *Service) Wait() { s.wg.Wait() }

// dataPath resolves a file a client names inside DataDir; a path that
// leaves it (absolute elsewhere, "..", a symbolic link out) is
// PermissionDenied.
func (s *Service) dataPath(key, p string) (string, error) {
	if p == "" || s.DataDir == "" {
		return p, nil
	}
	root, err := filepath.Abs(s.DataDir)
	if err != nil {
		return "", status.Errorf(codes.Internal, "data directory: %v", err)
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return "", status.Errorf(codes.FailedPrecondition, "data directory %s: %v", s.DataDir, err)
	}
	full := p
	if !filepath.IsAbs(full) {
		full = filepath.Join(root, full)
	}
	if real, err := filepath.EvalSymlinks(full); err == nil {
		full = real
	}
	if rel, err := filepath.Rel(root, full); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", status.Errorf(codes.PermissionDenied, "%s %q is outside the server's data directory %s (flowsteer serve --data-dir): name a file inside it, or send the tasks in the request", key, auth.Clip(p, 256), root)
	}
	return full, nil
}

// dirOf confines a client's run directory to RunsDir.
func (s *Service) dirOf(name string) string {
	return filepath.Join(s.RunsDir, filepath.Base(filepath.Clean("/"+name)))
}

func (s *Service) StartRun(ctx context.Context, req *pb.StartRunRequest) (*pb.StartRunResponse, error) {
	var cfg trainer.Config
	var err error
	if !req.GetResume() {
		if cfg, err = trainer.ParseConfig([]byte(req.GetConfigYaml())); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		for _, f := range []struct {
			key  string
			path *string
		}{{"tasks.train", &cfg.Tasks.Train}, {"tasks.eval", &cfg.Tasks.Eval}, {"backend.sim_config", &cfg.Backend.SimConfig}} {
			if *f.path, err = s.dataPath(f.key, *f.path); err != nil {
				return nil, err
			}
		}
		if err := s.checkConfig(cfg); err != nil {
			return nil, err
		}
	}
	dir := NewRunDir(s.RunsDir, cfg.Name)
	if req.GetRunDir() != "" {
		dir = s.dirOf(req.GetRunDir())
		// "..", "." or "/" would make the runs directory itself the run's.
		if filepath.Clean(dir) == filepath.Clean(s.RunsDir) {
			return nil, status.Errorf(codes.InvalidArgument, "run_dir %q names no run directory: give the run's name", req.GetRunDir())
		}
	}
	id := filepath.Base(dir)
	owner := auth.Tenant(ctx)
	if req.GetResume() {
		// Another tenant's run is as missing as one that never was.
		if !isDir(dir) || !canSee(ctx, dir) {
			return nil, s.runNotFound(id)
		}
	} else if isDir(dir) {
		if o, err := runstore.ReadOwner(dir); err != nil || (o != owner && entries(dir) > 0) {
			return nil, status.Errorf(codes.AlreadyExists, "run_dir %q is taken: choose another name", auth.Clip(id, 128))
		}
	}
	s.mu.Lock()
	if _, busy := s.active[id]; busy {
		s.mu.Unlock()
		if !canSee(ctx, dir) {
			return nil, status.Errorf(codes.AlreadyExists, "run_dir %q is taken: choose another name", auth.Clip(id, 128))
		}
		return nil, status.Errorf(codes.AlreadyExists, "run %s is already running", id)
	}
	done := s.finishing[id]
	s.mu.Unlock()
	if done != nil {
		// The run just ended (a watcher saw its final status) and is
		// closing its store: wait for it to let go of the directory.
		select {
		case <-done:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if !req.GetResume() {
		// The owner is the run directory's first record, before its config.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		if err := runstore.WriteOwner(dir, owner); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
	}
	h := newHub(id)
	p, err := Prepare(ctx, cfg, Options{Dir: dir, Resume: req.GetResume(), Observer: h, Logger: s.Logger,
		Check: s.checkConfig, Credentials: s.Credentials.Resolve, ServerKeys: s.ClientConfigs})
	if st, ok := status.FromError(err); ok && err != nil && st.Code() == codes.PermissionDenied {
		return nil, err
	}
	if err == nil {
		h.setPrices(p.Config.Prices)
	}
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	// The run as it starts, read before its goroutine can finish and
	// close the store (a run of a step or two may end at once).
	started, err := p.Store.GetRun(id)
	if err != nil {
		p.Close()
		return nil, status.Error(codes.Internal, err.Error())
	}
	rctx, cancel := context.WithCancel(s.ctx)
	a := &activeRun{owner: owner, cancel: cancel, prep: p, hub: h, done: make(chan struct{})}
	s.mu.Lock()
	s.active[id] = a
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(a.done)
		defer cancel()
		detach := func() {}
		if s.OnRun != nil {
			detach = s.OnRun(p.Store, id)
		}
		err := p.Trainer.Run(rctx)
		detach()
		if err != nil {
			s.Logger.Warn("run ended with an error", "run", id, "err", err)
		}
		if run, gerr := p.Store.GetRun(id); gerr == nil {
			h.publish(&pb.RunEvent{Event: &pb.RunEvent_Status{Status: withCost(p.Store, runToPB(run))}})
		}
		// Leave the active set before closing the hub: a watcher whose
		// subscription closes then reads the status from the run's files,
		// never from this store while it closes.
		s.mu.Lock()
		delete(s.active, id)
		s.finishing[id] = a.done
		s.mu.Unlock()
		h.close()
		// Readers that took the store while the run was active finish
		// first; later ones read the run's files.
		a.storeMu.Lock()
		a.closed = true
		p.Close()
		a.storeMu.Unlock()
		s.mu.Lock()
		delete(s.finishing, id)
		s.mu.Unlock()
	}()
	return &pb.StartRunResponse{Run: runToPB(started)}, nil
}

// withStore runs f on the store of run id, active or not, when the
// caller may see the run; another tenant's run is NotFound.
func (s *Service) withStore(ctx context.Context, id string, f func(runstore.Store) error) error {
	s.mu.Lock()
	a := s.active[id]
	s.mu.Unlock()
	if a != nil {
		if !auth.CanAccess(ctx, a.owner) {
			return s.runNotFound(id)
		}
		a.storeMu.RLock()
		if !a.closed {
			defer a.storeMu.RUnlock()
			return f(a.prep.Store)
		}
		a.storeMu.RUnlock() // it ended meanwhile: read its files
	}
	dir := s.dirOf(id)
	if !runstore.Exists(dir) || !canSee(ctx, dir) {
		return s.runNotFound(id)
	}
	st, err := runstore.Open(dir)
	if errors.Is(err, runstore.ErrUnknownKind) {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	defer st.Close()
	return f(st)
}

func (s *Service) GetRun(ctx context.Context, req *pb.GetRunRequest) (*pb.GetRunResponse, error) {
	out := &pb.GetRunResponse{}
	err := s.withStore(ctx, req.GetRunId(), func(st runstore.Store) error {
		run, err := st.GetRun(req.GetRunId())
		if err != nil {
			return status.Error(codes.NotFound, err.Error())
		}
		out.Run = withCost(st, s.runPB(run))
		out.Steps, err = st.Steps(req.GetRunId())
		if n := len(out.Steps); n > 0 {
			out.Run.LastMetrics = out.Steps[n-1]
		}
		return err
	})
	return out, err
}

func (s *Service) ListRuns(ctx context.Context, _ *pb.ListRunsRequest) (*pb.ListRunsResponse, error) {
	entries, err := os.ReadDir(s.RunsDir)
	if err != nil && !os.IsNotExist(err) {
		return nil, status.Error(codes.Internal, err.Error())
	}
	out := &pb.ListRunsResponse{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		_ = s.withStore(ctx, e.Name(), func(st runstore.Store) error {
			if run, err := st.GetRun(e.Name()); err == nil {
				out.Runs = append(out.Runs, withCost(st, s.runPB(run)))
			}
			return nil
		})
	}
	sort.Slice(out.Runs, func(i, j int) bool { return out.Runs[i].GetId() < out.Runs[j].GetId() })
	return out, nil
}

func (s *Service) CancelRun(ctx context.Context, req *pb.CancelRunRequest) (*pb.CancelRunResponse, error) {
	s.mu.Lock()
	a := s.active[req.GetRunId()]
	s.mu.Unlock()
	if a != nil && !auth.CanAccess(ctx, a.owner) {
		return nil, s.runNotFound(req.GetRunId())
	}
	if a == nil {
		if dir := s.dirOf(req.GetRunId()); !isDir(dir) || !canSee(ctx, dir) {
			return nil, s.runNotFound(req.GetRunId())
		}
		return nil, status.Errorf(codes.FailedPrecondition, "run %s is not running", req.GetRunId())
	}
	a.cancel()
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		return nil, status.Errorf(codes.DeadlineExceeded, "run %s is still stopping", req.GetRunId())
	}
	var out *pb.Run
	err := s.withStore(ctx, req.GetRunId(), func(st runstore.Store) error {
		run, err := st.GetRun(req.GetRunId())
		out = withCost(st, s.runPB(run))
		return err
	})
	return &pb.CancelRunResponse{Run: out}, err
}

// WatchRun replays stored steps when asked, then streams live events
// until the run ends or the client leaves.
func (s *Service) WatchRun(req *pb.WatchRunRequest, stream grpc.ServerStreamingServer[pb.WatchRunResponse]) error {
	id := req.GetRunId()
	ctx := stream.Context()
	s.mu.Lock()
	a := s.active[id]
	if a != nil && !auth.CanAccess(ctx, a.owner) {
		s.mu.Unlock()
		return s.runNotFound(id)
	}
	var sub chan *pb.RunEvent
	var unsub func()
	if a != nil {
		sub, unsub = a.hub.subscribe()
	}
	s.mu.Unlock()
	if unsub != nil {
		defer unsub()
	}
	send := func(ev *pb.RunEvent) error { return stream.Send(&pb.WatchRunResponse{Event: ev}) }
	if req.GetFromStart() || a == nil {
		err := s.withStore(ctx, id, func(st runstore.Store) error {
			steps, err := st.Steps(id)
			if err != nil {
				return err
			}
			for _, m := range steps {
				if err := send(&pb.RunEvent{RunId: id, Event: &pb.RunEvent_Step{Step: m}}); err != nil {
					return err
				}
			}
			if a == nil {
				run, err := st.GetRun(id)
				if err != nil {
					return err
				}
				return send(&pb.RunEvent{RunId: id, Event: &pb.RunEvent_Status{Status: s.runPB(run)}})
			}
			return nil
		})
		if err != nil || a == nil {
			return err
		}
	}
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case ev, ok := <-sub:
			if !ok {
				// The hub closed without a status for this watcher: it
				// subscribed as the run was ending, or fell behind and was
				// dropped. The stream still ends on the run's status.
				return s.withStore(ctx, id, func(st runstore.Store) error {
					run, err := st.GetRun(id)
					if err != nil {
						return status.Error(codes.NotFound, err.Error())
					}
					return send(&pb.RunEvent{RunId: id, Time: timestamppb.Now(), Event: &pb.RunEvent_Status{Status: s.runPB(run)}})
				})
			}
			if _, isEp := ev.GetEvent().(*pb.RunEvent_Episode); isEp && !req.GetEpisodes() {
				continue
			}
			if err := send(ev); err != nil {
				return err
			}
			if ev.GetStatus() != nil {
				return nil // the run's last event
			}
		}
	}
}

// runPB is runToPB with the status a reader should see: a run stored as
// running whose process is gone shows as failed, its error saying it was
// interrupted (a resume continues it).
func (s *Service) runPB(r runstore.Run) *pb.Run {
	if runstore.ShownStatus(s.dirOf(r.ID), r.Status) == runstore.StatusInterrupted {
		r.Status = runstore.StatusFailed
		r.Error = "interrupted: the process running it ended without recording an end; resume it with StartRun(resume=true)"
	}
	return runToPB(r)
}

// entries counts the files in dir other than its owner record.
func entries(dir string) int {
	es, _ := os.ReadDir(dir)
	n := 0
	for _, e := range es {
		if e.Name() != runstore.OwnerFile && !strings.HasPrefix(e.Name(), ".owner-") {
			n++
		}
	}
	return n
}

// withCost fills r.cost with what the run has spent so far.
func withCost(st runstore.Reader, r *pb.Run) *pb.Run {
	if c, err := st.RunCost(r.GetId()); err == nil {
		r.Cost = cost.SummaryToPB(c)
	}
	return r
}

func runToPB(r runstore.Run) *pb.Run {
	st := map[string]pb.RunStatus{
		runstore.StatusPending: pb.RunStatus_RUN_STATUS_PENDING, runstore.StatusRunning: pb.RunStatus_RUN_STATUS_RUNNING,
		runstore.StatusSucceeded: pb.RunStatus_RUN_STATUS_SUCCEEDED, runstore.StatusFailed: pb.RunStatus_RUN_STATUS_FAILED,
		runstore.StatusCancelled: pb.RunStatus_RUN_STATUS_CANCELLED, runstore.StatusBudgetReached: pb.RunStatus_RUN_STATUS_BUDGET_REACHED,
	}[r.Status]
	out := &pb.Run{Id: r.ID, Status: st, ConfigYaml: r.ConfigYAML, Step: r.Step, TotalSteps: r.TotalSteps,
		Created: timestamppb.New(r.Created), Updated: timestamppb.New(r.Updated), Error: r.Error, Simulated: r.Simulated, Dir: r.ID}
	if r.Status == runstore.StatusBudgetReached {
		out.StopReason = r.Error
	}
	return out
}

// hub fans a run's events out to watchers. A watcher that falls far
// behind is dropped rather than slowing the run.
type hub struct {
	id   string
	mu   sync.Mutex
	subs map[chan *pb.RunEvent]struct{}
	done bool
	// prices price the episode events (EpisodeSummary.cost).
	prices cost.Table
}

func newHub(id string) *hub { return &hub{id: id, subs: map[chan *pb.RunEvent]struct{}{}} }

// setPrices sets the table episode events are priced with.
func (h *hub) setPrices(t cost.Table) {
	h.mu.Lock()
	h.prices = t
	h.mu.Unlock()
}

func (h *hub) subscribe() (chan *pb.RunEvent, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := make(chan *pb.RunEvent, 1024)
	if h.done {
		close(c)
		return c, func() {}
	}
	h.subs[c] = struct{}{}
	return c, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[c]; ok {
			delete(h.subs, c)
			close(c)
		}
	}
}

func (h *hub) publish(ev *pb.RunEvent) {
	ev.RunId = h.id
	ev.Time = timestamppb.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c <- ev:
		default:
			delete(h.subs, c)
			close(c)
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	for c := range h.subs {
		close(c)
		delete(h.subs, c)
	}
}

func (h *hub) StepStarted(step, total int64, episodes int) {
	h.publish(&pb.RunEvent{Event: &pb.RunEvent_Progress{Progress: &pb.Progress{Done: step - 1, Total: total, Phase: fmt.Sprintf("step %d: %d episodes", step, episodes)}}})
}

func (h *hub) EpisodeDone(step int64, r *rollout.Record) {
	sum := &pb.EpisodeSummary{EpisodeId: r.EpisodeID, TaskId: r.Task.GetId(), Family: r.Task.GetFamily(), Turns: int32(len(r.Turns)), InvalidActions: int32(r.Invalid)}
	if r.Err != nil {
		sum.Failed, sum.Error = true, r.Err.Error()
	}
	if r.Final != nil {
		sum.Dsl, sum.Reward, sum.Finished = r.Final.GetWorkflow().GetDsl(), r.Final.GetReward(), r.Finished()
	}
	h.mu.Lock()
	prices := h.prices
	h.mu.Unlock()
	sum.Cost = cost.SummaryToPB(trainer.EpisodeCost(prices, r))
	h.publish(&pb.RunEvent{Event: &pb.RunEvent_Episode{Episode: sum}})
}

func (h *hub) StepDone(m *pb.StepMetrics) { h.publish(&pb.RunEvent{Event: &pb.RunEvent_Step{Step: m}}) }

func (h *hub) EvalStarted(step int64, policies []string, episodes int) {
	h.publish(&pb.RunEvent{Event: &pb.RunEvent_Log{Log: fmt.Sprintf("evaluating %s at step %d (%d episodes)", strings.Join(policies, ", "), step, episodes)}})
}

func (h *hub) EvalDone(r *pb.EvalReport) { h.publish(&pb.RunEvent{Event: &pb.RunEvent_Eval{Eval: r}}) }

func (h *hub) Log(msg string) { h.publish(&pb.RunEvent{Event: &pb.RunEvent_Log{Log: msg}}) }
