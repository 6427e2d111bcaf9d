package task

import (
	"context"
	"math"
	"testing"
)

func TestNormalizeQAFollowsSQuAD(t *testing.T) {
	tests := map[string]string{
		"The Eiffel Tower.":     "eiffel tower",
		"  an   apple, A pear!": "apple pear",
		"Washington, D.C.":      "washington dc",
		"the":                   "",
		"theory of a thing":     "theory of thing", // articles only as whole words
		"O'Neill":               "oneill",
	}
	for in, want := range tests {
		if got := NormalizeQA(in); got != want {
			t.Errorf("NormalizeQA(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQAScorerExactMatchAndF1(t *testing.T) {
	tests := []struct {
		name    string
		golds   []string
		answer  string
		score   float64
		correct bool
		method  string
	}{
		{"exact", []string{"Paris"}, "Paris", 1, true, MethodEM},
		{"articles and punctuation", []string{"the Eiffel Tower"}, "Eiffel Tower.", 1, true, MethodEM},
		{"case", []string{"Paris"}, "PARIS", 1, true, MethodEM},
		{"partial: EM 0, F1 > 0", []string{"Paris"}, "Paris, France", 2.0 / 3, false, MethodF1},
		{"best over aliases", []string{"Sunset Boulevard", "Sunset Blvd"}, "sunset blvd", 1, true, MethodEM},
		{"best F1 over aliases", []string{"New York City", "NYC"}, "New York", 0.8, false, MethodF1},
		{"multiset overlap", []string{"x y y"}, "y y y", 2.0 / 3, false, MethodF1},
		{"no overlap", []string{"Paris"}, "London", 0, false, MethodF1},
		{"answer tag", []string{"1989"}, "The magazine began later. <answer>1989</answer>", 1, true, MethodEM},
		{"answer is inside answer tag", []string{"Paris"}, "<answer>The answer is Paris.</answer>", 1, true, MethodEM},
		{"the answer is", []string{"Chief of Protocol"}, "She served in government.\nThe answer is Chief of Protocol.", 1, true, MethodEM},
		{"answer colon", []string{"yes"}, "Both are American.\nFinal answer: Yes", 1, true, MethodEM},
		{"prose without marker is scored whole", []string{"Paris"}, "It is Paris", 0.5, false, MethodF1},
		{"empty answer to answerable question", []string{"Paris"}, "", 0, false, MethodF1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Score(context.Background(), Task{Family: QA, Answers: tc.golds}, tc.answer, nil)
			if math.Abs(r.Score-tc.score) > 1e-9 || r.Correct != tc.correct || r.Method != tc.method {
				t.Errorf("got score %v correct %v method %q (%s), want %v %v %q", r.Score, r.Correct, r.Method, r.Explanation, tc.score, tc.correct, tc.method)
			}
		})
	}
}

func TestQAScorerUnanswerableAcceptsOnlyExplicitNoAnswer(t *testing.T) {
	task := Task{Family: QA, Unanswerable: true, Context: "The Normans gave their name to Normandy."}
	for _, a := range []string{
		"no answer", "No answer.", "unanswerable", "This question cannot be answered.", "Not in the passage",
		"<answer>cannot be answered</answer>", "The passage does not mention when the Normans left.", "N/A", "unknown",
		"The answer is: not mentioned",
	} {
		if r := Score(context.Background(), task, a, nil); !r.Correct || r.Score != 1 {
			t.Errorf("%q: %+v", a, r)
		}
	}
	// Saying nothing is not abstaining: a workflow that failed and output
	// nothing must not score as a correct "no answer".
	for _, a := range []string{"", "  ", ".", "<answer></answer>", "Normandy", "France", "Rollo", "The answer is not Normandy, it is France"} {
		if r := Score(context.Background(), task, a, nil); r.Correct || r.Score != 0 {
			t.Errorf("%q accepted: %+v", a, r)
		}
	}
	// An answerable question gets nothing for declining.
	if r := Score(context.Background(), Task{Family: QA, Answers: []string{"France"}}, "unanswerable", nil); r.Score != 0 {
		t.Errorf("no-answer on an answerable question: %+v", r)
	}
}

func TestQAScorerNeverMapsAnswersToOptionLetters(t *testing.T) {
	// A qa task that happens to carry choices is still scored on text.
	task := Task{Family: QA, Answers: []string{"Paris"}, Choices: []string{"London", "Paris"}}
	if r := Score(context.Background(), task, "b", nil); r.Score != 0 {
		t.Errorf("letter mapped to an option: %+v", r)
	}
}
