package sim

import (
	"context"
	"errors"

	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/executor"
)

// Kind is the offline simulated executor's backend kind.
const Kind = "sim"

// Options are the sim backend kind's options (backend section, flags).
type Options struct {
	ConfigFile string `yaml:"sim_config" flag:"sim-config" vet:"data" doc:"YAML file over the sim's documented defaults (internal/executor/sim/default.yaml)"`
	Seed       int64  `yaml:"sim_seed" flag:"sim-seed" doc:"seed of the simulated executor (replaces the file's seed)"`
}

// DefaultOptions: the documented defaults, seed 1.
func DefaultOptions() Options { return Options{Seed: 1} }

// Validate checks nothing the file load does not: the file is read by
// Create, so that a config naming it can be validated on another machine.
func (o Options) Validate() error {
	if o.ConfigFile != "" && len(o.ConfigFile) > 4096 {
		return errors.New("sim_config: path too long")
	}
	return nil
}

func init() {
	component.Register(executor.Backends, component.Factory[Options, executor.Backend, executor.Deps]{
		Kind:    Kind,
		Doc:     "offline, simulated: a seeded probability model of the operators, no LLM",
		Default: DefaultOptions,
		Traits:  []string{executor.TraitSimulated},
		Create: func(_ context.Context, o Options, _ executor.Deps) (executor.Backend, error) {
			cfg := DefaultConfig()
			if o.ConfigFile != "" {
				var err error
				if cfg, err = LoadConfig(o.ConfigFile); err != nil {
					return nil, err
				}
			}
			cfg.Seed = o.Seed
			return New(Kind, cfg)
		},
	})
}
