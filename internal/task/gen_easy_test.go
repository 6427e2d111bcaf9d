package task

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func TestEasyLevelKeepsTheStandardSuiteAndItsOwnIDs(t *testing.T) {
	want(t, GenerateLevel(30, 5, Standard), Generate(30, 5))
	easy := GenerateLevel(6, 5, Easy)
	var ids []string
	for _, x := range easy {
		ids = append(ids, x.ID)
	}
	want(t, ids, []string{"syn-easy-math-0001", "syn-easy-qa-0001", "syn-easy-code-0001", "syn-easy-math-0002", "syn-easy-qa-0002", "syn-easy-code-0002"})
	want(t, GenerateLevel(6, 5, Easy), easy)
	for _, s := range []string{"standard", "easy"} {
		if l, err := ParseLevel(s); err != nil || string(l) != s {
			t.Errorf("ParseLevel(%q) = %q, %v", s, l, err)
		}
	}
	if _, err := ParseLevel("hard"); err == nil || !strings.Contains(err.Error(), "standard, easy") {
		t.Errorf("ParseLevel(hard) = %v, want an error naming the levels", err)
	}
}

func TestEasyMathIsOneSmallAdditionOrSubtraction(t *testing.T) {
	ops := map[byte]int{}
	for _, x := range GenerateLevel(200, 3, Easy, Mix{Math: 1}) {
		if err := x.Validate(); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(x.Question, ". "); n != 2 { // start. op. question?
			t.Errorf("%s: %d sentences before the question, want 2: %s", x.ID, n, x.Question)
		}
		got := recompute(t, x.Question)
		if x.Answers[0] != strconv.Itoa(got) || got > 29 {
			t.Errorf("%s: answer %s, the text gives %d (want at most 29): %s", x.ID, x.Answers[0], got, x.Question)
		}
		for _, w := range opWords {
			if w.re.MatchString(x.Question) {
				ops[w.op]++
			}
		}
		for _, d := range x.Distractors {
			if r := Score(context.Background(), x, d, nil); r.Correct {
				t.Errorf("%s: distractor %s accepted", x.ID, d)
			}
		}
	}
	if ops['+'] == 0 || ops['-'] == 0 || ops['*']+ops['/'] != 0 {
		t.Errorf("operations %v, want additions and subtractions only", ops)
	}
}

func TestEasyQAAsksOnlyAnswerableSingleHopQuestions(t *testing.T) {
	for _, x := range GenerateLevel(200, 4, Easy, Mix{QA: 1}) {
		if err := x.Validate(); err != nil {
			t.Fatal(err)
		}
		if x.Unanswerable || len(x.Answers) == 0 {
			t.Fatalf("%s: unanswerable question at the easy level: %s", x.ID, x.Question)
		}
		if x.Difficulty >= easyQA+0.1 {
			t.Errorf("%s: difficulty %v, a two-hop question: %s", x.ID, x.Difficulty, x.Question)
		}
		if !strings.Contains(x.Context, x.Answers[0]) {
			t.Errorf("%s: answer %q is not a span of the passage", x.ID, x.Answers[0])
		}
	}
}

func TestEasyCodeReferencePassesAndDistractorsFail(t *testing.T) {
	run := needPython(t)
	ts := GenerateLevel(60, 9, Easy, Mix{Code: 1})
	kinds := map[string]bool{}
	var checks []codeCheck
	for _, x := range ts {
		if err := x.Validate(); err != nil {
			t.Fatal(err)
		}
		kinds[x.EntryPoint] = true
		if len(x.Distractors) < 2 {
			t.Errorf("%s: %d distractors", x.ID, len(x.Distractors))
		}
		checks = append(checks, codeCheck{x.ID + " reference", x.Reference, x.HiddenTests.Code, true})
		for i, d := range x.Distractors {
			checks = append(checks, codeCheck{fmt.Sprintf("%s distractor %d", x.ID, i), d, x.HiddenTests.Code, false})
		}
	}
	if len(kinds) != len(easyCodeKinds) {
		t.Errorf("only %d of %d easy kinds generated: %v", len(kinds), len(easyCodeKinds), kinds)
	}
	runChecks(t, run, checks)
}
