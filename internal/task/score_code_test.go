package task

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestExtractCodeTakesTheLastPythonBlock(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"last python block", "First try:\n```python\ndef f(): return 1\n```\nBetter:\n```python\ndef f(): return 2\n```\nDone.", "def f(): return 2"},
		{"python over other languages", "```python\nx = 1\n```\nOutput:\n```text\n1\n```", "x = 1"},
		{"untagged block", "```\nx = 2\n```", "x = 2"},
		{"unclosed block", "Here:\n```python\nx = 3\n", "x = 3"},
		{"answer tag first", "```python\nx = 0\n```\n<answer>\n```python\nx = 4\n```\n</answer>", "x = 4"},
		{"whole text", "def f():\n    return 5\n", "def f():\n    return 5"},
		{"ds1000 markers", "result = sorted(a)\n</code>\nEND SOLUTION", "result = sorted(a)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExtractCode(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func codeTask() Task {
	return Task{
		ID: "inc", Family: Code, Question: "Write inc(x).", EntryPoint: "inc",
		Prompt:      "def inc(x):\n    \"\"\"Return x + 1.\"\"\"\n",
		PublicTests: Tests{Style: AssertStyle, Code: "assert inc(1) == 2\n"},
		HiddenTests: Tests{Style: AssertStyle, Code: "assert inc(1) == 2\nassert inc(-1) == 0\nassert inc(10) == 11\n"},
	}
}

func TestCodeScorerRunsHiddenTests(t *testing.T) {
	run := needPython(t)
	tests := []struct {
		name    string
		answer  string
		correct bool
		expl    string // substring of the explanation
	}{
		{"passes", "```python\ndef inc(x):\n    return x + 1\n```", true, "all hidden tests passed"},
		{"completion of the prompt", "    return x + 1\n", true, "passed"},
		{"completion names its own lines", "    y = x\n    return y + nope\n", false, "(line 2 of the solution: `return y + nope`)"},
		{"prints do not matter", "def inc(x):\n    print('debug', x)\n    return x + 1\n", true, "passed"},
		{"fails a hidden test", "def inc(x):\n    return abs(x) + 1\n", false, "test `assert inc(-1) == 0` failed: AssertionError"},
		{"raises inside the solution", "def inc(x):\n    return x + undefined_name\n", false,
			"test `assert inc(1) == 2` failed: NameError: name 'undefined_name' is not defined (line 2 of the solution: `return x + undefined_name`)"},
		{"syntax error", "def inc(x)\n    return x + 1\n", false, "SyntaxError: expected ':' at line 1 of the solution"},
		{"fails before the tests", "import nonexistent_module_xyz\ndef inc(x):\n    return x + 1\n", false,
			"the solution raised ModuleNotFoundError: No module named 'nonexistent_module_xyz' at line 1 of the solution (`import nonexistent_module_xyz`) before the tests ran"},
		{"early exit does not pass", "import sys\nsys.exit(0)\n", false, "exit(0) before the tests finished"},
		{"os._exit does not pass", "import os\nos._exit(0)\n", false, "exit code 0 before the tests finished"},
		{"times out", "def inc(x):\n    while True:\n        pass\n", false, "timed out after 1.5s"},
		{"no code", "", false, "no code in the answer"},
	}
	s := Scorer{ProgramTimeout: 1500 * time.Millisecond}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := s.Score(context.Background(), codeTask(), tc.answer, run)
			if r.Correct != tc.correct || r.Method != MethodPass1 {
				t.Fatalf("got %+v, want correct=%v", r, tc.correct)
			}
			if (r.Score == 1) != tc.correct {
				t.Errorf("score %v", r.Score)
			}
			if !strings.Contains(r.Explanation, tc.expl) {
				t.Errorf("explanation = %q\nwant it to contain %q", r.Explanation, tc.expl)
			}
		})
	}
}

func TestCodeScorerHumanEvalStyleCheck(t *testing.T) {
	run := needPython(t)
	task := Task{
		ID: "he", Family: Code, Question: "p", EntryPoint: "add",
		Prompt:      "from typing import List\n\n\ndef add(xs: List[int]) -> int:\n    \"\"\"Sum xs.\"\"\"\n",
		HiddenTests: Tests{Style: AssertStyle, Code: "def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n\ncheck(add)\n"},
	}
	// A full function without the prompt's import still runs: the scorer
	// adds the imports its annotations need.
	r := Score(context.Background(), task, "def add(xs: List[int]) -> int:\n    return sum(xs)\n", run)
	if !r.Correct {
		t.Fatalf("%+v", r)
	}
	// Helpers defined in the prompt stay available to a full function.
	helper := task
	helper.Prompt = "def _double(x):\n    return 2 * x\n\n\ndef add(xs):\n    \"\"\"Sum xs.\"\"\"\n"
	if r := Score(context.Background(), helper, "def add(xs):\n    return _double(sum(xs)) // 2\n", run); !r.Correct {
		t.Fatalf("helper from the prompt: %+v", r)
	}
	r = Score(context.Background(), task, "def add(xs):\n    return sum(xs[1:])\n", run)
	if r.Correct || !strings.Contains(r.Explanation, "test `assert candidate([1, 2]) == 3` failed") {
		t.Fatalf("%+v", r)
	}
}

func TestCodeScorerStdinCases(t *testing.T) {
	run := needPython(t)
	task := Task{ID: "io", Family: Code, Question: "sum", HiddenTests: Tests{Style: IOStyle, Cases: []IOCase{
		{Input: "1 2\n", Output: "3\n"}, {Input: "5 5\n", Output: "10"}, {Input: "-1 1\n", Output: "0\n\n"},
	}}}
	tests := []struct {
		name, answer string
		correct      bool
		expl         string
	}{
		{"passes", "a, b = map(int, input().split())\nprint(a + b)", true, "all 3 hidden cases passed"},
		{"trailing spaces ignored", "a, b = map(int, input().split())\nprint(a + b, end='  \\n\\n')", true, "passed"},
		{"exit at the end is fine", "import sys\na, b = map(int, sys.stdin.buffer.read().split())\nprint(a + b)\nsys.exit(0)", true, "passed"},
		{"wrong output names the case", "a, b = map(int, input().split())\nprint(a * b)", false, `case 1 of 3: line 1: expected "3", got "2"`},
		{"runtime error", "a, b = map(int, input().split())\nprint(a + b if a != 5 else 1 // 0)", false,
			"case 2 of 3: the solution raised ZeroDivisionError: integer division or modulo by zero at line 2 of the solution"},
		{"syntax error", "print(", false, "case 1 of 3: SyntaxError"},
		{"missing output", "pass", false, `case 1 of 3: output ended at line 1, expected "3"`},
		{"times out", "while True: pass", false, "case 1 of 3: timed out after 1s"},
	}
	s := Scorer{CaseTimeout: time.Second}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := s.Score(context.Background(), task, tc.answer, run)
			if r.Correct != tc.correct {
				t.Fatalf("got %+v", r)
			}
			if !strings.Contains(r.Explanation, tc.expl) {
				t.Errorf("explanation = %q\nwant it to contain %q", r.Explanation, tc.expl)
			}
		})
	}
}

func TestCodeScorerEmbedsSolutionForDS1000(t *testing.T) {
	run := needPython(t)
	task := Task{ID: "ds", Family: Code, Question: "q", HiddenTests: Tests{Style: EmbedStyle, Code: `
def test_execution(solution: str):
    env = {"a": [3, 1, 2]}
    exec(solution, env)
    assert env["result"] == [1, 2, 3]

code = ` + SolutionPlaceholder + `
test_execution(code)
`}}
	// Quotes, backslashes and non-ASCII survive the embedding.
	r := Score(context.Background(), task, "```python\nresult = sorted(a)  # \"tri\" \\ é\n```", run)
	if !r.Correct {
		t.Fatalf("%+v", r)
	}
	r = Score(context.Background(), task, "result = a", run)
	if r.Correct || !strings.Contains(r.Explanation, "test `assert env[\"result\"] == [1, 2, 3]` failed: AssertionError") {
		t.Fatalf("%+v", r)
	}
}

type failingRunner struct{}

func (failingRunner) RunPython(context.Context, string, string, time.Duration) (string, int, bool, error) {
	return "", 0, false, errors.New("sandbox unavailable")
}

func TestCodeScorerReportsMissingOrBrokenRunner(t *testing.T) {
	r := Score(context.Background(), codeTask(), "def inc(x): return x + 1", nil)
	if r.Correct || r.Explanation != "no code runner: code cannot be scored" {
		t.Errorf("%+v", r)
	}
	r = Score(context.Background(), codeTask(), "def inc(x): return x + 1", failingRunner{})
	if r.Correct || r.Explanation != "runner error: sandbox unavailable" {
		t.Errorf("%+v", r)
	}
}
