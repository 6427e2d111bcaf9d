package builtin

import (
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/task"
)

func fence(code string) string { return "Here is the program:\n```python\n" + code + "\n```" }

// TestProgrammerRunsCodeInTheSandbox scripts Programmer's replies and runs
// the code for real.
func TestProgrammerRunsCodeInTheSandbox(t *testing.T) {
	cases := []struct {
		name     string
		task     task.Task
		replies  []string
		forward  string
		output   string
		requests int
		runs     int
		errHas   []string
		// retryHas must appear in the second request's user prompt.
		retryHas []string
	}{
		{name: "code that prints the answer", task: mathTask, replies: []string{fence("print(6 * 7)")},
			forward: "42", output: "42", requests: 1, runs: 1},
		{name: "the last printed line is the answer", task: mathTask, replies: []string{fence("print('working')\nprint(6 * 7)")},
			forward: "42", output: "working\n42", requests: 1, runs: 1},
		{name: "unfenced code is accepted", task: mathTask, replies: []string{"x = 6 * 7\nprint(x)"},
			forward: "42", requests: 1, runs: 1},
		{name: "code that raises is retried with the traceback", task: mathTask,
			replies: []string{fence("values = [6, 7]\nprint(values[0] * values[1] / 0)"), fence("print(6 * 7)")},
			forward: "42", requests: 2, runs: 2,
			retryHas: []string{"ZeroDivisionError", "Traceback", "values[0] * values[1] / 0", "Fix the code"}},
		{name: "a reply with no code asks again for a code block", task: mathTask,
			replies: []string{"I would multiply six by seven.", fence("print(42)")},
			forward: "42", requests: 2, runs: 1, retryHas: []string{"had no code block", "I would multiply six by seven."}},
		{name: "code that prints nothing is retried", task: mathTask,
			replies: []string{fence("x = 6 * 7"), fence("print(6 * 7)")},
			forward: "42", requests: 2, runs: 2, retryHas: []string{"printed nothing"}},
		{name: "code that always raises fails after 3 attempts", task: mathTask,
			replies:  []string{fence("raise ValueError('bad input 1')"), fence("raise ValueError('bad input 2')"), fence("raise ValueError('bad input 3')")},
			requests: 3, runs: 3, errHas: []string{"Programmer", "3 attempts", "ValueError: bad input 3"}, retryHas: []string{"ValueError: bad input 1"}},
		{name: "no code at all fails after 3 attempts without running anything", task: mathTask,
			replies:  []string{"Sorry, I cannot write code."},
			requests: 3, runs: 0, errHas: []string{"3 attempts", "no Python code"}},
		{name: "an empty code block is no code", task: mathTask,
			replies: []string{"```python\n```", fence("print(42)")},
			forward: "42", requests: 2, runs: 1},
		{name: "for code tasks the code flows on, not its output", task: codeTask,
			replies: []string{fence("def add(a, b):\n    return a + b\n\nprint('side effect')")},
			forward: "def add(a, b):\n    return a + b\n\nprint('side effect')", output: "side effect", requests: 1, runs: 1},
		{name: "a code task's function may print nothing", task: codeTask,
			replies: []string{fence("def add(a, b):\n    return a + b")},
			forward: "def add(a, b):\n    return a + b", requests: 1, runs: 1},
		{name: "a stdin problem runs on its sample inputs", task: ioTask,
			replies: []string{fence("a, b = map(int, input().split())\nprint(a + b)")},
			forward: "a, b = map(int, input().split())\nprint(a + b)", output: "10", requests: 1, runs: 2},
		{name: "a wrong sample output is retried with the expected output", task: ioTask,
			replies: []string{fence("a, b = map(int, input().split())\nprint(a * b)"), fence("a, b = map(int, input().split())\nprint(a + b)")},
			forward: "a, b = map(int, input().split())\nprint(a + b)", requests: 2, runs: 3,
			retryHas: []string{"sample input 1", "expected output"}},
	}
	sb := realSandbox(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cs := newChatServer(t, seq("Programmer", tc.replies...))
			out, err := invoke(t, testEnv{b: cs.backend(t), sb: sb}, "Programmer", operator.Call{Task: tc.task, NodeID: "node_2", Inputs: operator.Fields{"analysis": text("ANALYSIS-NOTE")}})
			reqs := cs.requests()
			if len(reqs) != tc.requests {
				t.Errorf("%d requests, want %d", len(reqs), tc.requests)
			}
			if out.Usage.SandboxRuns != tc.runs {
				t.Errorf("%d sandbox runs, want %d", out.Usage.SandboxRuns, tc.runs)
			}
			if len(reqs) > 0 && !strings.Contains(reqs[0].User, "ANALYSIS-NOTE") {
				t.Errorf("first request lacks the analysis input:\n%s", reqs[0].User)
			}
			if len(tc.retryHas) > 0 {
				if len(reqs) < 2 {
					t.Fatalf("no second request")
				}
				for _, s := range tc.retryHas {
					if !strings.Contains(reqs[1].User, s) {
						t.Errorf("second request lacks %q:\n%s", s, reqs[1].User)
					}
				}
				if reqs[1].System != reqs[0].System {
					t.Errorf("the retry changed the system prompt")
				}
			}
			if len(tc.errHas) > 0 {
				if err == nil {
					t.Fatalf("want an error, got %+v", out)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Forward != tc.forward {
				t.Errorf("forward = %q, want %q", out.Forward, tc.forward)
			}
			if tc.output != "" && out.Fields.Text("output") != tc.output {
				t.Errorf("output = %q, want %q", out.Fields.Text("output"), tc.output)
			}
			if out.Code == "" || out.Fields.Text("code") != out.Code {
				t.Errorf("code field %q, Code %q", out.Fields.Text("code"), out.Code)
			}
		})
	}
}

func TestProgrammerShowsCodeTasksTheirPublicTests(t *testing.T) {
	cs := newChatServer(t, seq("Programmer", fence("def add(a, b):\n    return a + b")))
	if _, err := invoke(t, testEnv{b: cs.backend(t), sb: realSandbox(t)}, "Programmer", operator.Call{Task: codeTask}); err != nil {
		t.Fatal(err)
	}
	r := cs.requests()[0]
	if !strings.HasPrefix(r.System, programmerCodeInstr) {
		t.Errorf("a code task should get the function-writing instruction, got %q", r.System)
	}
	for _, s := range []string{"assert add(1, 2) == 3", "must be named add"} {
		if !strings.Contains(r.User, s) {
			t.Errorf("prompt lacks %q:\n%s", s, r.User)
		}
	}
}

func TestProgrammerWithoutSandboxIsANodeError(t *testing.T) {
	cs := newChatServer(t, seq("Programmer", fence("print(42)")))
	_, err := invoke(t, testEnv{b: cs.backend(t)}, "Programmer", operator.Call{Task: mathTask})
	if err == nil || !strings.Contains(err.Error(), "sandbox") {
		t.Fatalf("err = %v, want a sandbox error", err)
	}
}

// TestTestOperatorRunsPublicTests runs Test on a code task: the tests run
// in the real sandbox; the scripted server answers fix requests.
func TestTestOperatorRunsPublicTests(t *testing.T) {
	const (
		good = "def add(a, b):\n    return a + b"
		bad  = "def add(a, b):\n    return a - b"
		bad2 = "def add(a, b):\n    return a * b"
	)
	cases := []struct {
		name     string
		task     task.Task
		solution string
		fixes    []string
		verdict  bool
		forward  string
		requests int
		fixHas   []string
		fbHas    string
	}{
		{name: "passing code passes without a backend call", task: codeTask, solution: good, verdict: true, forward: good, requests: 0, fbHas: "all public tests pass"},
		{name: "fenced passing code passes", task: codeTask, solution: fence(good), verdict: true, forward: good, requests: 0},
		{name: "failing code is fixed and passes", task: codeTask, solution: bad, fixes: []string{fence(good)},
			verdict: true, forward: good, requests: 1, fixHas: []string{"AssertionError", "assert add(1, 2) == 3", "return a - b"}},
		{name: "fixed on the second fix request", task: codeTask, solution: bad, fixes: []string{fence(bad2), fence(good)},
			verdict: true, forward: good, requests: 2},
		{name: "still failing after 3 test runs is a false verdict", task: codeTask, solution: bad, fixes: []string{fence(bad2)},
			verdict: false, forward: bad2, requests: 2, fbHas: "public tests still fail"},
		{name: "a fix reply without code keeps the code", task: codeTask, solution: bad, fixes: []string{"I believe the code is right."},
			verdict: false, forward: bad, requests: 2},
		{name: "stdin/stdout cases pass", task: ioTask, solution: "a, b = map(int, input().split())\nprint(a + b)", verdict: true,
			forward: "a, b = map(int, input().split())\nprint(a + b)", requests: 0},
		{name: "stdin/stdout mismatch asks for a fix", task: ioTask, solution: "a, b = map(int, input().split())\nprint(a - b)",
			fixes:   []string{fence("a, b = map(int, input().split())\nprint(a + b)")},
			verdict: true, forward: "a, b = map(int, input().split())\nprint(a + b)", requests: 1, fixHas: []string{"expected \"3\\n\"", "got \"-1\\n\""}},
	}
	sb := realSandbox(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			script := func(op string, n int, _ seen) reply {
				if op != "Test" || len(tc.fixes) == 0 {
					t.Errorf("unexpected %s request", op)
					return reply{Status: 400}
				}
				return reply{Text: tc.fixes[min(n, len(tc.fixes)-1)]}
			}
			cs := newChatServer(t, script)
			out, err := invoke(t, testEnv{b: cs.backend(t), sb: sb}, "Test", operator.Call{Task: tc.task, Inputs: operator.Fields{"solution": text(tc.solution)}})
			if err != nil {
				t.Fatal(err)
			}
			if out.Verdict == nil || *out.Verdict != tc.verdict {
				t.Fatalf("verdict = %v, want %v (feedback %q)", out.Verdict, tc.verdict, out.Feedback)
			}
			if out.Forward != tc.forward || out.Code != tc.forward {
				t.Errorf("forward = %q, code = %q, want %q", out.Forward, out.Code, tc.forward)
			}
			reqs := cs.requests()
			if len(reqs) != tc.requests {
				t.Errorf("%d fix requests, want %d", len(reqs), tc.requests)
			}
			for _, s := range tc.fixHas {
				if len(reqs) == 0 || !strings.Contains(reqs[0].User, s) {
					t.Errorf("fix request lacks %q", s)
				}
			}
			if tc.fbHas != "" && !strings.Contains(out.Feedback, tc.fbHas) {
				t.Errorf("feedback %q lacks %q", out.Feedback, tc.fbHas)
			}
			if b := out.Fields["result"].Bool; b == nil || *b != tc.verdict {
				t.Errorf("result field = %v", b)
			}
		})
	}
}

func TestTestOperatorNeedsACodeTaskWithTests(t *testing.T) {
	for _, tk := range []task.Task{mathTask, {ID: "k-0", Family: task.Code, Question: "Write f."}} {
		_, err := invoke(t, testEnv{}, "Test", operator.Call{Task: tk, Inputs: operator.Fields{"solution": text("def f(): pass")}})
		if err == nil || !strings.Contains(err.Error(), "no public tests") {
			t.Errorf("%s: err = %v, want a no-public-tests error", tk.ID, err)
		}
	}
}

func TestCodeIn(t *testing.T) {
	cases := []struct{ reply, want string }{
		{"```python\nprint(1)\n```", "print(1)"},
		{"text\n```\nx = 1\n```\nmore", "x = 1"},
		{"<code>print(2)</code>", "print(2)"},
		{"def f(x):\n    return x", "def f(x):\n    return x"},
		{"# compute\nprint(3)", "# compute\nprint(3)"},
		{"import math\nprint(math.pi)", "import math\nprint(math.pi)"},
		{"result[0] = 5", "result[0] = 5"},
		{"<think>plan</think>\nprint(4)", "print(4)"},
		{"The answer is 42.", ""},
		{"I cannot help with that.", ""},
		{"# Answer\nThe code is fine.", ""},
		{"from the passage we learn nothing", ""},
		{"for example, try again", ""},
		{"```python\n```", ""},
		{"", ""},
	}
	for _, tc := range cases {
		if got := codeIn(tc.reply); got != tc.want {
			t.Errorf("codeIn(%q) = %q, want %q", tc.reply, got, tc.want)
		}
	}
}

func TestFieldAndVerdictReading(t *testing.T) {
	fields := []struct {
		reply, name, want string
		ok                bool
	}{
		{"<answer>1</answer><answer>2</answer>", "answer", "2", true},
		{"<Review_Result>TRUE</Review_Result>", "review_result", "TRUE", true},
		{"review_result: false", "review_result", "false", true},
		{"Review Result: false", "review_result", "false", true},
		{`{"Answer": null}`, "answer", "", false},
		{`{"answer": ["a", "b"]}`, "answer", `["a","b"]`, true},
		{"nothing here", "answer", "", false},
		{"ȺȺȺ</think><answer>7</answer>", "answer", "7", true},
	}
	for _, tc := range fields {
		got, ok := field(tc.reply, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("field(%q, %s) = %q, %v; want %q, %v", tc.reply, tc.name, got, ok, tc.want, tc.ok)
		}
	}
	verdicts := []struct {
		in    string
		v, ok bool
	}{
		{"true", true, true}, {"**Yes**", true, true}, {"Correct.", true, true}, {"pass", true, true},
		{"False", false, true}, {"no, it is wrong", false, true}, {"INCORRECT", false, true}, {"0", false, true},
		{"maybe", false, false}, {"", false, false},
	}
	for _, tc := range verdicts {
		v, ok := verdict(tc.in)
		if v != tc.v || ok != tc.ok {
			t.Errorf("verdict(%q) = %v, %v; want %v, %v", tc.in, v, ok, tc.v, tc.ok)
		}
	}
	if got := stripThink("ȺȺȺ</think> rest"); got != "rest" {
		t.Errorf("stripThink = %q, want %q", got, "rest")
	}
	if got := items("1. a\n   continued\n2) b\n- c"); strings.Join(got, "|") != "a continued|b|c" {
		t.Errorf("items = %q", got)
	}
}
