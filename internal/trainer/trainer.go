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
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/obs"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/replay"
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
	Store runstore.Store
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
	// A fresh run warm-starts (when configured) before anything else, so
	// its first evaluation measures the warm policy. A run stopped before
	// its first checkpoint warm-starts again from its fresh weights.
	if t.start == 0 && t.cfg.WarmStart.Enabled() {
		if err := t.warmStart(ctx); err != nil {
			return fail(err)
		}
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

type nopObserver struct{}

func (nopObserver) StepStarted(int64, int64, int)      {}
func (nopObserver) EpisodeDone(int64, *rollout.Record) {}
func (nopObserver) StepDone(*pb.StepMetrics)           {}
func (nopObserver) EvalStarted(int64, []string, int)   {}
func (nopObserver) EvalDone(*pb.EvalReport)            {}
func (nopObserver) Log(string)                         {}
