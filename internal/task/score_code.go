package task

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

var fenceRe = regexp.MustCompile("(?s)```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```")

// ExtractCode takes the program out of an answer: the last ```python (or
// untagged) fenced block, else DS-1000's <code>...</code>, else the whole
// text; an <answer> tag, when present, is looked into first, unless the
// code is fenced outside it and the tag holds none (a reply that gives the
// program and then its printed result).
func ExtractCode(text string) string {
	if inner, ok := lastAnswerTag(text); ok && strings.TrimSpace(inner) != "" &&
		(fenceRe.MatchString(inner) || !fenceRe.MatchString(text)) {
		text = inner
	}
	var py, plain, other string
	for _, m := range fenceRe.FindAllStringSubmatch(text, -1) {
		switch strings.ToLower(m[1]) {
		case "python", "py", "python3":
			py = m[2]
		case "":
			plain = m[2]
		default:
			other = m[2]
		}
	}
	for _, c := range []string{py, plain, other} {
		if strings.TrimSpace(c) != "" {
			return dropSolutionMarkers(c)
		}
	}
	// A reply cut inside its fence has an opening and no close.
	if i := strings.LastIndex(text, "```"); i >= 0 && strings.Count(text, "```")%2 == 1 {
		rest := text[i+3:]
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
			return dropSolutionMarkers(rest[nl+1:])
		}
	}
	if i := strings.Index(text, "</code>"); i >= 0 {
		body := text[:i]
		if j := strings.LastIndex(body, "<code>"); j >= 0 {
			body = body[j+len("<code>"):]
		}
		return dropSolutionMarkers(body)
	}
	return dropSolutionMarkers(text)
}

// dropSolutionMarkers removes DS-1000's BEGIN/END SOLUTION lines, which
// models copy from the prompt.
func dropSolutionMarkers(code string) string {
	lines := strings.Split(code, "\n")
	kept := lines[:0]
	for _, l := range lines {
		switch strings.TrimSpace(l) {
		case "BEGIN SOLUTION", "END SOLUTION", "<code>", "</code>":
			continue
		}
		kept = append(kept, l)
	}
	return strings.Trim(strings.Join(kept, "\n"), "\n")
}

var importLineRe = regexp.MustCompile(`^(?:import\s+\S|from\s+\S+\s+import\s)`)

// completeCode follows HumanEval's convention that the program is the
// prompt followed by the answer. An answer that is only the completion (no
// def of the entry point) gets the prompt in front. A full function gets it
// too when the prompt is complete Python (it ends with its docstring), since
// the prompt may hold imports and helper functions the answer relies on;
// the answer's def then replaces the prompt's. A prompt that is not complete
// (APPS starter code ends inside a method) only lends its import lines.
//
// It returns the program and how many lines were put in front of the
// answer, so that explanations can name the answer's own line numbers.
func completeCode(t Task, code string) (string, int) {
	if t.Prompt == "" || t.HiddenTests.Style == EmbedStyle {
		return code, 0
	}
	definesEntry := t.EntryPoint == "" || regexp.MustCompile(`\bdef\s+`+regexp.QuoteMeta(t.EntryPoint)+`\s*\(`).MatchString(code)
	// A __future__ import must open the program: nothing can go in front.
	if definesEntry && strings.Contains(code, "from __future__") {
		return code, 0
	}
	if !definesEntry || promptIsComplete(t.Prompt) {
		head := strings.TrimRight(t.Prompt, "\n") + "\n"
		if definesEntry {
			head += "\n"
		}
		return head + code, strings.Count(head, "\n")
	}
	var missing []string
	for _, l := range strings.Split(t.Prompt, "\n") {
		if importLineRe.MatchString(l) && !strings.Contains(code, strings.TrimSpace(l)) {
			missing = append(missing, strings.TrimSpace(l))
		}
	}
	if len(missing) == 0 {
		return code, 0
	}
	return strings.Join(missing, "\n") + "\n" + code, len(missing)
}

// promptIsComplete: the prompt ends with a docstring, so it parses alone.
func promptIsComplete(p string) bool {
	p = strings.TrimRight(p, " \t\n")
	return strings.HasSuffix(p, `"""`) || strings.HasSuffix(p, "'''")
}

func (s Scorer) scoreCode(ctx context.Context, t Task, answer string, runner CodeRunner) Result {
	fail := func(format string, args ...any) Result {
		return Result{Method: MethodPass1, Explanation: fmt.Sprintf(format, args...)}
	}
	if t.HiddenTests.Empty() {
		return fail("task has no hidden tests: not scored")
	}
	if runner == nil {
		return fail("no code runner: code cannot be scored")
	}
	code := ExtractCode(answer)
	if strings.TrimSpace(code) == "" {
		return fail("no code in the answer")
	}
	code, prefix := Program(t, code)
	style := t.HiddenTests.Style
	if style == "" {
		style = AssertStyle
		if len(t.HiddenTests.Cases) > 0 {
			style = IOStyle
		}
	}
	timeout := s.ProgramTimeout
	if timeout <= 0 {
		timeout = DefaultProgramTimeout
	}
	var ok bool
	var why string
	switch style {
	case AssertStyle:
		ok, why = runProgram(ctx, runner, code, t.HiddenTests.Code, prefix, timeout)
	case EmbedStyle:
		prog := strings.ReplaceAll(t.HiddenTests.Code, SolutionPlaceholder, PythonString(code))
		ok, why = runProgram(ctx, runner, "", prog, 0, timeout)
	case IOStyle:
		ct := s.CaseTimeout
		if ct <= 0 {
			ct = DefaultCaseTimeout
		}
		ok, why = runCases(ctx, runner, code, t.HiddenTests.Cases, prefix, ct)
	default:
		return fail("unknown test style %q: not scored", style)
	}
	if ok {
		return Result{Score: 1, Correct: true, Method: MethodPass1, Explanation: why}
	}
	return fail("%s", why)
}

// PythonString is a Python expression whose value is s, safe for any
// content (quotes, backslashes, newlines, non-ASCII).
func PythonString(s string) string {
	return `__import__("base64").b64decode("` + base64.StdEncoding.EncodeToString([]byte(s)) + `").decode("utf-8")`
}

// harnessTemplate wraps a program so that a failure is reported on stdout
// (CodeRunner returns no stderr) with the kind of error and the program
// lines of its traceback. In assert mode the program's own output is
// discarded (only the verdict matters, and a chatty solution must not push
// it past the runner's output cap) and success must be confirmed by a line
// carrying a per-run nonce, so a solution that exits early with status 0
// does not pass. The harness checks; it does not isolate: that is the
// sandbox's job.
const harnessTemplate = `import sys as _fs_sys, io as _fs_io, base64 as _fs_b64, json as _fs_json, traceback as _fs_tb
_fs_out = _fs_sys.stdout
_fs_src = _fs_b64.b64decode("@SRC@").decode("utf-8")
_fs_mode = "@MODE@"

def _fs_say(status, info):
    try:
        _fs_sys.stdout.flush()
    except Exception:
        pass
    _fs_out.write("\n@NONCE@ " + status + " " + _fs_json.dumps(info) + "\n")
    _fs_out.flush()

class _FsNull(_fs_io.RawIOBase):
    def writable(self):
        return True
    def write(self, b):
        return len(b)

if _fs_mode == "assert":
    _fs_sys.stdout = _fs_io.TextIOWrapper(_fs_io.BufferedWriter(_FsNull()), encoding="utf-8")
try:
    _fs_code = compile(_fs_src, "<program>", "exec", dont_inherit=True)
except (SyntaxError, ValueError) as e:
    _fs_say("FAIL", {"kind": "syntax", "type": type(e).__name__, "msg": str(getattr(e, "msg", e)), "lines": [getattr(e, "lineno", 0) or 0]})
    _fs_sys.exit(1)
_fs_g = {"__name__": "__main__", "__builtins__": __builtins__}
try:
    exec(_fs_code, _fs_g)
except SystemExit as e:
    if _fs_mode == "io" and e.code in (None, 0):
        _fs_sys.exit(0)
    _fs_say("FAIL", {"kind": "exit", "type": "SystemExit", "msg": str(e.code), "lines": []})
    _fs_sys.exit(1)
except BaseException as e:
    try:
        _fs_msg = str(e)[:300]
    except Exception:
        _fs_msg = ""
    _fs_lines = [f.lineno for f in _fs_tb.extract_tb(e.__traceback__) if f.filename == "<program>"]
    _fs_say("FAIL", {"kind": "error", "type": type(e).__name__, "msg": _fs_msg, "lines": _fs_lines})
    _fs_sys.exit(1)
if _fs_mode == "assert":
    _fs_say("OK", {})
`

type harnessReport struct {
	Kind  string `json:"kind"`
	Type  string `json:"type"`
	Msg   string `json:"msg"`
	Lines []int  `json:"lines"`
}

func harness(program, mode, nonce string) string {
	return strings.NewReplacer(
		"@SRC@", base64.StdEncoding.EncodeToString([]byte(program)),
		"@MODE@", mode,
		"@NONCE@", nonce,
	).Replace(harnessTemplate)
}

// readHarness splits stdout into the program's own output and the
// harness's verdict line, if any.
func readHarness(stdout, nonce string) (body, status string, rep harnessReport, found bool) {
	i := strings.LastIndex(stdout, "\n"+nonce+" ")
	if i < 0 {
		return stdout, "", rep, false
	}
	body = stdout[:i]
	line := stdout[i+len(nonce)+2:]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	status, info, _ := strings.Cut(line, " ")
	_ = json.Unmarshal([]byte(info), &rep)
	return body, status, rep, true
}

// runProgram runs solution + "\n\n" + tests in one program and says
// whether every test passed, or which one failed and how.
func runProgram(ctx context.Context, runner CodeRunner, solution, tests string, prefix int, timeout time.Duration) (bool, string) {
	program, testStart := tests, 1
	if solution != "" {
		program = solution + "\n\n" + tests
		testStart = strings.Count(solution, "\n") + 3
	}
	nonce := rand.Text()
	out, code, timedOut, err := runner.RunPython(ctx, harness(program, "assert", nonce), "", timeout)
	if err != nil {
		return false, "runner error: " + clip(err.Error(), 120)
	}
	if timedOut {
		return false, fmt.Sprintf("timed out after %s", timeout)
	}
	_, status, rep, found := readHarness(out, nonce)
	if found && status == "OK" && code == 0 {
		return true, "all hidden tests passed"
	}
	if !found {
		return false, fmt.Sprintf("the program ended with exit code %d before the tests finished", code)
	}
	return false, explainFailure(rep, strings.Split(program, "\n"), lineMap{prefix: prefix, testStart: testStart})
}

// lineMap says which program lines are the prompt put in front of the
// answer (1..prefix), the answer, and the tests (testStart on; 0 when the
// program holds no tests).
type lineMap struct {
	prefix, testStart int
}

func (m lineMap) isTest(n int) bool { return m.testStart > 0 && n >= m.testStart }

// name gives a program line as the reader knows it: a line of the prompt,
// of the answer's own code, or of the tests.
func (m lineMap) name(n int) string {
	switch {
	case m.isTest(n):
		return fmt.Sprintf("line %d of the tests", n-m.testStart+1)
	case n <= m.prefix:
		return fmt.Sprintf("line %d of the prompt", n)
	case m.testStart == 1:
		return fmt.Sprintf("line %d of the program", n)
	}
	return fmt.Sprintf("line %d of the solution", n-m.prefix)
}

// explainFailure turns a harness report into one line.
func explainFailure(rep harnessReport, lines []string, m lineMap) string {
	src := func(n int) string {
		if n >= 1 && n <= len(lines) {
			return clip(strings.TrimSpace(lines[n-1]), 80)
		}
		return ""
	}
	errText := rep.Type
	if rep.Msg != "" {
		errText += ": " + clip(rep.Msg, 100)
	}
	switch rep.Kind {
	case "syntax":
		n := 0
		if len(rep.Lines) > 0 {
			n = rep.Lines[0]
		}
		return fmt.Sprintf("%s at %s", errText, m.name(n))
	case "exit":
		return fmt.Sprintf("the program called exit(%s) before the tests finished", rep.Msg)
	}
	testLine, solLine := 0, 0
	for _, n := range rep.Lines {
		if m.isTest(n) {
			testLine = n
		} else {
			solLine = n
		}
	}
	if testLine == 0 {
		when := ""
		if m.testStart > 0 {
			when = " before the tests ran"
		}
		if solLine > 0 {
			return fmt.Sprintf("the solution raised %s at %s (`%s`)%s", errText, m.name(solLine), src(solLine), when)
		}
		return fmt.Sprintf("the program raised %s", errText)
	}
	msg := fmt.Sprintf("test `%s` failed: %s", src(testLine), errText)
	if solLine > 0 && rep.Type != "AssertionError" {
		msg += fmt.Sprintf(" (%s: `%s`)", m.name(solLine), src(solLine))
	}
	return msg
}

// runCases runs the solution once per stdin/stdout case and stops at the
// first failure. Output is compared line by line with trailing whitespace
// and trailing blank lines ignored.
func runCases(ctx context.Context, runner CodeRunner, code string, cases []IOCase, prefix int, timeout time.Duration) (bool, string) {
	lines := strings.Split(code, "\n")
	for i, c := range cases {
		if err := ctx.Err(); err != nil {
			return false, "scoring cancelled: " + err.Error()
		}
		nonce := rand.Text()
		out, exit, timedOut, err := runner.RunPython(ctx, harness(code, "io", nonce), c.Input, timeout)
		label := fmt.Sprintf("case %d of %d", i+1, len(cases))
		if err != nil {
			return false, label + ": runner error: " + clip(err.Error(), 120)
		}
		if timedOut {
			return false, fmt.Sprintf("%s: timed out after %s", label, timeout)
		}
		body, _, rep, found := readHarness(out, nonce)
		if found {
			return false, label + ": " + explainFailure(rep, lines, lineMap{prefix: prefix})
		}
		if exit != 0 {
			return false, fmt.Sprintf("%s: exit code %d", label, exit)
		}
		if d := diffOutput(c.Output, body); d != "" {
			return false, label + ": " + d
		}
	}
	return true, fmt.Sprintf("all %d hidden cases passed", len(cases))
}

func outputLines(s string) []string {
	ls := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i := range ls {
		ls[i] = strings.TrimRight(ls[i], " \t\r")
	}
	for len(ls) > 0 && ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	return ls
}

// diffOutput names the first differing line, or "" when the outputs agree.
func diffOutput(want, got string) string {
	w, g := outputLines(want), outputLines(got)
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		switch {
		case i >= len(g):
			return fmt.Sprintf("output ended at line %d, expected %q", i+1, clip(a, 40))
		case i >= len(w):
			return fmt.Sprintf("unexpected extra output at line %d: %q", i+1, clip(b, 40))
		case a != b:
			return fmt.Sprintf("line %d: expected %q, got %q", i+1, clip(a, 40), clip(b, 40))
		}
	}
	return ""
}
