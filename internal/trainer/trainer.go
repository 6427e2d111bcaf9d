// Package trainer runs CWRPO end to end: for each step it draws a batch of
// tasks, plays a group of episodes per task against the canvas with the
// current policy, turns the rewards into group-relative advantages, and
// updates the policy (in process for the embedded policy, through
// PolicyService.Update for an external learner). Runs are stored (steps,
// episodes, checkpoints, evaluations) so they survive a crash and resume.
//
// Data path: tasks -> rollouts (policy <-> canvas) -> rewards ->
// advantages (internal/cwrpo) -> policy update -> metrics, store, report.
package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/errgroup"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/cwrpo"
	"github.com/flowsteer/flowsteer/internal/eval"
	"github.com/flowsteer/flowsteer/internal/obs"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/replay"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/runstore"
)

// Observer hears about a run's progress (terminal output, WatchRun).
type Observer interface {
	StepStarted(step, total int64, episodes int)
	EpisodeDone(step int64, rec *rollout.Record)
	StepDone(m *pb.StepMetrics)
	EvalStarted(step int64, policies []string, episodes int)
	EvalDone(r *pb.EvalReport)
	Log(msg string)
}

// Env is what a run needs from the world outside this package.
type Env struct {
	// Canvas opens episodes (in-process over bufconn, or remote canvases).
	Canvas rollout.Canvas
	// Learner is the policy being trained.
	Learner policy.Learner
	// NewActor opens a per-episode actor for the learner (an ActStream for
	// a remote policy); nil acts in process.
	NewActor func(ctx context.Context) (rollout.Actor, error)
	// ExecutorCalls reports backend calls and cache hits so far, when the
	// canvas runs in process (nil otherwise).
	ExecutorCalls func() (calls, hits int64)
	Observer      Observer
	// Store is the run's database.
	Store *runstore.Store
	// Dir is the run directory (checkpoints live in Dir/checkpoints).
	Dir string
	// Hardware describes the machine, for the report.
	Hardware string
	// Retryable tells the errors that cost an episode its replica (the
	// canvas or remote policy died or drained): such an episode is played
	// again elsewhere within rollout.retries. nil retries nothing. The
	// gRPC wiring sets flowsteer.Retryable.
	Retryable func(error) bool
	// Meter records the trainer's fan-out metrics (retried episodes,
	// episodes per replica); nil uses the global meter provider.
	Meter metric.MeterProvider
	// Replay, when set, holds the executor calls of in-process episodes:
	// each stored episode then carries its replay record (internal/replay).
	Replay *replay.Recorder
}

// Trainer runs one training run.
type Trainer struct {
	cfg   Config
	env   Env
	train []*pb.Task
	eval  []*pb.Task
	run   runstore.Run
	start int64 // last completed step (resume point)

	inst    *instruments
	retried atomic.Int64
	// stopReason names the budget that stopped the run, "" otherwise.
	stopReason string
}

// StopReason names the budget that stopped the last Run, "" when none did.
func (t *Trainer) StopReason() string { return t.stopReason }

// New prepares a run. tasks are the training tasks, evalTasks the
// held-out ones (converted to proto already, gold fields included: the
// canvas needs them to score).
func New(cfg Config, env Env, run runstore.Run, start int64, tasks, evalTasks []*pb.Task) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(tasks) == 0 {
		return nil, errors.New("no training tasks")
	}
	if env.Observer == nil {
		env.Observer = nopObserver{}
	}
	return &Trainer{cfg: cfg, env: env, train: tasks, eval: evalTasks, run: run, start: start, inst: newInstruments(env.Meter)}, nil
}

// Retried is how many times an episode was played again after losing its
// replica, over this trainer's life.
func (t *Trainer) Retried() int64 { return t.retried.Load() }

// Run trains until cfg.Steps or ctx ends. It evaluates before the first
// step of a fresh run and after the last one, and checkpoints on the
// configured cadence; a cancelled run keeps everything completed so far.
func (t *Trainer) Run(ctx context.Context) (err error) {
	ctx, span := obs.Start(ctx, "train.run", obs.RunID.String(t.run.ID), attribute.Int("flowsteer.train.steps", t.cfg.Steps))
	defer func() { obs.End(span, err) }()
	st := t.env.Store
	if err := st.UpdateRun(t.run.ID, "running", t.start, ""); err != nil {
		return err
	}
	fail := func(err error) error {
		status := "failed"
		if errors.Is(err, context.Canceled) {
			status = "cancelled"
		}
		_ = st.UpdateRun(t.run.ID, status, t.start, err.Error())
		return err
	}
	spent, err := t.spentSoFar()
	if err != nil {
		return fail(err)
	}
	// A budget already spent (a resume without raising it) stops before
	// anything more is paid for.
	stop := func(step int64) error {
		t.stopReason = t.cfg.Budget.Reached(spent)
		if t.stopReason == "" {
			return nil
		}
		t.env.Observer.Log(fmt.Sprintf("stopping after step %d: %s; raise the budget and resume to go on", step, t.stopReason))
		return st.UpdateRun(t.run.ID, runstore.StatusBudgetReached, step, t.stopReason)
	}
	if err := stop(t.start); err != nil || t.stopReason != "" {
		return err
	}
	// A fresh run evaluates before its first step. A resumed run redoes
	// the evaluation due at its checkpoint when the process stopped before
	// storing it (killed or cancelled during it, the final one included).
	if t.evalDue(t.start) {
		done, err := t.hasEval(t.start)
		if err != nil {
			return fail(err)
		}
		if !done {
			rep, err := t.Evaluate(ctx, t.start)
			if err != nil {
				return fail(err)
			}
			spent.Merge(cost.SummaryFromPB(rep.GetCost()))
		}
	}
	// A budget spent by the evaluation before training stops before the
	// first step (nothing to checkpoint: the policy is the initial one).
	if t.start < int64(t.cfg.Steps) {
		if err := stop(t.start); err != nil || t.stopReason != "" {
			return err
		}
	}
	for step := t.start + 1; step <= int64(t.cfg.Steps); step++ {
		m, err := t.Step(ctx, step)
		if err != nil {
			return fail(fmt.Errorf("step %d: %w", step, err))
		}
		t.env.Observer.StepDone(m)
		spent.Merge(cost.SummaryFromPB(m.GetCost()))
		last := step == int64(t.cfg.Steps)
		over := t.cfg.Budget.Reached(spent) != ""
		if step%int64(t.cfg.Checkpoint.Every) == 0 || last || over {
			if err := t.checkpoint(step); err != nil {
				return fail(err)
			}
		}
		t.start = step
		if err := st.UpdateRun(t.run.ID, "running", step, ""); err != nil {
			return fail(err)
		}
		if over && !last {
			return stop(step)
		}
		if t.evalDue(step) {
			rep, err := t.Evaluate(ctx, step)
			if err != nil {
				return fail(err)
			}
			spent.Merge(cost.SummaryFromPB(rep.GetCost()))
			// After the last step the run is complete, budget or not.
			if !last {
				if err := stop(step); err != nil || t.stopReason != "" {
					return err
				}
			}
		}
	}
	return st.UpdateRun(t.run.ID, "succeeded", t.start, "")
}

// evalDue tells whether an evaluation belongs after step: before training
// (step 0), every eval.every steps, and after the last step.
func (t *Trainer) evalDue(step int64) bool {
	if len(t.eval) == 0 {
		return false
	}
	return step == 0 || step == int64(t.cfg.Steps) || (t.cfg.Eval.Every > 0 && step%int64(t.cfg.Eval.Every) == 0)
}

// hasEval tells whether the store holds the evaluation at step.
func (t *Trainer) hasEval(step int64) (bool, error) {
	evals, err := t.env.Store.Evals(t.run.ID)
	if err != nil {
		return false, err
	}
	for _, e := range evals {
		if e.GetStep() == step {
			return true, nil
		}
	}
	return false, nil
}

func (t *Trainer) checkpoint(step int64) error {
	path := filepath.Join(t.env.Dir, "checkpoints", fmt.Sprintf("step-%06d.ckpt", step))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("checkpoint at step %d: %w", step, err)
	}
	sum, err := t.env.Learner.Save(path, step)
	if err != nil {
		return fmt.Errorf("checkpoint at step %d: %w", step, err)
	}
	return t.env.Store.PutCheckpoint(t.run.ID, step, path, sum, t.cfg.Hash())
}

// temperature anneals linearly when a final temperature is set.
func (t *Trainer) temperature(step int64) float64 {
	s := t.cfg.Sampling
	if s.FinalTemperature == 0 || t.cfg.Steps <= 1 {
		return s.Temperature
	}
	f := float64(step-1) / float64(t.cfg.Steps-1)
	return s.Temperature + f*(s.FinalTemperature-s.Temperature)
}

// group is a set of episodes whose rewards are normalised together.
type group struct {
	id    string
	tasks []*pb.Task // one per episode
	recs  []*rollout.Record
}

// batch draws the step's groups deterministically from the seed, so a
// resumed run sees the same tasks it would have seen.
func (t *Trainer) batch(step int64) []*group {
	n := len(t.train)
	perEpoch := max(1, n/t.cfg.BatchSize)
	epoch := (step - 1) / int64(perEpoch)
	rng := rand.New(rand.NewPCG(uint64(t.cfg.Seed), uint64(epoch)))
	perm := rng.Perm(n)
	off := int((step-1)%int64(perEpoch)) * t.cfg.BatchSize
	var groups []*group
	if t.cfg.Grouping == "source" {
		// The released code: GroupSize distinct tasks per source, one
		// episode each, normalised within the source.
		bySource := map[string][]*pb.Task{}
		var order []string
		for _, i := range perm {
			s := t.train[i].GetSource()
			if s == "" {
				s = t.train[i].GetFamily().String()
			}
			if _, ok := bySource[s]; !ok {
				order = append(order, s)
			}
			bySource[s] = append(bySource[s], t.train[i])
		}
		sort.Strings(order)
		for k := 0; k < t.cfg.BatchSize && k < len(order); k++ {
			src := order[(int(step-1)*t.cfg.BatchSize+k)%len(order)]
			pool := bySource[src]
			g := &group{id: fmt.Sprintf("s%d-%s", step, src)}
			start := (int(step-1) * t.cfg.GroupSize) % len(pool)
			for j := 0; j < t.cfg.GroupSize && j < len(pool); j++ {
				g.tasks = append(g.tasks, pool[(start+j)%len(pool)])
			}
			groups = append(groups, g)
		}
		return groups
	}
	// A batch never holds a task twice: with fewer tasks than batch_tasks a
	// repeat would be a second group with the same id and the same seeds,
	// so an exact copy of the first.
	for k := 0; k < min(t.cfg.BatchSize, n); k++ {
		tk := t.train[perm[(off+k)%n]]
		g := &group{id: fmt.Sprintf("s%d-%s", step, tk.GetId())}
		for range t.cfg.GroupSize {
			g.tasks = append(g.tasks, tk)
		}
		groups = append(groups, g)
	}
	return groups
}

func (t *Trainer) episodeConfig() *pb.EpisodeConfig {
	mr := int32(t.cfg.MaxRounds)
	c := &pb.EpisodeConfig{MaxRounds: &mr, Reward: rewardToPB(t.cfg.rewardSpec())}
	if t.cfg.Canvas.TwoStep != nil {
		c.TwoStep = t.cfg.Canvas.TwoStep
	}
	if t.cfg.Canvas.Hints {
		h := true
		c.Hints = &h
	}
	return c
}

// play runs the episodes of groups with a bounded pool and fills recs.
// An episode that loses its replica is played again (playEpisode); when
// one runs out of retries play returns its EpisodeLostError and the other
// episodes are cancelled, so no partial group reaches an update.
func (t *Trainer) play(ctx context.Context, step int64, groups []*group, s policy.Sampling, actor func(context.Context) (rollout.Actor, error), onDone func(*rollout.Record)) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(t.cfg.Concurrency)
	var mu sync.Mutex
	for _, gr := range groups {
		gr.recs = make([]*rollout.Record, len(gr.tasks))
		gctx, gspan := obs.Start(ctx, "train.group", obs.GroupID.String(gr.id), obs.Step.Int64(step), obs.Episodes.Int(len(gr.tasks)))
		var left atomic.Int32 // the last episode of the group ends its span
		if left.Store(int32(len(gr.tasks))); len(gr.tasks) == 0 {
			gspan.End()
		}
		for i, tk := range gr.tasks {
			g.Go(func() error {
				defer func() {
					if left.Add(-1) == 0 {
						gspan.End()
					}
				}()
				sp := s
				if sp.Seed != nil {
					v := *sp.Seed + int64(i)*7919 + step*104729
					sp.Seed = &v
				}
				rec, err := t.playEpisode(gctx, gr.id, i, tk, sp, actor)
				if err != nil {
					return err
				}
				if ctx.Err() != nil {
					return ctx.Err() // the run is stopping: do not record half-played episodes
				}
				mu.Lock()
				gr.recs[i] = rec
				if onDone != nil {
					onDone(rec)
				}
				mu.Unlock()
				return nil
			})
		}
	}
	return g.Wait()
}

// EpisodeLostError is an episode that lost its replica on every attempt
// rollout.retries allowed: the step it belongs to fails.
type EpisodeLostError struct {
	Group    string
	Index    int // the episode's place in its group
	Task     string
	Attempts int
	// Replica is where the last attempt ran ("" when unknown); Err is
	// why it failed.
	Replica string
	Err     error
}

func (e *EpisodeLostError) Error() string {
	where := "an unknown replica"
	if e.Replica != "" {
		where = "canvas replica " + e.Replica
	}
	return fmt.Sprintf("episode %d of group %s (task %s) lost its replica on all %d attempts (rollout.retries %d); the last ran on %s: %v: "+
		"the step is abandoned without an update; check that enough replicas are up or raise rollout.retries",
		e.Index, e.Group, e.Task, e.Attempts, e.Attempts-1, where, e.Err)
}

func (e *EpisodeLostError) Unwrap() error { return e.Err }

// maxRetryWait caps the wait between attempts of an episode.
const maxRetryWait = 5 * time.Second

// playEpisode plays one episode of a group; when the attempt fails with a
// retryable error (its replica died or drained) it plays the episode again
// from the start, a new Open and a new actor with the same sampling seed,
// up to rollout.retries times. It returns an error only when that budget is
// spent; any other failure is a record with Err set.
func (t *Trainer) playEpisode(ctx context.Context, groupID string, i int, tk *pb.Task, s policy.Sampling, actor func(context.Context) (rollout.Actor, error)) (*rollout.Record, error) {
	budget := t.cfg.Rollout.Retries
	for attempt := 1; ; attempt++ {
		rec := t.attempt(ctx, tk, s, actor)
		rec.Attempts = attempt
		if rec.Err == nil || ctx.Err() != nil || t.env.Retryable == nil || !t.env.Retryable(rec.Err) {
			t.countEpisode(ctx, rec)
			return rec, nil
		}
		if attempt > budget {
			return nil, &EpisodeLostError{Group: groupID, Index: i, Task: tk.GetId(), Attempts: attempt, Replica: rec.Replica, Err: rec.Err}
		}
		t.retried.Add(1)
		t.metrics().retried(ctx, rec.Replica)
		where := "canvas replica " + rec.Replica
		if rec.Replica == "" {
			where = "an unknown canvas replica"
		}
		t.env.Observer.Log(fmt.Sprintf("episode %d of group %s (task %s) on %s lost its replica after %d turns: %v; playing it again from the start (retry %d of %d)",
			i, groupID, tk.GetId(), where, len(rec.Turns), rec.Err, attempt, budget))
		wait := t.cfg.Rollout.RetryBackoff // doubled per attempt, capped
		for k := 1; k < attempt && wait < maxRetryWait; k++ {
			wait *= 2
		}
		if wait = min(wait, maxRetryWait); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				t.countEpisode(ctx, rec)
				return rec, nil // the caller sees ctx.Err()
			case <-timer.C:
			}
		}
	}
}

// attempt plays an episode once, bounded by episode_timeout.
func (t *Trainer) attempt(ctx context.Context, tk *pb.Task, s policy.Sampling, actor func(context.Context) (rollout.Actor, error)) *rollout.Record {
	ectx, cancel := context.WithTimeout(ctx, t.cfg.EpisodeTimeout)
	defer cancel()
	a, err := actor(ectx)
	if err != nil {
		return &rollout.Record{Task: tk, Err: err}
	}
	r, _ := rollout.Play(ectx, t.env.Canvas, a, tk, t.episodeConfig(), s)
	return &r
}

func (t *Trainer) actorFor() func(context.Context) (rollout.Actor, error) {
	if t.env.NewActor != nil {
		return t.env.NewActor
	}
	return func(context.Context) (rollout.Actor, error) { return rollout.InProcess{P: t.env.Learner}, nil }
}

// Step runs one training step and stores it.
func (t *Trainer) Step(ctx context.Context, step int64) (res *pb.StepMetrics, err error) {
	ctx, span := obs.Start(ctx, "train.step", obs.RunID.String(t.run.ID), obs.Step.Int64(step))
	phase := map[string]float64{}
	groups := t.batch(step)
	stepStart := time.Now()
	defer func(start time.Time) { endStep(ctx, span, start, groups, res, err) }(stepStart)
	total := 0
	for _, g := range groups {
		total += len(g.tasks)
	}
	t.env.Observer.StepStarted(step, int64(t.cfg.Steps), total)
	var calls0, hits0 int64
	if t.env.ExecutorCalls != nil {
		calls0, hits0 = t.env.ExecutorCalls()
	}
	seed := t.cfg.Seed*1_000_003 + step
	s := policy.Sampling{Temperature: t.temperature(step), TopP: t.cfg.Sampling.TopP, TopK: t.cfg.Sampling.TopK, Seed: &seed}
	t0 := time.Now()
	if err := t.play(ctx, step, groups, s, t.actorFor(), func(r *rollout.Record) { t.env.Observer.EpisodeDone(step, r) }); err != nil {
		return nil, err
	}
	phase["rollout"] = time.Since(t0).Seconds()

	m := &pb.StepMetrics{Step: step, AccuracyByFamily: map[string]float64{}, OperatorUsage: map[string]int32{}, PhaseSeconds: phase,
		GroupCost: map[string]*pb.CostSummary{}}
	// Cost rolls up episode -> group -> step: each level is the sum of the
	// one below, failed episodes included (they were paid for too).
	var stepCost cost.Summary
	var costRows []runstore.EpisodeCost
	for _, g := range groups {
		var gc cost.Summary
		for _, r := range g.recs {
			if r != nil {
				ec := EpisodeCost(t.cfg.Prices, r)
				gc.Merge(ec)
				costRows = append(costRows, runstore.EpisodeCost{RunID: t.run.ID, Step: step, Phase: runstore.PhaseTrain, EpisodeID: r.EpisodeID, GroupID: g.id, Cost: cost.SummaryToPB(ec)})
			}
		}
		m.GroupCost[g.id] = cost.SummaryToPB(gc)
		stepCost.Merge(gc)
	}
	var samples []*pb.EpisodeSamples
	var rows []runstore.Episode
	famN := map[string]int{}
	var rewardSum, releaseSum, corrSum, structSum, turnSum, finished float64
	var turns, invalid int
	ok := 0
	for _, g := range groups {
		var live []*rollout.Record
		for _, r := range g.recs {
			if r.Err != nil || r.Final == nil {
				m.FailedEpisodes++
				rows = append(rows, t.withReplay(episodeRow(t.run.ID, step, "train", g.id, r, 0), r, nil))
				continue
			}
			live = append(live, r)
		}
		rewards := make([]float64, len(live))
		for i, r := range live {
			rewards[i] = r.Reward()
		}
		adv, zero := cwrpo.Advantages(rewards)
		if zero || len(live) < 2 {
			m.ZeroVarianceGroups++
		}
		for i, r := range live {
			ok++
			rb := r.Final.GetReward()
			rewardSum += rb.GetReward()
			if rb.GetReleased() {
				releaseSum++
			}
			corrSum += rb.GetCorrectness()
			structSum += rb.GetStructureTotal()
			turnSum += float64(r.Final.GetTurn())
			if r.Finished() {
				finished++
			}
			turns += len(r.Turns)
			invalid += r.Invalid
			fam := familyName(r.Task.GetFamily())
			famN[fam]++
			if rb.GetScore().GetCorrect() {
				m.AccuracyByFamily[fam]++
			}
			for op, n := range r.Final.GetWorkflow().GetStats().GetOperatorCounts() {
				m.OperatorUsage[op] += n
			}
			rows = append(rows, t.withReplay(episodeRow(t.run.ID, step, "train", g.id, r, adv[i]), r, nil))
			// Every live episode of a group with variance is trained on, its
			// advantage 0 or not: the KL and entropy terms and the mean over
			// the batch's episodes count it (SPEC section 7).
			if !zero && len(live) >= 2 {
				samples = append(samples, &pb.EpisodeSamples{EpisodeId: r.EpisodeID, GroupId: g.id, Reward: rewards[i], Advantage: adv[i], Decisions: r.Decisions})
			}
		}
	}
	m.Episodes = int32(ok)
	if ok > 0 {
		n := float64(ok)
		m.MeanReward, m.StructureReleaseRate, m.Correctness = rewardSum/n, releaseSum/n, corrSum/n
		m.MeanStructure, m.MeanTurns, m.FinishedRate = structSum/n, turnSum/n, finished/n
	}
	if turns > 0 {
		m.InvalidActionRate = float64(invalid) / float64(turns)
	}
	for f, n := range famN {
		m.AccuracyByFamily[f] /= float64(n)
	}
	if ok == 0 {
		return nil, fmt.Errorf("every episode of the step failed; first error: %v", firstErr(groups))
	}

	t1 := time.Now()
	if len(samples) > 0 {
		lr := t.cfg.Optimizer.LearningRate
		gn := t.cfg.Optimizer.MaxGradNorm
		clip, kl, ent := t.cfg.Loss.Clip, t.cfg.Loss.KL, t.cfg.Loss.Entropy
		kind := pb.LossKind_LOSS_KIND_CWRPO
		if t.cfg.Loss.Kind == cwrpo.Reinforce {
			kind = pb.LossKind_LOSS_KIND_REINFORCE
		}
		st, err := t.env.Learner.Update(ctx, &pb.UpdateRequest{Step: step, Episodes: samples, Loss: &pb.LossConfig{
			Kind: kind, Clip: &clip, KlCoef: &kl, EntropyCoef: &ent, LearningRate: &lr, MaxGradNorm: &gn,
		}})
		if err != nil {
			return nil, fmt.Errorf("policy update: %w", err)
		}
		m.Loss, m.Kl, m.Entropy, m.ClipFraction = st.GetLoss(), st.GetKl(), st.GetEntropy(), st.GetClipFraction()
	}
	phase["update"] = time.Since(t1).Seconds()
	if t.env.ExecutorCalls != nil {
		c1, h1 := t.env.ExecutorCalls()
		m.ExecutorCalls = c1 - calls0
		if req := (c1 - calls0) + (h1 - hits0); req > 0 {
			m.CacheHitRate = float64(h1-hits0) / float64(req)
		}
	}
	// The step's wall time is the clock's, not the sum of its episodes'.
	stepCost.WallSeconds = time.Since(stepStart).Seconds()
	m.Cost = cost.SummaryToPB(stepCost)
	t2 := time.Now()
	if err := t.env.Store.PutEpisodes(rows); err != nil {
		return nil, err
	}
	if err := t.env.Store.PutEpisodeCosts(costRows); err != nil {
		return nil, err
	}
	if err := t.env.Store.PutStep(t.run.ID, m); err != nil {
		return nil, err
	}
	phase["store"] = time.Since(t2).Seconds()
	return m, nil
}

func firstErr(groups []*group) error {
	for _, g := range groups {
		for _, r := range g.recs {
			if r != nil && r.Err != nil {
				return r.Err
			}
		}
	}
	return errors.New("no episode ended")
}

func familyName(f pb.TaskFamily) string {
	switch f {
	case pb.TaskFamily_TASK_FAMILY_MATH:
		return "math"
	case pb.TaskFamily_TASK_FAMILY_QA:
		return "qa"
	case pb.TaskFamily_TASK_FAMILY_CODE:
		return "code"
	case pb.TaskFamily_TASK_FAMILY_MULTIPLE_CHOICE:
		return "mc"
	}
	return "unknown"
}

// turnLog is what the store keeps of every turn.
type turnLog struct {
	Turn     int    `json:"turn"`
	Reply    string `json:"reply"`
	Action   string `json:"action"`
	Valid    bool   `json:"valid"`
	Feedback string `json:"feedback"`
	DSL      string `json:"dsl"`
	State    string `json:"state"`
}

func episodeRow(runID string, step int64, phase, groupID string, r *rollout.Record, adv float64) runstore.Episode {
	row := runstore.Episode{RunID: runID, Step: step, Phase: phase, EpisodeID: r.EpisodeID, TaskID: r.Task.GetId(),
		Family: familyName(r.Task.GetFamily()), GroupID: groupID, Advantage: adv, Invalid: r.Invalid}
	if r.Err != nil {
		row.Failed, row.Error = true, r.Err.Error()
	}
	if r.Final != nil {
		row.DSL = r.Final.GetWorkflow().GetDsl()
		row.Turns = int(r.Final.GetTurn())
		row.Reward = r.Final.GetReward()
		row.Finished = r.Finished()
	}
	logs := make([]turnLog, len(r.Turns))
	for i, tu := range r.Turns {
		reply := ""
		if i < len(r.Decisions) {
			reply = clip(r.Decisions[i].GetAction().GetText(), 2000)
		}
		logs[i] = turnLog{Turn: tu.Number, Reply: reply, Action: tu.Action, Valid: tu.Valid, Feedback: clip(tu.Feedback, 1000), DSL: tu.DSL, State: tu.State.String()}
	}
	row.TurnLog, _ = json.Marshal(logs)
	return row
}

// withReplay attaches the episode's replay record (its executor calls
// taken from the recorder). A record that cannot be built is left out:
// the episode is stored without it rather than not at all.
// cfg is the episode configuration it was played with (nil: training's).
func (t *Trainer) withReplay(row runstore.Episode, r *rollout.Record, cfg *pb.EpisodeConfig) runstore.Episode {
	rec := t.env.Replay
	if rec == nil || r.EpisodeID == "" {
		return row
	}
	calls, dropped := rec.Take(r.EpisodeID)
	if r.Err != nil || r.Final == nil {
		return row
	}
	if cfg == nil {
		cfg = t.episodeConfig()
	}
	rr, err := replay.NewRecord(r, cfg, rec.Backend(), calls, dropped)
	if err == nil {
		row.Replay, err = rr.Encode()
	}
	if err != nil {
		t.env.Observer.Log(fmt.Sprintf("episode %s is stored without its replay record: %v", r.EpisodeID, err))
	}
	return row
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Evaluate plays one episode of the policy (and of each baseline) per
// held-out task and stores the report. The policy samples (eval.sample,
// the default) or takes its most likely choices.
func (t *Trainer) Evaluate(ctx context.Context, step int64) (*pb.EvalReport, error) {
	tasks := t.eval
	if t.cfg.Eval.Tasks > 0 && len(tasks) > t.cfg.Eval.Tasks {
		tasks = tasks[:t.cfg.Eval.Tasks]
	}
	name := "trained"
	if step == 0 {
		name = "untrained"
	}
	entries := []EvalEntry{{Name: name, Actor: t.actorFor(), Greedy: !t.cfg.Eval.Sample}}
	for _, b := range t.cfg.Eval.Baselines {
		p, err := policy.Baseline(ctx, b, t.cfg.Seed)
		if err != nil {
			return nil, err
		}
		entries = append(entries, EvalEntry{Name: b, Actor: func(context.Context) (rollout.Actor, error) { return rollout.InProcess{P: p}, nil }})
	}
	// A sampled evaluation samples as training did at that point of the run.
	ev := Evaluator{Canvas: t.env.Canvas, Concurrency: t.cfg.Concurrency, MaxRounds: t.cfg.MaxRounds, Reward: t.cfg.Reward,
		EpisodeTimeout: t.cfg.EpisodeTimeout, Seed: t.cfg.Seed, Observer: t.env.Observer,
		Retryable: t.env.Retryable, Rollout: &t.cfg.Rollout, retried: &t.retried, inst: t.inst, Prices: t.cfg.Prices,
		Temperature: t.temperature(max(step, 1)), TopP: t.cfg.Sampling.TopP, TopK: t.cfg.Sampling.TopK}
	rep, recs, err := ev.Run(ctx, step, tasks, entries)
	if err != nil {
		return nil, err
	}
	// The episodes are written only once every policy has played, in one
	// transaction just before the report: a run stopped during an
	// evaluation leaves none of its episodes behind, so the evaluation
	// redone on resume does not store them twice.
	var rows []runstore.Episode
	// The evaluator plays with the default canvas settings (Evaluator.Run).
	evalCfg := DefaultConfig()
	evalCfg.MaxRounds, evalCfg.Reward = t.cfg.MaxRounds, t.cfg.Reward
	epCfg := (&Trainer{cfg: evalCfg}).episodeConfig()
	var costRows []runstore.EpisodeCost
	for i, e := range entries {
		for _, r := range recs[i] {
			gid := fmt.Sprintf("eval%d-%s", step, e.Name)
			rows = append(rows, t.withReplay(episodeRow(t.run.ID, step, runstore.EvalPhase(e.Name), gid, r, 0), r, epCfg))
			if r != nil {
				costRows = append(costRows, runstore.EpisodeCost{RunID: t.run.ID, Step: step, Phase: runstore.EvalPhase(e.Name), EpisodeID: r.EpisodeID,
					GroupID: gid, Cost: cost.SummaryToPB(EpisodeCost(t.cfg.Prices, r))})
			}
		}
	}
	if err := t.env.Store.PutEpisodes(rows); err != nil {
		return nil, err
	}
	if err := t.env.Store.PutEpisodeCosts(costRows); err != nil {
		return nil, err
	}
	if err := t.env.Store.PutEval(t.run.ID, rep); err != nil {
		return nil, err
	}
	t.env.Observer.EvalDone(rep)
	return rep, nil
}

// EvalEntry is one policy of an evaluation.
type EvalEntry struct {
	Name   string
	Actor  func(context.Context) (rollout.Actor, error)
	Greedy bool
}

// Evaluator plays one episode per task for each policy.
type Evaluator struct {
	Canvas         rollout.Canvas
	Concurrency    int
	MaxRounds      int
	Reward         reward.Spec
	EpisodeTimeout time.Duration
	Seed           int64
	Observer       Observer
	// Sampling settings of entries that are not greedy; a zero
	// Temperature samples at 1.
	Temperature float64
	TopP        float64
	TopK        int
	// Retryable and Rollout re-run episodes that lose their replica, as in
	// training; nil Retryable retries nothing, nil Rollout is DefaultRollout.
	Retryable func(error) bool
	Rollout   *RolloutConfig
	// Prices prices each policy's cost (PolicyEval.cost); nil leaves
	// money at 0 with every model flagged unpriced.
	Prices cost.Table

	// A trainer's evaluation counts into the trainer's totals.
	retried *atomic.Int64
	inst    *instruments
}

// Run evaluates the entries on tasks and returns the report and, per
// entry, the played records.
func (e Evaluator) Run(ctx context.Context, step int64, tasks []*pb.Task, entries []EvalEntry) (*pb.EvalReport, [][]*rollout.Record, error) {
	obs := e.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	cfg := DefaultConfig()
	cfg.Concurrency, cfg.MaxRounds, cfg.Reward, cfg.EpisodeTimeout, cfg.Seed = max(1, e.Concurrency), e.MaxRounds, e.Reward, e.EpisodeTimeout, e.Seed
	if cfg.MaxRounds == 0 {
		cfg.MaxRounds = 20
	}
	if cfg.EpisodeTimeout == 0 {
		cfg.EpisodeTimeout = 5 * time.Minute
	}
	if e.Rollout != nil {
		cfg.Rollout = *e.Rollout
	}
	cfg.Prices = e.Prices
	t := &Trainer{cfg: cfg, env: Env{Canvas: e.Canvas, Observer: obs, Retryable: e.Retryable}, inst: e.inst}
	if e.retried != nil {
		defer func() { e.retried.Add(t.retried.Load()) }()
	}
	names := make([]string, len(entries))
	for i, en := range entries {
		names[i] = en.Name
	}
	obs.EvalStarted(step, names, len(tasks)*len(entries))
	rep := &pb.EvalReport{Step: step}
	all := make([][]*rollout.Record, len(entries))
	evalStart := time.Now()
	var evalCost cost.Summary
	for i, en := range entries {
		g := &group{id: fmt.Sprintf("eval%d-%s", step, en.Name), tasks: tasks}
		seed := e.Seed*7_777_777 + step
		temp := e.Temperature
		if temp == 0 {
			temp = 1
		}
		s := policy.Sampling{Greedy: en.Greedy, Temperature: temp, TopP: e.TopP, TopK: e.TopK, Seed: &seed}
		if err := t.play(ctx, step, []*group{g}, s, en.Actor, func(r *rollout.Record) { obs.EpisodeDone(step, r) }); err != nil {
			return nil, nil, err
		}
		pe := summarize(en.Name, g.recs)
		var pc cost.Summary
		for _, r := range g.recs {
			if r != nil {
				pc.Merge(EpisodeCost(e.Prices, r))
			}
		}
		pe.Cost = cost.SummaryToPB(pc)
		evalCost.Merge(pc)
		rep.Policies = append(rep.Policies, pe)
		all[i] = g.recs
	}
	evalCost.WallSeconds = time.Since(evalStart).Seconds()
	rep.Cost = cost.SummaryToPB(evalCost)
	return rep, all, nil
}

// summarize computes one policy's eval metrics with 95% intervals.
func summarize(name string, recs []*rollout.Record) *pb.PolicyEval {
	pe := &pb.PolicyEval{Policy: name}
	var rewards []float64
	fam := map[string][2]int{}
	var release, finished, turnSum float64
	var turns, invalid int
	for _, r := range recs {
		if r == nil || r.Err != nil || r.Final == nil {
			continue
		}
		rb := r.Final.GetReward()
		rewards = append(rewards, rb.GetReward())
		f := familyName(r.Task.GetFamily())
		c := fam[f]
		c[1]++
		if rb.GetScore().GetCorrect() {
			c[0]++
		}
		fam[f] = c
		if rb.GetReleased() {
			release++
		}
		if r.Finished() {
			finished++
		}
		turnSum += float64(r.Final.GetTurn())
		turns += len(r.Turns)
		invalid += r.Invalid
	}
	n := float64(len(rewards))
	pe.Episodes = int32(len(rewards))
	if n == 0 {
		return pe
	}
	pe.MeanReward, pe.RewardCiLow, pe.RewardCiHigh = eval.MeanCI(rewards)
	pe.StructureReleaseRate, pe.FinishedRate, pe.MeanTurns = release/n, finished/n, turnSum/n
	if turns > 0 {
		pe.InvalidActionRate = float64(invalid) / float64(turns)
	}
	var fams []string
	for f := range fam {
		fams = append(fams, f)
	}
	sort.Strings(fams)
	totalK, totalN := 0, 0
	for _, f := range fams {
		c := fam[f]
		lo, hi := eval.Wilson(c[0], c[1])
		pe.Metrics = append(pe.Metrics, &pb.FamilyMetric{Family: f, Metric: "accuracy", Value: float64(c[0]) / float64(c[1]), CiLow: lo, CiHigh: hi, Count: int32(c[1])})
		totalK += c[0]
		totalN += c[1]
	}
	lo, hi := eval.Wilson(totalK, totalN)
	pe.Metrics = append(pe.Metrics, &pb.FamilyMetric{Family: "all", Metric: "accuracy", Value: float64(totalK) / float64(totalN), CiLow: lo, CiHigh: hi, Count: int32(totalN)})
	return pe
}

type nopObserver struct{}

func (nopObserver) StepStarted(int64, int64, int)      {}
func (nopObserver) EpisodeDone(int64, *rollout.Record) {}
func (nopObserver) StepDone(*pb.StepMetrics)           {}
func (nopObserver) EvalStarted(int64, []string, int)   {}
func (nopObserver) EvalDone(*pb.EvalReport)            {}
func (nopObserver) Log(string)                         {}
