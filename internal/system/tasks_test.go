package system

import (
	"context"
	"testing"

	"github.com/flowsteer/flowsteer/internal/task"
)

func TestPrepareTasksFiltersFamiliesThenLimits(t *testing.T) {
	ts := []task.Task{{ID: "m1", Family: task.Math}, {ID: "q1", Family: task.QA}, {ID: "m2", Family: task.Math}, {ID: "m3", Family: task.Math}}
	got, dropped, err := PrepareTasks(context.Background(), ts, []string{"math"}, 2, nil)
	if err != nil || dropped != 0 {
		t.Fatalf("PrepareTasks: %d dropped, %v", dropped, err)
	}
	if len(got) != 2 || got[0].ID != "m1" || got[1].ID != "m2" {
		t.Errorf("got %v, want m1 and m2", got)
	}
	if ts[1].ID != "q1" {
		t.Error("PrepareTasks rewrote the caller's slice")
	}
}

func TestMathGraderSettingDefaultsToAuto(t *testing.T) {
	for in, want := range map[string]string{"": "auto", "AUTO": "auto", "math-verify": "math-verify", " go ": "go"} {
		if got, err := MathGraderSetting(in); err != nil || got != want {
			t.Errorf("MathGraderSetting(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := MathGraderSetting("sympy"); err == nil {
		t.Error("MathGraderSetting accepts an unknown grader")
	}
}
