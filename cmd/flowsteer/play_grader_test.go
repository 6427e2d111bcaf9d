package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/system"
)

func runPlayCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newPlayCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// play loads task files through system.LoadTasks, as eval does: the
// shipped HumanEval sample has public examples its canonical solution
// fails (HumanEval/47's median docstring, among others), and play drops
// as many as eval's load does and says so.
func TestPlayDropsPublicExamplesTheReferenceFailsAsEvalDoes(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not found: vetting runs the reference solution")
	}
	file := filepath.Join("..", "..", "testdata", "benchmarks", "humaneval", "HumanEval.jsonl.gz")
	out, err := runPlayCmd(t, "--task-file", file, "--limit", "0", "--policy", "fixed:cot", "--max-rounds", "2", "--math-grader", "go")
	if err != nil {
		t.Fatalf("play: %v\n%s", err, out)
	}
	_, want, err := system.LoadTasks(context.Background(), file, "auto", nil, 0, nil)
	if err != nil || want == 0 {
		t.Fatalf("eval's load of the sample: %d dropped, %v; want some dropped", want, err)
	}
	if !strings.Contains(out, fmt.Sprintf("public tests: %d examples dropped because the data set's reference solution fails them", want)) {
		t.Errorf("play does not drop the %d failing examples eval drops:\n%s", want, out)
	}
}

// play's score line names the grader that scored a math answer, and
// --math-grader chooses it.
func TestPlayMathGraderFlagChoosesTheGrader(t *testing.T) {
	file := filepath.Join("..", "..", "testdata", "benchmarks", "gsm8k", "test.jsonl")
	out, err := runPlayCmd(t, "--task-file", file, "--limit", "1", "--policy", "fixed:full", "--math-grader", "go")
	if err != nil {
		t.Fatalf("play: %v\n%s", err, out)
	}
	if !strings.Contains(out, "score: ") || strings.Contains(out, "math-verify") {
		t.Errorf("--math-grader go: the score should come from the Go scorer:\n%s", out)
	}
	t.Setenv("FLOWSTEER_MATHVERIFY_PYTHON", filepath.Join(t.TempDir(), "no-python"))
	if out, err := runPlayCmd(t, "--task-file", file, "--limit", "1", "--policy", "fixed:full", "--math-grader", "math-verify"); err == nil {
		t.Errorf("--math-grader math-verify played without math-verify:\n%s", out)
	}
	py, err := filepath.Abs(filepath.Join("..", "..", ".venv", "bin", "python"))
	if err != nil || exec.Command(py, "-c", "import math_verify").Run() != nil {
		t.Skip("math-verify is not installed in .venv (make mathverify): the rest checks it scores by default")
	}
	t.Setenv("FLOWSTEER_MATHVERIFY_PYTHON", py)
	out, err = runPlayCmd(t, "--task-file", file, "--limit", "1", "--policy", "fixed:full")
	if err != nil {
		t.Fatalf("play: %v\n%s", err, out)
	}
	if !strings.Contains(out, "math-verify 0.9.0") {
		t.Errorf("default --math-grader: the score line does not name math-verify:\n%s", out)
	}
}
