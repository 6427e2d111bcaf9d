package llamacpp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/executor"
)

// Kind is the backend kind of a managed local llama.cpp server.
const Kind = "llamacpp"

// Options are the llamacpp backend kind's options: the server's, and the
// OpenAI client's that apply to it (its base URL, model and concurrency
// are the server's own).
type Options struct {
	Temperature float64       `yaml:"temperature" flag:"temperature" doc:"sampling temperature (0 makes calls cacheable)"`
	MaxTokens   int           `yaml:"max_tokens" flag:"max-tokens" doc:"max tokens per call"`
	Timeout     time.Duration `yaml:"timeout" flag:"backend-timeout" doc:"timeout of one HTTP attempt"`
	Port        int           `yaml:"port" flag:"llamacpp-port" doc:"port of the managed llama.cpp server on 127.0.0.1 (0 = a free one)"`
	Threads     int           `yaml:"threads" flag:"llamacpp-threads" doc:"CPU threads of the llama.cpp server (0 = llama-cpp-python's default: half the CPUs)"`
	Context     int           `yaml:"context" flag:"llamacpp-ctx" doc:"context size of the llama.cpp server in tokens"`
	LogFile     string        `yaml:"log_file" flag:"llamacpp-log" vet:"file" doc:"write the llama.cpp server's output to this file (default: a temporary file, removed when it stops)"`
}

// DefaultOptions are the llamacpp kind's defaults.
func DefaultOptions() Options {
	return Options{MaxTokens: DefaultMaxTokens, Timeout: executor.DefaultTimeout, Context: DefaultContext}
}

// Validate names the first bad option.
func (o Options) Validate() error {
	if o.Temperature < 0 || o.Temperature > 2 {
		return fmt.Errorf("temperature must be in [0, 2], got %g", o.Temperature)
	}
	if o.MaxTokens < 0 {
		return fmt.Errorf("max_tokens must not be negative, got %d", o.MaxTokens)
	}
	if o.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	return Config{Port: o.Port, Threads: o.Threads, Context: o.Context}.Validate()
}

func init() {
	component.Register(executor.Backends, component.Factory[Options, executor.Backend, executor.Deps]{
		Kind:    Kind,
		Doc:     "starts a local llama.cpp server with SmolLM2-135M-Instruct (make llm-deps)",
		Default: DefaultOptions,
		Create: func(ctx context.Context, o Options, d executor.Deps) (executor.Backend, error) {
			if d.OnClose == nil {
				return nil, errors.New("backend llamacpp: the caller cannot stop a managed server (no Deps.OnClose)")
			}
			srv, err := Start(ctx, Config{Port: o.Port, Threads: o.Threads, Context: o.Context, LogFile: o.LogFile, Progress: d.Progress})
			if err != nil {
				return nil, err
			}
			d.OnClose(srv.Stop)
			return NewBackend(srv, executor.OpenAIConfig{Temperature: o.Temperature, MaxTokens: o.MaxTokens, Timeout: o.Timeout})
		},
	})
}

// ServerOf returns the managed server behind a backend of kind llamacpp
// (nil for any other backend).
func ServerOf(b executor.Backend) *Server {
	if lb, ok := b.(*backend); ok {
		return lb.srv
	}
	return nil
}
