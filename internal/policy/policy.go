// Package policy holds Flow-Directors: the Policy interface, the registry
// of policy kinds built from typed configs (Kinds, factory.go), and the
// baselines (fixed workflows, a uniformly random valid-action policy;
// baselines.go holds their kinds and the one baseline rule). The learning
// policies live in subpackages (embedded, llm); remote reaches any
// PolicyService.
//
// Policies read flowsteer.v1 Observations and write Decisions (the
// contract types, so a policy behaves the same in process and behind
// gRPC); they never import gRPC themselves.
//
// Data path: observation -> policy (here) -> decision (action + log-probs)
// -> canvas; decisions with advantages -> Learner.Update.
package policy

import (
	"context"
	"errors"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// Info describes a policy.
type Info struct {
	Kind     string
	Version  string
	CanLearn bool
	Format   pb.ActionFormat
	Model    string
	Extra    map[string]string
}

// Sampling are the sampling settings of one act; zero values take the
// policy's defaults.
type Sampling struct {
	Temperature float64
	TopP        float64
	TopK        int
	MaxTokens   int
	Greedy      bool
	Seed        *int64
}

// Policy acts on observations. Implementations are safe for concurrent use
// by the episodes of a group.
type Policy interface {
	Info() Info
	Act(ctx context.Context, obs *pb.Observation, s Sampling) (*pb.Decision, error)
}

// Learner is a policy that learns with CWRPO.
type Learner interface {
	Policy
	// Update applies one optimisation step to a batch of episodes.
	Update(ctx context.Context, req *pb.UpdateRequest) (*pb.LossStats, error)
	// Save writes a checkpoint and returns its hex SHA-256.
	Save(path string, step int64) (checksum string, err error)
	// Load restores a checkpoint (checked against checksum when given) and
	// returns the step it was saved at.
	Load(path, checksum string) (step int64, err error)
}

// ErrCannotLearn is returned by Update on policies that do not learn.
var ErrCannotLearn = errors.New("this policy does not learn")

// FromSampling converts proto sampling parameters.
func FromSampling(s *pb.SamplingParams) Sampling {
	out := Sampling{Greedy: s.GetGreedy()}
	if s == nil {
		return out
	}
	if s.Temperature != nil {
		out.Temperature = s.GetTemperature()
	}
	if s.TopP != nil {
		out.TopP = s.GetTopP()
	}
	if s.TopK != nil {
		out.TopK = int(s.GetTopK())
	}
	if s.MaxNewTokens != nil {
		out.MaxTokens = int(s.GetMaxNewTokens())
	}
	if s.Seed != nil {
		v := s.GetSeed()
		out.Seed = &v
	}
	return out
}

// ToSampling converts to proto sampling parameters.
func ToSampling(s Sampling) *pb.SamplingParams {
	out := &pb.SamplingParams{Greedy: s.Greedy, Seed: s.Seed}
	if s.Temperature != 0 {
		out.Temperature = &s.Temperature
	}
	if s.TopP != 0 {
		out.TopP = &s.TopP
	}
	if s.TopK != 0 {
		k := int32(s.TopK)
		out.TopK = &k
	}
	if s.MaxTokens != 0 {
		m := int32(s.MaxTokens)
		out.MaxNewTokens = &m
	}
	return out
}

// Imitator is a learner that can be shown an action: Imitate returns the
// decision the policy would have recorded had it chosen target itself (its
// choices, their log-probs and whatever Update recomputes them from), so
// an Update that gives the decision a positive advantage makes target more
// likely. A trainer warm-starts such a policy from demonstrated workflows
// that way (behaviour cloning; trainer config warm_start), then calls
// Anchor: the current parameters become the KL term's reference and the
// optimiser starts afresh.
type Imitator interface {
	Learner
	Imitate(obs *pb.Observation, target *pb.StructuredAction) (*pb.Decision, error)
	Anchor()
}

// ErrCannotImitate wraps Imitate's refusal of an action outside the
// policy's action space or not legal on the observation.
var ErrCannotImitate = errors.New("the policy cannot take this action")
