package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/operator/builtin"
)

// An operator library kind registered by this test alone serves a YAML
// run's in-process canvas: canvas.libraries builds it through the
// registry and canvas.library makes every episode use it. The kind is the
// default operators with each implementation counted, so the test sees
// episodes run its operators, not the default library's.

type countingLibrary struct {
	Label string `yaml:"label" doc:"a value the test looks for"`
}

func (countingLibrary) Validate() error { return nil }

var (
	countingOnce   sync.Once
	countingLabels sync.Map // label -> *atomic.Int64 of invocations
)

func registerCountingLibrary() {
	countingOnce.Do(func() {
		component.Register(operator.Libraries, component.Factory[countingLibrary, *operator.Library, operator.LibraryDeps]{
			Kind: "throwaway-counting", Doc: "a test's library",
			Default: func() countingLibrary { return countingLibrary{Label: "none"} },
			Create: func(_ context.Context, c countingLibrary, d operator.LibraryDeps) (*operator.Library, error) {
				n, _ := countingLabels.LoadOrStore(c.Label, new(atomic.Int64))
				var defs []operator.Def
				for _, def := range builtin.Library().Defs() {
					inner := def.Impl
					def.Impl = operator.ImplFunc(func(ctx context.Context, env operator.Env, call operator.Call) (operator.Output, error) {
						n.(*atomic.Int64).Add(1)
						return inner.Invoke(ctx, env, call)
					})
					defs = append(defs, def)
				}
				return operator.NewLibrary(d.Name, defs)
			},
		})
	})
}

func TestThrowawayLibraryKindServesAYAMLRunsCanvas(t *testing.T) {
	registerCountingLibrary()
	tmp := t.TempDir()
	cfgPath := filepath.Join(tmp, "run.yaml")
	yaml := strings.Replace(storeYAML, "store: {kind: throwaway-store, tag: yaml}\n",
		"canvas: {libraries: [{name: counted, kind: throwaway-counting, options: {label: yaml}}], library: counted}\n", 1)
	yaml = strings.Replace(yaml, "max_rounds: 2", "max_rounds: 6", 1) // room to add a node and give its prompt
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runTrainCmd(t, "--config", cfgPath, "--dir", filepath.Join(tmp, "runs", "lib")); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	n, ok := countingLabels.Load("yaml")
	if !ok || n.(*atomic.Int64).Load() == 0 {
		t.Fatalf("the counted library (label yaml) ran no operator: created %v", ok)
	}
	// An option the kind does not have is refused, naming it; so is a
	// canvas.library no library has.
	for bad, want := range map[string]string{
		strings.Replace(yaml, "label: yaml", "label: yaml, size: 3", 1):    `"size"`,
		strings.Replace(yaml, "library: counted", "library: elsewhere", 1): `canvas.library "elsewhere"`,
	} {
		if err := os.WriteFile(cfgPath, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := runTrainCmd(t, "--config", cfgPath, "--dir", filepath.Join(tmp, "runs", "bad")); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %s", bad, err, want)
		}
	}
}
