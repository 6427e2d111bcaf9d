package cost

import (
	"math"
	"reflect"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

var table = Table{
	{Backend: "openai", Model: "gpt-x", Input: 2, Output: 8, CachedInput: 0.5},
	{Model: "gpt-x", Input: 100, Output: 100}, // any other backend
	{Backend: "policy", Model: "qwen", Input: 1, Output: 1},
}

func TestMoneyPricesBilledCachedAndSavedTokens(t *testing.T) {
	l := Line{Backend: "openai", Model: "gpt-x", Calls: 3, CacheHits: 1, InputTokens: 1000, CachedInputTokens: 400, OutputTokens: 100,
		SavedInputTokens: 500, SavedOutputTokens: 50}
	money, saved, ok := table.Money(l)
	if !ok {
		t.Fatal("gpt-x on openai is priced")
	}
	// 600 fresh input at 2, 400 cached at 0.5, 100 output at 8, per million.
	if want := (600*2 + 400*0.5 + 100*8) / 1e6; !near(money, want) {
		t.Errorf("money = %v, want %v", money, want)
	}
	if want := (500*2 + 50*8) / 1e6; !near(saved, want) {
		t.Errorf("saved = %v, want %v", saved, want)
	}
}

func TestLookupPrefersExactBackendThenAny(t *testing.T) {
	if p, _ := table.Lookup("openai", "gpt-x"); p.Input != 2 {
		t.Errorf("exact backend: %+v", p)
	}
	if p, ok := table.Lookup("vllm", "gpt-x"); !ok || p.Input != 100 {
		t.Errorf("any backend: %+v %v", p, ok)
	}
	if _, ok := table.Lookup("openai", "other"); ok {
		t.Error("an unknown model has a price")
	}
}

func TestUnpricedModelsCostZeroAndAreFlaggedOnce(t *testing.T) {
	var s Summary
	u := Usage{}
	u.Add(Line{Backend: "sim", Model: "sim-v1", Calls: 2, InputTokens: 10, OutputTokens: 5, Simulated: true})
	u.Add(Line{Backend: "openai", Model: "gpt-x", Calls: 1, InputTokens: 1e6})
	s.AddExecutor(table, u)
	s.AddExecutor(table, u)
	s.AddPolicy(table, "unknown-policy", 10, 10)
	s.AddPolicy(table, "qwen", 1e6, 0)
	if want := []string{"policy/unknown-policy", "sim/sim-v1"}; !reflect.DeepEqual(s.Unpriced, want) {
		t.Errorf("unpriced = %v, want %v", s.Unpriced, want)
	}
	if !near(s.ExecutorMoney, 4) || !near(s.PolicyMoney, 1) || !near(s.Money(), 5) {
		t.Errorf("money: executor %v policy %v", s.ExecutorMoney, s.PolicyMoney)
	}
	if !s.Simulated {
		t.Error("a simulated line must mark the summary simulated")
	}
}

func TestUsageAddMergesByBackendAndModel(t *testing.T) {
	var u Usage
	u.Add(Line{Backend: "b", Model: "m", Calls: 1, InputTokens: 3})
	u.Add(Line{Backend: "a", Model: "m", Calls: 1, InputTokens: 5})
	u.Add(Line{Backend: "b", Model: "m", Calls: 2, OutputTokens: 7, CacheHits: 1, SavedInputTokens: 2})
	if len(u) != 2 || u[0].Backend != "a" || u[1].Calls != 3 || u[1].OutputTokens != 7 || u[1].SavedInputTokens != 2 {
		t.Fatalf("usage = %+v", u)
	}
	if tot := u.Total(); tot.Calls != 4 || tot.InputTokens != 8 || tot.Tokens() != 8+7+2 {
		t.Errorf("total = %+v", tot)
	}
}

// Every level of a roll-up is the sum of the level below: merging in any
// grouping gives the same totals.
func TestSummaryMergeIsASum(t *testing.T) {
	eps := make([]Summary, 6)
	for i := range eps {
		var u Usage
		u.Add(Line{Backend: "openai", Model: "gpt-x", Calls: i + 1, CacheHits: i % 2, InputTokens: int64(100 * i), OutputTokens: int64(10 * i), SavedInputTokens: int64(7 * (i % 2))})
		eps[i].Episodes = 1
		eps[i].AddExecutor(table, u)
		eps[i].AddFinalWorkflow(table, u)
		eps[i].WallSeconds = float64(i)
	}
	var flat, g1, g2, step Summary
	for i, e := range eps {
		flat.Merge(e)
		if i < 3 {
			g1.Merge(e)
		} else {
			g2.Merge(e)
		}
	}
	step.Merge(g1)
	step.Merge(g2)
	if !sameSummary(flat, step) {
		t.Errorf("flat %+v != grouped %+v", flat, step)
	}
	if flat.Episodes != 6 || flat.ExecutorCalls != 21 || flat.ExecutorInputTokens != 1500 {
		t.Errorf("flat = %+v", flat)
	}
	if back := SummaryFromPB(SummaryToPB(flat)); !sameSummary(back, flat) {
		t.Errorf("proto round trip: %+v != %+v", back, flat)
	}
}

func TestWorkflowMoneyCountsCacheHitsAsPaid(t *testing.T) {
	u := Usage{{Backend: "openai", Model: "gpt-x", Calls: 2, CacheHits: 1, InputTokens: 1e6, SavedInputTokens: 1e6}}
	m, ok := table.Workflow(u)
	if !ok || !near(m, 4) {
		t.Errorf("workflow money = %v %v, want 4 true", m, ok)
	}
}

func TestTableValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		t    Table
		want string
	}{
		{Table{{Model: ""}}, "prices[0].model must not be empty"},
		{Table{{Model: "m", Output: -1}}, "prices[0].output must be a finite number >= 0, got -1"},
		{Table{{Model: "m"}, {Model: "m"}}, `prices[1]: backend "" model "m" is priced twice`},
	} {
		if err := tc.t.Validate("prices"); err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%+v) = %v, want %q", tc.t, err, tc.want)
		}
	}
	if err := table.Validate("prices"); err != nil {
		t.Error(err)
	}
}

// sameSummary compares counts exactly and money and seconds to rounding:
// sums in another order may differ in the last bit.
func sameSummary(a, b Summary) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := 0; i < va.NumField(); i++ {
		x, y := va.Field(i), vb.Field(i)
		if x.Kind() == reflect.Float64 {
			if !near(x.Float(), y.Float()) {
				return false
			}
		} else if !reflect.DeepEqual(x.Interface(), y.Interface()) {
			return false
		}
	}
	return true
}
