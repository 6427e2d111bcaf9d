package protoconv

import (
	"fmt"
	"strings"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// Limits on the task a request may carry; larger tasks are refused before
// they are converted.
const (
	maxQuestionBytes = 256 << 10 // question, context and prompt together
	maxTestsBytes    = 1 << 20   // tests, then tests and gold data together
	maxListEntries   = 1000      // answers, choices, distractors of one task
)

// ValidateTask checks a task from a request before TaskFromPB: required
// fields, a known family, size limits and a difficulty in [0, 1]. Every
// service that accepts a task (the canvas's CreateEpisode, Interact and
// RunWorkflow, the trainer's Evaluate) applies it; field names the task in
// the error ("task", "open.task", "tasks[3]").
func ValidateTask(field string, t *pb.Task) error {
	if t == nil {
		return fmt.Errorf("%s is required", field)
	}
	if blank(t.GetQuestion()) && blank(t.GetPrompt()) {
		return fmt.Errorf("%s.question is required", field)
	}
	if t.GetFamily() == pb.TaskFamily_TASK_FAMILY_UNSPECIFIED {
		return fmt.Errorf("%s.family is required (math, qa, code or multiple choice)", field)
	}
	if FamilyFromPB(t.GetFamily()) == "" {
		return fmt.Errorf("%s.family has unknown value %d", field, t.GetFamily())
	}
	if len(t.GetQuestion())+len(t.GetContext())+len(t.GetPrompt()) > maxQuestionBytes {
		return fmt.Errorf("%s: question, context and prompt together exceed %d bytes", field, maxQuestionBytes)
	}
	size := 0
	for _, ts := range []*pb.CodeTests{t.GetPublicTests(), t.GetHiddenTests()} {
		size += len(ts.GetCode())
		for _, c := range ts.GetCases() {
			size += len(c.GetInput()) + len(c.GetOutput())
		}
	}
	if size > maxTestsBytes {
		return fmt.Errorf("%s: tests exceed %d bytes", field, maxTestsBytes)
	}
	// Gold data and references: a list of this many entries is no task.
	for name, list := range map[string][]string{"answers": t.GetAnswers(), "choices": t.GetChoices(), "distractors": t.GetDistractors()} {
		if len(list) > maxListEntries {
			return fmt.Errorf("%s.%s has %d entries, at most %d", field, name, len(list), maxListEntries)
		}
		for _, s := range list {
			size += len(s)
		}
	}
	if size += len(t.GetReference()) + len(t.GetEntryPoint()) + len(t.GetId()) + len(t.GetSource()); size > maxTestsBytes {
		return fmt.Errorf("%s: tests, answers, choices, distractors and reference together exceed %d bytes", field, maxTestsBytes)
	}
	// Written so that NaN fails too.
	if d := t.GetDifficulty(); !(d >= 0 && d <= 1) {
		return fmt.Errorf("%s.difficulty must be in [0, 1], got %v", field, d)
	}
	return nil
}

// blank reports whether s is empty after trimming white space: a required
// string field of only spaces is missing.
func blank(s string) bool { return strings.TrimSpace(s) == "" }
