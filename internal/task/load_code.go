package task

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MBPP: {"task_id", "text", "code", "test_list", "test_setup_code",
// "challenge_test_list"}; the sanitized release says "prompt" for "text" and
// adds "test_imports". Public tests: the first assert of test_list (the
// policy needs the function name and call shape). Hidden: all of test_list
// plus the challenge tests.
func convMBPP(r rec) (Task, error) {
	text, err := r.nonEmpty("text", "prompt")
	if err != nil {
		return Task{}, err
	}
	code, err := r.optStr("code")
	if err != nil {
		return Task{}, err
	}
	tests, err := r.strList("test_list")
	if err != nil {
		return Task{}, err
	}
	if len(tests) == 0 {
		return Task{}, r.bad("test_list", "is empty")
	}
	var challenge, imports []string
	if r.has("challenge_test_list") {
		if challenge, err = r.strList("challenge_test_list"); err != nil {
			return Task{}, err
		}
	}
	if r.has("test_imports") {
		if imports, err = r.strList("test_imports"); err != nil {
			return Task{}, err
		}
	}
	setup, err := r.optStr("test_setup_code")
	if err != nil {
		return Task{}, err
	}
	var head []string
	if s := strings.TrimSpace(crlf(setup)); s != "" {
		head = append(head, s)
	}
	head = append(head, imports...)
	join := func(lines ...[]string) string {
		var all []string
		for _, l := range lines {
			for _, s := range l {
				all = append(all, strings.TrimRight(crlf(s), "\n"))
			}
		}
		return strings.Join(all, "\n") + "\n"
	}
	code = crlf(code)
	id, err := r.id(FormatMBPP, "task_id")
	if err != nil {
		return Task{}, err
	}
	return Task{
		ID: id, Family: Code, Source: FormatMBPP, Question: strings.TrimSpace(text),
		EntryPoint:  mbppEntryPoint(code, tests[0]),
		PublicTests: Tests{Style: AssertStyle, Code: join(head, tests[:1])},
		HiddenTests: Tests{Style: AssertStyle, Code: join(head, tests, challenge)},
		Reference:   code,
	}, nil
}

var (
	defName  = regexp.MustCompile(`(?m)^def\s+([A-Za-z_]\w*)\s*\(`)
	callName = regexp.MustCompile(`([A-Za-z_][\w.]*)\s*\(`)
)

// pyBuiltins are names a test may call before the function under test.
var pyBuiltins = map[string]bool{
	"set": true, "sorted": true, "list": true, "tuple": true, "abs": true, "round": true, "len": true,
	"str": true, "int": true, "float": true, "math.isclose": true, "isclose": true, "dict": true, "frozenset": true, "not": true,
}

// mbppEntryPoint finds the tested function: a def of the reference that the
// first test calls, else the first non-builtin call of the test.
func mbppEntryPoint(code, test string) string {
	for _, m := range defName.FindAllStringSubmatch(code, -1) {
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(m[1]) + `\s*\(`).MatchString(test) {
			return m[1]
		}
	}
	for _, m := range callName.FindAllStringSubmatch(test, -1) {
		if !pyBuiltins[m[1]] {
			return m[1]
		}
	}
	return ""
}

// HumanEval: {"task_id", "prompt", "canonical_solution", "test",
// "entry_point"}. Hidden tests: test + check(entry_point). Public tests:
// the docstring's examples (">>> f(x)" followed by a result line, or
// "f(x) ==> y" style lines) turned into asserts; they are in the prompt the
// policy sees anyway, so nothing hidden leaks. A task whose docstring has
// none has no public tests: an assert of check() is a hidden test.
// Examples the canonical solution fails (HumanEval/47, /80, /130, /148) are
// dropped by VetPublicTests.
func convHumanEval(r rec) (Task, error) {
	prompt, err := r.nonEmpty("prompt")
	if err != nil {
		return Task{}, err
	}
	test, err := r.nonEmpty("test")
	if err != nil {
		return Task{}, err
	}
	entry, err := r.nonEmpty("entry_point")
	if err != nil {
		return Task{}, err
	}
	sol, err := r.optStr("canonical_solution")
	if err != nil {
		return Task{}, err
	}
	entry = strings.TrimSpace(entry)
	id, err := r.id(FormatHumanEval, "task_id")
	if err != nil {
		return Task{}, err
	}
	pub := docExampleTests(prompt, entry)
	t := Task{
		ID: id, Family: Code, Source: FormatHumanEval, Question: prompt, Prompt: prompt, EntryPoint: entry,
		HiddenTests: Tests{Style: AssertStyle, Code: strings.TrimRight(test, "\n") + "\n\ncheck(" + entry + ")\n"},
	}
	if pub != "" {
		t.PublicTests = Tests{Style: AssertStyle, Code: pub}
	}
	if sol != "" {
		t.Reference = prompt + sol
	}
	return t, nil
}

var exampleArrows = []string{"==>", "=>", "➞", "->", "==", "=", "should return", "returns", "return"}

// docExampleTests turns a prompt's docstring examples into asserts; "" when
// there are none it can read with confidence.
func docExampleTests(prompt, entry string) string {
	lines := strings.Split(crlf(prompt), "\n")
	var out []string
	seen := map[string]bool{}
	add := func(expr, res string) {
		res = strings.TrimRight(strings.TrimSpace(res), ".,;")
		n, ok := scanLiteral(res)
		if !ok || n != len(res) || !strings.Contains(expr, entry+"(") || !balancedBrackets(expr) ||
			hasTopLevelAssign(expr) || strings.HasPrefix(expr, "print(") {
			return
		}
		var a string
		if isFloatLiteral(res) {
			a = fmt.Sprintf("assert abs(%s - (%s)) < 1e-6", expr, res)
		} else {
			a = fmt.Sprintf("assert %s == %s", expr, res)
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	inDoc := false
	for i := 0; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if strings.Count(t, `"""`)%2 == 1 || strings.Count(t, `'''`)%2 == 1 {
			inDoc = !inDoc
		}
		if !inDoc {
			continue
		}
		if strings.HasPrefix(t, ">>>") {
			expr := strings.TrimSpace(t[3:])
			if i+1 >= len(lines) {
				break
			}
			res := strings.TrimSpace(lines[i+1])
			if res == "" || strings.HasPrefix(res, ">>>") || strings.HasPrefix(res, "...") || strings.Contains(res, `"""`) || strings.Contains(res, "'''") {
				continue
			}
			// A result that goes on over more lines cannot be read from one line.
			if i+2 < len(lines) {
				next := strings.TrimSpace(lines[i+2])
				if next != "" && !strings.HasPrefix(next, ">>>") && !strings.HasPrefix(next, `"""`) && !strings.HasPrefix(next, "'''") {
					continue
				}
			}
			add(expr, res)
			continue
		}
		// "f(1, 2) ==> 3" style: the call must open the line.
		at := strings.Index(t, entry+"(")
		if at < 0 {
			continue
		}
		call := t[at:]
		end := matchParen(call, len(entry))
		if end < 0 {
			continue
		}
		rest := strings.TrimSpace(call[end+1:])
		for _, arrow := range exampleArrows {
			if strings.HasPrefix(rest, arrow) {
				if at > 0 && !isExampleLead(t[:at]) {
					break
				}
				add(call[:end+1], strings.TrimSpace(rest[len(arrow):]))
				break
			}
		}
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}

// isExampleLead accepts what may come before a call on an example line:
// bullets, "Example:", "For example," and the like.
func isExampleLead(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimLeft(s, "-*• ")
	for _, p := range []string{"", "example:", "examples:", "for example:", "for example,", "e.g.", "e.g.,", "example", "for example"} {
		if s == p {
			return true
		}
	}
	return false
}

// APPS: {"problem_id", "question", "solutions": "<JSON list>", "input_output":
// "<JSON {inputs, outputs, fn_name?}>", "difficulty", "starter_code"}.
// Standard-input problems become IOStyle cases; call-based ones (fn_name)
// become asserts that call the function (or Solution().fn_name) with each
// argument list and compare the JSON-normalised result, which is how APPS'
// own checker treats the one-element output lists. Public: the examples
// of the question text (apps_examples.go), none when it shows none; hidden:
// all of input_output.
func convAPPS(r rec) (Task, error) {
	q, err := r.nonEmpty("question")
	if err != nil {
		return Task{}, err
	}
	if !r.has("input_output") {
		return Task{}, r.missing("input_output")
	}
	ioRaw := r.f["input_output"]
	if jsonKind(ioRaw) == "string" {
		s := rawString(ioRaw)
		if strings.TrimSpace(s) == "" {
			return Task{}, r.bad("input_output", "is empty: the problem has no tests")
		}
		ioRaw = json.RawMessage(s)
	}
	var io struct {
		Inputs  []json.RawMessage `json:"inputs"`
		Outputs []json.RawMessage `json:"outputs"`
		FnName  string            `json:"fn_name"`
	}
	if err := json.Unmarshal(ioRaw, &io); err != nil {
		return Task{}, r.bad("input_output", "is not JSON {inputs, outputs}: %v", err)
	}
	if len(io.Inputs) == 0 || len(io.Inputs) != len(io.Outputs) {
		return Task{}, r.bad("input_output", "has %d inputs and %d outputs, want the same non-zero number", len(io.Inputs), len(io.Outputs))
	}
	var ref string
	if r.has("solutions") {
		raw := r.f["solutions"]
		if jsonKind(raw) == "string" {
			raw = json.RawMessage(rawString(raw))
		}
		var sols []string
		if len(bytes.TrimSpace(raw)) > 0 {
			if err := json.Unmarshal(raw, &sols); err != nil {
				return Task{}, r.bad("solutions", "is not a JSON list of strings: %v", err)
			}
		}
		if len(sols) > 0 {
			ref = crlf(sols[0])
		}
	}
	starter, err := r.optStr("starter_code")
	if err != nil {
		return Task{}, err
	}
	diff := 0.0
	if r.has("difficulty") {
		d, err := r.str("difficulty")
		if err != nil {
			return Task{}, err
		}
		diff = levelDifficulty(d)
	}
	id, err := r.id(FormatAPPS, "problem_id", "id")
	if err != nil {
		return Task{}, err
	}
	t := Task{ID: id, Family: Code, Source: FormatAPPS, Question: q, Prompt: crlf(starter), Reference: ref, Difficulty: diff}
	if io.FnName != "" {
		t.EntryPoint = io.FnName
		head := appsCallHeader(io.FnName)
		var lines []string
		for i := range io.Inputs {
			args, err := pyJSON(io.Inputs[i])
			if err != nil {
				return Task{}, r.bad("input_output", "inputs[%d]: %v", i, err)
			}
			if jsonKind(io.Inputs[i]) != "array" {
				args = "[" + args + "]"
			}
			want, err := pyJSON(io.Outputs[i])
			if err != nil {
				return Task{}, r.bad("input_output", "outputs[%d]: %v", i, err)
			}
			lines = append(lines, fmt.Sprintf("assert _fs_same(_fs_call(*%s), %s), %q", args, want, fmt.Sprintf("case %d", i+1)))
		}
		// Public: the examples of the problem statement, never a hidden case.
		if args, wants := appsCallExamples(q); len(args) > 0 {
			var pub []string
			for i := range args {
				pub = append(pub, fmt.Sprintf("assert _fs_same(_fs_call(*%s), %s), %q", args[i], wants[i], fmt.Sprintf("example %d", i+1)))
			}
			t.PublicTests = Tests{Style: AssertStyle, Code: head + strings.Join(pub, "\n") + "\n"}
		}
		t.HiddenTests = Tests{Style: AssertStyle, Code: head + strings.Join(lines, "\n") + "\n"}
		return t, nil
	}
	cases := make([]IOCase, len(io.Inputs))
	for i := range io.Inputs {
		in, err := ioText(io.Inputs[i])
		if err != nil {
			return Task{}, r.bad("input_output", "inputs[%d]: %v", i, err)
		}
		out, err := ioText(io.Outputs[i])
		if err != nil {
			return Task{}, r.bad("input_output", "outputs[%d]: %v", i, err)
		}
		cases[i] = IOCase{Input: in, Output: out}
	}
	if ex := appsStdinExamples(q); len(ex) > 0 {
		t.PublicTests = Tests{Style: IOStyle, Cases: ex}
	}
	t.HiddenTests = Tests{Style: IOStyle, Cases: cases}
	return t, nil
}

func appsCallHeader(fn string) string {
	return `true, false, null = True, False, None  # the cases below are JSON

def _fs_call(*args):
    f = globals().get(` + strconv.Quote(fn) + `)
    if f is None and "Solution" in globals():
        f = getattr(Solution(), ` + strconv.Quote(fn) + `)
    return f(*args)

def _fs_same(got, want):
    import json
    try:
        got = json.loads(json.dumps(got))
    except (TypeError, ValueError):
        pass
    return got == want or (isinstance(want, list) and len(want) == 1 and got == want[0])

`
}

// pyJSON re-encodes a JSON value so that it is also a Python literal (given
// true/false/null bound): numbers keep their digits, and escapes Python does
// not know (\/) are gone.
func pyJSON(raw json.RawMessage) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// ioText reads an APPS stdin/stdout value: a string, or a list of lines.
func ioText(raw json.RawMessage) (string, error) {
	switch jsonKind(raw) {
	case "string":
		return crlf(rawString(raw)), nil
	case "array":
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return "", err
		}
		parts := make([]string, len(items))
		for i, it := range items {
			if jsonKind(it) == "string" {
				parts[i] = rawString(it)
			} else {
				parts[i] = string(it)
			}
		}
		return crlf(strings.Join(parts, "\n")), nil
	case "number", "bool":
		return string(raw), nil
	}
	return "", fmt.Errorf("is a JSON %s, want a string", jsonKind(raw))
}

// DS-1000: {"prompt", "reference_code", "code_context", "metadata":
// {"problem_id", "library", ...}}. The hidden test is the official
// evaluation program: code_context, then test_execution(solution) and
// test_string(solution) when defined, with the solution passed as a string
// (EmbedStyle). DS-1000 has no public tests.
func convDS1000(r rec) (Task, error) {
	prompt, err := r.nonEmpty("prompt")
	if err != nil {
		return Task{}, err
	}
	cc, err := r.nonEmpty("code_context")
	if err != nil {
		return Task{}, err
	}
	ref, err := r.optStr("reference_code")
	if err != nil {
		return Task{}, err
	}
	if !strings.Contains(cc, "def test_execution(") {
		return Task{}, r.bad("code_context", "defines no test_execution(solution)")
	}
	prog := strings.TrimRight(crlf(cc), "\n") + "\n\ncode = " + SolutionPlaceholder + "\ntest_execution(code)\n"
	if strings.Contains(cc, "def test_string(") {
		prog += "test_string(code)\n"
	}
	id := r.defID
	if r.has("metadata") {
		md, err := r.object("metadata")
		if err != nil {
			return Task{}, err
		}
		md.defID = r.defID
		if id, err = md.id(FormatDS1000, "problem_id"); err != nil {
			return Task{}, err
		}
	}
	return Task{
		ID: id, Family: Code, Source: FormatDS1000, Question: prompt, Prompt: prompt,
		HiddenTests: Tests{Style: EmbedStyle, Code: prog},
		Reference:   crlf(ref),
	}, nil
}

func crlf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// scanCode walks s from index from, skipping string literals, and calls
// visit for every other byte with the bracket depth after that byte; visit
// returns false to stop. It returns the final depth and whether s ended
// inside a string literal. One walker serves the three questions the
// loaders ask of Python snippets below.
func scanCode(s string, from int, visit func(i int, c byte, depth int) bool) (depth int, inString bool) {
	var quote byte
	for i := from; i < len(s); i++ {
		c := s[i]
		if quote != 0 {
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"':
			quote = c
			continue
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		}
		if !visit(i, c, depth) {
			return depth, quote != 0
		}
	}
	return depth, quote != 0
}

// balancedBrackets reports whether (), [] and {} balance outside string
// literals.
func balancedBrackets(s string) bool {
	negative := false
	depth, inString := scanCode(s, 0, func(_ int, _ byte, d int) bool {
		negative = d < 0
		return !negative
	})
	return !negative && depth == 0 && !inString
}

// matchParen returns the index of the bracket closing the one at open, or -1.
func matchParen(s string, open int) int {
	at := -1
	scanCode(s, open, func(i int, c byte, d int) bool {
		if d == 0 && (c == ')' || c == ']' || c == '}') {
			at = i
			return false
		}
		return true
	})
	return at
}

var numLiteral = regexp.MustCompile(`^-?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)`)

// scanLiteral measures the Python literal at the start of s (number,
// string, True/False/None, or a bracketed value); ok is false when s does
// not start with one.
func scanLiteral(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	for _, kw := range []string{"True", "False", "None"} {
		if strings.HasPrefix(s, kw) {
			return len(kw), true
		}
	}
	switch c := s[0]; {
	case c == '\'' || c == '"':
		for i := 1; i < len(s); i++ {
			if s[i] == '\\' {
				i++
			} else if s[i] == c {
				return i + 1, true
			}
		}
		return 0, false
	case c == '(' || c == '[' || c == '{':
		end := matchParen(s, 0)
		if end < 0 {
			return 0, false
		}
		return end + 1, true
	}
	if m := numLiteral.FindString(s); m != "" {
		return len(m), true
	}
	return 0, false
}

func isFloatLiteral(s string) bool {
	if m := numLiteral.FindString(s); m == s {
		return strings.ContainsAny(s, ".eE")
	}
	return false
}

// hasTopLevelAssign reports an "=" outside brackets that is not part of a
// comparison: ">>> x = f(1)" is a statement, not an expression to assert.
func hasTopLevelAssign(s string) bool {
	found := false
	scanCode(s, 0, func(i int, c byte, d int) bool {
		if c != '=' || d > 0 {
			return true
		}
		var prev, next byte
		if i > 0 {
			prev = s[i-1]
		}
		if i+1 < len(s) {
			next = s[i+1]
		}
		// "==", "<=", ">=", "!=" are comparisons: both bytes of "==" fail here.
		found = next != '=' && strings.IndexByte("=<>!", prev) < 0
		return !found
	})
	return found
}
