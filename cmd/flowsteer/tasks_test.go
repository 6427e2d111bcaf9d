package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func runInspect(t *testing.T, args ...string) string {
	t.Helper()
	cmd := newTasksInspectCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("inspect %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

func TestTasksInspectShowsEveryRecordWithItsGold(t *testing.T) {
	out := runInspect(t, filepath.Join("..", "..", "testdata", "benchmarks", "mathqa", "train.json"))
	for _, want := range []string{"2 tasks", "mathqa-train-1 [mc/mathqa]", "(c) 625", "gold: c", "mathqa-train-2 [mc/mathqa]", "gold: a"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestTasksInspectShowsCodeTestsAndEntryPoint(t *testing.T) {
	// The real APPS sample: stdin problems with the question's examples.
	out := runInspect(t, "--no-vet", filepath.Join("..", "..", "testdata", "benchmarks", "apps", "test"))
	for _, want := range []string{"apps-0000 [code/apps]", "hidden tests: io style, 30", "public tests: 2 stdin/stdout examples",
		`input "|[a:b:|]" -> output "4"`, "apps-0001 [code/apps]", "public tests: 3 stdin/stdout examples", `input "521" -> output "499"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A call-based problem (a flowsteer-written fixture in APPS's layout):
	// entry point and assert-style tests.
	out = runInspect(t, "--no-vet", filepath.Join("..", "..", "internal", "task", "testdata", "flowsteer_written", "apps", "test"))
	for _, want := range []string{"apps-0000 [code/apps]", "entry point: numIdenticalPairs", "hidden tests: assert style, 3",
		"assert _fs_same(_fs_call(*[[1,2,3,1,1,3]]), 4)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestTasksInspectJSONPrintsOneTaskPerLine(t *testing.T) {
	out := runInspect(t, "--json", "--no-vet", filepath.Join("..", "..", "testdata", "benchmarks", "gsm8k", "test.jsonl"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 20 {
		t.Fatalf("%d lines, want 20", len(lines))
	}
	var first struct {
		ID      string   `json:"id"`
		Answers []string `json:"answers"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.ID != "gsm8k-test-1" || first.Answers[0] != "18" {
		t.Fatalf("first line %s: %v", lines[0], err)
	}
}
