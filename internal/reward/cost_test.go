package reward

import (
	"math"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/cost"
)

func TestCostTermIsOffByDefault(t *testing.T) {
	s := Default()
	b := Breakdown{Reward: 0.7}
	u := cost.Usage{{Model: "m", Calls: 1, InputTokens: 1e6}}
	if got := s.Cost.ApplyCost(b, u); got != b {
		t.Errorf("the default reward changed: %+v", got)
	}
}

func TestCostTermSubtractsNormalisedTokensCappedAtWeight(t *testing.T) {
	c := CostSpec{Weight: 0.5, Unit: CostTokens, Reference: 2000}
	// 600 billed + 400 answered from the cache: the workflow costs 1000
	// tokens whoever paid for them.
	u := cost.Usage{{Backend: "sim", Model: "m", Calls: 3, CacheHits: 1, InputTokens: 500, OutputTokens: 100, SavedInputTokens: 300, SavedOutputTokens: 100}}
	got := c.ApplyCost(Breakdown{Reward: 1}, u)
	if got.Cost.Cost != 1000 || math.Abs(got.Cost.Penalty-0.25) > 1e-12 || math.Abs(got.Reward-0.75) > 1e-12 || got.Cost.Unit != "tokens" {
		t.Errorf("got %+v", got)
	}
	huge := cost.Usage{{Model: "m", Calls: 1, InputTokens: 1e9}}
	if got := c.ApplyCost(Breakdown{Reward: 1}, huge); math.Abs(got.Reward-0.5) > 1e-12 {
		t.Errorf("penalty not capped at the weight: %+v", got)
	}
}

func TestCostTermInMoneyUsesThePriceTable(t *testing.T) {
	prices := cost.Table{{Model: "m", Input: 10, Output: 30}}
	c := CostSpec{Weight: 1, Unit: CostMoney, Reference: 0.01, Prices: &prices}
	u := cost.Usage{{Model: "m", Calls: 1, InputTokens: 100, OutputTokens: 100}} // 0.001 + 0.003
	got := c.ApplyCost(Breakdown{Reward: 0}, u)
	if math.Abs(got.Cost.Cost-0.004) > 1e-12 || math.Abs(got.Reward+0.4) > 1e-12 {
		t.Errorf("got %+v", got)
	}
}

func TestCostSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		c    CostSpec
		want string
	}{
		{CostSpec{Weight: -1, Unit: "tokens", Reference: 1}, "reward.cost.weight"},
		{CostSpec{Weight: 1, Unit: "calls", Reference: 1}, "reward.cost.unit must be tokens or money"},
		{CostSpec{Weight: 1, Unit: "tokens"}, "reward.cost.reference must be a finite number > 0"},
		{CostSpec{Weight: 1, Unit: "money", Reference: 1}, "reward.cost.prices"},
	} {
		err := tc.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.c, err, tc.want)
		}
	}
	if err := (CostSpec{}).Validate(); err != nil {
		t.Errorf("an off term is valid: %v", err)
	}
}
