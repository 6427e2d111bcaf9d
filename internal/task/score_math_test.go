package task

import (
	"context"
	"strings"
	"testing"
)

func mathTask(gold ...string) Task {
	return Task{ID: "m", Family: Math, Question: "q", Answers: gold}
}

func TestMathScorerAcceptsEquivalentForms(t *testing.T) {
	tests := []struct {
		name, gold, answer, method string
	}{
		{"currency and thousands", "1000", "$1,000", MethodNumeric},
		{"latex currency", "1000", `\$1{,}000`, MethodNumeric},
		{"fraction vs decimal", "0.5", `\frac{1}{2}`, MethodNumeric},
		{"decimal vs fraction gold", `\frac{1}{2}`, "0.5", MethodNumeric},
		{"slash fraction", `\frac{3}{4}`, "3/4", MethodNumeric},
		{"negative fraction", `-\frac{1}{2}`, "-0.5", MethodNumeric},
		{"the answer is, with full stop", "42", "The answer is 42.", MethodNumeric},
		{"integer-valued float", "42", "42.0", MethodNumeric},
		// GSM8K golds are plain numbers of percent: "50%" reads as 50.
		{"percent sign dropped", "50", "50%", MethodNumeric},
		{"latex percent", `50\%`, "50", MethodNumeric},
		{"boxed dfrac", "0.75", `The total is \boxed{\dfrac{3}{4}}.`, MethodNumeric},
		{"boxed tfrac vs frac", `\frac{3}{4}`, `\boxed{\tfrac{3}{4}}`, MethodNumeric},
		{"hash answer with thousands", "1234", "so we get\n#### 1,234", MethodNumeric},
		{"answer tag wins", "7", "I first thought 5. <answer>7</answer> and then 9", MethodNumeric},
		{"last answer tag", "7", "<answer>5</answer> wait <answer>7</answer>", MethodNumeric},
		{"boxed inside answer tag", "7", `<answer>so \boxed{7}</answer>`, MethodNumeric},
		{"answer is inside answer tag", "7", "<answer>The answer is 7.</answer>", MethodNumeric},
		{"last number fallback", "18", "She has 16 eggs, eats 3 and bakes with 4, so she sells 9 for $2 each: 18", MethodNumeric},
		{"units dropped", "5", `5\text{ cm}`, MethodNumeric},
		{"units after the answer", "12", "The answer is 12 apples.", MethodNumeric},
		{"money with words", "42", "Final answer: $42 per week", MethodNumeric},
		{"degrees", "30", `30^\circ`, MethodNumeric},
		{"degree sign", "30", "30°", MethodNumeric},
		{"sqrt", `2\sqrt{2}`, `\sqrt{8}`, MethodExpression},
		{"sqrt numeric", `\sqrt{2}`, "1.41421", MethodNumeric},
		{"relative tolerance for a non-integer gold", "123456.25", "123456.3", MethodNumeric},
		{"large integer exactly", "70000", "70,000", MethodNumeric},
		{"expression with braces and spaces", "x^2+1", "x^{2} + 1", MethodExpression},
		{"left right", "(1,2)", `\left( 1, 2 \right)`, MethodExpression},
		{"text answer", `\text{Monday}`, "monday", MethodExpression},
		{"variable assignment", "5", "x = 5", MethodNumeric},
		{"mixed number", `2\frac{1}{4}`, "2.25", MethodNumeric},
		{"markdown bold", "42", "**Final Answer:** **42**", MethodNumeric},
		{"aime leading zero", "70", "070", MethodNumeric},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Score(context.Background(), mathTask(tc.gold), tc.answer, nil)
			if !r.Correct || r.Score != 1 {
				t.Fatalf("not accepted: %+v", r)
			}
			if tc.method != MethodExpression && r.Method != tc.method {
				t.Errorf("method = %q, want %q", r.Method, tc.method)
			}
			if !strings.Contains(r.Explanation, "match") {
				t.Errorf("explanation %q", r.Explanation)
			}
		})
	}
}

func TestMathScorerRefusesLenientMatches(t *testing.T) {
	tests := []struct{ name, gold, answer string }{
		{"different number", "42", "The answer is 41."},
		{"percent is not a fraction", "0.5", "50%"},
		{"digits are not stripped", "42", "4x2"},
		{"no first element of a list", "3", "[3, 4, 5]"},
		{"no evaluation of model text", "42", "6*7"},
		{"no evaluation of sums", "42", "40 + 2"},
		{"an earlier number does not count", "7", "The answer is 9. Earlier I had 7 apples."},
		{"expression is not a number", "2", "2x"},
		{"pi is not a unit", "2", `2\pi`},
		{"outside tolerance", "100", "100.1"},
		// Integers compare exactly: a relative tolerance of 1e-4 used to
		// accept every off-by-one answer of 10,000 and above.
		{"off by one large integer", "70000", "70001"},
		{"off by one GSM8K-sized integer", "57500", "57499"},
		{"integer gold, fractional answer", "123456", "123456.5"},
		{"empty answer", "1", ""},
		{"no number at all", "1", "I do not know"},
		{"tuple is not its first element", "1", "(1, 2)"},
		{"a range is not its end", "6", "between 5-6 hours maybe 7 hours"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Score(context.Background(), mathTask(tc.gold), tc.answer, nil)
			if r.Correct || r.Score != 0 {
				t.Fatalf("accepted: %+v", r)
			}
			if r.Explanation == "" {
				t.Error("no explanation")
			}
		})
	}
}

func TestMathScorerUsesAnyGoldAlias(t *testing.T) {
	r := Score(context.Background(), mathTask("0.25", `\frac{1}{4}`, "1/4"), "1/4", nil)
	if !r.Correct {
		t.Fatalf("%+v", r)
	}
}

func TestMathExplanationIsShortAndSaysWhy(t *testing.T) {
	r := Score(context.Background(), mathTask("42"), "42.0", nil)
	if r.Explanation != "expected 42, got 42.0: numeric match" {
		t.Errorf("explanation = %q", r.Explanation)
	}
	r = Score(context.Background(), mathTask("42"), "so it is 41", nil)
	if r.Explanation != "expected 42, got 41 (last number): numeric mismatch" {
		t.Errorf("explanation = %q", r.Explanation)
	}
}

func mcTask() Task {
	return Task{ID: "c", Family: MultipleChoice, Question: "what is 12 + 8 ?", Choices: []string{"18", "19", "20", "21", "22"}, Answers: []string{"c"}}
}

func TestChoiceScorerReadsLetterForms(t *testing.T) {
	for _, answer := range []string{
		"c", "C", "(c)", "(C)", "c)", "C.", "[c]",
		"Answer: C", "answer: (c)", "The answer is c", "The answer is (C).", "the correct option is c",
		"<answer>C</answer>", `\boxed{C}`, "c ) 20", "(c) 20", "C 20",
		"We add the numbers.\nThe answer is: (c)",
		"After checking each one, option (c) fits best.",
		"20", "<answer>20</answer>", "The answer is 20.0",
	} {
		t.Run(answer, func(t *testing.T) {
			r := Score(context.Background(), mcTask(), answer, nil)
			if !r.Correct || r.Method != MethodChoice {
				t.Fatalf("not accepted: %+v", r)
			}
		})
	}
}

func TestChoiceScorerRefusesWrongOrUnclearAnswers(t *testing.T) {
	for _, answer := range []string{
		"b", "Answer: D", "(a) 18", "18", "f",
		"a bit unclear", "I think it's 20 or 21", "", "C 21", // letter and text disagree, so neither counts
	} {
		t.Run(answer, func(t *testing.T) {
			r := Score(context.Background(), mcTask(), answer, nil)
			if r.Correct {
				t.Fatalf("accepted: %+v", r)
			}
		})
	}
}

func TestChoiceScorerExplainsBothSides(t *testing.T) {
	r := Score(context.Background(), mcTask(), "Answer: b", nil)
	if r.Explanation != "expected (c) 20, got (b) 19 (the answer is): choice mismatch" {
		t.Errorf("explanation = %q", r.Explanation)
	}
}

func TestAnswerKeyGroupsEquivalentAnswers(t *testing.T) {
	m := mathTask("0.5")
	if a, b := AnswerKey(m, `\boxed{\frac{1}{2}}`), AnswerKey(m, "The answer is 0.50."); a != b || a == "" {
		t.Errorf("math keys %q and %q differ", a, b)
	}
	if a, b := AnswerKey(mcTask(), "(C)"), AnswerKey(mcTask(), "Answer: c"); a != b || a != "c" {
		t.Errorf("choice keys %q and %q", a, b)
	}
	q := Task{Family: QA, Answers: []string{"x"}}
	if a, b := AnswerKey(q, "The Eiffel Tower."), AnswerKey(q, "<answer>eiffel tower</answer>"); a != b {
		t.Errorf("qa keys %q and %q differ", a, b)
	}
}

func TestMathRelTolIsConfigurable(t *testing.T) {
	tk := mathTask("3.14159")
	ctx := context.Background()
	if r := (Scorer{}).Score(ctx, tk, "3.1416", nil); !r.Correct {
		t.Fatalf("default tolerance refused 3.1416 for 3.14159: %+v", r)
	}
	if r := (Scorer{MathRelTol: 1e-9}).Score(ctx, tk, "3.1416", nil); r.Correct {
		t.Fatalf("tolerance 1e-9 accepted 3.1416 for 3.14159: %+v", r)
	}
	if r := (Scorer{MathRelTol: -1}).Score(ctx, tk, "3.14159", nil); !r.Correct {
		t.Fatalf("no tolerance refused the exact value: %+v", r)
	}
	// Whatever the tolerance, integers compare exactly.
	if r := (Scorer{MathRelTol: 0.1}).Score(ctx, mathTask("100"), "101", nil); r.Correct {
		t.Fatalf("an integer gold took a relative tolerance: %+v", r)
	}
}
