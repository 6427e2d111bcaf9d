package executor

import (
	"context"

	"github.com/flowsteer/flowsteer/internal/component"
)

// KindOpenAI is any OpenAI-compatible chat-completions endpoint.
const KindOpenAI = "openai"

// DefaultOpenAIConfig is the openai kind's config with every default
// written out, so that help and docs show them.
func DefaultOpenAIConfig() OpenAIConfig {
	return OpenAIConfig{Name: KindOpenAI, APIKeyEnv: DefaultAPIKeyEnv, MaxTokens: DefaultMaxTokens, Timeout: DefaultTimeout,
		MaxRetries: DefaultMaxRetries, BackoffBase: DefaultBackoffBase, BackoffMax: DefaultBackoffMax, MaxConcurrency: DefaultMaxConcurrency}
}

func init() {
	component.Register(Backends, component.Factory[OpenAIConfig, Backend, Deps]{
		Kind:    KindOpenAI,
		Doc:     "any OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp server, OpenAI)",
		Default: DefaultOpenAIConfig,
		Create: func(_ context.Context, c OpenAIConfig, d Deps) (Backend, error) {
			if d.APIKey.Use {
				c.UseAPIKey, c.APIKey = true, d.APIKey.Key
			}
			return NewOpenAI(c)
		},
	})
}
