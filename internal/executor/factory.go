package executor

import "github.com/flowsteer/flowsteer/internal/component"

// Backends is the registry of executor backend kinds. Each kind registers
// itself from its own file (sim: internal/executor/sim/factory.go, openai:
// openai_factory.go, llamacpp: internal/llamacpp/factory.go); a process
// links the kinds it wants by importing their packages (internal/system
// links all of them). Every entry point decodes `backend.kind` and the
// kind's options here: CLI flags, YAML run configs and TrainerService.
var Backends = component.NewRegistry[Backend, Deps]("backend")

// TraitSimulated marks a backend kind whose answers are simulated, so that
// a process can say so before it creates one (a run on remote canvases).
const TraitSimulated = "simulated"

// Deps is what an entry point gives every backend factory.
type Deps struct {
	// OnClose registers what the process must release when it stops (a
	// managed server); nil: the caller does not release anything, and a
	// kind that needs releasing refuses to start.
	OnClose func(func() error)
	// Progress receives one-line progress messages of a slow start.
	Progress func(msg string)
	// APIKey, when Use is set, is the only key an HTTP backend sends (a
	// server's declared credential; empty = none), never one read from
	// the environment named by its options.
	APIKey struct {
		Use bool
		Key string
	}
}
