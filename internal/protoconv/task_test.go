package protoconv

import (
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/task"
)

func TestFamilyRoundTrip(t *testing.T) {
	for _, f := range []task.Family{task.Math, task.QA, task.Code, task.MultipleChoice} {
		p := FamilyToPB(f)
		if p == pb.TaskFamily_TASK_FAMILY_UNSPECIFIED {
			t.Errorf("FamilyToPB(%q) is unspecified", f)
		}
		if back := FamilyFromPB(p); back != f {
			t.Errorf("FamilyFromPB(FamilyToPB(%q)) = %q", f, back)
		}
	}
	for _, p := range []pb.TaskFamily{pb.TaskFamily_TASK_FAMILY_UNSPECIFIED, 999, -1} {
		if f := FamilyFromPB(p); f != "" {
			t.Errorf("FamilyFromPB(%d) = %q, want \"\"", p, f)
		}
	}
	if p := FamilyToPB("no-such-family"); p != pb.TaskFamily_TASK_FAMILY_UNSPECIFIED {
		t.Errorf("FamilyToPB of an unknown family = %v, want unspecified", p)
	}
}

// TestTaskRoundTrip: every field a task message carries survives
// domain -> proto -> domain and proto -> domain -> proto.
func TestTaskRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		task task.Task
	}{
		{"zero", task.Task{}},
		{"math", task.Task{ID: "m1", Family: task.Math, Source: "gsm8k", Question: "6*7?", Answers: []string{"42", "42.0"},
			Difficulty: 0.25, Distractors: []string{"48"}}},
		{"qa unanswerable", task.Task{ID: "q1", Family: task.QA, Question: "who?", Context: "a passage", Unanswerable: true}},
		{"multiple choice", task.Task{ID: "c1", Family: task.MultipleChoice, Question: "pick", Choices: []string{"a", "b"}, Answers: []string{"b"}}},
		{"code with both test styles", task.Task{ID: "h1", Family: task.Code, Question: "write f", EntryPoint: "f", Prompt: "def f(x):",
			PublicTests: task.Tests{Style: task.IOStyle, Cases: []task.IOCase{{Input: "1", Output: "2"}, {Input: "", Output: ""}}},
			HiddenTests: task.Tests{Style: task.AssertStyle, Code: "assert f(1) == 2"}, Reference: "def f(x): return x+1"}},
		{"style without tests", task.Task{Family: task.Code, Question: "q", HiddenTests: task.Tests{Style: task.EmbedStyle}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := TaskToPB(tc.task)
			if got := TaskFromPB(p); !reflect.DeepEqual(got, tc.task) {
				t.Errorf("domain round trip:\n got %+v\nwant %+v", got, tc.task)
			}
			if back := TaskToPB(TaskFromPB(p)); !proto.Equal(back, p) {
				t.Errorf("proto round trip:\n got %v\nwant %v", back, p)
			}
		})
	}
	if got := TaskFromPB(nil); !reflect.DeepEqual(got, task.Task{}) {
		t.Errorf("TaskFromPB(nil) = %+v, want the zero task", got)
	}
	if p := TaskToPB(task.Task{Question: "q"}); p.GetPublicTests() != nil || p.GetHiddenTests() != nil {
		t.Errorf("a task without tests carries empty test messages: %v", p)
	}
}

func TestValidateTask(t *testing.T) {
	good := func() *pb.Task {
		return &pb.Task{Id: "t1", Family: pb.TaskFamily_TASK_FAMILY_MATH, Question: "6*7?", Answers: []string{"42"}}
	}
	edit := func(f func(*pb.Task)) *pb.Task { tk := good(); f(tk); return tk }
	cases := []struct {
		name string
		task *pb.Task
		want string // "" for valid; otherwise a part of the error
	}{
		{"good", good(), ""},
		{"prompt without question", edit(func(tk *pb.Task) { tk.Question, tk.Prompt = "", "def f():" }), ""},
		{"nil", nil, "tasks[2] is required"},
		{"blank question", edit(func(tk *pb.Task) { tk.Question = " \t\n" }), "tasks[2].question is required"},
		{"no family", edit(func(tk *pb.Task) { tk.Family = 0 }), "tasks[2].family is required"},
		{"unknown family", edit(func(tk *pb.Task) { tk.Family = 999 }), "tasks[2].family has unknown value 999"},
		{"huge question", edit(func(tk *pb.Task) { tk.Question = strings.Repeat("q", maxQuestionBytes+1) }), "exceed 262144 bytes"},
		{"huge tests", edit(func(tk *pb.Task) { tk.HiddenTests = &pb.CodeTests{Code: strings.Repeat("#", maxTestsBytes+1)} }), "tests exceed"},
		{"too many answers", edit(func(tk *pb.Task) { tk.Answers = make([]string, maxListEntries+1) }), "tasks[2].answers has 1001 entries"},
		{"huge reference", edit(func(tk *pb.Task) { tk.Reference = strings.Repeat("r", maxTestsBytes+1) }), "reference together exceed"},
		{"difficulty above 1", edit(func(tk *pb.Task) { tk.Difficulty = 1.5 }), "difficulty must be in [0, 1]"},
		{"difficulty below 0", edit(func(tk *pb.Task) { tk.Difficulty = -0.1 }), "difficulty must be in [0, 1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateTask("tasks[2]", tc.task)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused a good task: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
