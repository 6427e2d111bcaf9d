package embedded

import (
	"errors"
	"fmt"
	"slices"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

var _ policy.Imitator = (*Policy)(nil)

// Imitate implements policy.Imitator: the decision this policy would
// record had it drawn target itself at temperature 1 (its choice
// sequence, their log-probs, the state Update recomputes them from).
// target must be an action of this policy's heads (an add of one
// operator; a parallel block of 2 or 3 BranchOperators; a conditional
// Checker ? Repair : done; a loop of a LoopBodies body, LoopCount times;
// a delete of the last stage; finish) and legal on obs; otherwise the
// error wraps policy.ErrCannotImitate and says which part is outside.
func (p *Policy) Imitate(obs *pb.Observation, target *pb.StructuredAction) (*pb.Decision, error) {
	if obs == nil || target == nil {
		return nil, errors.New("embedded: imitate needs an observation and a target action")
	}
	if obs.GetDone() || obs.GetState() == pb.EpisodeState_EPISODE_STATE_DONE {
		return nil, ErrEpisodeDone
	}
	if obs.GetState() == pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT {
		return nil, fmt.Errorf("%w: the canvas awaits a prompt, which carries no choices", policy.ErrCannotImitate)
	}
	want, err := choicesFor(obs, target)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", policy.ErrCannotImitate, policy.Describe(target), err)
	}
	x := p.inputOf(obs)
	leg := legalityOf(obs)
	var illegal error
	made := 0
	sa, text, cs, logps, version := p.decide(obs, x, leg, 1, func(k Head, m mask, z, _ []float64) int {
		c := -1
		if made < len(want) {
			c = want[made]
		}
		made++
		if c < 0 || !m.has(c) {
			if illegal == nil {
				illegal = fmt.Errorf("the %s choice it needs is not legal on this observation", k)
			}
			c = argmax(z, m) // any legal index: the decision is discarded
		}
		return c
	})
	if illegal == nil && len(cs) != len(want) {
		illegal = fmt.Errorf("the action takes %d choices, the policy made %d", len(want), len(cs))
	}
	if illegal != nil {
		return nil, fmt.Errorf("%w: %s: %w", policy.ErrCannotImitate, policy.Describe(target), illegal)
	}
	return decisionOf(sa, text, cs, logps, 1, x, version), nil
}

// choicesFor maps an action onto the heads' choice indices, in the order
// buildAction asks for them.
func choicesFor(obs *pb.Observation, a *pb.StructuredAction) ([]int, error) {
	index := func(names []string, n, what string) (int, error) {
		if i := slices.Index(names, n); i >= 0 {
			return i, nil
		}
		return 0, fmt.Errorf("%s %q is not one of %v", what, n, names)
	}
	switch a.GetKind() {
	case pb.ActionKind_ACTION_KIND_FINISH:
		return []int{KindFinish}, nil
	case pb.ActionKind_ACTION_KIND_DELETE:
		st := obs.GetWorkflow().GetStages()
		if len(st) == 0 || st[len(st)-1].GetId() != a.GetTarget() {
			return nil, errors.New("the policy deletes only the last stage")
		}
		return []int{KindDeleteLast}, nil
	case pb.ActionKind_ACTION_KIND_ADD:
	default:
		return nil, fmt.Errorf("the policy does not %s", policy.Describe(a))
	}
	if a.Position != nil && int(a.GetPosition()) != len(obs.GetWorkflow().GetStages()) {
		return nil, errors.New("the policy adds at the end only")
	}
	switch a.GetStructure() {
	case pb.StructureKind_STRUCTURE_KIND_UNSPECIFIED:
		i, err := index(Operators, a.GetOperator(), "operator")
		return []int{KindAddOperator, i}, err
	case pb.StructureKind_STRUCTURE_KIND_PARALLEL:
		w := slices.Index(Widths, len(a.GetOperators()))
		if w < 0 {
			return nil, fmt.Errorf("a parallel block has %v branches here, not %d", Widths, len(a.GetOperators()))
		}
		out := []int{KindAddParallel, w}
		for _, op := range a.GetOperators() {
			i, err := index(BranchOperators, op, "branch operator")
			if err != nil {
				return nil, err
			}
			out = append(out, i)
		}
		return out, nil
	case pb.StructureKind_STRUCTURE_KIND_CONDITIONAL:
		if f := a.GetIfFalse(); f != "" && f != "done" {
			return nil, fmt.Errorf("a conditional's false branch is done here, not %q", f)
		}
		c, err := index(Checkers, a.GetCondition(), "checker")
		if err != nil {
			return nil, err
		}
		r, err := index(Repairs, a.GetIfTrue(), "repair")
		return []int{KindAddConditional, c, r}, err
	case pb.StructureKind_STRUCTURE_KIND_LOOP:
		if a.GetCount() != LoopCount {
			return nil, fmt.Errorf("a loop runs %d times here, not %d", LoopCount, a.GetCount())
		}
		for i, body := range LoopBodies {
			if slices.Equal(body, a.GetOperators()) {
				return []int{KindAddLoop, i}, nil
			}
		}
		return nil, fmt.Errorf("loop body %v is not one of %v", a.GetOperators(), LoopBodies)
	}
	return nil, fmt.Errorf("unknown structure %v", a.GetStructure())
}

// Anchor implements policy.Imitator: the current parameters become the
// reference policy of the KL term, and the optimiser (Adam's moments and
// clock) starts afresh, as for a new run from these weights.
func (p *Policy) Anchor() {
	p.updateMu.Lock()
	defer p.updateMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	copy(p.ref, p.params)
	clear(p.adamM)
	clear(p.adamV)
	p.adamT = 0
}

// Expressible tells whether this policy's heads can build g, stage by
// stage from an empty canvas (it only appends): nil, or the first stage
// they cannot build and why. Which operators a task enables is the
// canvas's business, not checked here.
func Expressible(g *workflow.Graph) error {
	for i, s := range g.Stages {
		if _, err := choicesFor(nil, policy.AddStage(s)); err != nil {
			return fmt.Errorf("stage %d (%s): %w", i+1, policy.Describe(policy.AddStage(s)), err)
		}
	}
	return nil
}
