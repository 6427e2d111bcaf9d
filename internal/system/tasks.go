package system

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flowsteer/flowsteer/internal/sandbox"
	"github.com/flowsteer/flowsteer/internal/task"
)

// Math grader settings (Options.MathGrader, a run config's
// backend.math_grader, --math-grader).
const (
	MathGraderAuto       = "auto"
	MathGraderMathVerify = "math-verify"
	MathGraderGo         = "go"
)

// MathGraderSetting is the grader a setting asks for: "" is auto, so an
// entry point that leaves it unset still grades the way the field does
// (math-verify, the Go scorer where it cannot run). It errors on an
// unknown name.
func MathGraderSetting(s string) (string, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "", MathGraderAuto:
		return MathGraderAuto, nil
	case MathGraderMathVerify, MathGraderGo:
		return v, nil
	}
	return "", fmt.Errorf("math grader: unknown %q: use auto, math-verify or go", s)
}

// MathGraderName says which grader scores math answers in s:
// "math-verify 0.9.0", or "go" with why when math-verify is not used. In
// auto mode it starts the math-verify worker to find out (the first math
// answer would start it anyway).
func (s *System) MathGraderName() string {
	if s == nil || s.Scorer == nil {
		return "none (workflows are not executed)"
	}
	if s.Scorer.Math == nil {
		if s.mathUnavailable != "" {
			return fmt.Sprintf("go (flowsteer's scorer: math-verify is not available: %s; make mathverify installs it)", s.mathUnavailable)
		}
		return "go (flowsteer's scorer, as configured)"
	}
	if err := s.Scorer.Math.Start(); err != nil {
		return fmt.Sprintf("go (flowsteer's scorer: math-verify is not available: %v; make mathverify installs it)", err)
	}
	return s.Scorer.Math.Name()
}

// LoadTasks is how every entry point reads a task file (eval, run-workflow,
// play, tasks inspect, train and the TrainerService): task.Load (every
// official layout), then PrepareTasks. It returns the tasks and how many
// public examples were dropped.
func LoadTasks(ctx context.Context, path, format string, families []string, limit int, runner task.CodeRunner) ([]task.Task, int, error) {
	ts, err := task.Load(path, format)
	if err != nil {
		return nil, 0, err
	}
	return PrepareTasks(ctx, ts, families, limit, runner)
}

// PrepareTasks keeps the tasks of the given families (none: all), then at
// most limit of them (0: all), then drops the public examples that the
// data set's own reference solution fails (VetTasks), so the policy and
// the Test operator see only examples the reference passes.
func PrepareTasks(ctx context.Context, ts []task.Task, families []string, limit int, runner task.CodeRunner) ([]task.Task, int, error) {
	ts = FilterTasks(ts, families, limit)
	n, err := VetTasks(ctx, ts, runner)
	if err != nil {
		return nil, 0, err
	}
	return ts, n, nil
}

// FilterTasks keeps the tasks of the given families (none: all), then at
// most limit of them (0: all).
func FilterTasks(ts []task.Task, families []string, limit int) []task.Task {
	if len(families) > 0 {
		kept := ts[:0:0]
		for _, t := range ts {
			if slices.Contains(families, string(t.Family)) {
				kept = append(kept, t)
			}
		}
		ts = kept
	}
	if limit > 0 && len(ts) > limit {
		ts = ts[:limit]
	}
	return ts
}

// VetTasks runs task.VetPublicTests on ts with runner; a nil runner is a
// sandbox with the default configuration (the one the scorer of a
// default System uses), made only when some task has public examples and a
// reference to run them against.
func VetTasks(ctx context.Context, ts []task.Task, runner task.CodeRunner) (int, error) {
	need := false
	for _, t := range ts {
		if t.Family == task.Code && t.Reference != "" && !t.PublicTests.Empty() {
			need = true
			break
		}
	}
	if !need {
		return 0, nil
	}
	if runner == nil {
		sb, err := sandbox.New(sandbox.Config{})
		if err != nil {
			return 0, fmt.Errorf("sandbox: %w", err)
		}
		runner = codeRunner{sb}
	}
	return task.VetPublicTests(ctx, ts, runner, 4)
}
