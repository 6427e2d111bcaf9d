package engine_test

import (
	"math"
	"testing"

	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/executor"
)

// TestNodeUsageSumsToTheRunsUsage: every node reports its calls by backend
// and model, the run's usage is their sum and matches its token counters,
// and a re-run answered from the cache moves every token to the savings.
func TestNodeUsageSumsToTheRunsUsage(t *testing.T) {
	srv := newServer(t, answers(cacheTexts))
	e := newEngine(t, srv.registry(t, nil), engineOpts{cache: executor.NewCache(0), sb: realSandbox(t)})
	g := graph(t, cacheDSL, nil)

	for i, ex := range []struct{ cached bool }{{false}, {true}} {
		res := run(t, e, g, mathTask)
		var nodes cost.Usage
		for _, n := range res.Nodes {
			nodes.Merge(n.Usage)
			if tot := n.Usage.Total(); tot.Calls != n.Calls || tot.InputTokens != n.InputTokens || tot.OutputTokens != n.OutputTokens {
				t.Errorf("run %d node %s: usage %+v, counters %d calls %d in %d out", i, n.NodeID, tot, n.Calls, n.InputTokens, n.OutputTokens)
			}
		}
		tot := res.Stats.Usage.Total()
		nt := nodes.Total()
		if math.Abs(nt.LatencySeconds-tot.LatencySeconds) > 1e-9 {
			t.Errorf("run %d: nodes' latency %v, the run's %v", i, nt.LatencySeconds, tot.LatencySeconds)
		}
		nt.LatencySeconds, tot.LatencySeconds = 0, 0 // float sums in another order
		if nt != tot {
			t.Errorf("run %d: nodes sum to %+v, the run says %+v", i, nt, tot)
		}
		if len(res.Stats.Usage) != 1 || res.Stats.Usage[0].Model != "scripted-model" {
			t.Errorf("run %d: lines %+v, want one for scripted-model", i, res.Stats.Usage)
		}
		if tot.Calls != res.Stats.Calls || tot.CacheHits != res.Stats.CacheHits || tot.InputTokens != res.Stats.InputTokens ||
			tot.OutputTokens != res.Stats.OutputTokens || tot.SavedInputTokens+tot.SavedOutputTokens != res.Stats.SavedTokens {
			t.Errorf("run %d: usage %+v does not match the stats %+v", i, tot, res.Stats)
		}
		if ex.cached && (tot.InputTokens != 0 || tot.CacheHits != tot.Calls || tot.SavedInputTokens == 0) {
			t.Errorf("cached run billed: %+v", tot)
		}
	}
}
