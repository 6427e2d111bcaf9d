package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestTasksGenerateThenEvalAWorkflowAndAPolicy(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(binary(t), "tasks", "generate", "--out", dir, "--n", "9", "--eval-n", "3", "--seed", "4").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "wrote 9 tasks") || !strings.Contains(string(out), "wrote 3 tasks") {
		t.Fatalf("tasks generate: %v\n%s", err, out)
	}
	train := filepath.Join(dir, "train.jsonl")

	results := filepath.Join(dir, "results.jsonl")
	out, err = exec.Command(binary(t), "eval", "--tasks", train, "--workflow", "[AnswerGenerate, AnswerGenerate, Custom] -> ScEnsemble -> Format",
		"--out", results, "--no-progress", "--concurrency", "3").CombinedOutput()
	if err != nil {
		t.Fatalf("eval --workflow: %v\n%s", err, out)
	}
	for _, want := range []string{"SIMULATED", "math", "qa", "code", "pass@1", "f1", "95% CI", "executor calls"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("eval output lacks %q:\n%s", want, out)
		}
	}
	f, err := os.Open(results)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			TaskID    string  `json:"task_id"`
			Score     float64 `json:"score"`
			Method    string  `json:"method"`
			Simulated bool    `json:"simulated"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.TaskID == "" || r.Method == "" || !r.Simulated {
			t.Fatalf("result line %q: %v", sc.Text(), err)
		}
		n++
	}
	if n != 9 {
		t.Fatalf("%d result lines, want 9", n)
	}

	out, err = exec.Command(binary(t), "eval", "--tasks", train, "--policy", "random", "--baselines", "cot", "--no-progress", "--limit", "6").CombinedOutput()
	if err != nil {
		t.Fatalf("eval --policy: %v\n%s", err, out)
	}
	for _, want := range []string{"random", "cot", "95% CI", "SIMULATED"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("eval --policy output lacks %q:\n%s", want, out)
		}
	}
	if out, err := exec.Command(binary(t), "eval", "--tasks", train).CombinedOutput(); err == nil || !strings.Contains(string(out), "workflow") {
		t.Fatalf("eval without --workflow or --policy: %v %s", err, out)
	}
}
