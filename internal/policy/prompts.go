package policy

import (
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/task"
)

// defaultOperators are the operators whose definitions hold the node
// prompts; an operator outside it gets the generic prompt.
var defaultOperators = operator.Default()

// NodePrompt is a sensible 1-2 sentence instruction for a node, used by
// the policies that do not write their own prompts (fixed, random,
// embedded): the canvas asks for one after each add. The templates live in
// the operators' definitions (operator.Def.Prompt).
func NodePrompt(op string, f pb.TaskFamily) string {
	d, _ := defaultOperators.Lookup(op) // the zero Def gives the generic prompt
	return d.DefaultPrompt(FamilyOf(f))
}

// FamilyOf maps the wire's task family to the domain's, so that policies
// can ask the operators' definitions about it; an unknown family maps to
// "", which every operator accepts and prompts call a "task".
func FamilyOf(f pb.TaskFamily) task.Family {
	switch f {
	case pb.TaskFamily_TASK_FAMILY_MATH:
		return task.Math
	case pb.TaskFamily_TASK_FAMILY_QA:
		return task.QA
	case pb.TaskFamily_TASK_FAMILY_CODE:
		return task.Code
	case pb.TaskFamily_TASK_FAMILY_MULTIPLE_CHOICE:
		return task.MultipleChoice
	}
	return ""
}

// PromptDecision answers an awaiting-prompt observation with NodePrompt.
func PromptDecision(obs *pb.Observation, version string) *pb.Decision {
	p := NodePrompt(obs.GetAwaiting().GetOperator(), obs.GetTask().GetFamily())
	return &pb.Decision{
		Action:        &pb.Action{Text: p, Structured: &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_SET_PROMPT, Target: obs.GetAwaiting().GetNodeId(), Prompt: p}},
		PolicyVersion: version,
	}
}
