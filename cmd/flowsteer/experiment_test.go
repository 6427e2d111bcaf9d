package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/experiment"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

func TestTurnCostCountsAddsPromptsAndFinish(t *testing.T) {
	for dsl, want := range map[string]int{
		"AnswerGenerate":         3, // add, prompt, finish
		policy.Baselines["full"]: 2 + 4 + 2 + 3 + 2 + 2 + 1,
		"(Review -> Revise) * 3": 1 + 2 + 1,
	} {
		g, err := workflow.Parse(dsl, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := turnCost(g); got != want {
			t.Errorf("turnCost(%s) = %d, want %d", dsl, got, want)
		}
	}
}

func TestSearchSpaceFollowsTheCanvasRules(t *testing.T) {
	lib := operator.Default()
	code := []task.Task{{ID: "c", Family: task.Code, PublicTests: task.Tests{Code: "assert f() == 1"}}}
	sp, err := newSearchSpace(lib, task.Code, code, 20)
	if err != nil {
		t.Fatal(err)
	}
	qa, err := newSearchSpace(lib, task.QA, []task.Task{{ID: "q", Family: task.QA}}, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sp    *searchSpace
		dsl   string
		valid bool
	}{
		{qa, policy.Baselines["full"], true},
		{qa, policy.Baselines["cot"], false},                                            // one operator, no structure
		{qa, "[Custom, Custom, Custom] -> ScEnsemble -> Review", false},                 // no Format
		{qa, "[Custom, Custom] -> ScEnsemble -> Test ? Revise : done -> Format", false}, // Test needs tests: not enabled on qa
		{sp, policy.Baselines["full"], false},                                           // code with tests needs Test
		{sp, "Programmer -> Test ? Programmer : done -> Review ? Revise : done -> Format", true},
		{qa, "[Custom, Custom, Custom] -> ScEnsemble -> [Custom, Custom, Custom] -> ScEnsemble -> Review ? Revise : done -> Verify -> Verify -> Format", false}, // 22 turns
	} {
		g, err := workflow.Parse(c.dsl, lib)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.sp.valid(g); (err == nil) != c.valid {
			t.Errorf("%s on %s: valid = %v (%v), want %v", c.dsl, c.sp.family, err == nil, err, c.valid)
		}
	}
	if len(sp.starts) == 0 || len(qa.starts) == 0 {
		t.Fatal("no starting workflow")
	}
}

// One cell of each cheap kind, end to end on the simulated executor: the
// search arm searches (two candidates a family) and plays its workflows,
// the fixed arm plays its baseline, both under the cell's seed.
func TestArmRunnerPlaysFixedAndSearchCells(t *testing.T) {
	if testing.Short() {
		t.Skip("plays episodes on the simulated executor")
	}
	dir := t.TempDir()
	cfg := experiment.Default()
	cfg.Tasks.EvalPerFamily, cfg.Tasks.TrainPerFamily = 1, 1
	cfg.Search.MaxEvals, cfg.Search.TasksPerFamily = 2, 1
	var log bytes.Buffer
	r, err := newArmRunner(context.Background(), cfg, dir, &log)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.eval) != 3 {
		t.Fatalf("%d held-out tasks, want 1 per family", len(r.eval))
	}
	fixed, err := r.RunCell(context.Background(), experiment.Arm{Name: "full", Kind: experiment.KindFixed, DSL: "full"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.RunCell(context.Background(), experiment.Arm{Name: "search", Kind: experiment.KindSearch}, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []experiment.Cell{fixed, s} {
		if len(c.Outcomes) != 3 {
			t.Fatalf("%d outcomes, want 3", len(c.Outcomes))
		}
		for _, o := range c.Outcomes {
			if o.Failed || o.DSL == "" || o.Turns == 0 {
				t.Fatalf("outcome %+v", o)
			}
		}
	}
	if !strings.Contains(s.Note, `"code"`) || !strings.Contains(log.String(), "search qa:") {
		t.Fatalf("search note %q, log %q", s.Note, log.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "search.json")); err != nil {
		t.Fatalf("search result not kept for a resume: %v", err)
	}
}

func TestExperimentRefusesADirectoryOfAnotherConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "experiment.yaml"), []byte("name: other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := runExperiment(context.Background(), io.Discard, "", &experimentFlags{dir: dir})
	if err == nil || !strings.Contains(err.Error(), "different experiment config") {
		t.Fatalf("err %v, want a refusal naming the other config", err)
	}
}
