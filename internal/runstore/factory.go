package runstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/fsutil"
)

// Kinds is the registry of run store kinds. sqlite registers itself in
// sqlite_factory.go; another kind is one file with its config and
// factory. Every entry point names a store through it: a run config's
// store section, `flowsteer train --store` and the record a run directory
// keeps of its store (SpecFile), from which Open reopens it.
var Kinds = component.NewRegistry[Store, Deps]("store")

// Deps is what an entry point gives every store factory.
type Deps struct {
	// Dir is the run directory, created already; a kind keeps its files
	// (or the name of its remote database) there.
	Dir string
}

// SpecFile records, inside a run directory, the store kind and options a
// run was made with, so that every reader (flowsteer runs, the viewer,
// TrainerService, a resume) opens the run with the same kind. A directory
// without one is sqlite with its defaults: runs made before the record
// existed keep opening.
const SpecFile = "store.yaml"

// Spec is a store kind and the options set for it: a run config's store
// section ({kind: sqlite, busy_timeout: 10s}) and the content of
// SpecFile. The zero Spec is sqlite with its defaults.
type Spec struct {
	Kind    string         `yaml:"kind,omitempty"`
	Options map[string]any `yaml:",inline"`
}

// IsZero says the spec is the default, so that a run config leaves its
// store section out (and keeps the hash of configs made before it).
func (s Spec) IsZero() bool { return s.Kind == "" && len(s.Options) == 0 }

// KindOrDefault is the kind, sqlite when none is named.
func (s Spec) KindOrDefault() string {
	if s.Kind == "" {
		return KindSQLite
	}
	return s.Kind
}

// Config decodes the spec through its kind's factory: unknown kinds and
// options are errors naming them, and the kind's Validate runs.
func (s Spec) Config() (component.Config, error) {
	return Kinds.Decode(s.KindOrDefault(), s.Options)
}

// ReadSpec returns the store spec recorded in dir; the zero Spec (sqlite)
// when dir has none.
func ReadSpec(dir string) (Spec, error) {
	b, err := os.ReadFile(filepath.Join(dir, SpecFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Spec{}, nil
	}
	if err != nil {
		return Spec{}, fmt.Errorf("runstore: %w", err)
	}
	var s Spec
	if err := yaml.Unmarshal(b, &s); err != nil {
		return Spec{}, fmt.Errorf("runstore: %s: %w", filepath.Join(dir, SpecFile), err)
	}
	return s, nil
}

// Exists says whether dir holds a run's store: a store record, or the
// run.db of a run made before records existed.
func Exists(dir string) bool {
	for _, n := range []string{SpecFile, FileName} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}

// Open opens the store of the run in dir with the kind and options
// recorded there (sqlite with its defaults where nothing is recorded).
func Open(dir string) (Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: empty run directory", ErrInvalid)
	}
	spec, err := ReadSpec(dir)
	if err != nil {
		return nil, err
	}
	return open(context.Background(), dir, spec)
}

// Create makes the store of a new run in dir: it records spec in dir,
// then opens the store, so that every later Open finds the same kind.
func Create(ctx context.Context, dir string, spec Spec) (Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: empty run directory", ErrInvalid)
	}
	if _, err := spec.Config(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("runstore: create run directory: %w", err)
	}
	rec := spec
	rec.Kind = spec.KindOrDefault()
	b, err := yaml.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("runstore: %w", err)
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, SpecFile), b, 0o644); err != nil {
		return nil, fmt.Errorf("runstore: %w", err)
	}
	return open(ctx, dir, spec)
}

// ErrUnknownKind is returned (wrapped) by Open for a run whose recorded
// store kind this build does not link.
var ErrUnknownKind = errors.New("runstore: unknown store kind")

func open(ctx context.Context, dir string, spec Spec) (Store, error) {
	if _, ok := Kinds.Lookup(spec.KindOrDefault()); !ok {
		return nil, fmt.Errorf("%w: %s records store kind %q, which this build does not have (it has %s)",
			ErrUnknownKind, filepath.Join(dir, SpecFile), spec.KindOrDefault(), strings.Join(Kinds.Kinds(), ", "))
	}
	c, err := spec.Config()
	if err != nil {
		return nil, fmt.Errorf("runstore: %s: %w", dir, err)
	}
	return Kinds.Create(ctx, spec.KindOrDefault(), c, Deps{Dir: dir})
}
