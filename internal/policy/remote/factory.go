package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/policy"
)

// Kind is the policy kind of a PolicyService.
const Kind = "remote"

// Config names the PolicyService replicas. Credentials (TLS, a bearer
// token) belong to the connection, which the entry point makes
// (policy.Deps.Connect): the run config's policy.auth and
// policy.credential, the CLI's --tls-* flags.
type Config struct {
	Address string `yaml:"address" flag:"policy-addr" vet:"addr" doc:"host:port (or dns:///name:port) of a PolicyService"`
	// Addresses are replicas: each episode's ActStream goes to one
	// healthy replica, round robin; Update and checkpoints go to one, so
	// the replicas must share one learner's weights.
	Addresses []string `yaml:"addresses" vet:"addr" doc:"PolicyService replicas, instead of address (one balanced connection)"`
}

// Targets are address and addresses together.
func (c Config) Targets() []string {
	var out []string
	if c.Address != "" {
		out = append(out, c.Address)
	}
	return append(out, c.Addresses...)
}

// Validate needs exactly one of address and addresses.
func (c Config) Validate() error {
	switch {
	case c.Address == "" && len(c.Addresses) == 0:
		return errors.New("policy.address (or policy.addresses) is required for policy kind remote")
	case c.Address != "" && len(c.Addresses) > 0:
		return errors.New("policy.address and policy.addresses are both set: give every replica in policy.addresses")
	}
	for i, a := range c.Addresses {
		if strings.TrimSpace(a) == "" {
			return fmt.Errorf("policy.addresses[%d] must be host:port or dns:///name:port, got \"\"", i)
		}
	}
	return nil
}

func init() {
	component.Register(policy.Kinds, component.Factory[Config, policy.Policy, policy.Deps]{
		Kind: Kind, Doc: "a PolicyService in another process (e.g. the Python LLM learner)",
		// The server says whether it learns; training checks Info().CanLearn once connected.
		Traits:  []string{policy.TraitLearns},
		Default: func() Config { return Config{} },
		Create: func(ctx context.Context, c Config, d policy.Deps) (policy.Policy, error) {
			if d.Connect == nil {
				return nil, errors.New("policy kind remote: this entry point cannot connect to a PolicyService")
			}
			where := strings.Join(c.Targets(), ",")
			client, err := d.Connect(ctx, c.Targets())
			if err != nil {
				return nil, fmt.Errorf("policy.address: %w", err)
			}
			p, err := NewClient(ctx, client)
			if err != nil {
				return nil, fmt.Errorf("policy at %s: %w", where, err)
			}
			return p, nil
		},
	})
}
