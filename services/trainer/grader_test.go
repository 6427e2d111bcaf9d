package trainer

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/task/mathverify"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

// humanEvalRecord writes the shipped official HumanEval record id to a
// one-record task file in the publisher's layout.
func humanEvalRecord(t *testing.T, id string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "benchmarks", "humaneval", "HumanEval.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			TaskID string `json:"task_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.TaskID == id {
			path := filepath.Join(t.TempDir(), "HumanEval.jsonl")
			if err := os.WriteFile(path, append(sc.Bytes(), '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			return path
		}
	}
	t.Fatalf("%s is not in the shipped sample (%v)", id, sc.Err())
	return ""
}

// A run's task file goes through the vetting eval and play use: the
// docstring example of HumanEval/47 that the canonical solution fails
// (median([-10, 4, 6, 1000, 10, 20]) is 8.0, not 15.0) is not a public
// test of the training task, and the training task's public tests are
// exactly what system.LoadTasks (eval, run-workflow, play) gives.
func TestTrainerTaskFilesDropPublicExamplesTheReferenceFailsAsEvalDoes(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not found: vetting runs the reference solution")
	}
	ctx := context.Background()
	path := humanEvalRecord(t, "HumanEval/47")
	cfg := trainer.DefaultConfig()
	cfg.Tasks.Train = path
	train, _, err := loadTasks(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(train) != 1 {
		t.Fatalf("%d training tasks, want 1", len(train))
	}
	got := train[0].GetPublicTests().GetCode()
	if strings.Contains(got, "15.0") || !strings.Contains(got, "assert") {
		t.Errorf("training task's public tests keep the example the reference fails, or lost all:\n%s", got)
	}
	evalTasks, dropped, err := system.LoadTasks(ctx, path, "auto", nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dropped != 1 || len(evalTasks) != 1 {
		t.Fatalf("eval's load: %d tasks, %d dropped; want 1 and 1", len(evalTasks), dropped)
	}
	if want := evalTasks[0].PublicTests.Code; got != want {
		t.Errorf("train's public tests differ from eval's:\ntrain:\n%s\neval:\n%s", got, want)
	}
}

// The run config chooses the math grader of the in-process canvas, and the
// run's model list (printed by train, written into report.html) says which
// one scores.
func TestRunConfigChoosesTheMathGraderAndTheRunSaysWhichScores(t *testing.T) {
	prepare := func(grader string) ([]string, error) {
		cfg := tinyConfig()
		cfg.Backend.MathGrader = grader
		p, err := Prepare(context.Background(), cfg, Options{Dir: filepath.Join(t.TempDir(), "run")})
		if err != nil {
			return nil, err
		}
		defer p.Close()
		return p.Models, nil
	}
	wantLine := func(models []string, prefix string) {
		t.Helper()
		if !slices.ContainsFunc(models, func(m string) bool { return strings.HasPrefix(m, prefix) }) {
			t.Errorf("models %q lack a line starting %q", models, prefix)
		}
	}

	models, err := prepare("go")
	if err != nil {
		t.Fatal(err)
	}
	wantLine(models, "math grader: go (flowsteer's scorer, as configured)")

	cfg := tinyConfig()
	cfg.Backend.MathGrader = "sympy"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "backend.math_grader") {
		t.Errorf("Validate of math_grader sympy: %v, want an error naming backend.math_grader", err)
	}

	// Without math-verify: auto (the default) falls back to the Go scorer
	// and says why; math-verify refuses to start.
	t.Setenv(mathverify.PythonEnv, filepath.Join(t.TempDir(), "no-python"))
	if models, err = prepare(""); err != nil {
		t.Fatal(err)
	}
	wantLine(models, "math grader: go (flowsteer's scorer: math-verify is not available")
	if _, err := prepare("math-verify"); err == nil {
		t.Error("math_grader math-verify started without math-verify")
	}

	// With it (make mathverify): auto grades with math-verify.
	py, err := filepath.Abs(filepath.Join("..", "..", ".venv", "bin", "python"))
	if err != nil || exec.Command(py, "-c", "import math_verify").Run() != nil {
		t.Skip("math-verify is not installed in .venv (make mathverify): the rest checks it grades by default")
	}
	t.Setenv(mathverify.PythonEnv, py)
	if models, err = prepare(""); err != nil {
		t.Fatal(err)
	}
	wantLine(models, "math grader: math-verify ")
}
