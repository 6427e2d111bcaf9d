package trainer

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

// Every call to the fake server is billed this usage.
const (
	fakePrompt     = 100
	fakeCached     = 30
	fakeCompletion = 20
)

// fakeOpenAI is a loopback OpenAI-compatible server that answers every
// chat completion with the same short text and known usage, and counts
// the calls it served.
func fakeOpenAI(t *testing.T) (url string, calls *atomic.Int64) {
	t.Helper()
	calls = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"model": "fake-model",
			"choices": []any{map[string]any{
				"message":       map[string]any{"role": "assistant", "content": "The answer is 42."},
				"finish_reason": "stop",
			}},
			"usage": map[string]any{
				"prompt_tokens": fakePrompt, "completion_tokens": fakeCompletion,
				"prompt_tokens_details": map[string]any{"cached_tokens": fakeCached},
			},
		})
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1", calls
}

func fakeConfig(url string) trainer.Config {
	cfg := tinyConfig()
	cfg.Name = "cost"
	cfg.Backend.Kind = "openai"
	cfg.Backend.BaseURL = url
	cfg.Backend.Model = "fake-model"
	cfg.Backend.APIKeyEnv = "FLOWSTEER_TEST_NO_KEY"
	cfg.Steps = 2
	cfg.BatchSize = 2
	cfg.GroupSize = 3
	cfg.MaxRounds = 8
	cfg.Concurrency = 4
	cfg.Eval.Tasks = 2
	cfg.Eval.Baselines = []string{"cot"}
	cfg.Checkpoint.Every = 2
	cfg.Prices = cost.Table{{Backend: "openai", Model: "fake-model", Input: 2, Output: 10, CachedInput: 1}}
	return cfg
}

func closeTo(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestCostTotalsEqualTheSumOfCalls trains against a fake OpenAI-compatible
// server with known usage per call: the run's billed tokens and money are
// exactly the calls the server served, calls answered from the cache cost
// nothing and are counted as savings at the price they would have cost,
// and every level (episode -> group -> step, episode -> policy ->
// evaluation, steps + evaluations -> run) is the sum of the level below.
func TestCostTotalsEqualTheSumOfCalls(t *testing.T) {
	url, calls := fakeOpenAI(t)
	cfg := fakeConfig(url)
	dir := filepath.Join(t.TempDir(), "cost")
	p, err := Prepare(context.Background(), cfg, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Trainer.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, id := p.Store, p.Run.ID
	total, err := st.RunCost(id)
	if err != nil {
		t.Fatal(err)
	}
	n := calls.Load()
	billed := total.ExecutorCalls - total.CacheHits
	t.Logf("server calls %d; run: %s", n, total)
	if n == 0 || billed != n {
		t.Fatalf("billed calls %d, the server served %d", billed, n)
	}
	if total.ExecutorInputTokens != fakePrompt*n || total.ExecutorCachedInputTokens != fakeCached*n || total.ExecutorOutputTokens != fakeCompletion*n {
		t.Errorf("tokens in %d cached %d out %d, want %d %d %d", total.ExecutorInputTokens, total.ExecutorCachedInputTokens, total.ExecutorOutputTokens,
			fakePrompt*n, fakeCached*n, fakeCompletion*n)
	}
	perCall := float64((fakePrompt-fakeCached)*2+fakeCached*1+fakeCompletion*10) / 1e6
	if !closeTo(total.ExecutorMoney, perCall*float64(n)) {
		t.Errorf("executor money %v, want %v", total.ExecutorMoney, perCall*float64(n))
	}
	if total.CacheHits == 0 {
		t.Fatal("no call was answered from the cache: the savings are untested")
	}
	if total.SavedTokens != (fakePrompt+fakeCompletion)*total.CacheHits {
		t.Errorf("saved tokens %d for %d hits", total.SavedTokens, total.CacheHits)
	}
	if want := float64(total.CacheHits) * float64(fakePrompt*2+fakeCompletion*10) / 1e6; !closeTo(total.SavedMoney, want) {
		t.Errorf("saved money %v, want %v", total.SavedMoney, want)
	}
	if len(total.Unpriced) != 0 || total.Simulated {
		t.Errorf("unpriced %v simulated %v", total.Unpriced, total.Simulated)
	}

	// Episodes -> groups -> steps.
	eps, err := st.EpisodeCosts(id, runstore.PhaseTrain)
	if err != nil {
		t.Fatal(err)
	}
	byGroup := map[string]cost.Summary{}
	for _, e := range eps {
		g := byGroup[e.GroupID]
		g.Merge(cost.SummaryFromPB(e.Cost))
		byGroup[e.GroupID] = g
	}
	steps, err := st.Steps(id)
	if err != nil {
		t.Fatal(err)
	}
	var sum cost.Summary
	for _, m := range steps {
		var fromGroups cost.Summary
		for gid, gc := range m.GetGroupCost() {
			if !sameCounts(cost.SummaryFromPB(gc), byGroup[gid]) {
				t.Errorf("step %d group %s: stored %v, its episodes sum to %v", m.GetStep(), gid, cost.SummaryFromPB(gc), byGroup[gid])
			}
			fromGroups.Merge(cost.SummaryFromPB(gc))
		}
		if !sameCounts(fromGroups, cost.SummaryFromPB(m.GetCost())) {
			t.Errorf("step %d: cost %v, its groups sum to %v", m.GetStep(), cost.SummaryFromPB(m.GetCost()), fromGroups)
		}
		sum.Merge(cost.SummaryFromPB(m.GetCost()))
	}
	// Episodes -> policies -> evaluations.
	evals, err := st.Evals(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(evals) != 2 {
		t.Fatalf("%d evaluations", len(evals))
	}
	for _, e := range evals {
		var fromPolicies cost.Summary
		for _, pe := range e.GetPolicies() {
			ecs, err := st.EpisodeCosts(id, runstore.EvalPhase(pe.GetPolicy()))
			if err != nil {
				t.Fatal(err)
			}
			var fromEpisodes cost.Summary
			for _, ec := range ecs {
				if ec.Step == e.GetStep() {
					fromEpisodes.Merge(cost.SummaryFromPB(ec.Cost))
				}
			}
			if !sameCounts(fromEpisodes, cost.SummaryFromPB(pe.GetCost())) {
				t.Errorf("eval %d %s: cost %v, its episodes sum to %v", e.GetStep(), pe.GetPolicy(), cost.SummaryFromPB(pe.GetCost()), fromEpisodes)
			}
			fromPolicies.Merge(cost.SummaryFromPB(pe.GetCost()))
		}
		if !sameCounts(fromPolicies, cost.SummaryFromPB(e.GetCost())) {
			t.Errorf("eval %d: cost %v, its policies sum to %v", e.GetStep(), cost.SummaryFromPB(e.GetCost()), fromPolicies)
		}
		sum.Merge(cost.SummaryFromPB(e.GetCost()))
	}
	if !sameCounts(sum, total) {
		t.Errorf("run %v, steps and evaluations sum to %v", total, sum)
	}
}

// TestUnpricedModelIsFlagged: a model missing from the price table costs
// 0 and is named in the run's unpriced list, at every level.
func TestUnpricedModelIsFlagged(t *testing.T) {
	url, calls := fakeOpenAI(t)
	cfg := fakeConfig(url)
	cfg.Steps = 1
	cfg.Eval.Tasks = 1
	cfg.Eval.Baselines = nil
	cfg.Prices = cost.Table{{Model: "another-model", Input: 1, Output: 1}}
	p, err := Prepare(context.Background(), cfg, Options{Dir: filepath.Join(t.TempDir(), "unpriced")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Trainer.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	total, err := p.Store.RunCost(p.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() == 0 || total.ExecutorInputTokens != fakePrompt*calls.Load() {
		t.Fatalf("calls %d, tokens %d", calls.Load(), total.ExecutorInputTokens)
	}
	if total.Money() != 0 || total.SavedMoney != 0 || !reflect.DeepEqual(total.Unpriced, []string{"openai/fake-model"}) {
		t.Errorf("money %v saved %v unpriced %v", total.Money(), total.SavedMoney, total.Unpriced)
	}
	steps, _ := p.Store.Steps(p.Run.ID)
	if len(steps) != 1 || !reflect.DeepEqual(steps[0].GetCost().GetUnpriced(), []string{"openai/fake-model"}) {
		t.Errorf("step cost does not flag the model: %v", steps)
	}
}

// sameCounts compares two summaries: counts exactly, money to rounding,
// wall time not at all (a step's is its clock time, not its episodes' sum).
func sameCounts(a, b cost.Summary) bool {
	a.WallSeconds, b.WallSeconds = 0, 0
	x, y := cost.SummaryToPB(a), cost.SummaryToPB(b)
	for _, f := range []func(*pb.CostSummary) float64{
		(*pb.CostSummary).GetExecutorMoney, (*pb.CostSummary).GetSavedMoney, (*pb.CostSummary).GetPolicyMoney,
		(*pb.CostSummary).GetFinalWorkflowMoney, (*pb.CostSummary).GetPolicySeconds, (*pb.CostSummary).GetExecutorSeconds,
		(*pb.CostSummary).GetSandboxSeconds,
	} {
		if !closeTo(f(x), f(y)) {
			return false
		}
	}
	x.ExecutorMoney, x.SavedMoney, x.PolicyMoney, x.FinalWorkflowMoney, x.PolicySeconds, x.ExecutorSeconds, x.SandboxSeconds = 0, 0, 0, 0, 0, 0, 0
	y.ExecutorMoney, y.SavedMoney, y.PolicyMoney, y.FinalWorkflowMoney, y.PolicySeconds, y.ExecutorSeconds, y.SandboxSeconds = 0, 0, 0, 0, 0, 0, 0
	return reflect.DeepEqual(cost.SummaryFromPB(x), cost.SummaryFromPB(y))
}
