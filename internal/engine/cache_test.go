package engine_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/engine"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/sandbox"
)

const cacheDSL = "Plan -> [AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : done -> Programmer -> Format"

var cacheTexts = with(canned, "Review", "<review_result>false</review_result><feedback>recheck</feedback>")

func TestReexecutingAnUnchangedGraphCallsNothing(t *testing.T) {
	srv := newServer(t, answers(cacheTexts))
	sb := &countingSandbox{inner: realSandbox(t)}
	e := newEngine(t, srv.registry(t, nil), engineOpts{cache: executor.NewCache(0), sb: sb})
	g := graph(t, cacheDSL, nil)

	first := run(t, e, g, mathTask)
	calls, runs := srv.count(), sb.runs.Load()
	for _, n := range first.Nodes {
		if n.Status == canvas.NodeFailed {
			t.Fatalf("first run failed: %s", describe(first))
		}
		if n.CacheHit {
			t.Errorf("%s is a cache hit on the first run", n.NodeID)
		}
	}
	if first.Stats.CacheHits != 0 || first.Stats.Calls != calls || calls != 7 {
		t.Fatalf("first run: %d calls, %d hits; server saw %d requests, want 7", first.Stats.Calls, first.Stats.CacheHits, calls)
	}

	second := run(t, e, g, mathTask)
	if got := srv.count(); got != calls {
		t.Errorf("re-execution made %d new backend calls, want 0", got-calls)
	}
	if got := sb.runs.Load(); got != runs {
		t.Errorf("re-execution ran the sandbox %d more times, want 0 (memoised)", got-runs)
	}
	for _, n := range second.Nodes {
		if n.Calls > 0 && !n.CacheHit {
			t.Errorf("%s made %d calls without a cache hit", n.NodeID, n.Calls)
		}
	}
	st := second.Stats
	if st.Calls != first.Stats.Calls || st.CacheHits != st.Calls {
		t.Errorf("second run stats: %d calls, %d hits; want %d of each", st.Calls, st.CacheHits, first.Stats.Calls)
	}
	if want := first.Stats.InputTokens + first.Stats.OutputTokens; st.SavedTokens != want || want == 0 {
		t.Errorf("saved %d tokens, want the first run's %d", st.SavedTokens, want)
	}
	if st.InputTokens != 0 || st.OutputTokens != 0 {
		t.Errorf("cache hits were billed: %d in, %d out", st.InputTokens, st.OutputTokens)
	}
	if second.FinalAnswer != first.FinalAnswer || describe(second) != describe(first) {
		t.Errorf("cached run differs:%s\nvs%s", describe(second), describe(first))
	}
	if cs := e.CacheStats(); cs.Hits != int64(st.CacheHits) || cs.Misses != int64(calls) {
		t.Errorf("cache stats %+v, want %d hits and %d misses", cs, st.CacheHits, calls)
	}
}

// TestAppendingAStageCallsOnlyTheNewStage grows a workflow stage by stage
// as a policy does and checks that each run pays for its new stage only.
func TestAppendingAStageCallsOnlyTheNewStage(t *testing.T) {
	stages := []struct {
		dsl string
		ops []string // operators the new stage calls
	}{
		{"Plan", []string{"Plan"}},
		{"[AnswerGenerate, Custom]", []string{"AnswerGenerate", "Custom"}},
		{"ScEnsemble", nil},
		{"Review ? Revise : done", []string{"Review", "Revise"}},
		{"Verify", []string{"Verify"}},
		{"Format", []string{"Format"}},
	}
	srv := newServer(t, answers(cacheTexts))
	e := newEngine(t, srv.registry(t, nil), engineOpts{cache: executor.NewCache(0)})
	var dsl []string
	for i, s := range stages {
		dsl = append(dsl, s.dsl)
		before := srv.count()
		ex := run(t, e, graph(t, strings.Join(dsl, " -> "), nil), mathTask)
		var newOps []string
		for _, r := range srv.requests()[before:] {
			newOps = append(newOps, r.Op)
		}
		if !sameSet(newOps, s.ops) {
			t.Errorf("stage %d (%s): new calls %v, want %v", i+1, s.dsl, newOps, s.ops)
		}
		for _, n := range ex.Nodes {
			old := !strings.HasPrefix(n.NodeID, "node_"+itoa(i+1))
			if old && n.Calls > 0 && !n.CacheHit {
				t.Errorf("stage %d: earlier node %s was not answered from the cache", i+1, n.NodeID)
			}
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestEpisodesOnTheSameTaskShareTheCache(t *testing.T) {
	srv := newServer(t, answers(cacheTexts))
	e := newEngine(t, srv.registry(t, nil), engineOpts{cache: executor.NewCache(0)})
	g := graph(t, "Plan -> [AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : done", nil)
	ctx := context.Background()
	runCtx(t, ctx, e, g, mathTask, "ep_a")
	calls := srv.count()
	b := runCtx(t, ctx, e, g, mathTask, "ep_b")
	if got := srv.count(); got != calls {
		t.Errorf("a second episode building the same prefix made %d calls, want 0", got-calls)
	}
	if b.Stats.CacheHits != b.Stats.Calls {
		t.Errorf("second episode: %d hits of %d calls", b.Stats.CacheHits, b.Stats.Calls)
	}
	// Another task is another problem: nothing is shared.
	other := mathTask
	other.ID, other.Question = "m-2", "What is 5 times 8?"
	runCtx(t, ctx, e, g, other, "ep_c")
	if got := srv.count(); got != 2*calls {
		t.Errorf("another task made %d calls, want %d", got-calls, calls)
	}
}

func TestWithoutCacheEveryRunCallsAgain(t *testing.T) {
	srv := newServer(t, answers(cacheTexts))
	e := newEngine(t, srv.registry(t, nil), engineOpts{})
	g := graph(t, "Plan -> [AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : done", nil)
	a := run(t, e, g, mathTask)
	calls := srv.count()
	b := run(t, e, g, mathTask)
	if got := srv.count(); got != 2*calls || calls != 5 {
		t.Errorf("two uncached runs made %d calls, want 2 x 5", got)
	}
	for _, ex := range []canvas.Execution{a, b} {
		if ex.Stats.CacheHits != 0 || ex.Stats.SavedTokens != 0 {
			t.Errorf("uncached run reports %d hits, %d saved tokens", ex.Stats.CacheHits, ex.Stats.SavedTokens)
		}
		for _, n := range ex.Nodes {
			if n.CacheHit {
				t.Errorf("%s is a cache hit without a cache", n.NodeID)
			}
		}
	}
	if cs := e.CacheStats(); cs != (executor.CacheStats{}) {
		t.Errorf("CacheStats without a cache = %+v", cs)
	}
}

// fakeSandbox returns a fixed result and counts runs.
type fakeSandbox struct {
	res  sandbox.Result
	runs atomic.Int64
}

func (f *fakeSandbox) Run(context.Context, sandbox.Spec) (sandbox.Result, error) {
	f.runs.Add(1)
	return f.res, nil
}

func TestSandboxRunsAreMemoised(t *testing.T) {
	ok := sandbox.Result{Stdout: "42\n"}
	timedOut := sandbox.Result{TimedOut: true, Killed: "timeout", ExitCode: 137}
	cases := []struct {
		name     string
		res      sandbox.Result
		memo     int
		wantRuns int64
	}{
		{"a finished run is run once", ok, 100, 1},
		{"memo disabled runs every time", ok, 0, 2},
		{"a timed-out run is never kept", timedOut, 100, 6}, // 3 attempts per execution
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, answers(canned))
			sb := &fakeSandbox{res: tc.res}
			// No executor cache: the backend is asked again, the sandbox memo alone saves runs.
			e := newEngine(t, srv.registry(t, nil), engineOpts{sb: sb, cfg: func(c *engine.Config) { c.SandboxCache = tc.memo }})
			g := graph(t, "Programmer", nil)
			run(t, e, g, mathTask)
			run(t, e, g, mathTask)
			if got := sb.runs.Load(); got != tc.wantRuns {
				t.Errorf("sandbox ran %d times, want %d", got, tc.wantRuns)
			}
		})
	}
}

func TestDifferentPromptsAreDifferentCalls(t *testing.T) {
	srv := newServer(t, answers(canned))
	e := newEngine(t, srv.registry(t, nil), engineOpts{cache: executor.NewCache(0)})
	run(t, e, graph(t, "AnswerGenerate", map[string]string{"node_1": "Work in small steps."}), mathTask)
	run(t, e, graph(t, "AnswerGenerate", map[string]string{"node_1": "Estimate first, then compute."}), mathTask)
	if got := srv.count(); got != 2 {
		t.Errorf("two different node prompts made %d calls, want 2", got)
	}
}
