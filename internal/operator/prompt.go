package operator

import (
	"strings"

	"github.com/flowsteer/flowsteer/internal/task"
)

// NodePrompt is an operator's default node prompt: the 1-2 sentence
// instruction that the policies which do not write their own prompts
// (fixed, random, embedded) give a node after adding it. "{task}" stands
// for the task's noun ("math problem", "coding task", ...). The templates
// are deliberately generic: those policies learn workflow structure, not
// prose.
type NodePrompt struct {
	// Any is the prompt for every family without its own below.
	Any string
	// Code and MultipleChoice, when set, replace Any on those families.
	Code           string
	MultipleChoice string
}

// genericPrompt is the node prompt of an operator whose Def has none.
const genericPrompt = "Carry out this step for the {task} carefully and keep the output concise and specific to the problem."

// DefaultPrompt is d's default node prompt for a task of family f.
func (d Def) DefaultPrompt(f task.Family) string {
	p := d.Prompt.Any
	switch {
	case f == task.Code && d.Prompt.Code != "":
		p = d.Prompt.Code
	case f == task.MultipleChoice && d.Prompt.MultipleChoice != "":
		p = d.Prompt.MultipleChoice
	}
	if p == "" {
		p = genericPrompt
	}
	return strings.ReplaceAll(p, "{task}", TaskNoun(f))
}

// TaskNoun names a task of family f in prompts; "task" for an unknown family.
func TaskNoun(f task.Family) string {
	switch f {
	case task.Math:
		return "math problem"
	case task.QA:
		return "question about the passage"
	case task.Code:
		return "coding task"
	case task.MultipleChoice:
		return "multiple-choice question"
	}
	return "task"
}
