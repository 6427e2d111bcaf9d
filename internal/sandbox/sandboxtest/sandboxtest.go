// Package sandboxtest gives tests one default sandbox.Runner per test
// binary, built on first use, so packages whose tests run real code
// (engine, builtin operators, the simulated executor) share one helper.
package sandboxtest

import (
	"sync"
	"testing"

	"github.com/flowsteer/flowsteer/internal/sandbox"
)

var (
	once   sync.Once
	runner *sandbox.Runner
	err    error
)

// Runner returns the binary's shared sandbox.Runner with the default
// config, failing the test if it cannot be built.
func Runner(t testing.TB) *sandbox.Runner {
	t.Helper()
	once.Do(func() { runner, err = sandbox.New(sandbox.Config{}) })
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	return runner
}
