package engine_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/operator/builtin"
	"github.com/flowsteer/flowsteer/internal/task"
)

// TestParallelBranchesRunConcurrentlyAndFeedScEnsemble holds every branch
// request until all three are in flight: run one after another, the first
// would wait out the bound and the overlap check fails.
func TestParallelBranchesRunConcurrentlyAndFeedScEnsemble(t *testing.T) {
	const branches = 3
	var arrived atomic.Int64
	all := make(chan struct{})
	var once sync.Once
	srv := newServer(t, func(op string, _ int, r req) rep {
		if op != "AnswerGenerate" {
			return rep{Status: http.StatusBadRequest}
		}
		if arrived.Add(1) == branches {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
		case <-time.After(5 * time.Second):
		}
		switch {
		case strings.Contains(r.System, "alpha"):
			return rep{Text: "<answer>42</answer>"}
		case strings.Contains(r.System, "beta"):
			return rep{Text: "The answer is 42."}
		default:
			return rep{Text: "<answer>41</answer>"}
		}
	})
	e := newEngine(t, srv.registry(t, nil), engineOpts{cache: executor.NewCache(0)})
	g := graph(t, "[AnswerGenerate, AnswerGenerate, AnswerGenerate] -> ScEnsemble", map[string]string{
		"node_1_p0": "Use method alpha.", "node_1_p1": "Use method beta.", "node_1_p2": "Use method gamma.",
	})
	start := time.Now()
	ex := run(t, e, g, mathTask)
	if got := srv.maxIn.Load(); got != branches {
		t.Fatalf("at most %d branch requests were in flight, want %d (branches did not overlap); took %s", got, branches, time.Since(start))
	}
	var ids []string
	for _, n := range ex.Nodes {
		ids = append(ids, n.NodeID)
	}
	if got := strings.Join(ids, ","); got != "node_1_p0,node_1_p1,node_1_p2,node_2" {
		t.Errorf("node results in order %s, want graph order", got)
	}
	sc := requireStatus(t, ex, "node_2", 0, canvas.NodeOK)
	if sc.Output != "42" || ex.FinalAnswer != "42" {
		t.Errorf("ScEnsemble picked %q (final %q), want the 42 of branch 0", sc.Output, ex.FinalAnswer)
	}
	if sc.Calls != 0 {
		t.Errorf("ScEnsemble made %d backend calls", sc.Calls)
	}
}

// TestFailedParallelBranchContributesNoSolution: a branch that fails must
// not hand the previous stage's output (here the plan) to the vote.
func TestFailedParallelBranchContributesNoSolution(t *testing.T) {
	srv := newServer(t, func(op string, _ int, r req) rep {
		switch {
		case op == "Plan":
			return rep{Text: "<plan>Multiply 6 by 7 to get 99.</plan>"}
		case op == "AnswerGenerate" && strings.Contains(r.System, "alpha"):
			return rep{Status: http.StatusBadRequest}
		case op == "AnswerGenerate" && strings.Contains(r.System, "beta"):
			return rep{Text: "<answer>41</answer>"}
		case op == "AnswerGenerate":
			return rep{Text: "<answer>42</answer>"}
		}
		return rep{Status: http.StatusBadRequest}
	})
	e := newEngine(t, srv.registry(t, nil), engineOpts{})
	g := graph(t, "Plan -> [AnswerGenerate, AnswerGenerate, AnswerGenerate] -> ScEnsemble", map[string]string{
		"node_2_p0": "Use method alpha.", "node_2_p1": "Use method beta.", "node_2_p2": "Use method gamma.",
	})
	ex := run(t, e, g, mathTask)
	requireStatus(t, ex, "node_2_p0", 0, canvas.NodeFailed)
	sc := requireStatus(t, ex, "node_3", 0, canvas.NodeOK)
	if ex.FinalAnswer != "41" || strings.Contains(sc.Output, "99") {
		t.Errorf("ScEnsemble picked %q; want 41, the earliest of the two real solutions: %s", ex.FinalAnswer, describe(ex))
	}
}

func TestParallelWithEveryBranchFailedLeavesScEnsembleNothing(t *testing.T) {
	srv := newServer(t, answers(map[string]string{}))
	e := newEngine(t, srv.registry(t, nil), engineOpts{})
	ex := run(t, e, graph(t, "[AnswerGenerate, Custom] -> ScEnsemble", nil), mathTask)
	n := requireStatus(t, ex, "node_2", 0, canvas.NodeFailed)
	if !strings.Contains(n.Error, "no solutions") {
		t.Errorf("ScEnsemble error %q, want no solutions", n.Error)
	}
}

// TestConditionalRunsRepairBranchOnlyWhenCheckerFails covers SPEC
// section 3: in `C ? T : F`, T repairs when C judges the solution wrong.
func TestConditionalRunsRepairBranchOnlyWhenCheckerFails(t *testing.T) {
	fail := "<review_result>false</review_result><feedback>the product is wrong</feedback>"
	pass := "<review_result>true</review_result><feedback>fine</feedback>"
	cases := []struct {
		name    string
		dsl     string
		review  string
		status  int
		want    map[string]canvas.NodeStatus
		final   string
		verdict *bool
	}{
		{name: "review fails: Revise runs", dsl: "AnswerGenerate -> Review ? Revise : done", review: fail,
			want:  map[string]canvas.NodeStatus{"node_2_cond": canvas.NodeOK, "node_2_true": canvas.NodeOK},
			final: "REVISED", verdict: ptr(false)},
		{name: "review passes: Revise is skipped", dsl: "AnswerGenerate -> Review ? Revise : done", review: pass,
			want:  map[string]canvas.NodeStatus{"node_2_cond": canvas.NodeOK, "node_2_true": canvas.NodeSkipped},
			final: "41", verdict: ptr(true)},
		{name: "review passes: Format runs", dsl: "AnswerGenerate -> Review ? Revise : Format", review: pass,
			want:  map[string]canvas.NodeStatus{"node_2_cond": canvas.NodeOK, "node_2_true": canvas.NodeSkipped, "node_2_false": canvas.NodeOK},
			final: "FORMATTED", verdict: ptr(true)},
		{name: "review fails: Revise runs, Format is skipped", dsl: "AnswerGenerate -> Review ? Revise : Format", review: fail,
			want:  map[string]canvas.NodeStatus{"node_2_cond": canvas.NodeOK, "node_2_true": canvas.NodeOK, "node_2_false": canvas.NodeSkipped},
			final: "REVISED", verdict: ptr(false)},
		{name: "review without a verdict runs neither branch", dsl: "AnswerGenerate -> Review ? Revise : Format", review: "no opinion",
			want:  map[string]canvas.NodeStatus{"node_2_cond": canvas.NodeFailed, "node_2_true": canvas.NodeSkipped, "node_2_false": canvas.NodeSkipped},
			final: "41"},
		{name: "review backend failure runs neither branch", dsl: "AnswerGenerate -> Review ? Revise : Format", status: http.StatusBadRequest,
			want:  map[string]canvas.NodeStatus{"node_2_cond": canvas.NodeFailed, "node_2_true": canvas.NodeSkipped, "node_2_false": canvas.NodeSkipped},
			final: "41"},
		{name: "a later stage runs after the conditional", dsl: "AnswerGenerate -> Review ? Revise : done -> Format", review: fail,
			want:  map[string]canvas.NodeStatus{"node_2_true": canvas.NodeOK, "node_3": canvas.NodeOK},
			final: "FORMATTED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(op string, _ int, _ req) rep {
				switch op {
				case "AnswerGenerate":
					return rep{Text: "<answer>41</answer>"}
				case "Review":
					return rep{Status: tc.status, Text: tc.review}
				case "Revise":
					return rep{Text: "<solution>REVISED</solution>"}
				case "Format":
					return rep{Text: "<answer>FORMATTED</answer>"}
				}
				return rep{Status: http.StatusBadRequest}
			})
			ex := run(t, newEngine(t, srv.registry(t, nil), engineOpts{}), graph(t, tc.dsl, nil), mathTask)
			for id, st := range tc.want {
				requireStatus(t, ex, id, 0, st)
			}
			if ex.FinalAnswer != tc.final {
				t.Errorf("final answer %q, want %q: %s", ex.FinalAnswer, tc.final, describe(ex))
			}
			if tc.verdict != nil {
				c := node(t, ex, "node_2_cond", 0)
				if c.Verdict == nil || *c.Verdict != *tc.verdict {
					t.Errorf("checker verdict %v, want %v", c.Verdict, *tc.verdict)
				}
			}
			// A skipped node never reaches the backend.
			for id, st := range tc.want {
				if st == canvas.NodeSkipped {
					op := node(t, ex, id, 0).Operator
					if n := len(srv.requestsOf(op)); n != 0 {
						t.Errorf("skipped %s (%s) made %d requests", id, op, n)
					}
				}
			}
		})
	}
}

// TestLoopEndsAtFirstPassingChecker runs (Review -> Revise) * 3 with the
// Review passing at a scripted call.
func TestLoopEndsAtFirstPassingChecker(t *testing.T) {
	cases := []struct {
		passAt int // index of the first passing Review call; -1 never
		want   []string
		final  string
	}{
		{passAt: 0, want: []string{"node_2_l0@0 ok pass", "node_2_l1@0 skipped"}, final: "41"},
		{passAt: 1, want: []string{"node_2_l0@0 ok fail", "node_2_l1@0 ok", "node_2_l0@1 ok pass", "node_2_l1@1 skipped"}, final: "v0"},
		{passAt: 2, want: []string{"node_2_l0@0 ok fail", "node_2_l1@0 ok", "node_2_l0@1 ok fail", "node_2_l1@1 ok", "node_2_l0@2 ok pass", "node_2_l1@2 skipped"}, final: "v1"},
		{passAt: -1, want: []string{"node_2_l0@0 ok fail", "node_2_l1@0 ok", "node_2_l0@1 ok fail", "node_2_l1@1 ok", "node_2_l0@2 ok fail", "node_2_l1@2 ok"}, final: "v2"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("pass at %d", tc.passAt), func(t *testing.T) {
			srv := newServer(t, func(op string, n int, _ req) rep {
				switch op {
				case "AnswerGenerate":
					return rep{Text: "<answer>41</answer>"}
				case "Review":
					if n == tc.passAt {
						return rep{Text: "<review_result>true</review_result><feedback>ok now</feedback>"}
					}
					return rep{Text: fmt.Sprintf("<review_result>false</review_result><feedback>FB-%d</feedback>", n)}
				case "Revise":
					return rep{Text: fmt.Sprintf("<solution>v%d</solution>", n)}
				}
				return rep{Status: http.StatusBadRequest}
			})
			ex := run(t, newEngine(t, srv.registry(t, nil), engineOpts{cache: executor.NewCache(0)}), graph(t, "AnswerGenerate -> (Review -> Revise) * 3", nil), mathTask)
			var got []string
			for _, n := range ex.Nodes[1:] {
				s := fmt.Sprintf("%s@%d %s", n.NodeID, n.Iteration, n.Status)
				if n.Verdict != nil {
					s += map[bool]string{true: " pass", false: " fail"}[*n.Verdict]
				}
				got = append(got, s)
			}
			if strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
				t.Errorf("loop ran\n  %s\nwant\n  %s", strings.Join(got, "; "), strings.Join(tc.want, "; "))
			}
			if ex.FinalAnswer != tc.final {
				t.Errorf("final answer %q, want %q", ex.FinalAnswer, tc.final)
			}
			// Each Revise gets the latest solution and the feedback of the
			// Review just before it.
			for i, r := range srv.requestsOf("Revise") {
				wantSol := "41"
				if i > 0 {
					wantSol = fmt.Sprintf("v%d", i-1)
				}
				if !strings.Contains(r.User, "Solution:\n"+wantSol+"\n") || !strings.Contains(r.User, fmt.Sprintf("FB-%d", i)) {
					t.Errorf("Revise call %d lacks solution %q or FB-%d:\n%s", i, wantSol, i, r.User)
				}
			}
		})
	}
}

func TestLoopWithoutCheckerRunsEveryIteration(t *testing.T) {
	srv := newServer(t, func(op string, n int, _ req) rep {
		return rep{Text: fmt.Sprintf("<answer>%d</answer>", n)}
	})
	ex := run(t, newEngine(t, srv.registry(t, nil), engineOpts{}), graph(t, "(AnswerGenerate -> Format) * 2", nil), mathTask)
	if len(ex.Nodes) != 4 {
		t.Fatalf("%d node results, want 4: %s", len(ex.Nodes), describe(ex))
	}
	for i, want := range []string{"node_1_l0@0", "node_1_l1@0", "node_1_l0@1", "node_1_l1@1"} {
		if got := fmt.Sprintf("%s@%d", ex.Nodes[i].NodeID, ex.Nodes[i].Iteration); got != want || ex.Nodes[i].Status != canvas.NodeOK {
			t.Errorf("node %d = %s %s, want %s ok", i, got, ex.Nodes[i].Status, want)
		}
	}
}

// TestDataFlowBindsInputsAsSpecified inspects what each operator was sent.
func TestDataFlowBindsInputsAsSpecified(t *testing.T) {
	cases := []struct {
		name   string
		dsl    string
		texts  map[string]string
		checks []flowCheck
		final  string
	}{
		{
			name: "Revise gets the last solution and the last checker's feedback",
			dsl:  "AnswerGenerate -> Review -> Custom -> Review ? Revise : done",
			texts: map[string]string{
				"AnswerGenerate": "<answer>SOL-AG</answer>", "Custom": "SOL-CUSTOM",
				"Review": "<review_result>false</review_result><feedback>FB-REVIEW</feedback>", "Revise": "<solution>SOL-REVISED</solution>",
			},
			checks: []flowCheck{{op: "Revise", has: []string{"Solution:\nSOL-CUSTOM", "Reviewer feedback:\nFB-REVIEW"}, not: []string{"SOL-AG"}}},
			final:  "SOL-REVISED",
		},
		{
			name: "Revise after a rejecting Verify gets the re-derived answer",
			dsl:  "AnswerGenerate -> Verify ? Revise : done",
			texts: map[string]string{
				"AnswerGenerate": "<answer>41</answer>", "Verify": "<is_correct>false</is_correct><answer>REDERIVED</answer>", "Revise": "<solution>42</solution>",
			},
			checks: []flowCheck{{op: "Revise", has: []string{"Solution:\nREDERIVED", "re-derived REDERIVED"}}},
			final:  "42",
		},
		{
			name:   "the first stage gets the problem only; the next gets the previous output",
			dsl:    "Plan -> AnswerGenerate -> Format",
			texts:  map[string]string{"Plan": "<plan>PLAN-TEXT</plan>", "AnswerGenerate": "<answer>AG-OUT</answer>", "Format": "<answer>42</answer>"},
			checks: []flowCheck{{op: "Plan", has: []string{"6 times 7"}, not: []string{"previous step"}}, {op: "AnswerGenerate", has: []string{"Input from the previous step:\nPLAN-TEXT"}}, {op: "Format", has: []string{"Solution:\nAG-OUT"}}},
			final:  "42",
		},
		{
			name:   "Plan and Decompose read only the problem",
			dsl:    "AnswerGenerate -> Decompose -> Plan",
			texts:  map[string]string{"AnswerGenerate": "<answer>AG-OUT</answer>", "Decompose": "<sub_problems>1. a</sub_problems>", "Plan": "<plan>p</plan>"},
			checks: []flowCheck{{op: "Decompose", not: []string{"AG-OUT"}}, {op: "Plan", not: []string{"AG-OUT"}}},
			final:  "p",
		},
		{
			name:   "Verify gets the previous output as its answer",
			dsl:    "Custom -> Verify",
			texts:  map[string]string{"Custom": "CUSTOM-OUT", "Verify": "<is_correct>true</is_correct>"},
			checks: []flowCheck{{op: "Verify", has: []string{"Answer to verify:\nCUSTOM-OUT"}}},
			final:  "CUSTOM-OUT",
		},
		{
			name:   "a workflow ending in a passing Review answers with the reviewed solution",
			dsl:    "AnswerGenerate -> Review",
			texts:  map[string]string{"AnswerGenerate": "<answer>41</answer>", "Review": "<review_result>true</review_result>"},
			checks: []flowCheck{{op: "Review", has: []string{"Proposed solution:\n41"}}},
			final:  "41",
		},
		{
			name:  "a workflow ending in a failing Review still answers with the reviewed solution",
			dsl:   "AnswerGenerate -> Review",
			texts: map[string]string{"AnswerGenerate": "<answer>41</answer>", "Review": "<review_result>false</review_result><feedback>wrong</feedback>"},
			final: "41",
		},
		{
			name:   "Aggregate gets the parallel block's list",
			dsl:    "[AnswerGenerate, Custom] -> Aggregate",
			texts:  map[string]string{"AnswerGenerate": "<answer>AG-OUT</answer>", "Custom": "CUSTOM-OUT", "Aggregate": "<aggregated_answer>42</aggregated_answer>"},
			checks: []flowCheck{{op: "Aggregate", has: []string{"1. AG-OUT\n2. CUSTOM-OUT"}}},
			final:  "42",
		},
		{
			name:  "a workflow ending in a parallel block answers with its first branch",
			dsl:   "[AnswerGenerate, Custom]",
			texts: map[string]string{"AnswerGenerate": "<answer>AG-OUT</answer>", "Custom": "CUSTOM-OUT"},
			final: "AG-OUT",
		},
		{
			name:   "a checker after a parallel block sees every solution",
			dsl:    "[AnswerGenerate, Custom] -> Review",
			texts:  map[string]string{"AnswerGenerate": "<answer>AG-OUT</answer>", "Custom": "CUSTOM-OUT", "Review": "<review_result>true</review_result>"},
			checks: []flowCheck{{op: "Review", has: []string{"Solution 1:\nAG-OUT", "Solution 2:\nCUSTOM-OUT"}}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, answers(tc.texts))
			ex := run(t, newEngine(t, srv.registry(t, nil), engineOpts{}), graph(t, tc.dsl, nil), mathTask)
			for _, n := range ex.Nodes {
				if n.Status == canvas.NodeFailed {
					t.Fatalf("a node failed: %s", describe(ex))
				}
			}
			for _, c := range tc.checks {
				c.check(t, srv)
			}
			if tc.final != "" && ex.FinalAnswer != tc.final {
				t.Errorf("final answer %q, want %q", ex.FinalAnswer, tc.final)
			}
		})
	}
}

type flowCheck struct {
	op       string
	has, not []string
}

func (c flowCheck) check(t *testing.T, srv *server) {
	t.Helper()
	rs := srv.requestsOf(c.op)
	if len(rs) == 0 {
		t.Errorf("no %s request", c.op)
		return
	}
	u := rs[len(rs)-1].User
	for _, s := range c.has {
		if !strings.Contains(u, s) {
			t.Errorf("%s request lacks %q:\n%s", c.op, s, u)
		}
	}
	for _, s := range c.not {
		if strings.Contains(u, s) {
			t.Errorf("%s request holds %q:\n%s", c.op, s, u)
		}
	}
}

// TestCheckersAfterProgrammerSeeCodeForCodeTasks: for code tasks the code
// flows on; for math the printed answer does.
func TestCheckersAfterProgrammerSeeCodeForCodeTasks(t *testing.T) {
	prog := "```python\ndef add(a, b):\n    return a + b\n\nprint('PRINTED' + '-OUTPUT')\n```"
	cases := []struct {
		name     string
		tk       task.Task
		dsl      string
		has, not []string
		reviewOp string
	}{
		{name: "code task: Review gets the code", tk: codeTask, dsl: "Programmer -> Review", reviewOp: "Review",
			has: []string{"def add(a, b):", "return a + b"}, not: []string{"PRINTED-OUTPUT"}},
		{name: "code task: Verify gets the code", tk: codeTask, dsl: "Programmer -> Verify", reviewOp: "Verify",
			has: []string{"def add(a, b):"}, not: []string{"PRINTED-OUTPUT"}},
		{name: "math task: Review gets the printed answer", tk: mathTask, dsl: "Programmer -> Review", reviewOp: "Review",
			has: []string{"Proposed solution:\nPRINTED-OUTPUT"}, not: []string{"def add"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, answers(with(canned, "Programmer", prog)))
			ex := run(t, newEngine(t, srv.registry(t, nil), engineOpts{sb: realSandbox(t)}), graph(t, tc.dsl, nil), tc.tk)
			p := requireStatus(t, ex, "node_1", 0, canvas.NodeOK)
			requireStatus(t, ex, "node_2", 0, canvas.NodeOK)
			flowCheck{op: tc.reviewOp, has: tc.has, not: tc.not}.check(t, srv)
			if tc.tk.Family == codeTask.Family && !strings.Contains(p.Output, "def add") {
				t.Errorf("Programmer's output on a code task is %q, want the code", p.Output)
			}
		})
	}
}

// TestCodeWorkflowProgrammerTestRepair runs Programmer -> Test with a
// failing first program and a fix, in the real sandbox.
func TestCodeWorkflowProgrammerTestRepair(t *testing.T) {
	srv := newServer(t, answers(map[string]string{
		"Programmer": "```python\ndef add(a, b):\n    return a - b\n```",
		"Test":       "```python\ndef add(a, b):\n    return a + b\n```",
		"Format":     "```python\ndef add(a, b):\n    return a + b\n```",
	}))
	ex := run(t, newEngine(t, srv.registry(t, nil), engineOpts{sb: realSandbox(t)}), graph(t, "Programmer -> Test ? Programmer : Format", nil), codeTask)
	c := requireStatus(t, ex, "node_2_cond", 0, canvas.NodeOK)
	if c.Verdict == nil || !*c.Verdict {
		t.Fatalf("Test verdict %v, want pass after the fix: %s", c.Verdict, describe(ex))
	}
	requireStatus(t, ex, "node_2_true", 0, canvas.NodeSkipped)
	requireStatus(t, ex, "node_2_false", 0, canvas.NodeOK)
	if ex.FinalAnswer != "def add(a, b):\n    return a + b" {
		t.Errorf("final answer %q, want the fixed code", ex.FinalAnswer)
	}
	if ex.Stats.SandboxRuns < 3 {
		t.Errorf("%d sandbox runs, want at least 3 (program, failing test, passing test)", ex.Stats.SandboxRuns)
	}
}

func ptr[T any](v T) *T { return &v }

// OnNode streams every result, skipped ones included.
func TestOnNodeSeesEveryResult(t *testing.T) {
	srv := newServer(t, answers(canned))
	e := newEngine(t, srv.registry(t, nil), engineOpts{})
	var mu sync.Mutex
	var seen []string
	ex, err := e.Execute(t.Context(), canvas.ExecRequest{
		Graph: graph(t, "[AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : done", nil), Task: mathTask, Library: builtin.Library(),
		OnNode: func(n canvas.NodeResult) {
			mu.Lock()
			seen = append(seen, n.NodeID+":"+string(n.Status))
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(ex.Nodes) || len(seen) != 5 {
		t.Fatalf("OnNode saw %v; execution has %d results", seen, len(ex.Nodes))
	}
	if !strings.Contains(strings.Join(seen, ","), "node_3_true:skipped") {
		t.Errorf("OnNode did not see the skipped Revise: %v", seen)
	}
}
