// Package kinds links every built-in kind of flowsteer's pluggable seams
// into a program: importing it runs each kind's registration (its
// factory.go's init). Entry points that decode kinds from configs
// (internal/system, internal/trainer, the flowsteer command) import it, so
// the set of kinds is the same everywhere. A new kind in a new package is
// one more import here.
package kinds

import (
	// Executor backends (executor.Backends); openai registers itself in
	// package executor.
	_ "github.com/flowsteer/flowsteer/internal/executor/sim"
	_ "github.com/flowsteer/flowsteer/internal/llamacpp"

	// Policies (policy.Kinds); random and fixed register themselves in
	// package policy.
	_ "github.com/flowsteer/flowsteer/internal/policy/embedded"
	_ "github.com/flowsteer/flowsteer/internal/policy/llm"
	_ "github.com/flowsteer/flowsteer/internal/policy/remote"
)
