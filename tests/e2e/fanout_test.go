package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/trainer"
	trainersvc "github.com/flowsteer/flowsteer/services/trainer"
)

// fanObserver keeps each step's records and the trainer's log lines, and
// says when a step has completed a given number of episodes.
type fanObserver struct {
	mu      sync.Mutex
	recs    map[int64][]*rollout.Record
	logs    []string
	trigger struct {
		step int64
		at   int
		c    chan struct{}
	}
}

func (o *fanObserver) StepStarted(int64, int64, int) {}
func (o *fanObserver) EpisodeDone(step int64, r *rollout.Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.recs[step] = append(o.recs[step], r)
	if tr := o.trigger; tr.c != nil && tr.step == step && len(o.recs[step]) == tr.at {
		close(tr.c)
	}
}
func (o *fanObserver) StepDone(*pb.StepMetrics)         {}
func (o *fanObserver) EvalStarted(int64, []string, int) {}
func (o *fanObserver) EvalDone(*pb.EvalReport)          {}
func (o *fanObserver) Log(msg string) {
	o.mu.Lock()
	o.logs = append(o.logs, msg)
	o.mu.Unlock()
}

// at returns a channel closed once step has completed n episodes.
func (o *fanObserver) at(step int64, n int) <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.trigger.step, o.trigger.at, o.trigger.c = step, n, make(chan struct{})
	return o.trigger.c
}

func (o *fanObserver) records(step int64) []*rollout.Record {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*rollout.Record(nil), o.recs[step]...)
}

func (o *fanObserver) logLines() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.logs...)
}

const (
	fanGroups    = 2 // tasks per step
	fanGroupSize = 8
	fanEpisodes  = fanGroups * fanGroupSize
)

// fanout is a trainer (in this process) over three canvas processes.
type fanout struct {
	replicas []*proc
	obs      *fanObserver
	prep     *trainersvc.Prepared
}

func startFanout(t *testing.T, ctx context.Context) *fanout {
	t.Helper()
	// A fixed latency per simulated executor call, uncached, so a step
	// lasts long enough to lose a replica in the middle of it.
	sim := filepath.Join(t.TempDir(), "sim.yaml")
	if err := os.WriteFile(sim, []byte("latency:\n  per_call: 60ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fanout{obs: &fanObserver{recs: map[int64][]*rollout.Record{}}}
	var addrs []string
	for range 3 {
		p := startServe(t, "--services", "canvas", "--no-cache", "--sim-config", sim, "--grace", "20s")
		f.replicas = append(f.replicas, p)
		addrs = append(addrs, p.addr)
	}
	cfg := trainer.DefaultConfig()
	cfg.Name = "fanout"
	cfg.Steps = 3
	cfg.BatchSize = fanGroups
	cfg.GroupSize = fanGroupSize
	cfg.MaxRounds = 6
	cfg.Concurrency = 12
	cfg.Eval.Baselines = nil
	cfg.Canvas.Addresses = addrs
	cfg.Rollout.Retries = 3
	cfg.Rollout.RetryBackoff = 50 * time.Millisecond
	prep, err := trainersvc.Prepare(ctx, cfg, trainersvc.Options{Dir: filepath.Join(t.TempDir(), "run"), Observer: f.obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prep.Close)
	f.prep = prep
	return f
}

// step runs one training step and checks that every group is full.
func (f *fanout) step(t *testing.T, ctx context.Context, n int64) {
	t.Helper()
	m, err := f.prep.Trainer.Step(ctx, n)
	if err != nil {
		t.Fatalf("step %d: %v\ntrainer log:\n%s", n, err, strings.Join(f.obs.logLines(), "\n"))
	}
	if m.GetEpisodes() != fanEpisodes || m.GetFailedEpisodes() != 0 || len(f.obs.records(n)) != fanEpisodes {
		t.Fatalf("step %d: %d episodes, %d failed, %d records; want every group full (%d, 0)",
			n, m.GetEpisodes(), m.GetFailedEpisodes(), len(f.obs.records(n)), fanEpisodes)
	}
}

// perReplica counts a step's episodes by the replica that played them.
func (f *fanout) perReplica(n int64) map[string]int {
	out := map[string]int{}
	for _, r := range f.obs.records(n) {
		out[r.Replica]++
	}
	return out
}

// warm plays step 1: the balancer's connections come up during it, the
// first picks going to the replica that is ready first.
func (f *fanout) warm(t *testing.T, ctx context.Context) {
	t.Helper()
	f.step(t, ctx, 1)
}

// even plays step n with every replica up: its episodes must spread
// evenly over the replicas.
func (f *fanout) even(t *testing.T, ctx context.Context, n int64) {
	t.Helper()
	f.step(t, ctx, n)
	per := f.perReplica(n)
	for _, p := range f.replicas {
		// Round robin over three ready replicas: 5, 5 and 6 of 16; an
		// episode that ends early frees its slot to any replica.
		if c := per[p.addr]; c < fanEpisodes/3-2 || c > fanEpisodes/3+3 {
			t.Fatalf("step %d episodes per replica %v: not even over %d replicas", n, per, len(f.replicas))
		}
	}
	if f.prep.Trainer.Retried() != 0 {
		t.Fatalf("%d retries with every replica up", f.prep.Trainer.Retried())
	}
}

// during runs step n and calls fault once n has completed `after`
// episodes, while the rest are in flight.
func (f *fanout) during(t *testing.T, ctx context.Context, n int64, after int, fault func()) {
	t.Helper()
	fired := f.obs.at(n, after)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-fired:
			fault()
		case <-ctx.Done():
		}
	}()
	f.step(t, ctx, n)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the fault never ran")
	}
}

// retryLogs are the trainer's retry lines that name addr.
func (f *fanout) retryLogs(addr string) []string {
	var out []string
	for _, l := range f.obs.logLines() {
		if strings.Contains(l, "playing it again") && strings.Contains(l, addr) {
			out = append(out, l)
		}
	}
	return out
}

func wait(t *testing.T, p *proc, within time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(within):
		t.Fatalf("%s did not exit within %s\n%s", p.addr, within, p.logs)
		return nil
	}
}

// A canvas replica killed (SIGKILL) in the middle of a step costs only its
// in-flight episodes: the trainer plays them again on the other replicas
// and the step completes with every group full.
func TestFanoutSurvivesAKilledReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	f := startFanout(t, ctx)
	f.warm(t, ctx)
	f.even(t, ctx, 2)
	victim := f.replicas[0]
	f.during(t, ctx, 3, 4, func() {
		if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Error(err)
		}
	})
	if err := wait(t, victim, 10*time.Second); err == nil {
		t.Fatal("the killed replica exited cleanly")
	}
	lost := f.retryLogs(victim.addr)
	if f.prep.Trainer.Retried() == 0 || len(lost) == 0 {
		t.Fatalf("no episode was played again after the kill (retried %d)\n%s", f.prep.Trainer.Retried(), strings.Join(f.obs.logLines(), "\n"))
	}
	for _, r := range f.obs.records(3) {
		if r.Attempts > 1 && r.Replica == victim.addr {
			t.Errorf("episode %s was played again on the dead replica", r.EpisodeID)
		}
	}
	t.Logf("step 2 per replica %v; step 3 per replica %v; %d retried (%s)", f.perReplica(2), f.perReplica(3), f.prep.Trainer.Retried(), time.Since(start).Round(time.Millisecond))
}

// A canvas replica stopped gracefully (SIGTERM) in the middle of a step
// finishes its in-flight turns, ends its streams with Unavailable, and
// exits well inside its grace; its episodes are played again elsewhere.
func TestFanoutDrainsAStoppedReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	f := startFanout(t, ctx)
	f.warm(t, ctx)
	victim := f.replicas[1]
	type exit struct {
		err  error
		took time.Duration
	}
	exited := make(chan exit, 1)
	f.during(t, ctx, 2, 4, func() {
		stopped := time.Now()
		if err := victim.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			exited <- exit{err: err}
			return
		}
		select {
		case err := <-victim.done:
			exited <- exit{err: err, took: time.Since(stopped)}
		case <-time.After(20 * time.Second):
			exited <- exit{err: errors.New("no exit within 20s of SIGTERM")}
		}
	})
	e := <-exited
	if e.err != nil {
		t.Fatalf("the stopped replica: %v\n%s", e.err, victim.logs)
	}
	logs := victim.logs.String()
	if !strings.Contains(logs, "shutting down") || strings.Contains(logs, "grace period over") {
		t.Fatalf("the replica did not drain within its grace:\n%s", logs)
	}
	lost := f.retryLogs(victim.addr)
	if len(lost) == 0 {
		t.Fatalf("no episode of the stopped replica was played again\n%s", strings.Join(f.obs.logLines(), "\n"))
	}
	midEpisode := 0
	for _, l := range lost {
		if !strings.Contains(l, "code = Unavailable") {
			t.Errorf("episode lost on the stopped replica without Unavailable: %s", l)
		}
		if strings.Contains(l, "after 0 turns: ") {
			continue // refused at open (by the drain, or by the closing transport)
		}
		// Ended by the drain after a complete turn, not cut mid-turn.
		midEpisode++
		if !strings.Contains(l, "the canvas is shutting down: episode") || !strings.Contains(l, "ended here after its last turn") {
			t.Errorf("episode lost mid-way on the stopped replica other than by the drain: %s", l)
		}
	}
	for _, r := range f.obs.records(2) {
		if r.Attempts > 1 && r.Replica == victim.addr {
			t.Errorf("episode %s was played again on the stopped replica", r.EpisodeID)
		}
	}
	if midEpisode == 0 {
		t.Logf("no episode was in the middle of a turn sequence on the stopped replica; only opens were refused")
	}
	t.Logf("%d episodes played again; the replica exited %s after SIGTERM; step 2 per replica %v (%s)",
		len(lost), e.took.Round(time.Millisecond), f.perReplica(2), time.Since(start).Round(time.Millisecond))
}
