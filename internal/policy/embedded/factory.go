package embedded

import (
	"context"
	"fmt"

	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/policy"
)

// Options are the embedded kind's options; its optimizer settings come
// from the run's optimizer section (policy.Deps).
type Options struct {
	Hidden     int    `yaml:"hidden" doc:"hidden units of the tanh trunk"`
	Checkpoint string `yaml:"checkpoint" flag:"checkpoint" vet:"file" doc:"checkpoint file to load (trained weights)"`
}

// Validate bounds the network's width.
func (o Options) Validate() error {
	if o.Hidden < 4 || o.Hidden > 4096 {
		return fmt.Errorf("policy.hidden must be in 4..4096, got %d", o.Hidden)
	}
	return nil
}

func init() {
	component.Register(policy.Kinds, component.Factory[Options, policy.Policy, policy.Deps]{
		Kind: Kind, Doc: "the embedded Go network, trained in process", Traits: []string{policy.TraitLearns, policy.TraitCheapUpdate},
		Default: func() Options { return Options{Hidden: 64} },
		Create: func(_ context.Context, o Options, d policy.Deps) (policy.Policy, error) {
			p, err := New(Config{Hidden: o.Hidden, LearningRate: d.LearningRate, MaxGradNorm: d.MaxGradNorm, Seed: d.Seed})
			if err != nil {
				return nil, err
			}
			if o.Checkpoint != "" {
				if _, err := p.Load(o.Checkpoint, ""); err != nil {
					return nil, err
				}
			}
			return p, nil
		},
	})
}

// Describe names the network and its version in run logs.
func (p *Policy) Describe() string { return "embedded Go network (" + p.Info().Version + ")" }
