package server

import (
	"strings"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// corrupt appends to m's wire form the field at path (message fields, then
// a string) holding invalid UTF-8.
func corrupt(t *testing.T, m proto.Message, path ...protoreflect.Name) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var nums []protowire.Number
	md := m.ProtoReflect().Descriptor()
	for _, name := range path {
		fd := md.Fields().ByName(name)
		if fd == nil {
			t.Fatalf("%s has no field %s", md.FullName(), name)
		}
		nums = append(nums, fd.Number())
		md = fd.Message()
	}
	inner := []byte("\xff")
	for i := len(nums) - 1; i >= 0; i-- {
		inner = protowire.AppendBytes(protowire.AppendTag(nil, nums[i], protowire.BytesType), inner)
	}
	return append(b, inner...)
}

func TestRequestCodecTurnsDecodeErrorsIntoAClaim(t *testing.T) {
	task := &pb.Task{Question: "q", Family: pb.TaskFamily_TASK_FAMILY_MATH}
	cases := []struct {
		name  string
		wire  []byte
		into  proto.Message
		field string // "" = decodes fine
	}{
		{"valid", mustMarshal(t, &pb.CreateEpisodeRequest{Task: task}), &pb.CreateEpisodeRequest{}, ""},
		{"nested string", corrupt(t, &pb.CreateEpisodeRequest{Task: task}, "task", "question"), &pb.CreateEpisodeRequest{}, "task.question is not valid UTF-8"},
		{"repeated string", corrupt(t, &pb.CreateEpisodeRequest{Task: task}, "task", "answers"), &pb.CreateEpisodeRequest{}, "task.answers is not valid UTF-8"},
		{"oneof message", corrupt(t, &pb.InteractRequest{}, "action", "text"), &pb.InteractRequest{}, "action.text is not valid UTF-8"},
		{"map value", corrupt(t, &pb.RunWorkflowRequest{Dsl: "Custom"}, "prompts", "value"), &pb.RunWorkflowRequest{}, "prompts is not valid UTF-8"},
		{"broken wire format", []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, &pb.CreateEpisodeRequest{}, "cannot parse invalid wire-format data"},
	}
	c := newRequestCodec()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(tc.wire)}, tc.into); err != nil {
				t.Fatalf("Unmarshal returned %v; it must leave the refusal to the interceptor", err)
			}
			why, bad := claimDecodeError(tc.into)
			if tc.field == "" {
				if bad {
					t.Fatalf("a valid message was claimed: %s", why)
				}
				return
			}
			if !bad || !strings.Contains(why, tc.field) {
				t.Fatalf("claim %q (%v), want it to contain %q", why, bad, tc.field)
			}
			if _, again := claimDecodeError(tc.into); again {
				t.Fatal("a claim is not removed once taken")
			}
			// The validation interceptor turns it into InvalidArgument.
			if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(tc.wire)}, tc.into); err != nil {
				t.Fatal(err)
			}
			if err := (Validators{}).check(tc.into); err == nil || !strings.Contains(err.Error(), "InvalidArgument") {
				t.Fatalf("check = %v, want InvalidArgument", err)
			}
		})
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
