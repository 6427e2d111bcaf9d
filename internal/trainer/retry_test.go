package trainer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/runstore"
)

// retryObserver keeps every record and log line.
type retryObserver struct {
	recObserver
	mu    sync.Mutex
	recs  []*rollout.Record
	logs  []string
	onLog func(string)
}

func (o *retryObserver) EpisodeDone(_ int64, r *rollout.Record) {
	o.mu.Lock()
	o.recs = append(o.recs, r)
	o.mu.Unlock()
}

func (o *retryObserver) Log(msg string) {
	o.mu.Lock()
	o.logs = append(o.logs, msg)
	f := o.onLog
	o.mu.Unlock()
	if f != nil {
		f(msg)
	}
}

// retryRig is a rig whose trainer retries errReplicaLost and records its
// metrics in a reader of its own.
func retryRig(t *testing.T, cfg Config, tasks []*pb.Task, scripts map[string][]outcome) (*rig, *retryObserver, *sdkmetric.ManualReader) {
	t.Helper()
	cfg.Rollout.RetryBackoff = time.Millisecond
	r := newRig(t, cfg, tasks, nil, scripts)
	o := &retryObserver{}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	r.tr.env.Observer = o
	r.tr.env.Retryable = func(err error) bool { return errors.Is(err, errReplicaLost) }
	r.tr.inst = newInstruments(mp)
	return r, o, reader
}

// counter sums a counter's points by the value of attribute key (all
// points under "" when key is empty).
func counter(t *testing.T, reader *sdkmetric.ManualReader, name, key string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s is %T, want an int64 sum", name, m.Data)
			}
			for _, p := range sum.DataPoints {
				v, _ := p.Attributes.Value(attribute.Key(key))
				out[v.AsString()] += p.Value
			}
		}
	}
	return out
}

func TestStepPlaysLostEpisodesAgainAndKeepsGroupsFull(t *testing.T) {
	tasks := []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, ""), task("b", pb.TaskFamily_TASK_FAMILY_QA, "")}
	scripts := map[string][]outcome{
		// Two attempts of task a lose their replica (at open, mid-episode),
		// one of task b does; every other open plays out.
		"a": {{lostOnOpen: true}, {lost: true}, {reward: -1}, {reward: 0.5}, {reward: 1}, {reward: 0.2}},
		"b": {{lost: true}, {reward: 0.2}, {reward: -0.6}, {reward: 0.4}, {reward: 0.9}},
	}
	r, o, reader := retryRig(t, smallConfig(2, 4), tasks, scripts)
	m, err := r.tr.Step(context.Background(), 1)
	if err != nil {
		t.Fatalf("a step whose replicas failed within the budget failed: %v", err)
	}
	if m.GetEpisodes() != 8 || m.GetFailedEpisodes() != 0 {
		t.Fatalf("episodes %d, failed %d; want every group full (8, 0)", m.GetEpisodes(), m.GetFailedEpisodes())
	}
	if got := r.tr.Retried(); got != 3 {
		t.Errorf("Retried = %d, want 3", got)
	}
	if r.canvas.opens("a") != 6 || r.canvas.opens("b") != 5 {
		t.Errorf("opens a %d, b %d; want 6 and 5 (each loss opened anew)", r.canvas.opens("a"), r.canvas.opens("b"))
	}
	// The update sees exactly the played-out episodes, four per group.
	want := map[string][]float64{"a": {-1, 0.5, 1, 0.2}, "b": {0.2, -0.6, 0.4, 0.9}}
	groups := samplesByGroup(r.learner.lastUpdate())
	if len(groups) != 2 {
		t.Fatalf("%d groups in the update, want 2", len(groups))
	}
	for id, ss := range groups {
		checkAdvantages(t, id, ss, want[taskOf(ss[0].GetEpisodeId())])
	}
	// Records carry their attempts and replica; retries are logged.
	extra := 0
	for _, rec := range o.recs {
		if rec.Attempts < 1 || !strings.HasPrefix(rec.Replica, "replica-") {
			t.Errorf("record %s: attempts %d, replica %q", rec.EpisodeID, rec.Attempts, rec.Replica)
		}
		extra += rec.Attempts - 1
	}
	if len(o.recs) != 8 || extra != 3 {
		t.Errorf("%d records with %d extra attempts, want 8 and 3", len(o.recs), extra)
	}
	if len(o.logs) != 3 {
		t.Fatalf("logs %q, want one line per retry", o.logs)
	}
	for _, l := range o.logs {
		if !strings.Contains(l, "on canvas replica replica-") || !strings.Contains(l, "playing it again from the start") || !strings.Contains(l, "of 3)") {
			t.Errorf("retry log %q does not name the replica and the budget", l)
		}
	}
	// The metrics: three retries, eight completed episodes over the replicas.
	if got := counter(t, reader, "flowsteer.trainer.episode.retries", ""); got[""] != 3 {
		t.Errorf("retries metric %v, want 3", got)
	}
	byOutcome := counter(t, reader, "flowsteer.trainer.episodes", "flowsteer.episode.outcome")
	if byOutcome["completed"] != 8 || byOutcome["failed"] != 0 {
		t.Errorf("episodes metric by outcome %v, want 8 completed", byOutcome)
	}
	byReplica := counter(t, reader, "flowsteer.trainer.episodes", string(Replica))
	if len(byReplica) < 2 {
		t.Errorf("episodes metric by replica %v: want the replicas named", byReplica)
	}
}

func TestStepFailsCleanlyWhenAnEpisodeSpendsItsRetries(t *testing.T) {
	tasks := []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, ""), task("b", pb.TaskFamily_TASK_FAMILY_QA, "")}
	scripts := map[string][]outcome{
		"a": {{lost: true}}, // every replica task a lands on dies
		"b": rewards(0.2, -0.6, 0.4, 0.9),
	}
	cfg := smallConfig(2, 4)
	cfg.Rollout.Retries = 2
	r, _, _ := retryRig(t, cfg, tasks, scripts)
	r.tr.eval = nil
	err := r.tr.Run(context.Background())
	var lost *EpisodeLostError
	if !errors.As(err, &lost) {
		t.Fatalf("Run = %v, want an EpisodeLostError", err)
	}
	if lost.Attempts != 3 || lost.Task != "a" || !strings.HasPrefix(lost.Replica, "replica-") || !errors.Is(err, errReplicaLost) {
		t.Errorf("lost = %+v", lost)
	}
	for _, s := range []string{"step 1", "group s1-a", "all 3 attempts (rollout.retries 2)", "canvas replica replica-", "replica lost", "without an update"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if n := len(r.learner.updates); n != 0 {
		t.Errorf("%d updates made from a step with a lost episode", n)
	}
	if steps, _ := r.store.Steps(runID); len(steps) != 0 {
		t.Errorf("%d steps stored, want none", len(steps))
	}
	run, _ := r.store.GetRun(runID)
	if run.Status != runstore.StatusFailed || !strings.Contains(run.Error, "rollout.retries") {
		t.Errorf("run %s (%q), want failed naming the budget", run.Status, run.Error)
	}
}

func TestZeroRetriesFailsAtTheFirstLoss(t *testing.T) {
	tasks := []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, "")}
	cfg := smallConfig(1, 2)
	cfg.Rollout.Retries = 0
	cfg.Concurrency = 1
	r, o, _ := retryRig(t, cfg, tasks, map[string][]outcome{"a": {{lostOnOpen: true}, {reward: 1}, {reward: 0}}})
	_, err := r.tr.Step(context.Background(), 1)
	var lost *EpisodeLostError
	if !errors.As(err, &lost) || lost.Attempts != 1 || !strings.Contains(err.Error(), "all 1 attempts (rollout.retries 0)") {
		t.Fatalf("Step = %v, want the episode lost on its only attempt", err)
	}
	if r.tr.Retried() != 0 || len(o.logs) != 0 {
		t.Errorf("retried %d, logs %q with no budget", r.tr.Retried(), o.logs)
	}
}

// Errors that do not mean a lost replica are never retried: the episode
// fails and leaves its group, as before.
func TestOtherErrorsAreNotRetried(t *testing.T) {
	tasks := []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, "")}
	cfg := smallConfig(1, 4)
	cfg.Concurrency = 1
	r, _, _ := retryRig(t, cfg, tasks, map[string][]outcome{"a": {{openErr: true}, {actErr: true}, {reward: 1}, {reward: 0}}})
	m, err := r.tr.Step(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.GetFailedEpisodes() != 2 || m.GetEpisodes() != 2 || r.tr.Retried() != 0 || r.canvas.opens("a") != 4 {
		t.Errorf("failed %d live %d retried %d opens %d; want 2, 2, 0, 4", m.GetFailedEpisodes(), m.GetEpisodes(), r.tr.Retried(), r.canvas.opens("a"))
	}
}

// A run stopped while an episode waits to be played again stops at once.
func TestRetryWaitEndsWithTheRun(t *testing.T) {
	tasks := []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, "")}
	r, o, _ := retryRig(t, smallConfig(1, 2), tasks, map[string][]outcome{"a": {{lost: true}}})
	r.tr.cfg.Rollout.RetryBackoff = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.onLog = func(string) { cancel() }
	start := time.Now()
	_, err := r.tr.Step(ctx, 1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Step = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the cancelled step took %s: the retry wait ignored it", d)
	}
}
