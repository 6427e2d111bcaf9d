package protoconv

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

func TestActionKindRoundTrip(t *testing.T) {
	for _, k := range []action.Kind{action.Add, action.Delete, action.Modify, action.SetPrompt, action.Finish} {
		p := KindToPB(k)
		if p == pb.ActionKind_ACTION_KIND_UNSPECIFIED {
			t.Errorf("KindToPB(%q) is unspecified", k)
		}
		in := InputFromPB(&pb.Action{Structured: &pb.StructuredAction{Kind: p}})
		if in.Structured == nil || in.Structured.Kind != k {
			t.Errorf("InputFromPB of kind %v gave %+v, want kind %q", p, in.Structured, k)
		}
	}
	if p := KindToPB(""); p != pb.ActionKind_ACTION_KIND_UNSPECIFIED {
		t.Errorf("KindToPB(\"\") = %v, want unspecified", p)
	}
}

// TestStructuredActionRoundTrip: every field of a structured action
// survives domain -> proto -> domain and proto -> domain -> proto.
func TestStructuredActionRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		a    action.Action
	}{
		{"add one operator at the end", action.Action{Kind: action.Add, Operator: "Custom", Prompt: "be brief", Position: -1}},
		{"add at position 0", action.Action{Kind: action.Add, Operator: "Plan", Position: 0}},
		{"add parallel at 2", action.Action{Kind: action.Add, Structure: action.Parallel, Operators: []string{"A", "B"}, Position: 2}},
		{"add conditional", action.Action{Kind: action.Add, Structure: action.Conditional, Condition: "Review", True: "Revise", False: "done", Position: -1}},
		{"add loop", action.Action{Kind: action.Add, Structure: action.Loop, Operators: []string{"Revise"}, Count: 3, Position: -1}},
		{"delete", action.Action{Kind: action.Delete, Target: "node_3", Position: -1}},
		{"modify", action.Action{Kind: action.Modify, Target: "node_1", Operator: "Verify", Position: -1}},
		{"set prompt", action.Action{Kind: action.SetPrompt, Target: "node_2", Prompt: "Only the number.", Position: -1}},
		{"finish", action.Action{Kind: action.Finish, Answer: "42", Reasoning: "checked", Position: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := StructuredToPB(tc.a)
			in := InputFromPB(&pb.Action{Text: "raw", Structured: p})
			if in.Text != "raw" || in.Structured == nil || !reflect.DeepEqual(*in.Structured, tc.a) {
				t.Fatalf("domain round trip:\n got %q %+v\nwant %+v", in.Text, in.Structured, tc.a)
			}
			if back := StructuredToPB(*in.Structured); !proto.Equal(back, p) {
				t.Errorf("proto round trip:\n got %v\nwant %v", back, p)
			}
		})
	}
}

// TestInputFromPBKeepsBadActionsForFeedback: what no canvas can apply is
// still converted, into an action the canvas answers with feedback.
func TestInputFromPBKeepsBadActionsForFeedback(t *testing.T) {
	cases := []struct {
		name string
		in   *pb.StructuredAction
		want func(*action.Action) bool
	}{
		{"unknown kind", &pb.StructuredAction{Kind: 999}, func(a *action.Action) bool { return a.Kind == "kind(999)" }},
		{"unspecified kind", &pb.StructuredAction{}, func(a *action.Action) bool { return a.Kind == "" && a.Position == -1 }},
		{"unknown structure", &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: 999},
			func(a *action.Action) bool { return a.Structure == "structure(999)" }},
		{"loop count clamped high", &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_LOOP, Count: 1 << 30},
			func(a *action.Action) bool { return a.Count == workflow.MaxLoopCount }},
		{"loop count clamped low", &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_LOOP, Count: -5},
			func(a *action.Action) bool { return a.Count == workflow.MinLoopCount }},
		{"loop count 0 left for the canvas", &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_LOOP},
			func(a *action.Action) bool { return a.Count == 0 }},
		{"negative position kept", &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Position: proto.Int32(-5)},
			func(a *action.Action) bool { return a.Position == -5 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := InputFromPB(&pb.Action{Structured: tc.in})
			if in.Structured == nil || !tc.want(in.Structured) {
				t.Errorf("got %+v", in.Structured)
			}
		})
	}
	if in := InputFromPB(&pb.Action{Text: "<action>finish</action>"}); in.Structured != nil || in.Text != "<action>finish</action>" {
		t.Errorf("a text action gave %+v", in)
	}
	if in := InputFromPB(nil); in.Structured != nil || in.Text != "" {
		t.Errorf("a nil action gave %+v", in)
	}
}
