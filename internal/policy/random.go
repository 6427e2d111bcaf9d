package policy

import (
	"context"
	"math/rand/v2"
	"sync"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// Random picks a uniformly random valid-looking action each turn: a
// baseline, and a fuzzer of the canvas (it never writes malformed text,
// but it tries every action kind on every node).
type Random struct {
	mu  sync.Mutex
	rng *rand.Rand
}

// NewRandom returns a random policy seeded with seed.
func NewRandom(seed int64) *Random {
	return &Random{rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))}
}

func (r *Random) Info() Info {
	return Info{Kind: "random", Version: "random", Format: pb.ActionFormat_ACTION_FORMAT_STRUCTURED}
}

var (
	solvers  = []string{"Custom", "AnswerGenerate", "Programmer"}
	checkers = []string{"Review", "Verify", "Test"}
	repairs  = []string{"Revise", "Programmer", "Custom", "AnswerGenerate"}
)

// Act chooses an action kind uniformly, then its arguments uniformly among
// the enabled operators.
func (r *Random) Act(_ context.Context, obs *pb.Observation, s Sampling) (*pb.Decision, error) {
	if obs.GetState() == pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT {
		return PromptDecision(obs, "random"), nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rng := r.rng
	if s.Seed != nil {
		rng = rand.New(rand.NewPCG(uint64(*s.Seed), uint64(obs.GetTurn())+hashString(obs.GetTask().GetId())))
	}
	var enabled []string
	for _, o := range obs.GetOperators() {
		if o.GetEnabled() {
			enabled = append(enabled, o.GetName())
		}
	}
	if len(enabled) == 0 {
		// No operator list came with the observation: fall back to the
		// default library, minus what the task's family disables
		// (multiple-choice tasks never get Programmer, SPEC section 2).
		for _, name := range append(append([]string{"Plan", "ScEnsemble", "Format"}, solvers...), checkers...) {
			if name == "Programmer" && obs.GetTask().GetFamily() == pb.TaskFamily_TASK_FAMILY_MULTIPLE_CHOICE {
				continue
			}
			enabled = append(enabled, name)
		}
	}
	ok := func(name string) bool {
		for _, e := range enabled {
			if e == name {
				return true
			}
		}
		return false
	}
	pick := func(from []string) string {
		var c []string
		for _, f := range from {
			if ok(f) {
				c = append(c, f)
			}
		}
		if len(c) == 0 {
			return enabled[rng.IntN(len(enabled))]
		}
		return c[rng.IntN(len(c))]
	}
	stages := obs.GetWorkflow().GetStages()
	var nodes []string
	for _, st := range stages {
		for _, n := range append(append([]*pb.WorkflowNode{st.GetOperator(), st.GetCondition(), st.GetIfTrue(), st.GetIfFalse()}, st.GetBranches()...), st.GetBody()...) {
			if n != nil {
				nodes = append(nodes, n.GetId())
			}
		}
	}
	var a *pb.StructuredAction
	switch k := rng.IntN(8); {
	case k <= 1:
		a = &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Operator: enabled[rng.IntN(len(enabled))]}
	case k == 2:
		n := 2 + rng.IntN(2)
		a = &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_PARALLEL}
		for range n {
			a.Operators = append(a.Operators, pick(solvers))
		}
	case k == 3:
		a = &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_CONDITIONAL,
			Condition: pick(checkers), IfTrue: pick(repairs), IfFalse: "done"}
	case k == 4:
		a = &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_LOOP,
			Operators: []string{pick(checkers), pick(repairs)}, Count: int32(1 + rng.IntN(3))}
	case k == 5 && len(stages) > 0:
		a = &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_DELETE, Target: stages[rng.IntN(len(stages))].GetId()}
	case k == 6 && len(nodes) > 0:
		a = &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_MODIFY, Target: nodes[rng.IntN(len(nodes))], Operator: enabled[rng.IntN(len(enabled))]}
	default:
		a = &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_FINISH}
	}
	if a.GetKind() == pb.ActionKind_ACTION_KIND_ADD && len(stages) > 0 && rng.IntN(4) == 0 {
		p := int32(rng.IntN(len(stages) + 1))
		a.Position = &p
	}
	return structured(a, "random"), nil
}

func hashString(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
