package protoconv

import (
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/task"
)

var (
	familyToPB = map[task.Family]pb.TaskFamily{
		task.Math: pb.TaskFamily_TASK_FAMILY_MATH, task.QA: pb.TaskFamily_TASK_FAMILY_QA,
		task.Code: pb.TaskFamily_TASK_FAMILY_CODE, task.MultipleChoice: pb.TaskFamily_TASK_FAMILY_MULTIPLE_CHOICE,
	}
	familyFromPB = invert(familyToPB)
)

// FamilyFromPB maps a proto family; unspecified and unknown values give "".
func FamilyFromPB(f pb.TaskFamily) task.Family { return familyFromPB[f] }

// FamilyToPB maps a domain family ("" and unknown give unspecified).
func FamilyToPB(f task.Family) pb.TaskFamily { return familyToPB[f] }

// testsToPB gives nil for tests with nothing in them, so a task without
// tests carries no empty message.
func testsToPB(t task.Tests) *pb.CodeTests {
	if t.Empty() && t.Style == "" {
		return nil
	}
	out := &pb.CodeTests{Style: string(t.Style), Code: t.Code}
	for _, c := range t.Cases {
		out.Cases = append(out.Cases, &pb.IOCase{Input: c.Input, Output: c.Output})
	}
	return out
}

func testsFromPB(t *pb.CodeTests) task.Tests {
	if t == nil {
		return task.Tests{}
	}
	out := task.Tests{Style: task.TestStyle(t.GetStyle()), Code: t.GetCode()}
	for _, c := range t.GetCases() {
		out.Cases = append(out.Cases, task.IOCase{Input: c.GetInput(), Output: c.GetOutput()})
	}
	return out
}

// TaskToPB converts a task, private fields included (callers clear them
// with canvas.PublicTask when a policy will see it).
func TaskToPB(t task.Task) *pb.Task {
	return &pb.Task{
		Id: t.ID, Family: FamilyToPB(t.Family), Source: t.Source, Question: t.Question, Context: t.Context,
		Choices: t.Choices, Answers: t.Answers, Unanswerable: t.Unanswerable, EntryPoint: t.EntryPoint,
		Prompt: t.Prompt, PublicTests: testsToPB(t.PublicTests), HiddenTests: testsToPB(t.HiddenTests),
		Reference: t.Reference, Difficulty: t.Difficulty, Distractors: t.Distractors,
	}
}

// TaskFromPB converts a proto task (nil gives the zero task).
func TaskFromPB(t *pb.Task) task.Task {
	return task.Task{
		ID: t.GetId(), Family: FamilyFromPB(t.GetFamily()), Source: t.GetSource(), Question: t.GetQuestion(),
		Context: t.GetContext(), Choices: t.GetChoices(), Answers: t.GetAnswers(), Unanswerable: t.GetUnanswerable(),
		EntryPoint: t.GetEntryPoint(), Prompt: t.GetPrompt(), PublicTests: testsFromPB(t.GetPublicTests()),
		HiddenTests: testsFromPB(t.GetHiddenTests()), Reference: t.GetReference(), Difficulty: t.GetDifficulty(),
		Distractors: t.GetDistractors(),
	}
}
