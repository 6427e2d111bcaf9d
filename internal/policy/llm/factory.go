package llm

import (
	"context"

	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/policy"
)

// The llm kind plays and evaluates; it does not learn inside the Go
// trainer (no TraitLearns): an LLM learns behind the Python PolicyServer,
// which the trainer reaches as policy kind remote.
func init() {
	component.Register(policy.Kinds, component.Factory[Config, policy.Policy, policy.Deps]{
		Kind: Kind, Doc: "a language model at an OpenAI-compatible endpoint (plays and evaluates; learns only behind a PolicyServer, as kind remote)",
		Default: DefaultConfig,
		Create: func(_ context.Context, c Config, _ policy.Deps) (policy.Policy, error) {
			return New(c)
		},
	})
}
