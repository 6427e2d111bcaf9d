package llm

import (
	"context"
	"fmt"

	"github.com/flowsteer/flowsteer/internal/chatapi"
)

// chatRequest is the sampling part of one request; the messages travel
// separately so their exact encoding is the one recorded in prompt_text.
type chatRequest struct {
	messages    []Message
	maxTokens   int
	temperature float64
	topP        float64
	topK        int // < 0: not sent
	seed        *int64
}

// completion is what one successful request returned.
type completion struct {
	text             string
	reasoningContent string
	model            string
	tokens           []string
	logprobs         []float64
	tokenIDs         []int32 // vLLM's choices[].token_ids, when the server sends them
	promptTokenIDs   []int32 // vLLM's prompt_token_ids, when the server sends them
	promptTokens     int32
	completionTokens int32
}

// client is the policy's own chat-completions client: the executor's
// backend returns no log-probs, and a policy must not share the executor's
// concurrency slots or cache anyway. Errors name the endpoint, as
// "llm policy: POST <endpoint>: ...".
type client struct {
	cfg Config
	*chatapi.Client
}

func newClient(cfg Config) *client {
	return &client{cfg: cfg, Client: chatapi.New(chatapi.Options{
		BaseURL:     cfg.BaseURL,
		APIKeyEnv:   cfg.APIKeyEnv,
		Settings:    cfg.settings(),
		ErrorPrefix: "llm policy: POST " + chatapi.Redact(chatapi.Endpoint(cfg.BaseURL)),
	})}
}

func (c *client) body(req chatRequest) map[string]any {
	body := make(map[string]any, len(c.cfg.ExtraBody)+9)
	for k, v := range c.cfg.ExtraBody {
		body[k] = v
	}
	body["model"] = c.cfg.Model
	body["messages"] = req.messages
	body["max_tokens"] = req.maxTokens
	// Always sent, 0 included: servers default to 1.0 when it is absent.
	body["temperature"] = req.temperature
	body["top_p"] = req.topP
	if req.topK >= 0 {
		body["top_k"] = req.topK
	}
	if req.seed != nil {
		body["seed"] = *req.seed
	}
	if *c.cfg.Logprobs {
		body["logprobs"] = true
	}
	if c.cfg.TokenIDs {
		body["return_tokens_as_token_ids"] = true
	}
	return body
}

// complete sends one request through chatapi.Complete, which retries 429,
// 5xx, connection errors and attempt timeouts with backoff, retries a
// malformed 200 once and fails other 4xx at once.
func (c *client) complete(ctx context.Context, req chatRequest) (completion, error) {
	cr, err := chatapi.Complete(ctx, c.Client, c.body(req), checkLogprobs)
	if err != nil {
		return completion{}, err
	}
	ch := cr.Choices[0]
	out := completion{model: cr.Model, tokenIDs: ch.TokenIDs, promptTokenIDs: cr.PromptTokenIDs}
	if out.model == "" {
		out.model = c.cfg.Model
	}
	// A null content (a refusal, or a reasoning model that ran out of
	// tokens) is an empty reply for the canvas to answer, not a failure.
	if ch.Message.Content != nil {
		out.text = *ch.Message.Content
	}
	if ch.Message.ReasoningContent != nil {
		out.reasoningContent = *ch.Message.ReasoningContent
	}
	if ch.Logprobs != nil {
		for _, t := range ch.Logprobs.Content {
			out.tokens = append(out.tokens, t.Token)
			out.logprobs = append(out.logprobs, *t.Logprob)
		}
	}
	if cr.Usage != nil {
		out.promptTokens = cr.Usage.PromptTokens
		out.completionTokens = cr.Usage.CompletionTokens
	}
	return out, nil
}

// checkLogprobs rejects, without a retry, an answer with a token but no
// log-probability: the learner cannot use it, and the server will not
// change its mind.
func checkLogprobs(cr *chatResponse) error {
	if ch := cr.Choices[0]; ch.Logprobs != nil {
		for i, t := range ch.Logprobs.Content {
			if t.Logprob == nil {
				return fmt.Errorf("malformed response: logprobs.content[%d] has no logprob", i)
			}
		}
	}
	return nil
}

type chatResponse struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content *string `json:"content"`
			// vLLM with a reasoning parser, and some hosted APIs, move the
			// model's thinking here.
			ReasoningContent *string `json:"reasoning_content"`
		} `json:"message"`
		Logprobs *struct {
			Content []struct {
				Token   string   `json:"token"`
				Logprob *float64 `json:"logprob"`
			} `json:"content"`
		} `json:"logprobs"`
		TokenIDs []int32 `json:"token_ids"`
	} `json:"choices"`
	PromptTokenIDs []int32 `json:"prompt_token_ids"`
	Usage          *struct {
		PromptTokens     int32 `json:"prompt_tokens"`
		CompletionTokens int32 `json:"completion_tokens"`
	} `json:"usage"`
}
