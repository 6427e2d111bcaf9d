package protoconv

import (
	"fmt"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

var (
	kindFromPB = map[pb.ActionKind]action.Kind{
		pb.ActionKind_ACTION_KIND_ADD: action.Add, pb.ActionKind_ACTION_KIND_DELETE: action.Delete,
		pb.ActionKind_ACTION_KIND_MODIFY: action.Modify, pb.ActionKind_ACTION_KIND_SET_PROMPT: action.SetPrompt,
		pb.ActionKind_ACTION_KIND_FINISH: action.Finish,
	}
	kindToPB = invert(kindFromPB)

	structureFromPB = map[pb.StructureKind]action.Structure{
		pb.StructureKind_STRUCTURE_KIND_UNSPECIFIED: action.NoStructure,
		pb.StructureKind_STRUCTURE_KIND_PARALLEL:    action.Parallel,
		pb.StructureKind_STRUCTURE_KIND_CONDITIONAL: action.Conditional,
		pb.StructureKind_STRUCTURE_KIND_LOOP:        action.Loop,
	}
	structureToPB = invert(structureFromPB)
)

// KindToPB maps an action kind ("" and unknown give unspecified).
func KindToPB(k action.Kind) pb.ActionKind { return kindToPB[k] }

// InputFromPB converts an action message. A structured action with an
// unknown kind becomes an action the canvas rejects as feedback, never an
// RPC error: a bad action must not end an episode.
func InputFromPB(a *pb.Action) canvas.Input {
	in := canvas.Input{Text: a.GetText()}
	s := a.GetStructured()
	if s == nil {
		return in
	}
	act := action.Action{
		Kind:      kindFromPB[s.GetKind()],
		Operator:  s.GetOperator(),
		Structure: structureFromPB[s.GetStructure()],
		Operators: s.GetOperators(),
		Condition: s.GetCondition(),
		True:      s.GetIfTrue(),
		False:     s.GetIfFalse(),
		Count:     int(s.GetCount()),
		Position:  -1,
		Target:    s.GetTarget(),
		Prompt:    s.GetPrompt(),
		Answer:    s.GetAnswer(),
		Reasoning: s.GetReasoning(),
	}
	if _, ok := structureFromPB[s.GetStructure()]; !ok {
		act.Structure = action.Structure(fmt.Sprintf("structure(%d)", s.GetStructure()))
	}
	if act.Kind == "" && s.GetKind() != pb.ActionKind_ACTION_KIND_UNSPECIFIED {
		act.Kind = action.Kind(fmt.Sprintf("kind(%d)", s.GetKind()))
	}
	if act.Structure == action.Loop && act.Count != 0 {
		act.Count = min(max(act.Count, workflow.MinLoopCount), workflow.MaxLoopCount)
	}
	if s.Position != nil {
		act.Position = int(s.GetPosition())
	}
	in.Structured = &act
	return in
}

// StructuredToPB converts a domain action; a position below zero (the
// end of the workflow) is left unset.
func StructuredToPB(a action.Action) *pb.StructuredAction {
	out := &pb.StructuredAction{
		Kind: KindToPB(a.Kind), Structure: structureToPB[a.Structure], Operator: a.Operator, Operators: a.Operators,
		Condition: a.Condition, IfTrue: a.True, IfFalse: a.False, Count: int32(a.Count), Target: a.Target,
		Prompt: a.Prompt, Answer: a.Answer, Reasoning: a.Reasoning,
	}
	if a.Position >= 0 {
		p := int32(a.Position)
		out.Position = &p
	}
	return out
}
