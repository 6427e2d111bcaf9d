package builtin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/sandbox"
	"github.com/flowsteer/flowsteer/internal/task"
)

// Attempts bound the repair loops of SPEC section 2.
const (
	ProgrammerAttempts = 3
	TestAttempts       = 3
	codeRunTimeout     = 10 * time.Second
)

func programmer(ctx context.Context, env operator.Env, c operator.Call) (operator.Output, error) {
	var out operator.Output
	isCode := c.Task.Family == task.Code
	instr := programmerInstr
	if isCode {
		instr = programmerCodeInstr
	}
	base := "Problem:\n" + problemText(c.Task) + section("Analysis", c.Inputs.Text("analysis"))
	if isCode && !c.Task.PublicTests.Empty() {
		base += section("Example tests", publicTestsText(c.Task.PublicTests))
	}
	user := base
	var lastErr string
	for attempt := 0; attempt < ProgrammerAttempts; attempt++ {
		reply, err := call(ctx, env, c, "Programmer", instr, user, attempt, &out)
		if err != nil {
			return out, err
		}
		code := codeIn(reply)
		if code == "" {
			lastErr = "the reply holds no Python code"
			user = base + section("Your previous reply had no code block; reply with one ```python code block```", excerpt(reply, 500))
			continue
		}
		out.Code = code
		printed, failure, err := runSamples(ctx, env, &out, c.Task, code)
		if err != nil {
			return out, err
		}
		if failure == "" && !isCode && printed == "" {
			failure = "the program printed nothing; print the final answer"
		}
		if failure == "" {
			out.Fields = operator.Fields{"code": {Text: code}, "output": {Text: printed}}
			if isCode {
				out.Forward = code
			} else {
				out.Forward = lastLine(printed)
			}
			return out, nil
		}
		lastErr = failure
		user = base + section("Your previous code", "```python\n"+code+"\n```") + section("It failed with", failure) + "\n\nFix the code."
	}
	return out, fmt.Errorf("Programmer: no working code after %d attempts: %s", ProgrammerAttempts, excerpt(lastErr, 300))
}

// runSamples runs code the way task.SampleRuns says (for code tasks: on
// the problem's sample inputs, or inside a DS-1000 problem's context
// program) and returns what the last run printed, or why a run failed.
func runSamples(ctx context.Context, env operator.Env, out *operator.Output, t task.Task, code string) (string, string, error) {
	runs := task.SampleRuns(t, code)
	var printed string
	for i, r := range runs {
		res, err := env.RunPython(ctx, sandbox.Spec{Code: r.Code, Stdin: r.Stdin, Timeout: codeRunTimeout})
		if err != nil {
			return "", "", fmt.Errorf("Programmer: sandbox: %w", err)
		}
		out.Usage.SandboxRuns++
		noteIsolation(out, res)
		label := ""
		if len(runs) > 1 || r.Stdin != "" {
			label = fmt.Sprintf("sample input %d: ", i+1)
		}
		if f := runFailure(res); f != "" {
			return "", label + f, nil
		}
		printed = strings.TrimSpace(res.Stdout)
		if r.HasWant && normOut(res.Stdout) != normOut(r.Want) {
			return "", fmt.Sprintf("%sinput %q: expected output %q, got %q", label, excerpt(r.Stdin, 80), excerpt(r.Want, 80), excerpt(res.Stdout, 80)), nil
		}
	}
	return printed, "", nil
}

// testOp runs the task's public tests on the solution code and asks for a
// fix when they fail, up to TestAttempts rounds.
func testOp(ctx context.Context, env operator.Env, c operator.Call) (operator.Output, error) {
	var out operator.Output
	if c.Task.Family != task.Code || c.Task.PublicTests.Empty() {
		return out, fmt.Errorf("Test: this task has no public tests to run (Test is for code tasks with tests)")
	}
	code := task.ExtractCode(c.Inputs.Text("solution"))
	if strings.TrimSpace(code) == "" {
		code = c.Inputs.Text("solution")
	}
	var failure string
	for attempt := 0; attempt < TestAttempts; attempt++ {
		pass, why, err := runTests(ctx, env, &out, c.Task, code, c.Task.PublicTests)
		if err != nil {
			return out, err
		}
		if pass {
			v := true
			out.Verdict, out.Code, out.Forward = &v, code, code
			out.Feedback = "all public tests pass"
			out.Fields = operator.Fields{"result": {Bool: &v}, "solution": {Text: code}}
			return out, nil
		}
		failure = why
		if attempt == TestAttempts-1 {
			break
		}
		user := "Problem:\n" + problemText(c.Task) + section("Code", "```python\n"+code+"\n```") +
			section("Failing test", why) + section("Tests", publicTestsText(c.Task.PublicTests))
		reply, err := call(ctx, env, c, "Test", testFixInstr, user, attempt, &out)
		if err != nil {
			return out, err
		}
		if fixed := codeIn(reply); fixed != "" {
			code = fixed
		}
	}
	v := false
	out.Verdict, out.Code, out.Forward = &v, code, code
	out.Feedback = "public tests still fail: " + failure
	out.Fields = operator.Fields{"result": {Bool: &v}, "solution": {Text: code}}
	return out, nil
}

func runTests(ctx context.Context, env operator.Env, out *operator.Output, t task.Task, code string, tests task.Tests) (bool, string, error) {
	switch {
	case len(tests.Cases) > 0:
		prog, _ := task.Program(t, code)
		for i, tc := range tests.Cases {
			res, err := env.RunPython(ctx, sandbox.Spec{Code: prog, Stdin: tc.Input, Timeout: codeRunTimeout})
			if err != nil {
				return false, "", fmt.Errorf("Test: sandbox: %w", err)
			}
			out.Usage.SandboxRuns++
			noteIsolation(out, res)
			if f := runFailure(res); f != "" {
				return false, fmt.Sprintf("case %d: %s", i+1, f), nil
			}
			if normOut(res.Stdout) != normOut(tc.Output) {
				return false, fmt.Sprintf("case %d: input %q: expected %q, got %q", i+1, excerpt(tc.Input, 80), excerpt(tc.Output, 80), excerpt(res.Stdout, 80)), nil
			}
		}
		return true, "", nil
	default:
		prog, _ := task.Program(t, code)
		res, err := env.RunPython(ctx, sandbox.Spec{Code: prog + "\n\n" + tests.Code + "\n", Timeout: codeRunTimeout})
		if err != nil {
			return false, "", fmt.Errorf("Test: sandbox: %w", err)
		}
		out.Usage.SandboxRuns++
		noteIsolation(out, res)
		if f := runFailure(res); f != "" {
			return false, f, nil
		}
		return true, "", nil
	}
}

func publicTestsText(t task.Tests) string {
	if t.Code != "" {
		return t.Code
	}
	var b strings.Builder
	for i, c := range t.Cases {
		if i == 3 {
			break
		}
		fmt.Fprintf(&b, "input:\n%s\nexpected output:\n%s\n", c.Input, c.Output)
	}
	return b.String()
}

// runFailure describes why a run failed, "" when it succeeded.
func runFailure(r sandbox.Result) string {
	switch {
	case r.TimedOut:
		return "the program timed out"
	case r.Killed != "":
		return "the program was killed (" + r.Killed + ")"
	case r.ExitCode != 0:
		return fmt.Sprintf("exit code %d: %s", r.ExitCode, lastLines(r.Stderr, 6))
	}
	return ""
}

func noteIsolation(out *operator.Output, r sandbox.Result) {
	if r.Isolation.Note != "" {
		out.Note = "sandbox: " + r.Isolation.Note
	}
}

func normOut(s string) string {
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n")), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(lines, "\n")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
