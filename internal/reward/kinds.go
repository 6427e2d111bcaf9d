package reward

import (
	"context"
	"math"

	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// Kinds is the registry of reward kinds (reward.kind). A kind is a Term:
// how the reward follows from S(W) and its parts, which Compute fills for
// every kind. Its weights are the Spec's, shared by all kinds, so a kind
// has no options of its own; a new kind is one RegisterTerm call (as in
// init below) and a test.
var Kinds = component.NewRegistry[Term, struct{}]("reward")

// Term completes a Breakdown whose S(W) parts, Released and Correctness
// are filled: it sets Reward (and Base, Milestone, Released where its
// formula has them), before penalties.
type Term interface {
	Formula() string
	Apply(s Spec, st workflow.Stats, b *Breakdown)
}

// NoOptions is the config of a kind without options of its own.
type NoOptions struct{}

// Validate has nothing to check.
func (NoOptions) Validate() error { return nil }

// RegisterTerm adds a reward kind whose Term is t.
func RegisterTerm(k Kind, doc string, t Term) {
	component.Register(Kinds, component.Factory[NoOptions, Term, struct{}]{
		Kind: string(k), Doc: doc,
		Default: func() NoOptions { return NoOptions{} },
		Create:  func(context.Context, NoOptions, struct{}) (Term, error) { return t, nil },
	})
}

func term(k Kind) (Term, error) {
	return Kinds.Create(context.Background(), string(k), NoOptions{}, struct{}{})
}

type termFunc struct {
	formula string
	apply   func(s Spec, st workflow.Stats, b *Breakdown)
}

func (t termFunc) Formula() string                               { return t.formula }
func (t termFunc) Apply(s Spec, st workflow.Stats, b *Breakdown) { t.apply(s, st, b) }

func init() {
	RegisterTerm(CWRPO, "SPEC section 6: structure score S(W), correctness released at the cap", termFunc{
		formula: "R = −1 + S(W) + [S(W) ≥ 1]·c: correctness counts only once the structure score reaches the cap.",
		apply: func(s Spec, _ workflow.Stats, b *Breakdown) {
			b.Base = s.Base
			b.Reward = b.Base + b.StructureTotal
			if b.Released {
				b.Reward += b.Correctness
			}
		},
	})
	RegisterTerm(Milestone, "ablation: milestone bonuses M(W) in place of S(W)", termFunc{
		formula: "R = −1 + M(W) + [M(W) ≥ 1]·c, M(W) the milestone structure score (ablation); S(W) is recorded for comparison only.",
		apply: func(s Spec, st workflow.Stats, b *Breakdown) {
			b.Base = s.Base
			b.Milestone = math.Min(s.Cap, milestones(st))
			b.Released = b.Milestone >= s.ReleaseThreshold-releaseSlack
			b.Reward = b.Base + b.Milestone
			if b.Released {
				b.Reward += b.Correctness
			}
		},
	})
	RegisterTerm(Correctness, "ablation: plain GRPO, R = c", termFunc{
		formula: "R = c (correctness only, plain GRPO ablation); S(W) and its release gate are recorded for comparison only.",
		apply:   func(_ Spec, _ workflow.Stats, b *Breakdown) { b.Reward = b.Correctness },
	})
}
