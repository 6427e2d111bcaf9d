package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cwrpo"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"google.golang.org/protobuf/proto"
)

const eps = 1e-9

func near(a, b float64) bool { return math.Abs(a-b) < eps }

func rewards(rs ...float64) []outcome {
	out := make([]outcome, len(rs))
	for i, r := range rs {
		out[i] = outcome{reward: r}
	}
	return out
}

// taskOf is the task id of a fake episode id ("task#n").
func taskOf(episodeID string) string { return episodeID[:strings.LastIndex(episodeID, "#")] }

// samplesByGroup groups an update's samples.
func samplesByGroup(req *pb.UpdateRequest) map[string][]*pb.EpisodeSamples {
	out := map[string][]*pb.EpisodeSamples{}
	for _, e := range req.GetEpisodes() {
		out[e.GetGroupId()] = append(out[e.GetGroupId()], e)
	}
	return out
}

// checkAdvantages asserts that the samples of a group carry exactly
// cwrpo.Advantages of the group's rewards.
func checkAdvantages(t *testing.T, group string, got []*pb.EpisodeSamples, want []float64) {
	t.Helper()
	adv, zero := cwrpo.Advantages(want)
	if zero {
		t.Fatalf("group %s: test rewards %v have no variance", group, want)
	}
	if len(got) != len(want) {
		t.Fatalf("group %s: %d samples, want one per live episode (%d)", group, len(got), len(want))
	}
	type ra struct{ r, a float64 }
	var g, w []ra
	for _, s := range got {
		g = append(g, ra{s.GetReward(), s.GetAdvantage()})
	}
	for i := range want {
		w = append(w, ra{want[i], adv[i]})
	}
	less := func(x []ra) func(i, j int) bool {
		return func(i, j int) bool { return x[i].r < x[j].r || (x[i].r == x[j].r && x[i].a < x[j].a) }
	}
	sort.Slice(g, less(g))
	sort.Slice(w, less(w))
	for i := range w {
		if !near(g[i].r, w[i].r) || !near(g[i].a, w[i].a) {
			t.Errorf("group %s: (reward, advantage) %v, want %v", group, g, w)
			return
		}
	}
}

func TestStepAdvantagesAreGroupRelative(t *testing.T) {
	tasks := []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, ""), task("b", pb.TaskFamily_TASK_FAMILY_QA, ""), task("c", pb.TaskFamily_TASK_FAMILY_CODE, "")}
	scripts := map[string][]outcome{
		"a": rewards(-1, -0.2, 0.5, 1),
		"b": rewards(0.2, 0.2, -0.4, -0.6),
		"c": rewards(-0.2, -0.2, -0.2, -0.2), // no variance: no gradient
	}
	r := newRig(t, smallConfig(3, 4), tasks, nil, scripts)
	m, err := r.tr.Step(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.GetZeroVarianceGroups() != 1 {
		t.Errorf("zero_variance_groups = %d, want 1 (task c)", m.GetZeroVarianceGroups())
	}
	if m.GetEpisodes() != 12 || m.GetFailedEpisodes() != 0 {
		t.Errorf("episodes %d failed %d, want 12 and 0", m.GetEpisodes(), m.GetFailedEpisodes())
	}
	req := r.learner.lastUpdate()
	if req == nil {
		t.Fatal("no update sent")
	}
	if req.GetStep() != 1 {
		t.Errorf("update step %d, want 1", req.GetStep())
	}
	groups := samplesByGroup(req)
	if len(groups) != 2 {
		t.Fatalf("samples from groups %v, want a and b only", keys(groups))
	}
	for id, ss := range groups {
		tk := taskOf(ss[0].GetEpisodeId())
		for _, s := range ss {
			if taskOf(s.GetEpisodeId()) != tk {
				t.Errorf("group %s mixes tasks %s and %s", id, tk, taskOf(s.GetEpisodeId()))
			}
			if len(s.GetDecisions()) != 1 || string(s.GetDecisions()[0].GetState()) != s.GetEpisodeId() {
				t.Errorf("sample %s does not carry its own decisions: %v", s.GetEpisodeId(), s.GetDecisions())
			}
		}
		if tk == "c" {
			t.Errorf("the zero-variance group %s sent samples", id)
		}
		var want []float64
		for _, o := range scripts[tk] {
			want = append(want, o.reward)
		}
		checkAdvantages(t, id, ss, want)
	}
	// The loss settings travel with the update.
	l := req.GetLoss()
	c := smallConfig(3, 4)
	if l.GetKind() != pb.LossKind_LOSS_KIND_CWRPO || l.GetClip() != c.Loss.Clip || l.GetKlCoef() != c.Loss.KL ||
		l.GetEntropyCoef() != c.Loss.Entropy || l.GetLearningRate() != c.Optimizer.LearningRate || l.GetMaxGradNorm() != c.Optimizer.MaxGradNorm {
		t.Errorf("loss config %v does not match the run's", l)
	}
	if m.GetLoss() != 0.25 || m.GetKl() != 0.01 || m.GetEntropy() != 1.5 || m.GetClipFraction() != 0.1 {
		t.Errorf("loss stats not copied into the metrics: %v", m)
	}
}

func TestStepReinforceLossIsSentAsReinforce(t *testing.T) {
	cfg := smallConfig(1, 2)
	cfg.Loss.Kind = cwrpo.Reinforce
	r := newRig(t, cfg, []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, "")}, nil, map[string][]outcome{"a": rewards(-1, 1)})
	if _, err := r.tr.Step(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if k := r.learner.lastUpdate().GetLoss().GetKind(); k != pb.LossKind_LOSS_KIND_REINFORCE {
		t.Errorf("loss kind %v, want REINFORCE", k)
	}
}

// An episode whose reward equals its group's mean has advantage 0 but
// still belongs to the batch: its KL and entropy terms enter the loss and
// it counts in the mean over episodes.
func TestStepSendsZeroAdvantageEpisodesOfAVariedGroup(t *testing.T) {
	r := newRig(t, smallConfig(1, 3), []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, "")}, nil, map[string][]outcome{"a": rewards(-1, 0, 1)})
	if _, err := r.tr.Step(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	req := r.learner.lastUpdate()
	if got := len(req.GetEpisodes()); got != 3 {
		t.Fatalf("%d samples, want all 3 episodes of the group", got)
	}
	for id, ss := range samplesByGroup(req) {
		checkAdvantages(t, id, ss, []float64{-1, 0, 1})
	}
}

func TestStepWithOnlyZeroVarianceGroupsSendsNoUpdate(t *testing.T) {
	tasks := []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, ""), task("b", pb.TaskFamily_TASK_FAMILY_QA, "")}
	r := newRig(t, smallConfig(2, 3), tasks, nil, map[string][]outcome{"a": rewards(0.5, 0.5, 0.5), "b": rewards(-1, -1, -1)})
	m, err := r.tr.Step(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.GetZeroVarianceGroups() != 2 {
		t.Errorf("zero_variance_groups = %d, want 2", m.GetZeroVarianceGroups())
	}
	if len(r.learner.updates) != 0 {
		t.Errorf("an update was sent with %d samples; equal rewards give no gradient", len(r.learner.updates[0].GetEpisodes()))
	}
	if m.GetLoss() != 0 || m.GetKl() != 0 {
		t.Errorf("loss stats without an update: %v", m)
	}
}

func TestStepExcludesFailedEpisodesFromTheirGroup(t *testing.T) {
	tasks := []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, ""), task("b", pb.TaskFamily_TASK_FAMILY_QA, ""), task("c", pb.TaskFamily_TASK_FAMILY_CODE, "")}
	scripts := map[string][]outcome{
		// One Open failure: the group is normalised over the other three.
		"a": {{reward: -1}, {openErr: true}, {reward: 0.5}, {reward: 1}},
		// One actor failure.
		"b": {{reward: 0.2}, {reward: -0.6}, {actErr: true}, {reward: 0.6}},
		// Three failures leave one live episode: no variance, no samples.
		"c": {{openErr: true}, {actErr: true}, {reward: 0.4}, {openErr: true}},
	}
	cfg := smallConfig(3, 4)
	cfg.Concurrency = 1 // the failures land on the scripted episodes
	r := newRig(t, cfg, tasks, nil, scripts)
	m, err := r.tr.Step(context.Background(), 1)
	if err != nil {
		t.Fatalf("a step with some failed episodes failed: %v", err)
	}
	if m.GetFailedEpisodes() != 5 {
		t.Errorf("failed_episodes = %d, want 5", m.GetFailedEpisodes())
	}
	if m.GetEpisodes() != 7 {
		t.Errorf("episodes = %d, want the 7 live ones", m.GetEpisodes())
	}
	if m.GetZeroVarianceGroups() != 1 {
		t.Errorf("zero_variance_groups = %d, want 1 (task c has one live episode)", m.GetZeroVarianceGroups())
	}
	if !near(m.GetMeanReward(), (-1+0.5+1+0.2-0.6+0.6+0.4)/7) {
		t.Errorf("mean reward %v counts failed episodes", m.GetMeanReward())
	}
	req := r.learner.lastUpdate()
	want := map[string][]float64{"a": {-1, 0.5, 1}, "b": {0.2, -0.6, 0.6}}
	for id, ss := range samplesByGroup(req) {
		tk := taskOf(ss[0].GetEpisodeId())
		if tk == "c" {
			t.Errorf("group %s with one live episode sent samples", id)
			continue
		}
		checkAdvantages(t, id, ss, want[tk])
	}
	// Failed episodes are stored as failed rows with their error.
	step := int64(1)
	rows, err := r.store.Episodes(runID, runstore.EpisodeFilter{Step: &step, Phase: runstore.PhaseTrain})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 12 {
		t.Fatalf("%d episode rows, want 12 (7 live, 5 failed)", len(rows))
	}
	var failed, open, act int
	for _, row := range rows {
		if !row.Failed {
			if row.Error != "" || row.Reward == nil {
				t.Errorf("live row %+v", row)
			}
			continue
		}
		failed++
		switch {
		case strings.Contains(row.Error, "canvas down"):
			open++
		case strings.Contains(row.Error, "policy exploded"):
			act++
		default:
			t.Errorf("failed row with error %q", row.Error)
		}
		if row.TaskID == "" || row.GroupID == "" {
			t.Errorf("failed row lost its task or group: %+v", row)
		}
	}
	if failed != 5 || open != 3 || act != 2 {
		t.Errorf("failed rows %d (open %d, act %d), want 5 (3, 2)", failed, open, act)
	}
}

func TestStepWhereEveryEpisodeFailsNamesTheFirstFailure(t *testing.T) {
	tasks := []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, "")}
	for _, tc := range []struct {
		name    string
		script  outcome
		failAll bool
		want    string
	}{
		{"canvas down", outcome{openErr: true}, false, "canvas down"},
		{"policy down", outcome{reward: 1}, true, "policy exploded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, smallConfig(1, 3), tasks, nil, map[string][]outcome{"a": {tc.script}})
			r.learner.failAll = tc.failAll
			_, err := r.tr.Step(context.Background(), 1)
			if err == nil {
				t.Fatal("the step succeeded with no live episode")
			}
			if !strings.Contains(err.Error(), "every episode") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say every episode failed and name %q", err, tc.want)
			}
			if len(r.learner.updates) != 0 {
				t.Error("an update was sent")
			}
			if steps, _ := r.store.Steps(runID); len(steps) != 0 {
				t.Errorf("a failed step was stored: %v", steps)
			}
		})
	}
}

func TestStepActorFactoryErrorsAreFailedEpisodes(t *testing.T) {
	tasks := []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, "")}
	r := newRig(t, smallConfig(1, 4), tasks, nil, map[string][]outcome{"a": rewards(-1, 1, 0, 0.5)})
	n := 0
	r.tr.env.NewActor = func(ctx context.Context) (rollout.Actor, error) {
		n++
		if n%2 == 0 {
			return nil, errors.New("policy stream refused")
		}
		return rollout.InProcess{P: r.learner}, nil
	}
	r.tr.cfg.Concurrency = 1
	m, err := r.tr.Step(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.GetFailedEpisodes() != 2 || m.GetEpisodes() != 2 {
		t.Errorf("failed %d live %d, want 2 and 2", m.GetFailedEpisodes(), m.GetEpisodes())
	}
}

func TestStepMetricsMatchTheScriptedEpisodes(t *testing.T) {
	tasks := []*pb.Task{task("m", pb.TaskFamily_TASK_FAMILY_MATH, ""), task("q", pb.TaskFamily_TASK_FAMILY_QA, ""), task("c", pb.TaskFamily_TASK_FAMILY_CODE, "")}
	scripts := map[string][]outcome{
		"m": {
			{reward: 1, released: true, correctness: 1, correct: true, structure: 1, finished: true, turns: 4, invalid: 1, ops: map[string]int32{"Programmer": 2, "Format": 1}},
			{reward: -0.4, correctness: 0, structure: 0.6, turns: 2, ops: map[string]int32{"AnswerGenerate": 1}},
		},
		"q": {
			{reward: 0.5, released: true, correctness: 0.5, structure: 1, finished: true, turns: 3, invalid: 2, ops: map[string]int32{"Custom": 3, "Format": 1}},
			{reward: -1, correctness: 0.25, turns: 1, invalid: 1},
		},
		"c": {
			{reward: 1, released: true, correctness: 1, correct: true, structure: 1, finished: true, turns: 2, ops: map[string]int32{"Programmer": 1, "Test": 1}},
			{reward: 0, released: true, correctness: 0, structure: 1, finished: true, turns: 4, ops: map[string]int32{"Programmer": 1}},
		},
	}
	r := newRig(t, smallConfig(3, 2), tasks, nil, scripts)
	m, err := r.tr.Step(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	// Six episodes, worked out by hand.
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"mean_reward", m.GetMeanReward(), (1 - 0.4 + 0.5 - 1 + 1 + 0) / 6},
		{"structure_release_rate", m.GetStructureReleaseRate(), 4.0 / 6},
		{"correctness", m.GetCorrectness(), (1 + 0 + 0.5 + 0.25 + 1 + 0) / 6},
		{"mean_structure", m.GetMeanStructure(), (1 + 0.6 + 1 + 0 + 1 + 1) / 6},
		{"mean_turns", m.GetMeanTurns(), (4 + 2 + 3 + 1 + 2 + 4) / 6.0},
		{"finished_rate", m.GetFinishedRate(), 4.0 / 6},
		{"invalid_action_rate", m.GetInvalidActionRate(), (1 + 0 + 2 + 1 + 0 + 0) / 16.0},
		{"accuracy math", m.GetAccuracyByFamily()["math"], 0.5},
		{"accuracy qa", m.GetAccuracyByFamily()["qa"], 0},
		{"accuracy code", m.GetAccuracyByFamily()["code"], 0.5},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(m.GetAccuracyByFamily()) != 3 {
		t.Errorf("accuracy by family %v, want math, qa and code", m.GetAccuracyByFamily())
	}
	wantOps := map[string]int32{"Programmer": 4, "Format": 2, "AnswerGenerate": 1, "Custom": 3, "Test": 1}
	if len(m.GetOperatorUsage()) != len(wantOps) {
		t.Errorf("operator usage %v, want %v", m.GetOperatorUsage(), wantOps)
	}
	for op, n := range wantOps {
		if m.GetOperatorUsage()[op] != n {
			t.Errorf("operator usage %v, want %v", m.GetOperatorUsage(), wantOps)
			break
		}
	}
	if m.GetStep() != 1 || m.GetEpisodes() != 6 || m.GetZeroVarianceGroups() != 0 {
		t.Errorf("step %d episodes %d zero-variance %d", m.GetStep(), m.GetEpisodes(), m.GetZeroVarianceGroups())
	}
	for _, ph := range []string{"rollout", "update", "store"} {
		if _, ok := m.GetPhaseSeconds()[ph]; !ok {
			t.Errorf("phase_seconds lacks %q: %v", ph, m.GetPhaseSeconds())
		}
	}
	// The stored step is the returned one, and every episode is stored
	// with its advantage and a turn log of every turn.
	steps, err := r.store.Steps(runID)
	if err != nil || len(steps) != 1 || !near(steps[0].GetMeanReward(), m.GetMeanReward()) {
		t.Fatalf("stored steps %v (%v)", steps, err)
	}
	rows, err := r.store.Episodes(runID, runstore.EpisodeFilter{Phase: runstore.PhaseTrain})
	if err != nil || len(rows) != 6 {
		t.Fatalf("%d rows (%v), want 6", len(rows), err)
	}
	advs := map[string]float64{}
	for _, s := range r.learner.lastUpdate().GetEpisodes() {
		advs[s.GetEpisodeId()] = s.GetAdvantage()
	}
	for _, row := range rows {
		if !near(row.Advantage, advs[row.EpisodeID]) {
			t.Errorf("row %s advantage %v, update had %v", row.EpisodeID, row.Advantage, advs[row.EpisodeID])
		}
		var log []map[string]any
		if err := json.Unmarshal(row.TurnLog, &log); err != nil {
			t.Fatalf("turn log of %s: %v", row.EpisodeID, err)
		}
		if len(log) != row.Turns || len(log) == 0 {
			t.Errorf("row %s: %d turns logged, %d turns", row.EpisodeID, len(log), row.Turns)
		}
		if log[0]["reply"] != "finish" || log[0]["feedback"] != "ok: finish" {
			t.Errorf("turn log %v lacks the reply and feedback", log[0])
		}
	}
	if len(r.obs.started) != 1 || r.obs.episodes != 6 {
		t.Errorf("observer heard %v steps and %d episodes", r.obs.started, r.obs.episodes)
	}
}

func TestStepSourceGroupingNormalisesWithinEachSource(t *testing.T) {
	var tasks []*pb.Task
	scripts := map[string][]outcome{}
	for i, src := range []string{"gsm8k", "hotpotqa"} {
		for j := range 3 {
			id := src + "-" + string(rune('a'+j))
			tasks = append(tasks, task(id, pb.TaskFamily(i+1), src))
			scripts[id] = rewards(float64(j) - float64(i)) // distinct per task within a source
		}
	}
	cfg := smallConfig(2, 3)
	cfg.Grouping = "source"
	r := newRig(t, cfg, tasks, nil, scripts)
	m, err := r.tr.Step(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.GetEpisodes() != 6 {
		t.Fatalf("%d episodes, want 2 sources x 3 tasks", m.GetEpisodes())
	}
	for id := range scripts {
		if n := r.canvas.opens(id); n != 1 {
			t.Errorf("task %s played %d times, want once", id, n)
		}
	}
	groups := samplesByGroup(r.learner.lastUpdate())
	if len(groups) != 2 {
		t.Fatalf("groups %v, want one per source", keys(groups))
	}
	for id, ss := range groups {
		src := ""
		var want []float64
		for _, s := range ss {
			tk := taskOf(s.GetEpisodeId())
			s0 := tk[:strings.LastIndex(tk, "-")]
			if src != "" && s0 != src {
				t.Errorf("group %s mixes sources %s and %s", id, src, s0)
			}
			src = s0
			want = append(want, scripts[tk][0].reward)
		}
		if !strings.Contains(id, src) {
			t.Errorf("group id %q does not name its source %q", id, src)
		}
		checkAdvantages(t, id, ss, want)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// optimizer.epochs passes the same batch to the learner that many times
// (GRPO's μ), each pass with the sampled log-probabilities as the old
// ones, and the step reports the last pass's statistics.
func TestStepPassesTheBatchOncePerEpoch(t *testing.T) {
	for _, epochs := range []int{1, 3} {
		t.Run(fmt.Sprint(epochs), func(t *testing.T) {
			cfg := smallConfig(1, 2)
			cfg.Optimizer.Epochs = epochs
			r := newRig(t, cfg, []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, "")}, nil, map[string][]outcome{"a": rewards(-1, 1)})
			if _, err := r.tr.Step(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			if got := len(r.learner.updates); got != epochs {
				t.Fatalf("%d updates, want %d", got, epochs)
			}
			for i, u := range r.learner.updates {
				if !proto.Equal(u, r.learner.updates[0]) {
					t.Errorf("epoch %d sent a different batch than epoch 1", i+1)
				}
			}
		})
	}
}

func TestConfigRefusesEpochsOutOfRange(t *testing.T) {
	for _, n := range []int{-1, MaxEpochs + 1} {
		c := DefaultConfig()
		c.Optimizer.Epochs = n
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "optimizer.epochs") {
			t.Errorf("epochs %d: err %v, want one naming optimizer.epochs", n, err)
		}
	}
}

// optimizer.epochs 0 is the policy kind's default: the embedded network
// (cheap update) gets policy.CheapUpdateEpochs passes, a remote learner
// (an LLM behind a PolicyServer) one.
func TestEpochsDefaultToThePolicyKinds(t *testing.T) {
	for _, tc := range []struct {
		kind   string
		epochs int
		want   int
	}{{"embedded", 0, policy.CheapUpdateEpochs}, {"remote", 0, 1}, {"embedded", 1, 1}, {"remote", 4, 4}} {
		c := DefaultConfig()
		c.Policy.Kind, c.Optimizer.Epochs = tc.kind, tc.epochs
		if got := c.UpdateEpochs(); got != tc.want {
			t.Errorf("policy %s, epochs %d: %d passes, want %d", tc.kind, tc.epochs, got, tc.want)
		}
	}
}
