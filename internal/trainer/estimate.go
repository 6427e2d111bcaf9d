package trainer

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/policy"
)

// EstimateConfig configures the pilot of `flowsteer train --estimate`.
type EstimateConfig struct {
	// PilotGroups is how many training groups the pilot plays (default 4).
	PilotGroups int `yaml:"pilot_groups,omitempty"`
}

// DefaultPilotGroups is EstimateConfig.PilotGroups' default.
const DefaultPilotGroups = 4

// Validate names the first bad field.
func (c EstimateConfig) Validate() error {
	if c.PilotGroups < 0 {
		return fmt.Errorf("estimate.pilot_groups must be >= 0 (0 = %d), got %d", DefaultPilotGroups, c.PilotGroups)
	}
	return nil
}

// Interval is a projection with its 95% prediction interval.
type Interval struct{ Mean, Low, High float64 }

// Contains reports whether v lies in the interval.
func (i Interval) Contains(v float64) bool { return v >= i.Low && v <= i.High }

// Estimate is the projected cost of a whole run from a pilot.
type Estimate struct {
	PilotGroups   int
	PilotEpisodes int
	PilotCost     cost.Summary
	// TrainGroups and EvalEpisodes are what the full run plays.
	TrainGroups  int
	EvalEpisodes int
	// Projections of the full run: billed executor tokens, money
	// (executor and policy) and wall time in seconds.
	ExecutorTokens Interval
	Money          Interval
	WallSeconds    Interval
	Unpriced       []string
	Simulated      bool
}

// Estimate plays a pilot of estimate.pilot_groups training groups with
// the current policy (no update, nothing stored) and projects the whole
// run's cost: training groups at the pilot's per-group cost, evaluation
// episodes at its per-episode cost. The interval is a 95% prediction
// interval for a sum of M new groups from n pilot groups with sample
// standard deviation s: M*mean +- t(n-1) * s * sqrt(M + M^2/n). It covers
// sampling noise only: a policy whose workflows grow or shrink as it
// learns, or a cache that answers repeated tasks in later epochs, moves
// the real cost, and the pilot is played with a cold cache.
func (t *Trainer) Estimate(ctx context.Context) (Estimate, error) {
	n := t.cfg.Estimate.PilotGroups
	if n == 0 {
		n = DefaultPilotGroups
	}
	var groups []*group
	for step := int64(1); len(groups) < n && step <= int64(max(1, t.cfg.Steps)); step++ {
		for _, g := range t.batch(step) {
			if len(groups) < n {
				groups = append(groups, g)
			}
		}
	}
	seed := t.cfg.Seed*1_000_003 + 1
	s := policy.Sampling{Temperature: t.temperature(1), TopP: t.cfg.Sampling.TopP, TopK: t.cfg.Sampling.TopK, Seed: &seed}
	start := time.Now()
	if err := t.play(ctx, 0, groups, s, t.actorFor(), nil); err != nil {
		return Estimate{}, fmt.Errorf("estimate: pilot: %w", err)
	}
	wall := time.Since(start).Seconds()
	est := Estimate{PilotGroups: len(groups)}
	var tokens, money []float64
	for _, g := range groups {
		var gc cost.Summary
		for _, r := range g.recs {
			if r != nil {
				gc.Merge(EpisodeCost(t.cfg.Prices, r))
			}
		}
		est.PilotEpisodes += gc.Episodes
		est.PilotCost.Merge(gc)
		tokens = append(tokens, float64(gc.ExecutorTokens()))
		money = append(money, gc.Money())
	}
	est.PilotCost.WallSeconds = wall
	est.Unpriced, est.Simulated = est.PilotCost.Unpriced, est.PilotCost.Simulated
	if est.PilotEpisodes == 0 {
		return est, fmt.Errorf("estimate: the pilot played no episode")
	}

	est.TrainGroups = t.cfg.Steps * len(t.batch(1))
	evals := 0
	for step := int64(0); step <= int64(t.cfg.Steps); step++ {
		if t.evalDue(step) {
			evals++
		}
	}
	tasks := len(t.eval)
	if t.cfg.Eval.Tasks > 0 && tasks > t.cfg.Eval.Tasks {
		tasks = t.cfg.Eval.Tasks
	}
	est.EvalEpisodes = evals * tasks * (1 + len(t.cfg.Eval.Baselines))
	// An evaluation episode is counted at the pilot's per-episode cost;
	// in groups of the training group size that is this many groups.
	evalGroups := float64(est.EvalEpisodes) * float64(len(groups)) / float64(est.PilotEpisodes)
	m := float64(est.TrainGroups) + evalGroups
	est.ExecutorTokens = project(tokens, m)
	est.Money = project(money, m)
	perGroupWall := make([]float64, len(groups))
	for i := range perGroupWall {
		perGroupWall[i] = wall / float64(len(groups))
	}
	est.WallSeconds = project(perGroupWall, m)
	// The groups of a pilot run together, so their wall times are not
	// separate samples: the wall interval borrows the tokens' relative
	// spread.
	if est.ExecutorTokens.Mean > 0 {
		rel := (est.ExecutorTokens.High - est.ExecutorTokens.Mean) / est.ExecutorTokens.Mean
		est.WallSeconds.Low = math.Max(0, est.WallSeconds.Mean*(1-rel))
		est.WallSeconds.High = est.WallSeconds.Mean * (1 + rel)
	}
	return est, nil
}

// project is the prediction interval of a sum of m draws like xs.
func project(xs []float64, m float64) Interval {
	n := float64(len(xs))
	var mean float64
	for _, x := range xs {
		mean += x
	}
	mean /= n
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	sd := 0.0
	if n > 1 {
		sd = math.Sqrt(ss / (n - 1))
	}
	if len(xs) < 2 {
		return Interval{Mean: m * mean, Low: 0, High: math.Inf(1)} // one group says nothing of the spread
	}
	half := tQuantile975(len(xs)-1) * sd * math.Sqrt(m+m*m/n)
	return Interval{Mean: m * mean, Low: math.Max(0, m*mean-half), High: m*mean + half}
}

// tQuantile975 is Student's t 97.5% quantile for df degrees of freedom.
func tQuantile975(df int) float64 {
	table := []float64{0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086}
	switch {
	case df <= 0:
		return math.Inf(1)
	case df < len(table):
		return table[df]
	case df < 30:
		return 2.06
	case df < 60:
		return 2.01
	}
	return 1.96
}
