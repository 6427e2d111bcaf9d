package trainer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
)

// tinyYAML is a run of a few seconds.
const tinyYAML = `
name: svc
steps: 2
batch_tasks: 1
group_size: 2
eval: {tasks: 3, baselines: []}
checkpoint: {every: 1}
`

// longYAML runs far longer than any test waits.
const longYAML = `
name: long
steps: 1000
batch_tasks: 1
group_size: 2
eval: {tasks: 2, baselines: []}
`

type svcHarness struct {
	conn    *grpc.ClientConn
	client  pb.TrainerServiceClient
	svc     *Service
	runsDir string
}

// newService serves a TrainerService (with its validators) over bufconn.
func newService(t *testing.T) *svcHarness {
	t.Helper()
	runsDir := filepath.Join(t.TempDir(), "runs")
	ctx, cancel := context.WithCancel(context.Background())
	svc := NewService(ctx, runsDir, servertest.Discard())
	// Cleanups run last-registered first: the server stops, then every run.
	t.Cleanup(func() { cancel(); svc.Wait() })
	v := server.Validators{}
	AddValidators(v)
	conn := servertest.Bufconn(t, server.Options{Logger: servertest.Discard(), Validators: v}, func(s *server.Server) { Register(s, svc) })
	return &svcHarness{conn: conn, client: pb.NewTrainerServiceClient(conn), svc: svc, runsDir: runsDir}
}

// watch collects a run's events until the stream ends.
func (h *svcHarness) watch(t *testing.T, ctx context.Context, id string, fromStart bool) ([]*pb.RunEvent, error) {
	t.Helper()
	stream, err := h.client.WatchRun(ctx, &pb.WatchRunRequest{RunId: id, FromStart: fromStart})
	if err != nil {
		return nil, err
	}
	var evs []*pb.RunEvent
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, r.GetEvent())
	}
}

func TestServiceRunsWatchesAndLists(t *testing.T) {
	h := newService(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start, err := h.client.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: tinyYAML, RunDir: "svc-run"})
	if err != nil {
		t.Fatal(err)
	}
	run := start.GetRun()
	if run.GetId() != "svc-run" || run.GetTotalSteps() != 2 || !run.GetSimulated() {
		t.Fatalf("StartRun = %v", run)
	}
	if st := run.GetStatus(); st != pb.RunStatus_RUN_STATUS_PENDING && st != pb.RunStatus_RUN_STATUS_RUNNING {
		t.Errorf("a just started run is %v", st)
	}
	if !strings.Contains(run.GetConfigYaml(), "name: svc") {
		t.Errorf("the run does not carry its config: %q", run.GetConfigYaml())
	}

	// The live stream ends with the run, on a status event.
	evs, err := h.watch(t, ctx, run.GetId(), true)
	if err != nil {
		t.Fatalf("WatchRun: %v", err)
	}
	var steps []int64
	for _, ev := range evs {
		if ev.GetRunId() != run.GetId() {
			t.Errorf("event for run %q", ev.GetRunId())
		}
		if m := ev.GetStep(); m != nil {
			steps = append(steps, m.GetStep())
			// Cost streams with every step (issue 23).
			if c := m.GetCost(); c.GetEpisodes() == 0 || c.GetExecutorCalls() == 0 || !c.GetSimulated() || len(m.GetGroupCost()) == 0 {
				t.Errorf("step %d streamed without its cost: %v", m.GetStep(), c)
			}
		}
		if ev.GetEpisode() != nil {
			t.Error("an episode event reached a watcher that did not ask for them")
		}
	}
	if len(steps) != 2 || steps[0] != 1 || steps[1] != 2 {
		t.Errorf("step events %v, want 1 and 2", steps)
	}
	if len(evs) == 0 || evs[len(evs)-1].GetStatus() == nil {
		t.Fatalf("the stream did not end with a status event: %v", evs)
	}
	if st := evs[len(evs)-1].GetStatus().GetStatus(); st != pb.RunStatus_RUN_STATUS_SUCCEEDED {
		t.Errorf("final status %v, want succeeded", st)
	}

	got, err := h.client.GetRun(ctx, &pb.GetRunRequest{RunId: run.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetRun().GetStatus() != pb.RunStatus_RUN_STATUS_SUCCEEDED || got.GetRun().GetStep() != 2 || len(got.GetSteps()) != 2 {
		t.Errorf("GetRun = %v with %d steps", got.GetRun(), len(got.GetSteps()))
	}
	if c := got.GetRun().GetCost(); c.GetEpisodes() == 0 || c.GetExecutorCalls() == 0 {
		t.Errorf("GetRun carries no run cost: %v", c)
	}
	if got.GetRun().GetLastMetrics().GetStep() != 2 {
		t.Errorf("last metrics %v, want step 2's", got.GetRun().GetLastMetrics())
	}

	// A finished run still replays: its steps, then its status.
	evs, err = h.watch(t, ctx, run.GetId(), false)
	if err != nil || len(evs) != 3 || evs[0].GetStep().GetStep() != 1 || evs[2].GetStatus().GetStatus() != pb.RunStatus_RUN_STATUS_SUCCEEDED {
		t.Errorf("watching a finished run: %v (%v)", evs, err)
	}

	list, err := h.client.ListRuns(ctx, &pb.ListRunsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetRuns()) != 1 || list.GetRuns()[0].GetId() != run.GetId() || list.GetRuns()[0].GetStatus() != pb.RunStatus_RUN_STATUS_SUCCEEDED {
		t.Errorf("ListRuns = %v", list.GetRuns())
	}
	if _, err := os.Stat(filepath.Join(h.runsDir, "svc-run", "checkpoints", "step-000002.ckpt")); err != nil {
		t.Errorf("no final checkpoint: %v", err)
	}

	// Resuming the finished run through the service ends at once.
	res, err := h.client.StartRun(ctx, &pb.StartRunRequest{RunDir: "svc-run", Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetRun().GetStep() != 2 {
		t.Errorf("resumed run at step %d, want 2", res.GetRun().GetStep())
	}
	if evs, err := h.watch(t, ctx, "svc-run", false); err != nil || len(evs) == 0 || evs[len(evs)-1].GetStatus().GetStatus() != pb.RunStatus_RUN_STATUS_SUCCEEDED {
		t.Errorf("resumed run's events %v (%v)", evs, err)
	}
}

func TestServiceCancelRunStopsIt(t *testing.T) {
	h := newService(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start, err := h.client.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: longYAML, RunDir: "long"})
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the first step, so the cancel lands on a run in full swing.
	stream, err := h.client.WatchRun(ctx, &pb.WatchRunRequest{RunId: start.GetRun().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := stream.Recv()
		if err != nil {
			t.Fatalf("the run ended before its first step: %v", err)
		}
		if r.GetEvent().GetStep() != nil {
			break
		}
	}
	res, err := h.client.CancelRun(ctx, &pb.CancelRunRequest{RunId: "long"})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetRun().GetStatus() != pb.RunStatus_RUN_STATUS_CANCELLED {
		t.Errorf("cancelled run is %v (%q)", res.GetRun().GetStatus(), res.GetRun().GetError())
	}
	if s := res.GetRun().GetStep(); s < 1 || s >= 1000 {
		t.Errorf("cancelled at step %d", s)
	}
	// The watcher's stream ends with the cancelled status.
	var last *pb.RunEvent
	for {
		r, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("watch after cancel: %v", err)
			}
			break
		}
		last = r.GetEvent()
	}
	if last.GetStatus().GetStatus() != pb.RunStatus_RUN_STATUS_CANCELLED {
		t.Errorf("the watch ended on %v, want the cancelled status", last)
	}
	got, err := h.client.GetRun(ctx, &pb.GetRunRequest{RunId: "long"})
	if err != nil || got.GetRun().GetStatus() != pb.RunStatus_RUN_STATUS_CANCELLED {
		t.Errorf("GetRun after cancel = %v (%v)", got.GetRun(), err)
	}
	if _, err := h.client.CancelRun(ctx, &pb.CancelRunRequest{RunId: "long"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("cancelling a stopped run = %v, want FailedPrecondition", err)
	}
}

func TestServiceRejectsBadRequests(t *testing.T) {
	h := newService(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name string
		call func() error
		code codes.Code
		want string
	}{
		{"unknown config key", func() error {
			_, err := h.client.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: "stepz: 3"})
			return err
		}, codes.InvalidArgument, "stepz"},
		{"invalid config value", func() error {
			_, err := h.client.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: "group_size: 1"})
			return err
		}, codes.InvalidArgument, "group_size"},
		{"malformed YAML", func() error {
			_, err := h.client.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: "steps: [1"})
			return err
		}, codes.InvalidArgument, "config"},
		{"no config", func() error {
			_, err := h.client.StartRun(ctx, &pb.StartRunRequest{})
			return err
		}, codes.InvalidArgument, "config_yaml"},
		{"resume without a directory", func() error {
			_, err := h.client.StartRun(ctx, &pb.StartRunRequest{Resume: true})
			return err
		}, codes.InvalidArgument, "run_dir"},
		{"resume of nothing", func() error {
			_, err := h.client.StartRun(ctx, &pb.StartRunRequest{Resume: true, RunDir: "ghost"})
			return err
		}, codes.NotFound, "ghost"},
		{"run_dir that names no directory", func() error {
			_, err := h.client.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: tinyYAML, RunDir: ".."})
			return err
		}, codes.InvalidArgument, "run_dir"},
		{"get unknown run", func() error {
			_, err := h.client.GetRun(ctx, &pb.GetRunRequest{RunId: "nope"})
			return err
		}, codes.NotFound, "nope"},
		{"watch unknown run", func() error {
			_, err := h.watch(t, ctx, "nope", true)
			return err
		}, codes.NotFound, "nope"},
		{"watch unknown run live", func() error {
			_, err := h.watch(t, ctx, "nope", false)
			return err
		}, codes.NotFound, "nope"},
		{"cancel unknown run", func() error {
			_, err := h.client.CancelRun(ctx, &pb.CancelRunRequest{RunId: "nope"})
			return err
		}, codes.NotFound, "nope"},
		{"run id with a slash", func() error {
			_, err := h.client.GetRun(ctx, &pb.GetRunRequest{RunId: "../etc"})
			return err
		}, codes.InvalidArgument, "run_id"},
		{"empty run id", func() error {
			_, err := h.watch(t, ctx, "", false)
			return err
		}, codes.InvalidArgument, "run_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.want) {
				t.Fatalf("got %v, want %v naming %q", err, tc.code, tc.want)
			}
		})
	}
	list, err := h.client.ListRuns(ctx, &pb.ListRunsRequest{})
	if err != nil || len(list.GetRuns()) != 0 {
		t.Errorf("rejected requests left runs: %v (%v)", list.GetRuns(), err)
	}
}

func TestServiceKeepsRunDirsInsideRunsDir(t *testing.T) {
	h := newService(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, dir := range []string{"../escape", "/abs/olute", "a/../../b"} {
		t.Run(dir, func(t *testing.T) {
			res, err := h.client.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: tinyYAML, RunDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			id := res.GetRun().GetId()
			if strings.ContainsAny(id, `/\`) || id == ".." || id == "." {
				t.Fatalf("run id %q", id)
			}
			if _, err := os.Stat(filepath.Join(h.runsDir, id, "run.db")); err != nil {
				t.Errorf("run %q is not under the runs directory: %v", id, err)
			}
			if evs, err := h.watch(t, ctx, id, false); err != nil || len(evs) == 0 {
				t.Errorf("watch %s: %v", id, err)
			}
		})
	}
	// Nothing was written next to the runs directory.
	entries, err := os.ReadDir(filepath.Dir(h.runsDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != filepath.Base(h.runsDir) {
			t.Errorf("%s was created outside the runs directory", e.Name())
		}
	}
}

func TestServiceStartRunRefusesABusyOrTakenDirectory(t *testing.T) {
	h := newService(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := h.client.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: longYAML, RunDir: "busy"}); err != nil {
		t.Fatal(err)
	}
	_, err := h.client.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: longYAML, RunDir: "busy"})
	if c := status.Code(err); c != codes.AlreadyExists && c != codes.FailedPrecondition {
		t.Errorf("a second run in a running run's directory = %v", err)
	}
	_, err = h.client.StartRun(ctx, &pb.StartRunRequest{RunDir: "busy", Resume: true})
	if status.Code(err) != codes.AlreadyExists {
		t.Errorf("resuming a running run = %v, want AlreadyExists", err)
	}
	if _, err := h.client.CancelRun(ctx, &pb.CancelRunRequest{RunId: "busy"}); err != nil {
		t.Fatal(err)
	}
	// Two runs of one config started in the same second get their own
	// directories.
	var ids []string
	for range 2 {
		res, err := h.client.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: longYAML})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.GetRun().GetId())
	}
	if ids[0] == ids[1] || !strings.HasPrefix(ids[0], "long-") {
		t.Errorf("run ids %v", ids)
	}
	for _, id := range ids {
		if _, err := h.client.CancelRun(ctx, &pb.CancelRunRequest{RunId: id}); err != nil {
			t.Error(err)
		}
	}
}

// A watcher whose subscription closes without the final status (it
// subscribed as the run ended, or fell behind and was dropped) still gets
// the run's status from its store before the stream ends.
func TestWatchRunEndsOnTheStatusWhenItsSubscriptionCloses(t *testing.T) {
	h := newService(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := runstore.Open(filepath.Join(h.runsDir, "ending"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateRun(runstore.Run{ID: "ending", Status: runstore.StatusSucceeded, Step: 1, TotalSteps: 1}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutStep("ending", &pb.StepMetrics{Step: 1}); err != nil {
		t.Fatal(err)
	}
	closed := newHub("ending")
	closed.close()
	h.svc.mu.Lock()
	h.svc.active["ending"] = &activeRun{hub: closed, prep: &Prepared{Store: st}, done: make(chan struct{}), cancel: func() {}}
	h.svc.mu.Unlock()
	defer func() {
		h.svc.mu.Lock()
		delete(h.svc.active, "ending")
		h.svc.mu.Unlock()
	}()
	for _, fromStart := range []bool{false, true} {
		evs, err := h.watch(t, ctx, "ending", fromStart)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 || evs[len(evs)-1].GetStatus().GetStatus() != pb.RunStatus_RUN_STATUS_SUCCEEDED {
			t.Errorf("from_start %v: events %v, want them to end on the succeeded status", fromStart, evs)
		}
		if fromStart && evs[0].GetStep().GetStep() != 1 {
			t.Errorf("from_start did not replay the stored step: %v", evs)
		}
	}
}

func TestHubDropsAWatcherThatFallsBehind(t *testing.T) {
	hb := newHub("r")
	slow, _ := hb.subscribe()
	fast, unsub := hb.subscribe()
	defer unsub()
	n := 0
	for i := range 1100 {
		hb.publish(&pb.RunEvent{Event: &pb.RunEvent_Log{Log: "x"}})
		if i%100 == 0 {
			for len(fast) > 0 {
				<-fast
			}
		}
	}
	for range slow {
		n++
	}
	if n != 1024 {
		t.Errorf("the slow watcher got %d events before its channel closed, want its buffer (1024)", n)
	}
	hb.close()
	if _, ok := <-fast; ok {
		for range fast {
		}
	}
	late, _ := hb.subscribe()
	if _, ok := <-late; ok {
		t.Error("a subscription to a closed hub is open")
	}
}

// Files a client names must lie inside the service's data directory:
// StartRun's task and sim-config paths and Evaluate's tasks_file.
func TestServiceConfinesClientFilesToTheDataDir(t *testing.T) {
	h := newService(t)
	data := t.TempDir()
	h.svc.DataDir = data
	tasks := `{"id":"t1","family":"math","question":"What is 2+3?","answers":["5"]}` + "\n"
	if err := os.WriteFile(filepath.Join(data, "tasks.jsonl"), []byte(tasks), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret.jsonl")
	if err := os.WriteFile(outside, []byte(tasks), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(data, "link.jsonl")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cases := []struct {
		name, key, path string
		want            codes.Code
	}{
		{"relative inside", "train", "tasks.jsonl", codes.OK},
		{"absolute inside", "train", filepath.Join(data, "tasks.jsonl"), codes.OK},
		{"absolute outside", "train", outside, codes.PermissionDenied},
		{"dot-dot", "eval", "../" + filepath.Base(filepath.Dir(outside)) + "/secret.jsonl", codes.PermissionDenied},
		{"symlink out", "train", "link.jsonl", codes.PermissionDenied},
		{"etc", "train", "/etc/passwd", codes.PermissionDenied},
	}
	for _, tc := range cases {
		t.Run("StartRun/"+tc.name, func(t *testing.T) {
			cfg := tinyYAML + fmt.Sprintf("tasks: {%s: %q}\n", tc.key, tc.path)
			if tc.key == "eval" {
				cfg = tinyYAML + fmt.Sprintf("tasks: {train: tasks.jsonl, eval: %q}\n", tc.path)
			}
			res, err := h.client.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: cfg})
			if status.Code(err) != tc.want {
				t.Fatalf("StartRun: %v, want %v", err, tc.want)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "data directory") {
					t.Errorf("message %q does not say why", err)
				}
				return
			}
			if _, err := h.watch(t, ctx, res.GetRun().GetId(), false); err != nil {
				t.Errorf("watch: %v", err)
			}
		})
		t.Run("Evaluate/"+tc.name, func(t *testing.T) {
			st, err := h.client.Evaluate(ctx, &pb.EvaluateRequest{Policy: &pb.PolicySpec{Kind: "random"}, TasksFile: tc.path})
			if err == nil {
				for {
					if _, err = st.Recv(); err != nil {
						break
					}
				}
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
			if status.Code(err) != tc.want {
				t.Fatalf("Evaluate: %v, want %v", err, tc.want)
			}
		})
	}
}
