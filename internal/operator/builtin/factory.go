package builtin

import (
	"context"

	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/operator"
)

// Kind is the operator library kind of the default library.
const Kind = "builtin"

// Config: the builtin kind has no options.
type Config struct{}

// Validate accepts the empty config.
func (Config) Validate() error { return nil }

func init() {
	component.Register(operator.Libraries, component.Factory[Config, *operator.Library, operator.LibraryDeps]{
		Kind: Kind, Doc: "the default library's operators with their implementations, under the spec's name",
		Default: func() Config { return Config{} },
		Create: func(_ context.Context, _ Config, d operator.LibraryDeps) (*operator.Library, error) {
			return operator.NewLibrary(d.Name, Library().Defs())
		},
	})
}
