package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/operator"
)

// Kind is the operator library kind of an OperatorService.
const Kind = "remote"

// Config names the OperatorService. Credentials (TLS, a bearer token)
// belong to the connection, which the entry point makes
// (operator.LibraryDeps.Dial): flowsteer serve's --dial-* flags.
type Config struct {
	Addr string `yaml:"addr" vet:"addr" doc:"host:port (or dns:///name:port) of an OperatorService"`
	// DialTimeout bounds reaching the service and reading its operators
	// when the process starts.
	DialTimeout time.Duration `yaml:"dial_timeout" doc:"how long connecting and listing the service's operators may take at start"`
}

// DefaultConfig waits 30s, as serve always did.
func DefaultConfig() Config { return Config{DialTimeout: 30 * time.Second} }

// Validate needs an address and a positive timeout.
func (c Config) Validate() error {
	if strings.TrimSpace(c.Addr) == "" {
		return errors.New("remote.addr is required: host:port (or dns:///name:port) of an OperatorService")
	}
	if c.DialTimeout <= 0 || c.DialTimeout > 10*time.Minute {
		return fmt.Errorf("remote.dial_timeout must be in (0s, 10m], got %v", c.DialTimeout)
	}
	return nil
}

func init() {
	component.Register(operator.Libraries, component.Factory[Config, *operator.Library, operator.LibraryDeps]{
		Kind: Kind, Doc: "operators served by an OperatorService in another process (any language)",
		Default: DefaultConfig,
		Create: func(ctx context.Context, c Config, d operator.LibraryDeps) (*operator.Library, error) {
			if d.Dial == nil {
				return nil, errors.New("operator library kind remote: this entry point cannot connect to an OperatorService")
			}
			ctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
			defer cancel()
			conn, err := d.Dial(ctx, c.Addr)
			if err != nil {
				return nil, fmt.Errorf("remote.addr %s: %w", c.Addr, err)
			}
			cc, ok := conn.(grpc.ClientConnInterface)
			if !ok {
				return nil, fmt.Errorf("operator library kind remote: the entry point dialled a %T, not a gRPC connection", conn)
			}
			return NewLibrary(ctx, d.Name, pb.NewOperatorServiceClient(cc))
		},
	})
}
