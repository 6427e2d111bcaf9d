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
	Hidden     int     `yaml:"hidden" doc:"hidden units of the tanh trunk"`
	Checkpoint string  `yaml:"checkpoint" flag:"checkpoint" vet:"file" doc:"checkpoint file to load (trained weights)"`
	Credit     string  `yaml:"credit" doc:"how an episode's advantage reaches its decisions: episode (all share it, the SPEC's) or value (per decision, GAE against a learned critic)"`
	GAELambda  float64 `yaml:"gae_lambda" doc:"value credit's GAE lambda in (0, 1]; 1 keeps the gradient unbiased"`
	// CriticHidden is value credit's critic width.
	CriticHidden int `yaml:"critic_hidden" doc:"hidden units of value credit's critic"`
}

// Validate bounds the network's width and checks the credit options.
func (o Options) Validate() error {
	if o.Hidden < 4 || o.Hidden > 4096 {
		return fmt.Errorf("policy.hidden must be in 4..4096, got %d", o.Hidden)
	}
	if o.Credit != CreditEpisode && o.Credit != CreditValue {
		return fmt.Errorf("policy.credit must be %q or %q, got %q", CreditEpisode, CreditValue, o.Credit)
	}
	if !(o.GAELambda > 0 && o.GAELambda <= 1) {
		return fmt.Errorf("policy.gae_lambda must be in (0, 1], got %v", o.GAELambda)
	}
	if o.CriticHidden < 1 || o.CriticHidden > 4096 {
		return fmt.Errorf("policy.critic_hidden must be in 1..4096, got %d", o.CriticHidden)
	}
	return nil
}

func init() {
	component.Register(policy.Kinds, component.Factory[Options, policy.Policy, policy.Deps]{
		Kind: Kind, Doc: "the embedded Go network, trained in process", Traits: []string{policy.TraitLearns, policy.TraitCheapUpdate},
		Default: func() Options {
			d := DefaultConfig()
			return Options{Hidden: d.Hidden, Credit: d.Credit, GAELambda: d.GAELambda, CriticHidden: d.CriticHidden}
		},
		Create: func(_ context.Context, o Options, d policy.Deps) (policy.Policy, error) {
			p, err := New(Config{Hidden: o.Hidden, LearningRate: d.LearningRate, MaxGradNorm: d.MaxGradNorm, Seed: d.Seed,
				Credit: o.Credit, GAELambda: o.GAELambda, CriticHidden: o.CriticHidden})
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
