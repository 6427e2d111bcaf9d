package task

import (
	"strings"
	"testing"
)

func TestValidateNamesWhatIsMissing(t *testing.T) {
	tests := []struct {
		name string
		t    Task
		want string // "" for valid
	}{
		{"valid math", Task{ID: "a", Family: Math, Question: "q", Answers: []string{"1"}}, ""},
		{"math without answers", Task{ID: "a", Family: Math, Question: "q"}, "math task has no answers"},
		{"no id", Task{Family: Math, Question: "q", Answers: []string{"1"}}, "task (no id): task has no id"},
		{"unanswerable qa", Task{ID: "a", Family: QA, Question: "q", Unanswerable: true}, ""},
		{"qa without answers", Task{ID: "a", Family: QA, Question: "q"}, "not marked unanswerable"},
		{"qa unanswerable with answers", Task{ID: "a", Family: QA, Question: "q", Unanswerable: true, Answers: []string{"x"}}, "marked unanswerable but has answers"},
		{"mc letter past choices", Task{ID: "a", Family: MultipleChoice, Question: "q", Choices: []string{"1", "2"}, Answers: []string{"e"}}, "past the last choice"},
		{"mc gold as option text", Task{ID: "a", Family: MultipleChoice, Question: "q", Choices: []string{"1", "2"}, Answers: []string{"2"}}, ""},
		{"code without tests", Task{ID: "a", Family: Code, Question: "q"}, "no hidden tests"},
		{"embed without placeholder", Task{ID: "a", Family: Code, Question: "q", HiddenTests: Tests{Style: EmbedStyle, Code: "x"}}, "do not contain " + SolutionPlaceholder},
		{"difficulty out of range", Task{ID: "a", Family: Math, Question: "q", Answers: []string{"1"}, Difficulty: 2}, "outside [0, 1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.t.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
