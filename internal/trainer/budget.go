package trainer

import (
	"fmt"
	"math"
	"time"

	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/rollout"
)

// Budget caps what a run may spend; a zero field is no limit. The trainer
// checks it before the first step and after every step and evaluation:
// when a limit is reached it stops cleanly (the step in flight is
// finished and checkpointed, no further evaluation is played) and the run
// ends with status budget_reached naming the limit. What the run spent
// before a resume counts (it is read back from the run store).
type Budget struct {
	// Money counts executor and policy money, from the price table.
	Money float64 `yaml:"money,omitempty"`
	// ExecutorTokens counts billed executor tokens (input + output; calls
	// answered from the cache are free).
	ExecutorTokens float64 `yaml:"executor_tokens,omitempty"`
	// Wall counts the run's wall-clock time: steps and evaluations.
	Wall time.Duration `yaml:"wall,omitempty"`
}

// Validate names the first bad field.
func (b Budget) Validate() error {
	for name, v := range map[string]float64{"money": b.Money, "executor_tokens": b.ExecutorTokens} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("budget.%s must be a finite number >= 0 (0 = no limit), got %v", name, v)
		}
	}
	if b.Wall < 0 {
		return fmt.Errorf("budget.wall must be >= 0 (0 = no limit), got %s", b.Wall)
	}
	return nil
}

// Reached names the first limit spent has reached, "" when none.
func (b Budget) Reached(spent cost.Summary) string {
	switch {
	case b.Money > 0 && spent.Money() >= b.Money:
		return fmt.Sprintf("budget money reached: spent %.4f of %.4f", spent.Money(), b.Money)
	case b.ExecutorTokens > 0 && float64(spent.ExecutorTokens()) >= b.ExecutorTokens:
		return fmt.Sprintf("budget executor_tokens reached: spent %d of %.0f", spent.ExecutorTokens(), b.ExecutorTokens)
	case b.Wall > 0 && spent.WallSeconds >= b.Wall.Seconds():
		return fmt.Sprintf("budget wall reached: spent %s of %s", (time.Duration(spent.WallSeconds * float64(time.Second))).Round(time.Second), b.Wall)
	}
	return ""
}

// rewardSpec is the reward as the canvas gets it: a money cost term with
// no prices of its own takes the run's price table.
func (c Config) rewardSpec() reward.Spec {
	r := c.Reward
	if r.Cost.Unit == reward.CostMoney && (r.Cost.Prices == nil || len(*r.Cost.Prices) == 0) {
		p := c.Prices
		r.Cost.Prices = &p
	}
	return r
}

// EpisodeCost is what one played episode cost: its executor work (every
// execution of the workflow during the episode, from the canvas's
// episode_usage), the policy's own generation (from its decisions), the
// sandbox seconds, its wall time, and one run of its final workflow.
func EpisodeCost(t cost.Table, r *rollout.Record) cost.Summary {
	s := cost.Summary{Episodes: 1, WallSeconds: r.Duration.Seconds(), PolicySeconds: r.PolicyTime.Seconds()}
	if r.Final != nil {
		u := r.Final.GetEpisodeUsage()
		s.AddExecutor(t, cost.UsageFromPB(u.GetModels()))
		s.SandboxSeconds = u.GetSandboxSeconds()
		s.Simulated = s.Simulated || u.GetSimulated()
		s.AddFinalWorkflow(t, cost.UsageFromPB(r.Final.GetExecution().GetStats().GetModels()))
	}
	for _, d := range r.Decisions {
		// Only a language-model policy reads a prompt; the embedded
		// policy reports its categorical choices as completion tokens,
		// which cost nothing and are no model's tokens.
		if d.GetPromptTokens() > 0 {
			s.AddPolicy(t, d.GetModel(), int64(d.GetPromptTokens()), int64(d.GetCompletionTokens()))
		}
	}
	return s
}

// spentSoFar is what the run stored as spent: every step and evaluation.
func (t *Trainer) spentSoFar() (cost.Summary, error) {
	var s cost.Summary
	steps, err := t.env.Store.Steps(t.run.ID)
	if err != nil {
		return s, err
	}
	for _, m := range steps {
		if m.GetStep() <= t.start {
			s.Merge(cost.SummaryFromPB(m.GetCost()))
		}
	}
	evals, err := t.env.Store.Evals(t.run.ID)
	if err != nil {
		return s, err
	}
	for _, e := range evals {
		s.Merge(cost.SummaryFromPB(e.GetCost()))
	}
	return s, nil
}
