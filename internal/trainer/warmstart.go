package trainer

// Warm start: behaviour cloning of demonstrated workflows before the
// first step (issue #19: the policy never discovers the long workflows the
// best fixed and searched ones are, so it may start from them).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/rollout"
	flowtask "github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// WarmStart clones demonstrated workflows into the policy before a fresh
// run's first step: on Tasks training tasks the policy is shown, turn by
// turn, the edits that build its family's workflow (and finish), then
// takes Passes optimiser steps that raise those edits' probability
// (REINFORCE with advantage 1 on every shown decision: maximum
// likelihood). The warm policy then becomes the KL term's reference and
// CWRPO trains on from it. It needs a policy that can imitate
// (policy.Imitator: the embedded network). Omitted from the YAML while
// empty, so configs made before it keep their hash.
type WarmStart struct {
	// Workflows maps a task family (code, math, qa, ...) to the DSL shown
	// on its tasks; tasks of a family it lacks are not shown anything.
	// `flowsteer experiment` writes such maps (best-fixed.json,
	// search.json). Quote a DSL with a conditional in --set:
	// warm_start.workflows.code='Plan -> Test ? Programmer : done'.
	Workflows map[string]string `yaml:"workflows,omitempty"`
	// Tasks is how many training tasks are shown (default 60; at most
	// the training tasks of the families Workflows names).
	Tasks int `yaml:"tasks,omitempty"`
	// Passes is the number of optimiser steps over the shown decisions
	// (default 300).
	Passes int `yaml:"passes,omitempty"`
	// LearningRate is the cloning steps' learning rate (0: the run's
	// optimizer.learning_rate), so that a run may clone at one rate and
	// train at another.
	LearningRate float64 `yaml:"learning_rate,omitempty"`
}

// Enabled tells whether the run warm-starts.
func (w WarmStart) Enabled() bool { return len(w.Workflows) > 0 }

// Warm start defaults and bounds.
const (
	DefaultWarmTasks  = 60
	DefaultWarmPasses = 300
	MaxWarmTasks      = 10000
	MaxWarmPasses     = 100000
)

func (w WarmStart) tasks() int  { return cmp.Or(w.Tasks, DefaultWarmTasks) }
func (w WarmStart) passes() int { return cmp.Or(w.Passes, DefaultWarmPasses) }

// Validate checks the families and parses every workflow.
func (w WarmStart) Validate() error {
	if !w.Enabled() {
		if w.Tasks != 0 || w.Passes != 0 || w.LearningRate != 0 {
			return errors.New("warm_start: tasks, passes and learning_rate need warm_start.workflows")
		}
		return nil
	}
	if w.Tasks < 0 || w.Tasks > MaxWarmTasks {
		return fmt.Errorf("warm_start.tasks must be in 0..%d (0 = %d), got %d", MaxWarmTasks, DefaultWarmTasks, w.Tasks)
	}
	if w.Passes < 0 || w.Passes > MaxWarmPasses {
		return fmt.Errorf("warm_start.passes must be in 0..%d (0 = %d), got %d", MaxWarmPasses, DefaultWarmPasses, w.Passes)
	}
	if !(w.LearningRate >= 0 && w.LearningRate <= 1) {
		return fmt.Errorf("warm_start.learning_rate must be in [0, 1] (0 = optimizer.learning_rate), got %v", w.LearningRate)
	}
	fams := make([]string, 0, len(w.Workflows))
	for f := range w.Workflows {
		fams = append(fams, f)
	}
	slices.Sort(fams)
	for _, f := range fams {
		if !flowtask.Family(f).Valid() {
			return fmt.Errorf("warm_start.workflows: unknown task family %q (one of code, math, qa, mc)", clip(f, 40))
		}
		g, err := workflow.Parse(w.Workflows[f], nil)
		if err != nil {
			return fmt.Errorf("warm_start.workflows.%s: %w", f, err)
		}
		if g.Empty() {
			return fmt.Errorf("warm_start.workflows.%s: the workflow is empty", f)
		}
	}
	return nil
}

// teacher plays a demonstrated workflow as its student would: the fixed
// policy picks each edit, the student records it as its own decision.
type teacher struct {
	fixed   map[pb.TaskFamily]*policy.Fixed
	student policy.Imitator
}

func (t teacher) Act(ctx context.Context, obs *pb.Observation, s policy.Sampling) (*pb.Decision, error) {
	f := t.fixed[obs.GetTask().GetFamily()]
	d, err := f.Act(ctx, obs, s)
	if err != nil || obs.GetState() == pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT {
		return d, err // prompts carry no choices: the template's stands
	}
	own, err := t.student.Imitate(obs, d.GetAction().GetStructured())
	if err != nil {
		return nil, fmt.Errorf("warm start on a %s task: %w", policy.FamilyOf(obs.GetTask().GetFamily()), err)
	}
	return own, nil
}

func (teacher) Close() error { return nil }

// warmStart shows the workflows, clones them and anchors the policy.
func (t *Trainer) warmStart(ctx context.Context) error {
	w := t.cfg.WarmStart
	im, ok := t.env.Learner.(policy.Imitator)
	if !ok || t.env.NewActor != nil {
		return fmt.Errorf("warm_start: the %s policy cannot imitate a workflow in this process (the embedded policy can)", t.cfg.Policy.Kind)
	}
	tc := teacher{fixed: map[pb.TaskFamily]*policy.Fixed{}, student: im}
	for name, dsl := range w.Workflows {
		fx, err := policy.NewFixed(dsl)
		if err != nil {
			return fmt.Errorf("warm_start.workflows.%s: %w", name, err)
		}
		tc.fixed[protoconv.FamilyToPB(flowtask.Family(name))] = fx
	}
	var shown []*pb.Task
	for _, tk := range t.train { // in file order: the same tasks for every seed
		if tc.fixed[tk.GetFamily()] != nil && len(shown) < w.tasks() {
			shown = append(shown, tk)
		}
	}
	if len(shown) == 0 {
		return errors.New("warm_start: no training task belongs to a family warm_start.workflows names")
	}
	t.env.Observer.Log(fmt.Sprintf("warm start: showing %d families' workflows on %d training tasks", len(tc.fixed), len(shown)))
	req := &pb.UpdateRequest{Loss: &pb.LossConfig{Kind: pb.LossKind_LOSS_KIND_REINFORCE, KlCoef: proto.Float64(0), EntropyCoef: proto.Float64(0)}}
	if w.LearningRate > 0 {
		req.Loss.LearningRate = proto.Float64(w.LearningRate)
	}
	for i, tk := range shown {
		ectx, cancel := context.WithTimeout(ctx, t.cfg.EpisodeTimeout)
		rec, err := rollout.Play(ectx, t.env.Canvas, tc, tk, t.episodeConfig(), policy.Sampling{})
		cancel()
		if err != nil {
			return fmt.Errorf("warm start: task %s: %w", tk.GetId(), err)
		}
		if !rec.Finished() {
			return fmt.Errorf("warm start: the %s workflow did not finish on task %s (%s): the canvas refused it or max_rounds %d is too few for it",
				policy.FamilyOf(tk.GetFamily()), tk.GetId(), rec.Final.GetEndReason(), t.cfg.MaxRounds)
		}
		req.Episodes = append(req.Episodes, &pb.EpisodeSamples{EpisodeId: fmt.Sprintf("warm-%d", i), Advantage: 1, Decisions: rec.Decisions})
	}
	var first, last float64
	for pass := range w.passes() {
		if err := ctx.Err(); err != nil {
			return err
		}
		// REINFORCE with advantage 1 reads only the current log-probs, so
		// the same batch serves every pass: its loss is minus the mean
		// log-likelihood of the shown choices under the weights of the pass.
		st, err := im.Update(ctx, req)
		if err != nil {
			return fmt.Errorf("warm start pass %d: %w", pass+1, err)
		}
		if pass == 0 {
			first = st.GetPolicyLoss()
		}
		last = st.GetPolicyLoss()
	}
	t.env.Observer.Log(fmt.Sprintf("warm start: %d passes; geometric-mean probability of a shown choice %.3f -> %.3f (before the last pass)",
		w.passes(), math.Exp(-first), math.Exp(-last)))
	im.Anchor()
	return nil
}
