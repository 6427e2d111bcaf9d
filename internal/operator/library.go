package operator

import (
	"context"
	"fmt"
	"strings"

	"github.com/flowsteer/flowsteer/internal/component"
)

// Libraries is the registry of operator library kinds: builtin (the
// default library, internal/operator/builtin) and remote (an
// OperatorService in another process, internal/operator/remote); a
// process links them through internal/kinds. Every entry point names its
// extra libraries as LibrarySpecs decoded here: flowsteer serve's
// --operator-library NAME=ADDR (kind remote) and a run config's
// canvas.libraries list.
var Libraries = component.NewRegistry[*Library, LibraryDeps]("operator library")

// LibraryDeps is what an entry point gives every library factory.
type LibraryDeps struct {
	// Name is the library's name, which episodes select with
	// config.library; the factory's library must carry it. Set per spec
	// by NewLibraries.
	Name string
	// Dial connects to a service at addr in another process (kind
	// remote). The entry point owns the connection: its transport and
	// credentials (flowsteer serve's --dial-* flags) and its closing when
	// the process stops. It returns the connection as any because this
	// package knows nothing of gRPC (a *grpc.ClientConn; the remote kind
	// says what it needs). nil: remote libraries are refused.
	Dial func(ctx context.Context, addr string) (any, error)
}

// LibrarySpec names one extra library: a name, a kind from Libraries and
// the kind's options (a run config's canvas.libraries entry).
type LibrarySpec struct {
	Name    string         `yaml:"name"`
	Kind    string         `yaml:"kind"`
	Options map[string]any `yaml:"options,omitempty"`
}

// Config decodes the spec's options through its kind's factory: unknown
// kinds and options are errors naming them.
func (s LibrarySpec) Config() (component.Config, error) {
	if s.Name == "" || strings.ContainsAny(s.Name, " \t\n") {
		return nil, fmt.Errorf("name must be a non-empty name without spaces, got %q", s.Name)
	}
	return Libraries.Decode(s.Kind, s.Options)
}

// CheckLibraries validates specs without creating them: each decodes, and
// no two share a name.
func CheckLibraries(specs []LibrarySpec) error {
	seen := map[string]bool{}
	for i, s := range specs {
		if _, err := s.Config(); err != nil {
			return fmt.Errorf("libraries[%d]: %w", i, err)
		}
		if seen[s.Name] {
			return fmt.Errorf("libraries[%d]: library %q is named twice", i, s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}

// NewLibraries creates the libraries specs name, in order; deps.Name is
// set from each spec.
func NewLibraries(ctx context.Context, specs []LibrarySpec, deps LibraryDeps) ([]*Library, error) {
	if err := CheckLibraries(specs); err != nil {
		return nil, err
	}
	out := make([]*Library, 0, len(specs))
	for i, s := range specs {
		c, _ := s.Config()
		d := deps
		d.Name = s.Name
		l, err := Libraries.Create(ctx, s.Kind, c, d)
		if err != nil {
			return nil, fmt.Errorf("libraries[%d] (%s, kind %s): %w", i, s.Name, s.Kind, err)
		}
		if l == nil || l.Name() != s.Name {
			return nil, fmt.Errorf("libraries[%d]: kind %s made no library named %q", i, s.Kind, s.Name)
		}
		out = append(out, l)
	}
	return out, nil
}
