package task

import (
	"errors"
	"fmt"
	"strings"
)

// Validate checks that a task can be run and scored: a known family, and
// for that family the gold data its scorer needs.
func (t Task) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(t.ID) == "" {
		bad("task has no id")
	}
	if strings.TrimSpace(t.Question) == "" {
		bad("question is empty")
	}
	if !t.Family.Valid() {
		bad("family %q is not one of math, qa, code, mc", t.Family)
	}
	if t.Difficulty < 0 || t.Difficulty > 1 {
		bad("difficulty %v is outside [0, 1]", t.Difficulty)
	}
	// A blank gold answer would match an empty final answer.
	for i, a := range t.Answers {
		if strings.TrimSpace(a) == "" {
			bad("answers[%d] is blank", i)
		}
	}
	switch t.Family {
	case Math:
		if len(t.Answers) == 0 {
			bad("math task has no answers")
		}
	case QA:
		if len(t.Answers) == 0 && !t.Unanswerable {
			bad("qa task has no answers and is not marked unanswerable")
		}
		if len(t.Answers) > 0 && t.Unanswerable {
			bad("qa task is marked unanswerable but has answers")
		}
	case MultipleChoice:
		if len(t.Choices) < 2 {
			bad("multiple-choice task has %d choices, want at least 2", len(t.Choices))
		}
		if goldLetter(t) == "" {
			bad("multiple-choice task has no gold option letter in answers")
		} else if l := goldLetter(t); int(l[0]-'a') >= len(t.Choices) {
			bad("gold letter %q is past the last choice", l)
		}
	case Code:
		if t.HiddenTests.Empty() {
			bad("code task has no hidden tests")
		}
		for _, ts := range []struct {
			name string
			t    Tests
		}{{"hidden_tests", t.HiddenTests}, {"public_tests", t.PublicTests}} {
			if err := ts.t.validate(); err != nil {
				bad("%s: %v", ts.name, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		id := t.ID
		if id == "" {
			id = "(no id)"
		}
		return fmt.Errorf("task %s: %w", id, err)
	}
	return nil
}

func (ts Tests) validate() error {
	if ts.Empty() {
		return nil
	}
	switch ts.Style {
	case AssertStyle, "":
		if ts.Code == "" && len(ts.Cases) == 0 {
			return errors.New("assert-style tests have no code")
		}
	case IOStyle:
		if len(ts.Cases) == 0 {
			return errors.New("io-style tests have no cases")
		}
	case EmbedStyle:
		if !strings.Contains(ts.Code, SolutionPlaceholder) {
			return fmt.Errorf("embed-style tests do not contain %s", SolutionPlaceholder)
		}
	default:
		return fmt.Errorf("unknown test style %q", ts.Style)
	}
	return nil
}
