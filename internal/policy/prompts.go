package policy

import (
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// NodePrompt is a sensible 1-2 sentence instruction for a node, used by
// the policies that do not write their own prompts (fixed, random,
// embedded): the canvas asks for one after each add. The templates are
// deliberately generic: those policies learn workflow structure, not prose.
func NodePrompt(operator string, f pb.TaskFamily) string {
	k := taskNoun(f)
	code := f == pb.TaskFamily_TASK_FAMILY_CODE
	mc := f == pb.TaskFamily_TASK_FAMILY_MULTIPLE_CHOICE
	switch operator {
	case "Plan":
		return "Outline a short step-by-step strategy for this " + k + ", naming the key facts or quantities to find before solving it."
	case "Decompose":
		return "Split this " + k + " into two to four smaller sub-problems that can be solved one at a time, in order."
	case "Custom":
		return "Solve this " + k + " carefully, reasoning step by step from the given information, and state the final answer clearly at the end."
	case "AnswerGenerate":
		if mc {
			return "Think through this " + k + " step by step, rule out the wrong options, and finish with the letter of the correct option."
		}
		return "Think through this " + k + " step by step and finish with a single, concise final answer."
	case "Programmer":
		if code {
			return "Implement the requested function for this " + k + " in Python, handling the edge cases the description and public tests point to."
		}
		return "Write Python code that computes the answer to this " + k + " exactly and prints only the final result."
	case "Test":
		return "Run the public tests on the current code for this " + k + " and fix any failing case without breaking the passing ones."
	case "Review":
		return "Check the current solution to this " + k + " for mistakes in logic or calculation and explain precisely what is wrong, if anything."
	case "Verify":
		return "Independently re-derive the answer to this " + k + " and confirm the current answer or correct it."
	case "Revise":
		return "Fix the current solution to this " + k + " using the checker's feedback, keeping the parts that are already correct."
	case "ScEnsemble":
		return "Compare the candidate solutions to this " + k + " and return the answer most of them agree on."
	case "Aggregate":
		return "Combine the partial answers to this " + k + " into one consistent final answer."
	case "Format":
		switch {
		case mc:
			return "Give only the letter of the chosen option for this " + k + ", with no explanation."
		case code:
			return "Return only the final, complete Python code for this " + k + ", with no explanation around it."
		}
		return "Extract only the final answer to this " + k + " in the short form a grader expects, with no explanation."
	}
	return "Carry out this step for the " + k + " carefully and keep the output concise and specific to the problem."
}

func taskNoun(f pb.TaskFamily) string {
	switch f {
	case pb.TaskFamily_TASK_FAMILY_MATH:
		return "math problem"
	case pb.TaskFamily_TASK_FAMILY_QA:
		return "question about the passage"
	case pb.TaskFamily_TASK_FAMILY_CODE:
		return "coding task"
	case pb.TaskFamily_TASK_FAMILY_MULTIPLE_CHOICE:
		return "multiple-choice question"
	}
	return "task"
}

// PromptDecision answers an awaiting-prompt observation with NodePrompt.
func PromptDecision(obs *pb.Observation, version string) *pb.Decision {
	p := NodePrompt(obs.GetAwaiting().GetOperator(), obs.GetTask().GetFamily())
	return &pb.Decision{
		Action:        &pb.Action{Text: p, Structured: &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_SET_PROMPT, Target: obs.GetAwaiting().GetNodeId(), Prompt: p}},
		PolicyVersion: version,
	}
}
