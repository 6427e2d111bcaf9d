package engine_test

import (
	"testing"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/operator/builtin"
	"github.com/flowsteer/flowsteer/internal/task"
)

// TestEveryOperatorRunsThroughTheEngine runs all twelve operators against
// the scripted OpenAI-compatible server and the real sandbox.
func TestEveryOperatorRunsThroughTheEngine(t *testing.T) {
	addCode := "```python\ndef add(a, b):\n    return a + b\n```"
	cases := []struct {
		name  string
		task  task.Task
		dsl   string
		texts map[string]string
		final string
	}{
		{
			name:  "math",
			task:  mathTask,
			dsl:   "Plan -> Decompose -> [Custom, AnswerGenerate, Programmer] -> ScEnsemble -> Aggregate -> Review ? Revise : Format -> Verify -> Format",
			texts: with(canned, "Review", "<review_result>false</review_result><feedback>check the product</feedback>"),
			final: "42",
		},
		{
			name:  "qa",
			task:  qaTask,
			dsl:   "Plan -> [Custom, AnswerGenerate] -> ScEnsemble -> Review ? Revise : done -> Format",
			texts: map[string]string{"Plan": canned["Plan"], "Custom": "Paris", "AnswerGenerate": "<answer>Paris</answer>", "Review": canned["Review"], "Format": "<answer>Paris</answer>"},
			final: "Paris",
		},
		{
			name:  "code",
			task:  codeTask,
			dsl:   "Plan -> Programmer -> Test ? Revise : Format -> Review ? Revise : done -> Verify",
			texts: with(canned, "Programmer", "```python\ndef add(a, b):\n    return a - b\n```", "Test", addCode, "Format", addCode, "Verify", "<is_correct>true</is_correct>"),
			final: "def add(a, b):\n    return a + b",
		},
	}
	ran := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, answers(tc.texts))
			e := newEngine(t, srv.registry(t, nil), engineOpts{cache: executor.NewCache(0), sb: realSandbox(t)})
			ex := run(t, e, graph(t, tc.dsl, nil), tc.task)
			for _, n := range ex.Nodes {
				switch n.Status {
				case canvas.NodeOK:
					ran[n.Operator] = true
				case canvas.NodeSkipped:
				default:
					t.Errorf("%s (%s) is %s: %s", n.NodeID, n.Operator, n.Status, n.Error)
				}
			}
			if ex.FinalAnswer != tc.final {
				t.Errorf("final answer %q, want %q:%s", ex.FinalAnswer, tc.final, describe(ex))
			}
			if ex.Stats.Simulated || ex.Stats.Model != "scripted-model" {
				t.Errorf("stats say model %q simulated=%v", ex.Stats.Model, ex.Stats.Simulated)
			}
		})
	}
	for _, d := range builtin.Library().Defs() {
		if !ran[d.Name] {
			t.Errorf("%s never ran", d.Name)
		}
	}
}
