package llamacpp

import (
	"context"
	"time"

	"github.com/flowsteer/flowsteer/internal/executor"
)

// BackendName is the executor backend's name for a managed server.
const BackendName = "llamacpp"

// DefaultMaxTokens caps one answer of the managed model. A 135M model at
// temperature 0 sometimes repeats itself until the limit; the executor's
// 4096 would make such a call last half a minute on a CPU, while the
// operators' answers fit well within this.
const DefaultMaxTokens = 512

// unusedKeyEnv names the API-key variable of the backend: the local server
// wants no key, and a real $OPENAI_API_KEY must not be sent to it.
const unusedKeyEnv = "FLOWSTEER_LLAMACPP_API_KEY"

// NewBackend returns the OpenAI-compatible executor backend pointed at s:
// base URL and model are s's (the model reported everywhere is s.Model()),
// at most s.Concurrency() requests are in flight (the server computes one
// at a time; the rest wait in the client, outside the per-attempt
// timeout), and a zero MaxTokens takes DefaultMaxTokens. Sampling,
// timeouts and retries come from oc. Once the server has exited, every
// call fails with s.Err(), and a call in flight when it exits is cut short
// with that error.
func NewBackend(s *Server, oc executor.OpenAIConfig) (executor.Backend, error) {
	if oc.Name == "" {
		oc.Name = BackendName
	}
	oc.BaseURL, oc.Model = s.BaseURL(), s.Model()
	oc.APIKeyEnv = unusedKeyEnv
	oc.MaxConcurrency = s.Concurrency()
	if oc.MaxTokens == 0 {
		oc.MaxTokens = DefaultMaxTokens
	}
	o, err := executor.NewOpenAI(oc)
	if err != nil {
		return nil, err
	}
	return &backend{OpenAI: o, srv: s}, nil
}

// backend is the OpenAI backend guarded by the server's liveness.
type backend struct {
	*executor.OpenAI
	srv *Server
}

var _ executor.Backend = (*backend)(nil)

// Unwrap returns the OpenAI backend (telemetry names the GenAI system by it).
func (b *backend) Unwrap() executor.Backend { return b.OpenAI }

// exitGrace is how long a failed call waits for the watcher to confirm the
// server's exit: a request cut by the dying server may fail a moment before
// the process is reaped.
const exitGrace = time.Second

// Complete implements executor.Backend.
func (b *backend) Complete(ctx context.Context, req executor.Request) (executor.Response, error) {
	if err := b.srv.Err(); err != nil {
		return executor.Response{}, err
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(b.srv.Context(), func() { cancel(b.srv.Err()) })
	defer stop()
	resp, err := b.OpenAI.Complete(cctx, req)
	if err == nil || ctx.Err() != nil {
		return resp, err
	}
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	select {
	case <-b.srv.Done():
		return resp, b.srv.Err()
	case <-t.C:
		return resp, err
	}
}
