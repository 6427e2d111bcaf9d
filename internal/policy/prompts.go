package policy

import (
	"strings"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// NodePrompt is a sensible 1-2 sentence instruction for a node, used by
// the policies that do not write their own prompts (fixed, random,
// embedded): the canvas asks for one after each add.
func NodePrompt(operator string, family pb.TaskFamily) string {
	kind := map[pb.TaskFamily]string{
		pb.TaskFamily_TASK_FAMILY_MATH: "math problem", pb.TaskFamily_TASK_FAMILY_QA: "question about the passage",
		pb.TaskFamily_TASK_FAMILY_CODE: "coding task", pb.TaskFamily_TASK_FAMILY_MULTIPLE_CHOICE: "multiple-choice question",
	}[family]
	if kind == "" {
		kind = "problem"
	}
	switch strings.ToLower(operator) {
	case "plan":
		return "Outline the steps needed to solve this " + kind + " before anyone solves it."
	case "decompose":
		return "Split this " + kind + " into two or three smaller parts that can be solved on their own."
	case "custom":
		return "Solve this " + kind + " carefully and state the final answer clearly."
	case "answergenerate":
		return "Reason step by step about this " + kind + " and give only the final answer at the end."
	case "programmer":
		if family == pb.TaskFamily_TASK_FAMILY_CODE {
			return "Write the requested Python function so that it handles every edge case."
		}
		return "Write Python that computes the answer to this " + kind + " and prints it."
	case "test":
		return "Run the public tests and fix the code until they pass."
	case "review":
		return "Check whether the solution really answers this " + kind + " and point out any mistake."
	case "verify":
		return "Re-derive the answer independently and confirm or correct it."
	case "revise":
		return "Fix the solution using the reviewer's feedback and keep what was right."
	case "scensemble":
		return "Pick the answer most of the solutions agree on."
	case "aggregate":
		return "Combine the partial answers into one final answer."
	case "format":
		if family == pb.TaskFamily_TASK_FAMILY_CODE {
			return "Return only the final code."
		}
		return "Return only the final answer in its shortest form."
	}
	return "Do this step of the workflow carefully for this " + kind + "."
}

// PromptDecision answers an awaiting-prompt observation with NodePrompt.
func PromptDecision(obs *pb.Observation, version string) *pb.Decision {
	p := NodePrompt(obs.GetAwaiting().GetOperator(), obs.GetTask().GetFamily())
	return &pb.Decision{
		Action:        &pb.Action{Text: p, Structured: &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_SET_PROMPT, Target: obs.GetAwaiting().GetNodeId(), Prompt: p}},
		PolicyVersion: version,
	}
}
