package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// --sample-temperature reaches the policy's sampling: a temperature out of
// range is refused by name before anything is played, and a low one makes
// the fixed-seed embedded policy play like its most likely choices more
// often than at 1 (here: the same outcomes as --greedy on a fresh
// network, whose sampled decisions at 1 differ).
func TestEvalSampleTemperatureIsCheckedAndUsed(t *testing.T) {
	tasks := filepath.Join("..", "..", "data", "suite", "eval.jsonl")
	run := func(args ...string) (string, error) {
		cmd := newEvalCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"--policy", "embedded", "--tasks", tasks, "--limit", "3", "--baselines", "", "--no-progress", "--math-grader", "go"}, args...))
		err := cmd.Execute()
		return out.String(), err
	}
	for _, bad := range []string{"0", "-1", "6"} {
		if _, err := run("--sample-temperature", bad); err == nil || !strings.Contains(err.Error(), "--sample-temperature") {
			t.Errorf("--sample-temperature %s: err %v, want a refusal naming the flag", bad, err)
		}
	}
	row := func(out string) string {
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 8 && strings.HasPrefix(f[0], "embedded") {
				// reward, its interval, release, finished, turns and the
				// accuracies (not tokens: sampled prompts are not argmax)
				return strings.Join(append(f[1:7], f[8:]...), " ")
			}
		}
		return ""
	}
	greedy, err := run("--greedy")
	if err != nil {
		t.Fatal(err)
	}
	cold, err := run("--sample-temperature", "0.0001")
	if err != nil {
		t.Fatal(err)
	}
	hot, err := run("--sample-temperature", "1")
	if err != nil {
		t.Fatal(err)
	}
	if row(greedy) == "" || row(cold) != row(greedy) {
		t.Errorf("temperature 0.0001 should play like --greedy:\n greedy %q\n cold   %q", row(greedy), row(cold))
	}
	if row(hot) == row(greedy) {
		t.Errorf("temperature 1 played exactly like --greedy (%q): the temperature did not reach the policy", row(hot))
	}
}
