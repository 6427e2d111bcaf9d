package task

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestGenerateIsDeterministicPerSeed(t *testing.T) {
	a, b := Generate(30, 5), Generate(30, 5)
	want(t, a, b)
	if c := Generate(30, 6); fmt.Sprint(c) == fmt.Sprint(a) {
		t.Error("a different seed gave the same suite")
	}
	// A task depends on (seed, family, index) only, not on n or the mix.
	small := Generate(6, 5)
	byID := map[string]Task{}
	for _, x := range a {
		byID[x.ID] = x
	}
	for _, x := range small {
		want(t, x, byID[x.ID])
	}
	mathOnly := Generate(3, 5, Mix{Math: 1})
	want(t, mathOnly[2], byID["syn-math-0003"])
}

func TestGenerateSplitsByMixAndInterleaves(t *testing.T) {
	count := func(ts []Task) map[Family]int {
		m := map[Family]int{}
		for _, x := range ts {
			m[x.Family]++
		}
		return m
	}
	want(t, count(Generate(30, 1)), map[Family]int{Math: 10, QA: 10, Code: 10})
	want(t, count(Generate(8, 1, Mix{Math: 2, QA: 1, Code: 1})), map[Family]int{Math: 4, QA: 2, Code: 2})
	want(t, count(Generate(5, 1, Mix{QA: 1})), map[Family]int{QA: 5})
	want(t, count(Generate(4, 1, Mix{Math: -1})), map[Family]int{Math: 2, QA: 1, Code: 1}) // nothing positive: default
	want(t, len(Generate(0, 1)), 0)
	ts := Generate(6, 1)
	var fams []Family
	for _, x := range ts {
		fams = append(fams, x.Family)
	}
	want(t, fams, []Family{Math, QA, Code, Math, QA, Code})
	want(t, ts[0].ID, "syn-math-0001")
	want(t, ts[5].ID, "syn-code-0002")
}

func TestGeneratedTasksValidate(t *testing.T) {
	sources := map[Family]string{Math: SourceSyntheticMath, QA: SourceSyntheticQA, Code: SourceSyntheticCode}
	seen := map[string]bool{}
	for _, x := range Generate(300, 11) {
		if err := x.Validate(); err != nil {
			t.Error(err)
		}
		if x.Difficulty <= 0 || x.Difficulty > 1 {
			t.Errorf("%s: difficulty %v outside (0, 1]", x.ID, x.Difficulty)
		}
		if x.Source != sources[x.Family] {
			t.Errorf("%s: source %q", x.ID, x.Source)
		}
		if seen[x.ID] {
			t.Errorf("duplicate id %s", x.ID)
		}
		seen[x.ID] = true
	}
}

var (
	unmentionedRe = regexp.MustCompile(`\b(die|died|death|brother|university|students|succeeded|successor)\b`)
	firstIntRe    = regexp.MustCompile(`\d+`)
	opWords       = []struct {
		op byte
		re *regexp.Regexp
	}{
		{'*', regexp.MustCompile(`times as`)},
		{'/', regexp.MustCompile(`equal`)},
		{'+', regexp.MustCompile(`\bmore\b`)},
		{'-', regexp.MustCompile(`\b(gives|loses|spends|ship)\b`)},
	}
)

// recompute reads a generated word problem the way a person would, from
// its words alone, and works out the answer.
func recompute(t *testing.T, q string) int {
	t.Helper()
	sents := strings.Split(q, ". ")
	v, err := strconv.Atoi(firstIntRe.FindString(sents[0]))
	if err != nil {
		t.Fatalf("no start quantity in %q", sents[0])
	}
	for _, s := range sents[1:] {
		if strings.HasSuffix(s, "?") && !firstIntRe.MatchString(s) {
			break // the question
		}
		n, err := strconv.Atoi(firstIntRe.FindString(s))
		if err != nil {
			t.Fatalf("no number in %q", s)
		}
		var ops []byte
		for _, w := range opWords {
			if w.re.MatchString(s) {
				ops = append(ops, w.op)
			}
		}
		if len(ops) != 1 {
			t.Fatalf("sentence %q reads as %q, want exactly one operation", s, ops)
		}
		switch ops[0] {
		case '+':
			v += n
		case '-':
			v -= n
		case '*':
			v *= n
		case '/':
			if v%n != 0 {
				t.Fatalf("%d does not split into %d equal parts", v, n)
			}
			v /= n
		}
		if v <= 0 {
			t.Fatalf("quantity reached %d in %q", v, q)
		}
	}
	return v
}

func TestGeneratedMathAnswersFollowFromTheText(t *testing.T) {
	steps := map[int]int{}
	for _, x := range Generate(200, 3, Mix{Math: 1}) {
		got := recompute(t, x.Question)
		if x.Answers[0] != strconv.Itoa(got) {
			t.Errorf("%s: answer %s, the text gives %d: %s", x.ID, x.Answers[0], got, x.Question)
		}
		steps[strings.Count(x.Question, ". ")-1]++ // start. op. ... question?
		if r := Score(context.Background(), x, "The answer is "+x.Answers[0]+".", nil); !r.Correct {
			t.Errorf("%s: gold refused: %s", x.ID, r.Explanation)
		}
		if n := len(x.Distractors); n < 3 || n > 4 {
			t.Errorf("%s: %d distractors", x.ID, n)
		}
		seen := map[string]bool{}
		for _, d := range x.Distractors {
			if seen[d] {
				t.Errorf("%s: repeated distractor %s", x.ID, d)
			}
			seen[d] = true
			if r := Score(context.Background(), x, d, nil); r.Correct {
				t.Errorf("%s: distractor %s accepted", x.ID, d)
			}
		}
	}
	for n := 1; n <= 4; n++ {
		if steps[n] == 0 {
			t.Errorf("no problem with %d operations", n)
		}
	}
}

func TestGeneratedQAIsExtractiveWithUnanswerableShare(t *testing.T) {
	ts := Generate(300, 4, Mix{QA: 1})
	unans := 0
	for _, x := range ts {
		if x.Context == "" {
			t.Fatalf("%s: no passage", x.ID)
		}
		if len(x.Distractors) != 3 {
			t.Errorf("%s: %d distractors", x.ID, len(x.Distractors))
		}
		for _, d := range x.Distractors {
			if r := Score(context.Background(), x, d, nil); r.Correct {
				t.Errorf("%s: distractor %q accepted", x.ID, d)
			}
		}
		if x.Unanswerable {
			unans++
			if m := unmentionedRe.FindString(x.Context); m != "" {
				t.Errorf("%s: passage mentions %q, which unanswerable questions ask about", x.ID, m)
			}
			if r := Score(context.Background(), x, "The passage does not say.", nil); !r.Correct {
				t.Errorf("%s: no-answer refused: %s", x.ID, r.Explanation)
			}
			continue
		}
		if !strings.Contains(x.Context, x.Answers[0]) {
			t.Errorf("%s: answer %q is not a span of the passage", x.ID, x.Answers[0])
		}
		for _, a := range x.Answers {
			if r := Score(context.Background(), x, "<answer>"+a+"</answer>", nil); !r.Correct || r.Score != 1 {
				t.Errorf("%s: alias %q refused: %s", x.ID, a, r.Explanation)
			}
		}
	}
	if share := float64(unans) / float64(len(ts)); share < 0.12 || share > 0.28 {
		t.Errorf("unanswerable share %.2f, want about 0.2", share)
	}
}

func TestGeneratedCodeReferencePassesAndDistractorsFail(t *testing.T) {
	run := needPython(t)
	ts := Generate(200, 9, Mix{Code: 1})
	kinds := map[string]bool{}
	var checks []codeCheck
	for _, x := range ts {
		kinds[x.EntryPoint] = true
		pub := strings.Count(x.PublicTests.Code, "assert ")
		if pub < 1 || pub > 2 || strings.Count(x.HiddenTests.Code, "assert ") < 6 {
			t.Errorf("%s: %d public and %d hidden asserts", x.ID, pub, strings.Count(x.HiddenTests.Code, "assert "))
		}
		if len(x.Distractors) < 2 {
			t.Errorf("%s: %d distractors", x.ID, len(x.Distractors))
		}
		// The docstring example is the first public test, readable by the
		// HumanEval-style extraction too.
		first, _, _ := strings.Cut(x.PublicTests.Code, "\n")
		if got := docExampleTests(x.Prompt, x.EntryPoint); got != first+"\n" {
			t.Errorf("%s: docstring example reads as %q, want %q", x.ID, got, first)
		}
		checks = append(checks,
			codeCheck{x.ID + " reference/hidden", x.Reference, x.HiddenTests.Code, true},
			codeCheck{x.ID + " reference/public", x.Reference, x.PublicTests.Code, true})
		for i, d := range x.Distractors {
			checks = append(checks, codeCheck{fmt.Sprintf("%s distractor %d", x.ID, i), d, x.HiddenTests.Code, false})
		}
	}
	if len(kinds) != len(codeKinds) {
		t.Errorf("only %d of %d kinds of function generated: %v", len(kinds), len(codeKinds), kinds)
	}
	runChecks(t, run, checks)
	// And a few through the scorer itself, end to end.
	for _, x := range ts[:4] {
		if r := Score(context.Background(), x, x.Reference, run); !r.Correct {
			t.Errorf("%s: reference fails: %s", x.ID, r.Explanation)
		}
		if r := Score(context.Background(), x, x.Distractors[0], run); r.Correct {
			t.Errorf("%s: distractor passes", x.ID)
		}
	}
}

type codeCheck struct {
	Name, Code, Tests string
	Pass              bool
}

// runChecks runs many solution+tests programs in one python3 process, each
// in fresh globals: a process per program would take most of the test's
// time starting interpreters.
func runChecks(t *testing.T, run pythonRunner, checks []codeCheck) {
	t.Helper()
	data, err := json.Marshal(checks)
	if err != nil {
		t.Fatal(err)
	}
	prog := `import json, sys
checks = json.loads(` + PythonString(string(data)) + `)
bad = []
for c in checks:
    try:
        exec(compile(c["Code"] + "\n\n" + c["Tests"], c["Name"], "exec"), {"__name__": "__main__"})
        ok, why = True, ""
    except BaseException as e:
        ok, why = False, "%s: %s" % (type(e).__name__, e)
    if ok != c["Pass"]:
        bad.append("%s: passed=%s, want %s %s" % (c["Name"], ok, c["Pass"], why))
print(json.dumps({"n": len(checks), "bad": bad}))
`
	out, code, timedOut, err := run.RunPython(context.Background(), prog, "", time.Minute)
	if err != nil || timedOut || code != 0 {
		t.Fatalf("checker: err %v, timed out %v, exit %d, output %q", err, timedOut, code, out)
	}
	var res struct {
		N   int
		Bad []string
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("checker output %q: %v", out, err)
	}
	if res.N != len(checks) {
		t.Errorf("checker ran %d of %d programs", res.N, len(checks))
	}
	for _, b := range res.Bad {
		t.Error(b)
	}
}
