package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/cwrpo"
	"github.com/flowsteer/flowsteer/internal/experiment"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/policy/embedded"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/trainer"
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
	sp, err := newSearchSpace(lib, task.Code, code, 20, nil)
	if err != nil {
		t.Fatal(err)
	}
	qa, err := newSearchSpace(lib, task.QA, []task.Task{{ID: "q", Family: task.QA}}, 20, nil)
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

func TestExperimentArmSetRefusesAnUnknownKeyBeforeAnyCell(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "grid.yaml")
	yml := "seeds: [1]\narms:\n  - {name: cot, kind: fixed, dsl: cot}\n  - {name: cw, kind: train, set: [optimizer.epochs=2, optimizer.bogus=1]}\n"
	if err := os.WriteFile(cfgPath, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	err := runExperiment(context.Background(), io.Discard, cfgPath, &experimentFlags{dir: run})
	if err == nil || !strings.Contains(err.Error(), "optimizer.bogus") || !strings.Contains(err.Error(), "arms[1] (cw)") {
		t.Fatalf("err %v, want a refusal naming arms[1] and optimizer.bogus", err)
	}
	if _, err := os.Stat(run); err == nil {
		t.Fatal("the experiment directory was created before the config was checked")
	}
	// The grid's train.set is checked the same way.
	yml = "seeds: [1]\ntrain: {set: [nosuch.key=3]}\narms: [{name: cw, kind: train}]\n"
	_ = os.WriteFile(cfgPath, []byte(yml), 0o644)
	if err := runExperiment(context.Background(), io.Discard, cfgPath, &experimentFlags{dir: run}); err == nil || !strings.Contains(err.Error(), "nosuch.key") {
		t.Fatalf("err %v, want a refusal naming nosuch.key", err)
	}
}

func TestArmTrainConfigKeysTheRunByItsSettingsNotItsName(t *testing.T) {
	cfg := experiment.Default()
	cfg.Train.Set = []string{"optimizer.epochs=2"}
	r := newArmRunnerShell(cfg, t.TempDir(), io.Discard)
	sampled, kS, err := r.trainConfig(experiment.Arm{Name: "cw", Kind: experiment.KindTrain}, 3)
	if err != nil {
		t.Fatal(err)
	}
	_, kG, _ := r.trainConfig(experiment.Arm{Name: "cw-greedy", Kind: experiment.KindTrain, Greedy: true}, 3)
	_, kT, _ := r.trainConfig(experiment.Arm{Name: "cw-cold", Kind: experiment.KindTrain, Temperature: 0.5}, 3)
	_, kSeed, _ := r.trainConfig(experiment.Arm{Name: "cw", Kind: experiment.KindTrain}, 4)
	e4, kE4, err := r.trainConfig(experiment.Arm{Name: "cw4", Kind: experiment.KindTrain, Set: []string{"optimizer.epochs=4", "steps=7"}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	grpo, kR, _ := r.trainConfig(experiment.Arm{Name: "g", Kind: experiment.KindTrain, Reward: "correctness"}, 3)
	_, kDir, _ := newArmRunnerShell(cfg, t.TempDir(), io.Discard).trainConfig(experiment.Arm{Name: "cw", Kind: experiment.KindTrain}, 3)
	if kS != kG || kS != kT || kS != kDir {
		t.Errorf("arms differing only in name, greedy and temperature, or a run resumed from another path, train twice: keys %s, %s, %s, %s", kS, kG, kT, kDir)
	}
	if kS == kSeed || kS == kE4 || kS == kR {
		t.Errorf("different training shares a run: %s %s %s %s", kS, kSeed, kE4, kR)
	}
	if sampled.Optimizer.Epochs != 2 || e4.Optimizer.Epochs != 4 || e4.Steps != 7 || sampled.Steps != cfg.Train.Steps {
		t.Errorf("overrides: grid set gives epochs %d (want 2), arm set epochs %d steps %d (want 4, 7)", sampled.Optimizer.Epochs, e4.Optimizer.Epochs, e4.Steps)
	}
	if string(grpo.Reward.Kind) != "correctness" || sampled.Seed != 3 || sampled.Backend.SimSeed != 3 || sampled.Checkpoint.Every != sampled.Steps {
		t.Errorf("grid-owned fields: reward %s, seed %d/%d, checkpoint every %d", grpo.Reward.Kind, sampled.Seed, sampled.Backend.SimSeed, sampled.Checkpoint.Every)
	}
}

// Two train arms that differ only in evaluation (sampled, greedy) share
// one training run; the others train their own, all cells at once.
func TestArmRunnerTrainsOnceForSampledAndGreedyArms(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on the simulated executor")
	}
	t.Parallel() // it waits on the simulated executor more than it computes
	dir := t.TempDir()
	cfg := experiment.Default()
	cfg.Tasks.EvalPerFamily, cfg.Tasks.TrainPerFamily = 1, 2
	cfg.Train.Steps, cfg.Train.BatchTasks, cfg.Train.GroupSize = 1, 1, 2
	r, err := newArmRunner(context.Background(), cfg, dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	arms := []experiment.Arm{{Name: "cw", Kind: experiment.KindTrain}, {Name: "cw-greedy", Kind: experiment.KindTrain, Greedy: true},
		{Name: "grpo", Kind: experiment.KindTrain, Reward: "correctness"},
		// Another network shape: evaluated with the shape it was trained
		// with, not the default one (which refuses its checkpoint).
		{Name: "narrow", Kind: experiment.KindTrain, Set: []string{"policy.hidden=16"}, Temperature: 0.5}}
	notes := make([]string, len(arms))
	errs := make(chan error, len(arms))
	for i, a := range arms {
		go func() {
			c, err := r.RunCell(context.Background(), a, 1)
			notes[i] = c.Note
			errs <- err
		}()
	}
	for range arms {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	runs, _ := os.ReadDir(filepath.Join(dir, "train"))
	if len(runs) != 3 || notes[0] != notes[1] || notes[0] == "" || notes[2] == notes[0] || notes[3] == notes[0] || notes[3] == notes[2] {
		t.Fatalf("%d training runs, checkpoints %q; want one run both cwrpo arms evaluate, one for grpo and one for the narrow network", len(runs), notes)
	}
}

func TestGeneratedHeldOutSetIsLargeDeterministicAndDisjointFromTraining(t *testing.T) {
	train, err := loadSource("", "train")
	if err != nil {
		t.Fatal(err)
	}
	builtin, _ := loadSource("", "eval")
	a, err := generateHeldOut(300, 1, train)
	if err != nil {
		t.Fatal(err)
	}
	if most, fewest := perFamilyCount(a); most != 300 || fewest != 300 {
		t.Fatalf("%d..%d tasks a family, want 300", fewest, most)
	}
	if err := checkDisjoint(a, train); err != nil {
		t.Fatal(err)
	}
	// Seed 1 extends the built-in held-out split: its 30 a family come first.
	byID := map[string]task.Task{}
	for _, x := range a {
		byID[x.ID] = x
	}
	for _, x := range builtin {
		if y, ok := byID[x.ID]; !ok || y.Question != x.Question {
			t.Fatalf("built-in held-out task %s is not in the generated set", x.ID)
		}
	}
	b, _ := generateHeldOut(300, 1, train)
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Question != b[i].Question {
			t.Fatalf("not deterministic at %d: %s vs %s", i, a[i].ID, b[i].ID)
		}
	}
	// Another seed draws other tasks, still none of the training ones.
	c, err := generateHeldOut(50, 7, train)
	if err != nil || checkDisjoint(c, train) != nil {
		t.Fatalf("seed 7: %v / %v", err, checkDisjoint(c, train))
	}
	if err := checkDisjoint(train[:3], train); err == nil {
		t.Fatal("checkDisjoint let training tasks through")
	}
}

func TestExperimentWritesTheGeneratedHeldOutSetAndNamesIt(t *testing.T) {
	if testing.Short() {
		t.Skip("loading the held-out tasks runs their public tests in the sandbox")
	}
	t.Parallel() // it waits on the simulated executor more than it computes
	dir := t.TempDir()
	cfg := experiment.Default()
	cfg.Tasks.EvalPerFamily = 32 // the built-in split has 30
	r, err := newArmRunner(context.Background(), cfg, dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.eval) != 96 || !strings.Contains(r.evalOrigin, "generated") || !strings.Contains(r.evalOrigin, "eval.jsonl") {
		t.Fatalf("%d held-out tasks (want 96), origin %q", len(r.eval), r.evalOrigin)
	}
	ts, err := task.Load(filepath.Join(dir, "eval.jsonl"), "auto")
	if err != nil || len(ts) != 96 {
		t.Fatalf("eval.jsonl: %d tasks, %v", len(ts), err)
	}
	// A task file of its own that is too small is refused, naming the key.
	small := filepath.Join(dir, "small.jsonl")
	_ = writeTasks(small, ts[:6])
	cfg.Tasks.Eval = small
	if _, err := newArmRunner(context.Background(), cfg, t.TempDir(), io.Discard); err == nil || !strings.Contains(err.Error(), "tasks.eval_per_family") {
		t.Fatalf("err %v, want a refusal naming tasks.eval_per_family", err)
	}
}

// `flowsteer search --joint` finds one workflow for every family on the
// simulated executor and prints how each family plays it.
func TestSearchJointPrintsOneWorkflowForEveryFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("scores candidates on the simulated executor")
	}
	t.Parallel() // it waits on the simulated executor more than it computes
	dir := t.TempDir()
	tasks := filepath.Join(dir, "train.jsonl")
	if err := subset("", "train", 1, tasks); err != nil {
		t.Fatal(err)
	}
	cmd := newSearchCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--tasks", tasks, "--joint", "--max-evals", "3", "--tasks-per-family", "1", "--quiet", "--out", filepath.Join(dir, "c.jsonl")})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"every family: best ", "after 3 candidates", "code plays: fixed:", "math plays: fixed:", "qa plays: fixed:"} {
		if !strings.Contains(s, want) {
			t.Fatalf("output lacks %q:\n%s", want, s)
		}
	}
	// Code has tests, so its workflow has Test; math's is the same
	// workflow without it.
	var code, math string
	for _, l := range strings.Split(s, "\n") {
		if _, x, ok := strings.Cut(l, "code plays: fixed:"); ok {
			code = x
		}
		if _, x, ok := strings.Cut(l, "math plays: fixed:"); ok {
			math = x
		}
	}
	if !strings.Contains(code, "Test") || strings.Contains(math, "Test") {
		t.Fatalf("code plays %q, math plays %q", code, math)
	}
}

func TestArmRunnerPlaysTheBestSingleWorkflowOnEveryFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("plays episodes on the simulated executor")
	}
	t.Parallel() // it waits on the simulated executor more than it computes
	dir := t.TempDir()
	cfg := experiment.Default()
	cfg.Tasks.EvalPerFamily, cfg.Tasks.TrainPerFamily = 1, 1
	cfg.Search.MaxEvals, cfg.Search.TasksPerFamily = 2, 1
	r, err := newArmRunner(context.Background(), cfg, dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.RunCell(context.Background(), experiment.Arm{Name: "best", Kind: experiment.KindBestFixed}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Outcomes) != 3 || !strings.Contains(c.Note, jointKey) {
		t.Fatalf("%d outcomes, note %q", len(c.Outcomes), c.Note)
	}
	if _, err := os.Stat(filepath.Join(dir, "best-fixed.json")); err != nil {
		t.Fatalf("joint search result not kept for a resume: %v", err)
	}
}

// A two-cell grid end to end: the report names the held-out set, shows
// what each arm builds and links the plot written next to it.
func TestExperimentWritesReportWithPlot(t *testing.T) {
	if testing.Short() {
		t.Skip("plays episodes on the simulated executor")
	}
	t.Parallel() // it waits on the simulated executor more than it computes
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "grid.yaml")
	yml := "seeds: [1, 2]\ntasks: {eval_per_family: 1}\ncell_concurrency: 2\narms: [{name: cot, kind: fixed, dsl: cot}]\n"
	if err := os.WriteFile(cfgPath, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	var out bytes.Buffer
	if err := runExperiment(context.Background(), &out, cfgPath, &experimentFlags{dir: run}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	rep, err := os.ReadFile(filepath.Join(run, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Held-out set: " + filepath.Join(run, "eval.jsonl") + ", the built-in suite's held-out split", "What each arm builds", "](accuracy.svg)"} {
		if !strings.Contains(string(rep), want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	if svg, err := os.ReadFile(filepath.Join(run, "accuracy.svg")); err != nil || !strings.Contains(string(svg), "<title>cot all:") {
		t.Fatalf("plot: %v", err)
	}
	// The same directory resumes with another cell_concurrency: it does
	// not change the cells.
	yml = strings.Replace(yml, "cell_concurrency: 2", "cell_concurrency: 1", 1)
	_ = os.WriteFile(cfgPath, []byte(yml), 0o644)
	if err := runExperiment(context.Background(), io.Discard, cfgPath, &experimentFlags{dir: run}); err != nil {
		t.Fatalf("resume with another cell_concurrency: %v", err)
	}
}

func TestShippedExperimentConfigsResolveEveryTrainArm(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "configs", "experiment*.yaml"))
	if len(paths) < 2 {
		t.Fatalf("found %v", paths)
	}
	for _, p := range paths {
		cfg, err := experiment.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := newArmRunnerShell(cfg, t.TempDir(), io.Discard).CheckTrain(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// Without overrides a train arm's config is what the grid built before
// set: existed (the defaults, the grid's sizes, reward and loss, the
// grid-owned fields), so earlier experiments mean the same.
func TestArmTrainConfigWithoutOverridesIsTheDefaultsWithTheGridsSizes(t *testing.T) {
	cfg := experiment.Default()
	r := newArmRunnerShell(cfg, t.TempDir(), io.Discard)
	got, _, err := r.trainConfig(experiment.Arm{Name: "grpo", Kind: experiment.KindTrain, Reward: "correctness", Loss: "reinforce"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := trainer.DefaultConfig()
	want.Name = "grpo"
	want.Seed, want.Backend.SimSeed = 2, 2
	want.Steps, want.BatchSize, want.GroupSize = cfg.Train.Steps, cfg.Train.BatchTasks, cfg.Train.GroupSize
	want.Concurrency = cfg.Concurrency
	want.Reward.Kind, want.Loss.Kind = reward.Kind("correctness"), cwrpo.Kind("reinforce")
	want.Tasks.Train, want.Tasks.Eval = r.trainFile, r.oneFile
	want.Eval.Tasks, want.Eval.Baselines, want.Eval.Every = 1, nil, 0
	want.Checkpoint.Every = want.Steps
	if got.YAML() != want.YAML() {
		t.Fatalf("train config differs from the grid's former one:\n%s\n---\n%s", got.YAML(), want.YAML())
	}
}

func TestSearchSpaceConfinedToThePolicysActions(t *testing.T) {
	lib := operator.Default()
	code := []task.Task{{ID: "c", Family: task.Code, PublicTests: task.Tests{Code: "assert f() == 1"}}}
	sp, err := newSearchSpace(lib, task.Code, code, 20, embedded.Expressible)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sp.starts {
		g, err := workflow.Parse(s, lib)
		if err != nil || embedded.Expressible(g) != nil {
			t.Errorf("start %s: %v, %v", s, err, embedded.Expressible(g))
		}
	}
	for dsl, valid := range map[string]bool{
		// The grid's best single workflow: the policy builds it.
		"Plan -> [Programmer, Programmer, Custom] -> Aggregate -> Revise -> Test ? Programmer : done -> Verify ? Revise : done -> Format": true,
		// The grid's searched code workflow: a Test branch is not the policy's.
		"Plan -> [Programmer, Programmer, Test] -> Aggregate -> Aggregate -> Test ? Programmer : done -> Review ? Programmer : done -> Format": false,
	} {
		g, err := workflow.Parse(dsl, lib)
		if err != nil {
			t.Fatal(err)
		}
		if got := sp.valid(g) == nil; got != valid {
			t.Errorf("valid(%s) = %v (%v), want %v", dsl, got, sp.valid(g), valid)
		}
	}
}

func TestWarmFromTurnsTheFoundWorkflowsIntoTheArmsWarmStart(t *testing.T) {
	dir := t.TempDir()
	found := map[string]string{
		jointKey: "Plan -> [Programmer, Programmer, Custom] -> Aggregate -> Test ? Programmer : done -> Verify ? Revise : done -> Format",
		"code":   "Plan -> [Programmer, Programmer, Custom] -> Aggregate -> Test ? Programmer : done -> Verify ? Revise : done -> Format",
		"math":   "Plan -> [Programmer, Programmer, Custom] -> Aggregate -> Verify ? Revise : done -> Format",
	}
	b, _ := json.Marshal(found)
	if err := os.WriteFile(filepath.Join(dir, "best-fixed.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := newArmRunnerShell(experiment.Default(), dir, io.Discard)
	sets, err := r.warmSets(context.Background(), experiment.KindBestFixed)
	if err != nil {
		t.Fatal(err)
	}
	arm := experiment.Arm{Name: "warm", Kind: experiment.KindTrain, Set: sets}
	cfg, key, err := r.trainConfig(arm, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"code": found["code"], "math": found["math"]}
	if !maps.Equal(cfg.WarmStart.Workflows, want) {
		t.Fatalf("warm_start.workflows = %v, want %v (from %v)", cfg.WarmStart.Workflows, want, sets)
	}
	_, cold, _ := r.trainConfig(experiment.Arm{Name: "warm", Kind: experiment.KindTrain}, 1)
	if key == cold {
		t.Error("a warm-started arm shares its training run with a cold one")
	}
}
