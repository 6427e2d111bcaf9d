package sim_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/executor/sim"
	"github.com/flowsteer/flowsteer/internal/operator/builtin"
	"github.com/flowsteer/flowsteer/internal/task"
)

const (
	textDSL = "Plan -> [AnswerGenerate, Custom, AnswerGenerate] -> ScEnsemble -> Review ? Revise : done -> Verify -> Format"
	codeDSL = "Plan -> Programmer -> Test ? Revise : Format -> Review ? Revise : done"
)

func dslFor(tk task.Task) string {
	if tk.Family == task.Code {
		return codeDSL
	}
	return textDSL
}

func TestSimIsDeterministicForASeed(t *testing.T) {
	tasks := task.Generate(9, 21) // three of each family
	first, firstNoTokens := map[string]string{}, map[string]string{}
	e := simEngine(t, newSim(t, nil))
	for _, tk := range tasks {
		ex := execute(t, e, dslFor(tk), tk)
		first[tk.ID], firstNoTokens[tk.ID] = fingerprint(ex), fingerprintOf(ex, false)
	}
	// The same engine again (answered from its cache) and a fresh engine
	// with a fresh backend and cache give the very same executions.
	fresh := simEngine(t, newSim(t, nil))
	for _, tk := range tasks {
		cached := execute(t, e, dslFor(tk), tk)
		if got, want := fingerprintOf(cached, false), firstNoTokens[tk.ID]; got != want {
			t.Errorf("%s: re-execution on the same engine differs:\n%s\nvs\n%s", tk.ID, got, want)
		}
		if cached.Stats.CacheHits != cached.Stats.Calls {
			t.Errorf("%s: re-execution made %d uncached calls", tk.ID, cached.Stats.Calls-cached.Stats.CacheHits)
		}
		if got := fingerprint(execute(t, fresh, dslFor(tk), tk)); got != first[tk.ID] {
			t.Errorf("%s: a fresh engine differs:\n%s\nvs\n%s", tk.ID, got, first[tk.ID])
		}
	}
}

func TestSimSeedsDifferSomewhere(t *testing.T) {
	tasks := task.Generate(30, 4, task.Mix{Math: 1, QA: 1})
	a := executeAll(t, simEngine(t, newSim(t, nil)), textDSL, tasks)
	b := executeAll(t, simEngine(t, newSim(t, func(c *sim.Config) { c.Seed = 2 })), textDSL, tasks)
	differ := 0
	for i := range tasks {
		if fingerprint(a[i]) != fingerprint(b[i]) {
			differ++
		}
	}
	if differ == 0 {
		t.Fatal("seeds 1 and 2 gave identical executions on 30 tasks")
	}
	t.Logf("%d of 30 executions differ between seeds", differ)
}

// TestSimRepliesParseWithTheRealOperators runs every operator on every
// family: the sim's replies must parse with the operators' own parsers.
func TestSimRepliesParseWithTheRealOperators(t *testing.T) {
	full := "Plan -> Decompose -> [Custom, AnswerGenerate, Programmer] -> ScEnsemble -> Aggregate -> Review ? Revise : Format -> Verify -> Format"
	cases := []struct {
		family string
		tasks  []task.Task
		dsl    string
	}{
		{"math", task.Generate(3, 8, task.Mix{Math: 1}), full},
		{"qa", task.Generate(3, 8, task.Mix{QA: 1}), full},
		{"code", task.Generate(3, 8, task.Mix{Code: 1}), "Plan -> Decompose -> [Custom, AnswerGenerate, Programmer] -> ScEnsemble -> Aggregate -> Programmer -> Test ? Revise : Format -> Review ? Revise : done -> Verify"},
		{"mc", mcTasks(), "Plan -> Decompose -> [Custom, AnswerGenerate] -> ScEnsemble -> Aggregate -> Review ? Revise : Format -> Verify -> Format"},
	}
	ran := map[string]bool{}
	e := simEngine(t, newSim(t, nil))
	for _, tc := range cases {
		t.Run(tc.family, func(t *testing.T) {
			for i, ex := range executeAll(t, e, tc.dsl, tc.tasks) {
				for _, n := range ex.Nodes {
					switch n.Status {
					case canvas.NodeOK:
						ran[n.Operator] = true
						if n.Calls > 0 && strings.TrimSpace(n.Output) == "" {
							t.Errorf("%s %s (%s) produced nothing", tc.tasks[i].ID, n.NodeID, n.Operator)
						}
					case canvas.NodeSkipped:
					default:
						t.Errorf("%s %s (%s) is %s: %s", tc.tasks[i].ID, n.NodeID, n.Operator, n.Status, n.Error)
					}
				}
				if ex.Error != "" || strings.TrimSpace(ex.FinalAnswer) == "" {
					t.Errorf("%s: run error %q, final answer %q", tc.tasks[i].ID, ex.Error, ex.FinalAnswer)
				}
			}
		})
	}
	for _, d := range builtin.Library().Defs() {
		if !ran[d.Name] {
			t.Errorf("%s never ran OK on the sim", d.Name)
		}
	}
}

func TestSimProgrammerCodeIsRealPythonAndTestRunsThePublicTests(t *testing.T) {
	tasks := task.Generate(6, 13, task.Mix{Code: 1})
	e := simEngine(t, newSim(t, nil))
	for i, ex := range executeAll(t, e, "Programmer -> Test", tasks) {
		tk := tasks[i]
		var prog, test canvas.NodeResult
		for _, n := range ex.Nodes {
			switch n.NodeID {
			case "node_1":
				prog = n
			case "node_2":
				test = n
			}
		}
		if prog.Status != canvas.NodeOK || test.Status != canvas.NodeOK || test.Verdict == nil {
			t.Fatalf("%s: %+v / %+v", tk.ID, prog, test)
		}
		if !strings.Contains(prog.Output, "def "+tk.EntryPoint) {
			t.Errorf("%s: Programmer's output is not the function: %q", tk.ID, prog.Output)
		}
		// The verdict comes from really running the public tests: passing
		// code passes the hidden tests as the reference does, and failing
		// code is not the reference.
		if *test.Verdict {
			if task.AnswerKey(tk, ex.FinalAnswer) != task.AnswerKey(tk, tk.Reference) && !strings.Contains(ex.FinalAnswer, "return") {
				t.Errorf("%s: Test passed code that is neither the reference nor a function: %q", tk.ID, ex.FinalAnswer)
			}
		} else if task.AnswerKey(tk, ex.FinalAnswer) == task.AnswerKey(tk, tk.Reference) {
			t.Errorf("%s: Test failed the reference solution", tk.ID)
		}
	}
}

// TestSimLoneAnswerGenerateMatchesTheConfig: AnswerGenerate is right with
// p = 0.6 (1 - 0.5 d) on math; a verbose reply (probability 0.35) holds the
// right answer where the scorer misses it.
func TestSimLoneAnswerGenerateMatchesTheConfig(t *testing.T) {
	cfg := sim.DefaultConfig()
	tasks := task.Generate(400, 17, task.Mix{Math: 1})
	exs := executeAll(t, simEngine(t, newSim(t, nil)), "AnswerGenerate", tasks)
	var meanP, right float64
	for i, tk := range tasks {
		meanP += cfg.Base["math"]["AnswerGenerate"] * (1 - cfg.DifficultyFactor*tk.Difficulty)
		if holdsGold(tk, exs[i].FinalAnswer) {
			right++
		}
	}
	n := float64(len(tasks))
	meanP, right = meanP/n, right/n
	scored := accuracy(tasks, exs)
	t.Logf("mean p %.3f, right %.3f, scored %.3f", meanP, right, scored)
	if d := right - meanP; d < -0.07 || d > 0.07 {
		t.Errorf("AnswerGenerate is right %.3f of the time; the config says %.3f", right, meanP)
	}
	low := meanP*(1-cfg.Verbose["AnswerGenerate"]) - 0.07
	if scored < low || scored > right+0.01 {
		t.Errorf("scored accuracy %.3f, want between %.3f (verbose replies missed) and %.3f", scored, low, right)
	}
}

func TestSimProgrammerBeatsAnswerGenerateOnMath(t *testing.T) {
	tasks := task.Generate(50, 23, task.Mix{Math: 1})
	e := simEngine(t, newSim(t, nil))
	prog := accuracy(tasks, executeAll(t, e, "Programmer", tasks))
	ag := accuracy(tasks, executeAll(t, e, "AnswerGenerate", tasks))
	t.Logf("Programmer %.3f, AnswerGenerate %.3f", prog, ag)
	if prog < ag+0.1 {
		t.Errorf("Programmer %.3f does not clearly beat AnswerGenerate %.3f on math", prog, ag)
	}
}

func TestSimVotingAndFormatBeatALoneAnswerGenerate(t *testing.T) {
	tasks := task.Generate(300, 29, task.Mix{Math: 1})
	e := simEngine(t, newSim(t, nil))
	lone := accuracy(tasks, executeAll(t, e, "AnswerGenerate", tasks))
	vote := accuracy(tasks, executeAll(t, e, "[AnswerGenerate, AnswerGenerate, AnswerGenerate] -> ScEnsemble -> Format", tasks))
	t.Logf("lone %.3f, 3 votes + Format %.3f", lone, vote)
	if vote < lone+0.08 {
		t.Errorf("[AnswerGenerate x3] -> ScEnsemble -> Format %.3f does not beat a lone AnswerGenerate %.3f", vote, lone)
	}
	// More samples vote better (on fewer tasks: five branches cost more).
	few := tasks[:150]
	vote3 := accuracy(few, executeAll(t, e, "[AnswerGenerate, AnswerGenerate, AnswerGenerate] -> ScEnsemble -> Format", few))
	vote5 := accuracy(few, executeAll(t, e, "[AnswerGenerate, AnswerGenerate, AnswerGenerate, AnswerGenerate, AnswerGenerate] -> ScEnsemble -> Format", few))
	t.Logf("on %d tasks: 3 votes %.3f, 5 votes %.3f", len(few), vote3, vote5)
	if vote5 < vote3 {
		t.Errorf("five votes %.3f do worse than three %.3f", vote5, vote3)
	}
}

func TestSimFormatMakesVerboseCustomScoreOnQA(t *testing.T) {
	tasks := task.Generate(300, 31, task.Mix{QA: 1})
	e := simEngine(t, newSim(t, nil))
	raw := accuracy(tasks, executeAll(t, e, "Custom", tasks))
	formatted := accuracy(tasks, executeAll(t, e, "Custom -> Format", tasks))
	t.Logf("Custom %.3f, Custom -> Format %.3f", raw, formatted)
	if formatted < raw+0.1 {
		t.Errorf("Format raised qa accuracy only from %.3f to %.3f", raw, formatted)
	}
}

func TestSimParallelBranchesAreIndependentDraws(t *testing.T) {
	tasks := task.Generate(60, 37, task.Mix{Math: 1})
	exs := executeAll(t, simEngine(t, newSim(t, nil)), "[AnswerGenerate, AnswerGenerate, AnswerGenerate]", tasks)
	disagree := 0
	for _, ex := range exs {
		if ex.Nodes[0].Output != ex.Nodes[1].Output || ex.Nodes[1].Output != ex.Nodes[2].Output {
			disagree++
		}
	}
	if disagree < 20 {
		t.Errorf("branches disagree on only %d of 60 tasks: they are not independent draws", disagree)
	}
}

// TestSimCheckersAndRepairMatchTheConfig calls the backend directly with
// right and wrong solutions.
func TestSimCheckersAndRepairMatchTheConfig(t *testing.T) {
	cfg := sim.DefaultConfig()
	b := newSim(t, nil)
	tasks := task.Generate(400, 41, task.Mix{Math: 1})
	ctx := context.Background()
	var catch, alarm, repaired, formatOK, errs, meanRepair float64
	for _, tk := range tasks {
		gold, wrong := tk.Answers[0], tk.Distractors[0]
		review := func(sol string) bool {
			r, err := b.Complete(ctx, request("Review", tk, map[string]string{"solution": sol}, "Proposed solution: "+sol))
			if err != nil {
				t.Fatal(err)
			}
			return strings.Contains(r.Text, "<review_result>true</review_result>")
		}
		if !review(wrong) {
			catch++
		}
		if !review(gold) {
			alarm++
		}
		r, err := b.Complete(ctx, request("Revise", tk, map[string]string{"solution": wrong, "feedback": "wrong"}, "Solution: "+wrong))
		if err != nil {
			t.Fatal(err)
		}
		if holdsGold(tk, r.Text) {
			repaired++
		}
		meanRepair += cfg.Revise.Repair * (1 - cfg.Revise.RepairDifficulty*tk.Difficulty)
		r, err = b.Complete(ctx, request("Format", tk, map[string]string{"solution": "after some work we get " + gold}, gold))
		if err != nil {
			t.Fatal(err)
		}
		if r.Text == "<answer>"+gold+"</answer>" {
			formatOK++
		}
		r, err = b.Complete(ctx, request("Programmer", tk, nil, "write code"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(r.Text, "compute_total") {
			errs++
		}
	}
	n := float64(len(tasks))
	checks := []struct {
		name      string
		got, want float64
		tol       float64
	}{
		{"review catches a wrong solution", catch / n, cfg.Checker.Catch, 0.07},
		{"review raises a false alarm", alarm / n, cfg.Checker.FalseAlarm, 0.05},
		{"revise repairs a wrong solution", repaired / n, meanRepair / n, 0.07},
		{"format extracts a right answer", formatOK / n, cfg.Format.Accuracy, 0.04},
		{"programmer writes failing code", errs / n, cfg.Programmer.ErrorRate, 0.04},
	}
	for _, c := range checks {
		if c.got < c.want-c.tol || c.got > c.want+c.tol {
			t.Errorf("%s: %.3f, config says %.3f", c.name, c.got, c.want)
		} else {
			t.Logf("%s: %.3f (config %.3f)", c.name, c.got, c.want)
		}
	}
}

func TestSimResponsesAreMarkedSimulated(t *testing.T) {
	b := newSim(t, nil)
	if !b.Simulated() || !strings.Contains(b.Model(), "simulated") || b.Name() != "sim" {
		t.Errorf("backend: simulated=%v model=%q name=%q", b.Simulated(), b.Model(), b.Name())
	}
	tk := task.Generate(1, 3, task.Mix{Math: 1})[0]
	for _, op := range []string{"Plan", "Decompose", "Custom", "AnswerGenerate", "Programmer", "Review", "Verify", "Revise", "Aggregate", "Format"} {
		r, err := b.Complete(context.Background(), request(op, tk, map[string]string{"solution": "1", "answer": "1"}, "x"))
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if !r.Simulated || !strings.Contains(r.Model, "simulated") || r.Text == "" || r.InputTokens == 0 || r.OutputTokens == 0 {
			t.Errorf("%s: response %+v is not marked simulated or lacks text and tokens", op, r)
		}
	}
	e := simEngine(t, b)
	for range 2 { // the second run is answered from the cache
		ex := execute(t, e, textDSL, tk)
		if !ex.Stats.Simulated || !strings.Contains(ex.Stats.Model, "simulated") || ex.Stats.Backend != "sim" {
			t.Errorf("execution stats %+v do not say the executor was simulated", ex.Stats)
		}
	}
}

func TestSimRefusesCallsItCannotServe(t *testing.T) {
	b := newSim(t, nil)
	tk := task.Generate(1, 3)[0]
	cases := []struct {
		name string
		req  executor.Request
		is   error
		has  string
	}{
		{"no sim context", executor.Request{Messages: []executor.Message{{Role: "user", Content: "hi"}}, Meta: executor.Meta{Operator: "Custom"}}, sim.ErrNoContext, ""},
		{"a context of the wrong type", executor.Request{Meta: executor.Meta{Operator: "Custom", Sim: sim.Context{Task: tk}}}, sim.ErrNoContext, ""},
		{"a nil context", executor.Request{Meta: executor.Meta{Operator: "Custom", Sim: (*sim.Context)(nil)}}, sim.ErrNoContext, ""},
		{"an unknown operator", request("Juggle", tk, nil, "x"), nil, "Juggle"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.Complete(context.Background(), tc.req)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.has) {
				t.Errorf("err %q does not name %q", err, tc.has)
			}
		})
	}
}

func TestSimLatencyIsSimulatedAndCancellable(t *testing.T) {
	b := newSim(t, func(c *sim.Config) { c.Latency.PerCall = 40 * time.Millisecond })
	tk := task.Generate(1, 3)[0]
	start := time.Now()
	r, err := b.Complete(context.Background(), request("Custom", tk, nil, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Latency < 40*time.Millisecond || time.Since(start) < 40*time.Millisecond {
		t.Errorf("latency %s, waited %s; want at least 40ms", r.Latency, time.Since(start))
	}
	slow := newSim(t, func(c *sim.Config) { c.Latency.PerCall = 10 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := slow.Complete(ctx, request("Custom", tk, nil, "x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancellation took %s", d)
	}
}

func TestSimAnswersDependOnWhatTheCacheKeyHolds(t *testing.T) {
	b := newSim(t, nil)
	tk := task.Generate(1, 3, task.Mix{Math: 1})[0]
	r := request("Custom", tk, nil, "x")
	plain := b.CacheKeyExtra(r)
	r.Meta.Sim = &sim.Context{Task: tk, AfterPlan: true}
	if b.CacheKeyExtra(r) == plain {
		t.Error("a node after Plan has the cache key of one without")
	}
	r.Meta.Sim = &sim.Context{Task: tk}
	r.Meta.Attempt = 1
	if b.CacheKeyExtra(r) == plain {
		t.Error("a retry has the cache key of the first attempt")
	}
	r.Meta.Attempt = 0
	if newSim(t, func(c *sim.Config) { c.Seed = 99 }).CacheKeyExtra(r) == plain {
		t.Error("another seed has the same cache key")
	}
	if newSim(t, func(c *sim.Config) { c.Checker.Catch = 0.9 }).CacheKeyExtra(r) == plain {
		t.Error("another probability model has the same cache key")
	}
	if newSim(t, nil).CacheKeyExtra(r) != plain {
		t.Error("equal configs have different cache keys")
	}
}

// TestSimsOfOtherConfigsDoNotShareCachedAnswers: two sims of one name and
// seed, one whose Review always passes and one whose Review always
// catches, behind one shared cache.
func TestSimsOfOtherConfigsDoNotShareCachedAnswers(t *testing.T) {
	cache := executor.NewCache(0)
	tk := task.Generate(1, 3, task.Mix{Math: 1})[0]
	verdicts := map[float64]string{}
	for _, catch := range []float64{0, 1} {
		b := newSim(t, func(c *sim.Config) { c.Checker.Catch = catch })
		r, err := executor.Cached(b, cache).Complete(context.Background(), request("Review", tk, map[string]string{"solution": tk.Distractors[0]}, "same prompt"))
		if err != nil {
			t.Fatal(err)
		}
		verdicts[catch] = r.Text
	}
	if verdicts[0] == verdicts[1] {
		t.Errorf("a sim that never catches and one that always does gave the same review: %q", verdicts[0])
	}
}

// TestWithAnswerAnswersAnOperatorTheSimDoesNotKnow: an operator outside
// the default library gets its simulated answer from an option, and an
// operator nobody answers is still an error.
func TestWithAnswerAnswersAnOperatorTheSimDoesNotKnow(t *testing.T) {
	tk := task.Task{ID: "m", Family: task.Math, Question: "6*7?", Answers: []string{"42"}}
	b, err := sim.New("sim", sim.DefaultConfig(), sim.WithAnswer("Echo", func(c *sim.Call) (string, error) {
		return c.Input("text") + " " + c.Task().Answers[0], nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	req := func(op string) executor.Request {
		return executor.Request{Messages: []executor.Message{{Role: "user", Content: "x"}},
			Meta: executor.Meta{Operator: op, TaskID: tk.ID, Inputs: map[string]string{"text": "hi"}, Sim: &sim.Context{Task: tk}}}
	}
	resp, err := b.Complete(context.Background(), req("Echo"))
	if err != nil || resp.Text != "hi 42" || !resp.Simulated {
		t.Fatalf("Echo answered %q simulated=%v, %v", resp.Text, resp.Simulated, err)
	}
	if _, err := b.Complete(context.Background(), req("Unknown")); err == nil || !strings.Contains(err.Error(), `does not know operator "Unknown"`) {
		t.Fatalf("an unknown operator answered, err %v", err)
	}
	plain, _ := sim.New("sim", sim.DefaultConfig())
	if _, err := plain.Complete(context.Background(), req("Echo")); err == nil {
		t.Fatal("a sim without the option answered Echo")
	}
}
