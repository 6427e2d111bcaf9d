package policy

import (
	"context"
	"fmt"
	"strings"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// Fixed builds one workflow from DSL text, stage by stage, then finishes:
// the baselines (a lone AnswerGenerate, self-consistency, a
// full-structure template) are Fixed policies.
type Fixed struct {
	dsl    string
	target *workflow.Graph
}

// Named baselines of SPEC section 7's comparison.
var Baselines = map[string]string{
	"cot":              "AnswerGenerate",
	"self-consistency": "[AnswerGenerate, AnswerGenerate, AnswerGenerate] -> ScEnsemble -> Format",
	"full":             "Plan -> [Programmer, AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : done -> Verify -> Format",
}

// NewFixed parses dsl (or a baseline name).
func NewFixed(dsl string) (*Fixed, error) {
	if b, ok := Baselines[dsl]; ok {
		dsl = b
	}
	g, err := workflow.Parse(dsl, nil)
	if err != nil {
		return nil, fmt.Errorf("fixed policy: %w", err)
	}
	if g.Empty() {
		return nil, fmt.Errorf("fixed policy: the workflow is empty")
	}
	return &Fixed{dsl: g.String(), target: g}, nil
}

func (f *Fixed) Info() Info {
	return Info{Kind: "fixed", Version: "fixed:" + f.dsl, Format: pb.ActionFormat_ACTION_FORMAT_STRUCTURED, Extra: map[string]string{"dsl": f.dsl}}
}

// Act adds the first target stage the workflow lacks, deletes a stage that
// does not belong, and finishes once the workflow is the target.
func (f *Fixed) Act(_ context.Context, obs *pb.Observation, _ Sampling) (*pb.Decision, error) {
	if obs.GetState() == pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT {
		return PromptDecision(obs, f.Info().Version), nil
	}
	cur := obs.GetWorkflow().GetStages()
	for i, want := range f.target.Stages {
		if i < len(cur) && sameStage(cur[i], want) {
			continue
		}
		if i < len(cur) {
			return structured(&pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_DELETE, Target: cur[i].GetId()}, f.Info().Version), nil
		}
		return structured(AddStage(want), f.Info().Version), nil
	}
	if len(cur) > len(f.target.Stages) {
		return structured(&pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_DELETE, Target: cur[len(cur)-1].GetId()}, f.Info().Version), nil
	}
	return structured(&pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_FINISH}, f.Info().Version), nil
}

func structured(a *pb.StructuredAction, version string) *pb.Decision {
	return &pb.Decision{Action: &pb.Action{Structured: a, Text: Describe(a)}, PolicyVersion: version}
}

// AddStage is the add action that inserts stage s.
func AddStage(s *workflow.Stage) *pb.StructuredAction {
	a := &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD}
	switch s.Kind {
	case workflow.Operator:
		a.Operator = s.Op.Operator
	case workflow.Parallel:
		a.Structure = pb.StructureKind_STRUCTURE_KIND_PARALLEL
		for _, n := range s.Branches {
			a.Operators = append(a.Operators, n.Operator)
		}
	case workflow.Conditional:
		a.Structure = pb.StructureKind_STRUCTURE_KIND_CONDITIONAL
		a.Condition, a.IfTrue, a.IfFalse = s.Cond.Operator, s.True.Operator, workflow.Done
		if s.False != nil {
			a.IfFalse = s.False.Operator
		}
	case workflow.Loop:
		a.Structure = pb.StructureKind_STRUCTURE_KIND_LOOP
		for _, n := range s.Body {
			a.Operators = append(a.Operators, n.Operator)
		}
		a.Count = int32(s.Count)
	}
	return a
}

func sameStage(p *pb.Stage, s *workflow.Stage) bool {
	ops := func(ns []*pb.WorkflowNode) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.GetOperator())
		}
		return out
	}
	// The canvas stores canonical spellings while the target keeps the
	// DSL's own ("plan -> answergenerate"), and operator names match
	// case-insensitively (SPEC section 4): comparing exactly would delete
	// and re-add a correct stage forever.
	same := strings.EqualFold
	eq := func(a []string, b []*workflow.Node) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if !same(a[i], b[i].Operator) {
				return false
			}
		}
		return true
	}
	switch s.Kind {
	case workflow.Operator:
		return p.GetKind() == pb.StageKind_STAGE_KIND_OPERATOR && same(p.GetOperator().GetOperator(), s.Op.Operator)
	case workflow.Parallel:
		return p.GetKind() == pb.StageKind_STAGE_KIND_PARALLEL && eq(ops(p.GetBranches()), s.Branches)
	case workflow.Conditional:
		f := ""
		if s.False != nil {
			f = s.False.Operator
		}
		return p.GetKind() == pb.StageKind_STAGE_KIND_CONDITIONAL && same(p.GetCondition().GetOperator(), s.Cond.Operator) &&
			same(p.GetIfTrue().GetOperator(), s.True.Operator) && same(p.GetIfFalse().GetOperator(), f)
	case workflow.Loop:
		return p.GetKind() == pb.StageKind_STAGE_KIND_LOOP && int(p.GetCount()) == s.Count && eq(ops(p.GetBody()), s.Body)
	}
	return false
}

// Describe summarises a structured action for logs and the record.
func Describe(a *pb.StructuredAction) string {
	switch a.GetKind() {
	case pb.ActionKind_ACTION_KIND_ADD:
		switch a.GetStructure() {
		case pb.StructureKind_STRUCTURE_KIND_PARALLEL:
			return fmt.Sprintf("add parallel %v", a.GetOperators())
		case pb.StructureKind_STRUCTURE_KIND_CONDITIONAL:
			return fmt.Sprintf("add conditional %s ? %s : %s", a.GetCondition(), a.GetIfTrue(), orDone(a.GetIfFalse()))
		case pb.StructureKind_STRUCTURE_KIND_LOOP:
			return fmt.Sprintf("add loop %v * %d", a.GetOperators(), a.GetCount())
		}
		return "add " + a.GetOperator()
	case pb.ActionKind_ACTION_KIND_DELETE:
		return "delete " + a.GetTarget()
	case pb.ActionKind_ACTION_KIND_MODIFY:
		return fmt.Sprintf("modify %s to %s", a.GetTarget(), a.GetOperator())
	case pb.ActionKind_ACTION_KIND_SET_PROMPT:
		return "set_prompt " + a.GetTarget()
	case pb.ActionKind_ACTION_KIND_FINISH:
		return "finish"
	}
	return "unknown action"
}

func orDone(s string) string {
	if s == "" {
		return workflow.Done
	}
	return s
}
