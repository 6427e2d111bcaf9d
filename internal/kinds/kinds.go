// Package kinds links every built-in kind of flowsteer's pluggable seams
// into a program: importing it runs each kind's registration (its
// factory.go's init). Entry points that decode kinds from configs
// (internal/system, internal/trainer, the flowsteer command) import it, so
// the set of kinds is the same everywhere. A new kind in a new package is
// one more import here.
package kinds

import (
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/runstore"

	// Executor backends (executor.Backends); openai registers itself in
	// package executor.
	_ "github.com/flowsteer/flowsteer/internal/executor/sim"
	_ "github.com/flowsteer/flowsteer/internal/llamacpp"

	// Policies (policy.Kinds); random and fixed register themselves in
	// package policy.
	_ "github.com/flowsteer/flowsteer/internal/policy/embedded"
	_ "github.com/flowsteer/flowsteer/internal/policy/llm"
	_ "github.com/flowsteer/flowsteer/internal/policy/remote"

	// Operator libraries (operator.Libraries).
	_ "github.com/flowsteer/flowsteer/internal/operator/builtin"
	_ "github.com/flowsteer/flowsteer/internal/operator/remote"
)

// Markdown documents every registered kind of every seam with its
// options, for docs/config.md (kinds_test.go keeps the file current).
func Markdown() string {
	return "## Executor backends (`backend.kind`, `--backend`, `EvaluateRequest.backend` with `backend_options`)\n\n" + executor.Backends.Markdown() +
		"## Policies (`policy.kind`, `--policy`, `PolicySpec.kind`)\n\n" + policy.Kinds.Markdown() +
		"## Reward kinds (`reward.kind`; their weights are the reward section's, shared by every kind)\n\n" + reward.Kinds.Markdown() +
		"## Run stores (`store.kind`, `flowsteer train --store`; a run directory records its store in `" + runstore.SpecFile + "` and is reopened with it)\n\n" + runstore.Kinds.Markdown() +
		"## Operator libraries (`canvas.libraries` entries {name, kind, options}, `flowsteer serve --operator-library NAME=ADDR` for kind remote; episodes pick one with `EpisodeConfig.library`, a run config's with `canvas.library`)\n\n" + operator.Libraries.Markdown()
}
