package trainer

import (
	"strings"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/cost"
)

func TestBudgetParsesAndStaysOutOfTheHash(t *testing.T) {
	c, err := ParseConfig([]byte("budget: {money: 25.0, executor_tokens: 5e6, wall: 2h}\nestimate: {pilot_groups: 6}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Budget != (Budget{Money: 25, ExecutorTokens: 5e6, Wall: 2 * time.Hour}) || c.Estimate.PilotGroups != 6 {
		t.Fatalf("budget %+v estimate %+v", c.Budget, c.Estimate)
	}
	if c.Hash() != DefaultConfig().Hash() {
		t.Error("a budget changes the config hash: a stopped run could not resume with a raised one")
	}
	if !strings.Contains(DefaultConfig().YAML(), "checkpoint") || strings.Contains(DefaultConfig().YAML(), "budget") || strings.Contains(DefaultConfig().YAML(), "prices") {
		t.Error("an unset budget or price table is written into the YAML, moving old runs' hashes")
	}
}

func TestBudgetValidateAndReached(t *testing.T) {
	for _, y := range []string{"budget: {money: -1}", "budget: {wall: -1s}", "estimate: {pilot_groups: -2}", "prices: [{model: m, input: -1}]",
		"reward: {cost: {weight: 1, unit: money, reference: 1}}"} {
		if _, err := ParseConfig([]byte(y)); err == nil {
			t.Errorf("%s accepted", y)
		}
	}
	// Money cost terms take the run's prices when they have none.
	if _, err := ParseConfig([]byte("prices: [{model: m, input: 1}]\nreward: {cost: {weight: 1, unit: money, reference: 1}}")); err != nil {
		t.Errorf("money cost with the run's prices refused: %v", err)
	}
	b := Budget{Money: 1, ExecutorTokens: 100, Wall: time.Minute}
	for _, tc := range []struct {
		s    cost.Summary
		want string
	}{
		{cost.Summary{ExecutorMoney: 0.5, PolicyMoney: 0.4, ExecutorInputTokens: 99, WallSeconds: 59}, ""},
		{cost.Summary{ExecutorMoney: 0.5, PolicyMoney: 0.5}, "budget money reached"},
		{cost.Summary{ExecutorInputTokens: 60, ExecutorOutputTokens: 40}, "budget executor_tokens reached: spent 100 of 100"},
		{cost.Summary{WallSeconds: 61}, "budget wall reached"},
	} {
		if got := b.Reached(tc.s); (tc.want == "") != (got == "") || !strings.HasPrefix(got, tc.want) {
			t.Errorf("Reached(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
	if (Budget{}).Reached(cost.Summary{ExecutorMoney: 1e9}) != "" {
		t.Error("a zero budget has a limit")
	}
}
