package trainer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/eval"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/runstore"
)

func TestEvaluatorReportsPerPolicyMetricsWithIntervals(t *testing.T) {
	tasks := []*pb.Task{
		task("m1", pb.TaskFamily_TASK_FAMILY_MATH, ""), task("m2", pb.TaskFamily_TASK_FAMILY_MATH, ""),
		task("m3", pb.TaskFamily_TASK_FAMILY_MATH, ""), task("q1", pb.TaskFamily_TASK_FAMILY_QA, ""),
	}
	// Entries play one after the other, so the first gets each task's
	// first outcome and the second its second.
	scripts := map[string][]outcome{
		"m1": {{reward: 1, released: true, correct: true, finished: true, turns: 3, invalid: 1}, {reward: -0.2, turns: 2}},
		"m2": {{reward: -0.4, turns: 2}, {openErr: true}},
		"m3": {{reward: 1, released: true, correct: true, finished: true, turns: 1}, {reward: 0, released: true, finished: true, turns: 4}},
		"q1": {{reward: 0.5, released: true, turns: 2}, {reward: -1, turns: 2, invalid: 2}},
	}
	canvas := newFakeCanvas(scripts)
	trained, baseline := &fakeLearner{}, &fakeLearner{}
	actor := func(l *fakeLearner) func(context.Context) (rollout.Actor, error) {
		return func(context.Context) (rollout.Actor, error) { return rollout.InProcess{P: l}, nil }
	}
	obs := &recObserver{}
	ev := Evaluator{Canvas: canvas, Concurrency: 3, Seed: 4, Observer: obs}
	rep, recs, err := ev.Run(context.Background(), 7, tasks, []EvalEntry{
		{Name: "trained", Actor: actor(trained), Greedy: true},
		{Name: "other", Actor: actor(baseline)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.GetStep() != 7 || len(rep.GetPolicies()) != 2 || len(recs) != 2 || len(recs[0]) != 4 {
		t.Fatalf("report %v with %d record sets", rep, len(recs))
	}
	if obs.episodes != 8 {
		t.Errorf("observer heard %d episodes, want 8", obs.episodes)
	}
	for _, s := range trained.sampling {
		if !s.Greedy {
			t.Errorf("the greedy entry sampled: %+v", s)
		}
	}
	for _, s := range baseline.sampling {
		if s.Greedy {
			t.Errorf("the sampling entry was greedy: %+v", s)
		}
	}

	a, b := rep.GetPolicies()[0], rep.GetPolicies()[1]
	if a.GetPolicy() != "trained" || b.GetPolicy() != "other" {
		t.Fatalf("policies %q, %q", a.GetPolicy(), b.GetPolicy())
	}
	check := func(name string, got, want float64) {
		t.Helper()
		if !near(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	ar := []float64{1, -0.4, 1, 0.5}
	mean, lo, hi := eval.MeanCI(ar)
	check("trained mean reward", a.GetMeanReward(), 0.525)
	check("trained mean reward (MeanCI)", a.GetMeanReward(), mean)
	check("trained reward CI low", a.GetRewardCiLow(), lo)
	check("trained reward CI high", a.GetRewardCiHigh(), hi)
	check("trained release rate", a.GetStructureReleaseRate(), 0.75)
	check("trained finished rate", a.GetFinishedRate(), 0.5)
	check("trained mean turns", a.GetMeanTurns(), 2)
	check("trained invalid rate", a.GetInvalidActionRate(), 1.0/8)
	if a.GetEpisodes() != 4 {
		t.Errorf("trained episodes %d, want 4", a.GetEpisodes())
	}
	// Accuracy per family, then over all, each with its Wilson interval.
	want := []struct {
		family string
		k, n   int
	}{{"math", 2, 3}, {"qa", 0, 1}, {"all", 2, 4}}
	if len(a.GetMetrics()) != len(want) {
		t.Fatalf("metrics %v, want math, qa, all", a.GetMetrics())
	}
	for i, w := range want {
		m := a.GetMetrics()[i]
		lo, hi := eval.Wilson(w.k, w.n)
		if m.GetFamily() != w.family || m.GetMetric() != "accuracy" || int(m.GetCount()) != w.n ||
			!near(m.GetValue(), float64(w.k)/float64(w.n)) || !near(m.GetCiLow(), lo) || !near(m.GetCiHigh(), hi) {
			t.Errorf("metric %d = %v, want %s accuracy %d/%d in [%v, %v]", i, m, w.family, w.k, w.n, lo, hi)
		}
		if m.GetCiLow() > m.GetValue() || m.GetCiHigh() < m.GetValue() {
			t.Errorf("interval [%v, %v] does not hold %v", m.GetCiLow(), m.GetCiHigh(), m.GetValue())
		}
	}
	// Wilson, not the normal approximation: 0 of 1 still has a wide upper bound.
	if qa := a.GetMetrics()[1]; qa.GetCiLow() != 0 || qa.GetCiHigh() < 0.7 {
		t.Errorf("qa 0/1 interval [%v, %v], want a Wilson interval [0, ~0.79]", qa.GetCiLow(), qa.GetCiHigh())
	}

	// The failed episode is left out of the second policy's figures.
	if b.GetEpisodes() != 3 {
		t.Errorf("other episodes %d, want 3 (one failed)", b.GetEpisodes())
	}
	check("other mean reward", b.GetMeanReward(), (-0.2+0-1)/3)
	check("other release rate", b.GetStructureReleaseRate(), 1.0/3)
	if recs[1][1].Err == nil {
		t.Error("the failed record has no error")
	}
}

func TestEvaluatorWithoutTasksReportsEmptyPolicies(t *testing.T) {
	rep, _, err := Evaluator{Canvas: newFakeCanvas(nil)}.Run(context.Background(), 0, nil,
		[]EvalEntry{{Name: "x", Actor: func(context.Context) (rollout.Actor, error) { return rollout.InProcess{P: &fakeLearner{}}, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.GetPolicies()[0]; p.GetEpisodes() != 0 || math.IsNaN(p.GetMeanReward()) {
		t.Errorf("empty evaluation %v", p)
	}
}

// runRig is a whole run over the fakes: three tasks whose groups always
// have variance, and two held-out tasks.
func runRig(t *testing.T, mut func(*Config)) *rig {
	t.Helper()
	cfg := smallConfig(2, 2)
	cfg.Steps = 3
	cfg.Checkpoint.Every = 2
	cfg.Eval.Baselines = []string{"random"}
	if mut != nil {
		mut(&cfg)
	}
	train := []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, ""), task("b", pb.TaskFamily_TASK_FAMILY_QA, ""), task("c", pb.TaskFamily_TASK_FAMILY_CODE, "")}
	evalTasks := []*pb.Task{task("e1", pb.TaskFamily_TASK_FAMILY_MATH, ""), task("e2", pb.TaskFamily_TASK_FAMILY_QA, "")}
	scripts := map[string][]outcome{"a": rewards(-1, 1), "b": rewards(0, 0.5), "c": rewards(-0.4, 1),
		"e1": rewards(0.5), "e2": rewards(-0.2)}
	return newRig(t, cfg, train, evalTasks, scripts)
}

func evalSteps(t *testing.T, st runstore.Store) []int64 {
	t.Helper()
	evals, err := st.Evals(runID)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, e := range evals {
		out = append(out, e.GetStep())
	}
	return out
}

func checkpointSteps(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir + "/checkpoints")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestRunEvaluatesCheckpointsAndSucceeds(t *testing.T) {
	for _, tc := range []struct {
		name        string
		every       int
		ckptEvery   int
		wantEvals   []int64
		wantSaves   []int64
		wantEntries int
	}{
		{"before and after", 0, 2, []int64{0, 3}, []int64{2, 3}, 2},
		{"every two steps", 2, 1, []int64{0, 2, 3}, []int64{1, 2, 3}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runRig(t, func(c *Config) { c.Eval.Every, c.Checkpoint.Every = tc.every, tc.ckptEvery })
			if err := r.tr.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			run, err := r.store.GetRun(runID)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != runstore.StatusSucceeded || run.Step != 3 || run.Error != "" {
				t.Errorf("run %s at step %d (%q), want succeeded at 3", run.Status, run.Step, run.Error)
			}
			if got := evalSteps(t, r.store); !slices.Equal(got, tc.wantEvals) {
				t.Errorf("evaluations at %v, want %v", got, tc.wantEvals)
			}
			if !slices.Equal(r.learner.saves, tc.wantSaves) {
				t.Errorf("checkpoints saved at %v, want %v", r.learner.saves, tc.wantSaves)
			}
			ck, ok, err := r.store.LastCheckpoint(runID)
			if err != nil || !ok || ck.Step != 3 || ck.ConfigHash != r.tr.cfg.Hash() {
				t.Fatalf("last checkpoint %+v ok %v (%v)", ck, ok, err)
			}
			b, err := os.ReadFile(ck.Path)
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != ck.Checksum {
				t.Error("the stored checksum is not the file's")
			}
			if n := len(checkpointSteps(t, r.dir)); n != len(tc.wantSaves) {
				t.Errorf("%d checkpoint files, want %d", n, len(tc.wantSaves))
			}
			steps, _ := r.store.Steps(runID)
			if len(steps) != 3 || len(r.obs.steps) != 3 {
				t.Errorf("%d stored steps, %d observed, want 3", len(steps), len(r.obs.steps))
			}
			for _, phase := range []string{"eval:untrained", "eval:trained", "eval:random"} {
				rows, err := r.store.Episodes(runID, runstore.EpisodeFilter{Phase: phase})
				if err != nil || len(rows) == 0 {
					t.Errorf("no %s episodes stored (%v)", phase, err)
				}
			}
			if r.obs.evals[0].GetPolicies()[0].GetPolicy() != "untrained" || r.obs.evals[len(r.obs.evals)-1].GetPolicies()[0].GetPolicy() != "trained" {
				t.Errorf("the policy is not named untrained before and trained after")
			}
		})
	}
}

func TestRunWithoutEvalTasksOnlyTrains(t *testing.T) {
	r := runRig(t, nil)
	r.tr.eval = nil
	if err := r.tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := evalSteps(t, r.store); len(got) != 0 {
		t.Errorf("evaluations at %v without eval tasks", got)
	}
}

// cancelAfter cancels the run when step n is done.
type cancelAfter struct {
	recObserver
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) StepDone(m *pb.StepMetrics) {
	c.recObserver.StepDone(m)
	if m.GetStep() == c.n {
		c.cancel()
	}
}

func TestRunCancelledKeepsWhatIsDone(t *testing.T) {
	r := runRig(t, func(c *Config) { c.Checkpoint.Every = 1 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.tr.env.Observer = &cancelAfter{n: 1, cancel: cancel}
	err := r.tr.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("Run = %v, want a cancellation", err)
	}
	run, _ := r.store.GetRun(runID)
	if run.Status != runstore.StatusCancelled || run.Step != 1 {
		t.Errorf("run %s at step %d, want cancelled at 1", run.Status, run.Step)
	}
	if steps, _ := r.store.Steps(runID); len(steps) != 1 {
		t.Errorf("%d steps stored, want the completed one", len(steps))
	}
	if ck, ok, _ := r.store.LastCheckpoint(runID); !ok || ck.Step != 1 {
		t.Errorf("last checkpoint %+v, want step 1", ck)
	}
}

func TestRunFailsWithTheStepError(t *testing.T) {
	r := runRig(t, nil)
	r.learner.failAll = true
	r.tr.eval = nil
	err := r.tr.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "step 1") || !strings.Contains(err.Error(), "policy exploded") {
		t.Fatalf("Run = %v, want step 1's failure", err)
	}
	run, _ := r.store.GetRun(runID)
	if run.Status != runstore.StatusFailed || !strings.Contains(run.Error, "policy exploded") {
		t.Errorf("run %s (%q), want failed with the error", run.Status, run.Error)
	}
}

// A run stopped during an evaluation (killed, or cancelled during the final
// one) resumes from the checkpoint before it: the evaluation must be done
// on resume, not skipped.
func TestRunResumedAtACheckpointRedoesAMissingEvaluation(t *testing.T) {
	for _, tc := range []struct {
		name      string
		every     int
		start     int64
		wantEvals []int64
		wantSteps int
	}{
		{"final evaluation", 0, 3, []int64{3}, 0},
		{"periodic evaluation", 2, 2, []int64{2, 3}, 1},
		{"nothing due", 0, 2, []int64{3}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runRig(t, func(c *Config) { c.Eval.Every = tc.every })
			r.tr.start = tc.start
			if err := r.tr.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := evalSteps(t, r.store); !slices.Equal(got, tc.wantEvals) {
				t.Errorf("evaluations at %v, want %v", got, tc.wantEvals)
			}
			if len(r.obs.steps) != tc.wantSteps {
				t.Errorf("%d steps played, want %d", len(r.obs.steps), tc.wantSteps)
			}
			if run, _ := r.store.GetRun(runID); run.Status != runstore.StatusSucceeded || run.Step != 3 {
				t.Errorf("run %s at %d", run.Status, run.Step)
			}
			// A second resume finds everything done and plays nothing.
			before := len(r.obs.evals)
			if err := r.tr.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(r.obs.evals) != before {
				t.Error("a finished run evaluated again")
			}
		})
	}
}

func TestEvaluateSamplesLikeTrainingUnlessGreedy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sample bool
		step   int64
		want   float64
	}{
		{"sampled before training", true, 0, 1},
		{"sampled mid-run", true, 3, 0.6},
		{"sampled at the end", true, 5, 0.2},
		{"greedy", false, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runRig(t, func(c *Config) {
				c.Steps, c.Sampling.Temperature, c.Sampling.FinalTemperature = 5, 1, 0.2
				c.Sampling.TopP, c.Sampling.TopK = 0.9, 3
				c.Eval.Sample = tc.sample
				c.Eval.Baselines = nil
			})
			if _, err := r.tr.Evaluate(context.Background(), tc.step); err != nil {
				t.Fatal(err)
			}
			if len(r.learner.sampling) != 2 {
				t.Fatalf("%d acts, want one per eval task", len(r.learner.sampling))
			}
			for _, s := range r.learner.sampling {
				if s.Greedy == tc.sample {
					t.Errorf("greedy %v, want %v", s.Greedy, !tc.sample)
				}
				if tc.sample && (!near(s.Temperature, tc.want) || s.TopP != 0.9 || s.TopK != 3) {
					t.Errorf("sampling %+v, want temperature %v, top_p 0.9, top_k 3", s, tc.want)
				}
			}
		})
	}
}

func TestDefaultConfigEvaluatesBySampling(t *testing.T) {
	if !DefaultConfig().Eval.Sample {
		t.Fatal("the quickstart evaluates greedily: greedy decoding of the embedded policy is not the policy CWRPO trained (see DefaultConfig)")
	}
}
