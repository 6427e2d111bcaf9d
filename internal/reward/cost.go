package reward

import (
	"fmt"
	"math"

	"github.com/flowsteer/flowsteer/internal/cost"
)

// Cost units of CostSpec.
const (
	CostTokens = "tokens"
	CostMoney  = "money"
)

// CostSpec is the cost-aware objective, off by default (weight 0) to stay
// faithful to the paper. When on, every reward (released or not) loses
//
//	weight * min(1, cost / reference)
//
// where cost is one run of the episode's final workflow, in unit: "tokens"
// counts input plus output tokens of every call, cache hits included (a
// workflow costs what it costs, whether or not another episode paid for it
// first), "money" prices the same calls with Prices. The penalty is kept
// apart from the structure and correctness terms (Breakdown.Cost) so the
// parts can still be compared across arms.
type CostSpec struct {
	Weight    float64 `yaml:"weight"`
	Unit      string  `yaml:"unit"`
	Reference float64 `yaml:"reference"`
	// Prices are a pointer so that Spec stays comparable with ==.
	Prices *cost.Table `yaml:"prices,omitempty"`
}

func (c CostSpec) prices() cost.Table {
	if c.Prices == nil {
		return nil
	}
	return *c.Prices
}

// On reports whether the term changes rewards.
func (c CostSpec) On() bool { return c.Weight != 0 }

// Validate names the first bad field.
func (c CostSpec) Validate() error {
	if !c.On() {
		return nil
	}
	switch {
	case c.Weight < 0 || math.IsNaN(c.Weight) || math.IsInf(c.Weight, 0):
		return fmt.Errorf("reward.cost.weight must be a finite number >= 0, got %v", c.Weight)
	case c.Unit != CostTokens && c.Unit != CostMoney:
		return fmt.Errorf("reward.cost.unit must be tokens or money, got %q", c.Unit)
	case !(c.Reference > 0) || math.IsInf(c.Reference, 0):
		return fmt.Errorf("reward.cost.reference must be a finite number > 0, got %v", c.Reference)
	case c.Unit == CostMoney && len(c.prices()) == 0:
		return fmt.Errorf("reward.cost.prices: unit money needs a price table (the run's prices are copied here when empty)")
	}
	return c.prices().Validate("reward.cost.prices")
}

// CostTerm is the cost part of a Breakdown.
type CostTerm struct {
	Unit    string
	Cost    float64 // the final workflow's cost in Unit
	Penalty float64 // subtracted from Reward
}

// ApplyCost subtracts the cost term for a final workflow whose one run used
// u; b is returned unchanged when the term is off.
func (c CostSpec) ApplyCost(b Breakdown, u cost.Usage) Breakdown {
	if !c.On() {
		return b
	}
	var v float64
	if c.Unit == CostMoney {
		v, _ = c.prices().Workflow(u)
	} else {
		for _, l := range u {
			v += float64(l.Tokens())
		}
	}
	b.Cost = CostTerm{Unit: c.Unit, Cost: v, Penalty: c.Weight * math.Min(1, v/c.Reference)}
	b.Reward -= b.Cost.Penalty
	return b
}
