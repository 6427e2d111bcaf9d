package policy

import (
	"context"
	"errors"

	"github.com/flowsteer/flowsteer/internal/component"
)

// Kinds of the baseline policies.
const (
	KindRandom = "random"
	KindFixed  = "fixed"
)

// RandomConfig: the random policy has no options (its seed is Deps.Seed).
type RandomConfig struct{}

// Validate has nothing to check.
func (RandomConfig) Validate() error { return nil }

// FixedConfig is the fixed policy's workflow.
type FixedConfig struct {
	DSL string `yaml:"dsl" flag:"dsl" doc:"the workflow to build, as DSL text or a named baseline (cot, self-consistency, full); also written fixed:DSL"`
}

// Validate parses the workflow.
func (c FixedConfig) Validate() error {
	if c.DSL == "" {
		return errors.New("dsl is required for policy kind fixed (fixed:\"Programmer -> Format\")")
	}
	_, err := NewFixed(c.DSL)
	return err
}

func init() {
	component.Register(Kinds, component.Factory[RandomConfig, Policy, Deps]{
		Kind: KindRandom, Doc: "uniformly random valid actions (a baseline)", Traits: []string{TraitBaseline},
		Default: func() RandomConfig { return RandomConfig{} },
		Create: func(_ context.Context, _ RandomConfig, d Deps) (Policy, error) {
			return NewRandom(d.Seed), nil
		},
	})
	component.Register(Kinds, component.Factory[FixedConfig, Policy, Deps]{
		Kind: KindFixed, Doc: "builds one fixed workflow, then finishes (a baseline)", Traits: []string{TraitBaseline},
		Default: func() FixedConfig { return FixedConfig{} },
		Create: func(_ context.Context, c FixedConfig, _ Deps) (Policy, error) {
			return NewFixed(c.DSL)
		},
	})
}
