package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/chatapi"
	"github.com/flowsteer/flowsteer/internal/policy"
)

// Kind is the policy kind in Info and in registries.
const Kind = "llm"

// PromptFormat names the serialisation of Decision.prompt_text: the JSON
// array of chat messages exactly as sent, [{"role":..,"content":..}, ...],
// in order, without HTML escaping or insignificant whitespace. A learner
// re-renders it with the served model's chat template and the generation
// prompt (in Hugging Face terms, apply_chat_template(messages,
// add_generation_prompt=True) with any chat_template_kwargs of Info().Extra).
const PromptFormat = "openai-chat-messages-json"

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// EncodePrompt is the canonical prompt_text of msgs (see PromptFormat).
func EncodePrompt(msgs []Message) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Replies and prompts are full of tags; \u003c escapes would make the
	// recorded prompt unreadable for no gain.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(msgs) // strings and a slice of structs always encode
	return strings.TrimSuffix(buf.String(), "\n")
}

// DecodePrompt reads a prompt_text written by EncodePrompt.
func DecodePrompt(s string) ([]Message, error) {
	var msgs []Message
	if err := json.Unmarshal([]byte(s), &msgs); err != nil {
		return nil, fmt.Errorf("llm: prompt_text is not a %s message list: %w", PromptFormat, err)
	}
	return msgs, nil
}

// Policy is a Flow-Director served by an OpenAI-compatible endpoint. It is
// safe for concurrent use: every field is fixed at New.
type Policy struct {
	cfg Config
	c   *client
}

var _ policy.Policy = (*Policy)(nil)

// New validates cfg, fills its defaults and reads the API key from the
// environment once, so a run uses one key throughout.
func New(cfg Config) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Policy{cfg: cfg, c: newClient(cfg)}, nil
}

// Config returns the configuration with defaults filled in.
func (p *Policy) Config() Config { return p.cfg }

// Close releases idle connections.
func (p *Policy) Close() error {
	p.c.CloseIdleConnections()
	return nil
}

// Info implements policy.Policy. The policy does not learn in Go: an
// external learner trains the served model (e.g. a LoRA adapter that vLLM
// reloads), so the model name is the version.
func (p *Policy) Info() policy.Info {
	extra := map[string]string{
		"endpoint":      p.c.Endpoint(),
		"prompt_format": PromptFormat,
		"logprobs":      strconv.FormatBool(*p.cfg.Logprobs),
		"token_ids":     strconv.FormatBool(p.cfg.TokenIDs),
	}
	// The learner must render prompt_text with the same template options,
	// or its log-probs are under a different prompt than the one shown.
	for _, k := range []string{"chat_template_kwargs", "chat_template"} {
		if v, ok := p.cfg.ExtraBody[k]; ok {
			if b, err := json.Marshal(v); err == nil {
				extra[k] = string(b)
			}
		}
	}
	return policy.Info{
		Kind:     Kind,
		Version:  p.cfg.Model,
		CanLearn: false,
		Format:   pb.ActionFormat_ACTION_FORMAT_TEXT,
		Model:    p.cfg.Model,
		Extra:    extra,
	}
}

// Act implements policy.Policy: one chat request for the rendered prompt
// and, for an action reply without a parsable action, up to RepairAttempts
// repair requests. The Decision describes the last exchange only (its
// reply, messages, tokens and usage), because that is the text the canvas
// applies and so the only one the episode's advantage is about.
//
// A reply that still holds no action after the repairs is returned, not
// an error: the canvas answers it with feedback and the turn counts, which
// is how a policy learns the format. Errors are for the endpoint failing,
// the context ending, or an observation a language model cannot act on.
func (p *Policy) Act(ctx context.Context, obs *pb.Observation, s policy.Sampling) (*pb.Decision, error) {
	if obs == nil {
		return nil, errors.New("llm policy: observation is nil")
	}
	if obs.GetDone() {
		return nil, fmt.Errorf("llm policy: episode %q has ended: there is nothing to act on", obs.GetEpisodeId())
	}
	pr := obs.GetPrompt()
	if pr == nil {
		return nil, errors.New("llm policy: the observation has no rendered prompt: the canvas must render prompts " +
			"for a language-model policy (EpisodeConfig.render_prompt)")
	}
	req, err := p.sampling(s)
	if err != nil {
		return nil, err
	}
	kind := promptKind(obs)
	req.maxTokens = firstPositive(s.MaxTokens, int(pr.GetMaxNewTokens()), p.capFor(kind))
	base := []Message{{Role: "system", Content: pr.GetSystem()}, {Role: "user", Content: pr.GetUser()}}
	req.messages = base
	out, err := p.c.complete(ctx, req)
	if err != nil {
		return nil, err
	}

	var parsed *action.Action
	repairs := 0
	if kind != pb.PromptKind_PROMPT_KIND_NODE_PROMPT {
		for {
			// Lenient off: the lenient fallback guesses, and a guessed
			// action is worth one cheap, short repair request.
			a, perr := action.Parse(out.text, action.Options{})
			if perr == nil {
				parsed = &a
				break
			}
			if repairs >= p.cfg.RepairAttempts {
				break
			}
			req.messages = repairMessages(base, out.text, perr)
			req.maxTokens = p.cfg.RepairMaxTokens
			repairs++
			if out, err = p.c.complete(ctx, req); err != nil {
				return nil, err
			}
		}
	}
	return p.decision(out, req.messages, parsed, repairs)
}

// repairMessages keeps the original exchange untouched, so a server with
// prefix caching reuses it, and adds the bad reply and the repair request.
// The repair's own system line opens the repair turn instead of being a
// second system message, which several chat templates (Llama 3, Mistral,
// Gemma) reject or misplace. Each repair starts again from the original
// exchange with only the latest bad reply: that is the mistake to fix, and
// the prompt stays bounded whatever RepairAttempts is.
func repairMessages(base []Message, bad string, perr error) []Message {
	rp := canvas.RepairPrompt(perr.Error())
	return []Message{
		base[0], base[1],
		{Role: "assistant", Content: bad},
		{Role: "user", Content: rp.System + "\n\n" + rp.User},
	}
}

func (p *Policy) decision(out completion, msgs []Message, parsed *action.Action, repairs int) (*pb.Decision, error) {
	ids, err := p.tokenIDs(out)
	if err != nil {
		return nil, err
	}
	n := max(len(ids), len(out.logprobs))
	mask := make([]int32, n)
	for i := range mask {
		mask[i] = 1 // every token of the reply is the policy's own
	}
	var reasoning string
	if parsed != nil {
		reasoning = parsed.Reasoning
	} else {
		reasoning = reasoningOf(out.text)
	}
	if reasoning == "" {
		reasoning = strings.TrimSpace(out.reasoningContent)
	}
	d := &pb.Decision{
		// Raw, <think> included: the canvas strips it, and the text must
		// stay the exact sampled reply for the learner.
		Action:           &pb.Action{Text: out.text},
		Reasoning:        reasoning,
		PromptText:       EncodePrompt(msgs),
		PromptTokenIds:   out.promptTokenIDs,
		TokenIds:         ids,
		Logprobs:         out.logprobs,
		PolicyVersion:    out.model,
		Model:            out.model,
		PromptTokens:     out.promptTokens,
		CompletionTokens: out.completionTokens,
		Repairs:          int32(repairs),
	}
	if n > 0 {
		d.Mask = mask
	}
	return d, nil
}

// tokenIDs are the sampled ids: from vLLM's "token_id:N" token strings when
// TokenIDs is on, else from a choices[].token_ids list when the server sends
// one (vLLM's return_token_ids, set through ExtraBody) and it lines up
// with the log-probs, else none.
func (p *Policy) tokenIDs(out completion) ([]int32, error) {
	if p.cfg.TokenIDs {
		ids := make([]int32, 0, len(out.tokens))
		for i, t := range out.tokens {
			v, ok := strings.CutPrefix(t, "token_id:")
			id, err := strconv.ParseInt(v, 10, 32)
			if !ok || err != nil || id < 0 {
				// Guessing ids from token strings would silently train on
				// tokens that were never sampled.
				return nil, p.c.Errorf("token %d of the reply is %q, not token_id:N: the server ignored "+
					"return_tokens_as_token_ids (a vLLM option); set llm.token_ids to false for this server", i, chatapi.Clip(t))
			}
			ids = append(ids, int32(id))
		}
		return ids, nil
	}
	if len(out.tokenIDs) > 0 && (len(out.logprobs) == 0 || len(out.logprobs) == len(out.tokenIDs)) {
		return out.tokenIDs, nil
	}
	return nil, nil
}

// sampling resolves an act's settings against the config: zero values take
// the config's, greedy forces temperature 0.
func (p *Policy) sampling(s policy.Sampling) (chatRequest, error) {
	switch {
	case s.Temperature < 0 || s.Temperature > 2 || math.IsNaN(s.Temperature):
		return chatRequest{}, fmt.Errorf("llm policy: sampling temperature must be in [0, 2], got %g", s.Temperature)
	case s.TopP < 0 || s.TopP > 1 || math.IsNaN(s.TopP):
		return chatRequest{}, fmt.Errorf("llm policy: sampling top_p must be in (0, 1] (0 for the default), got %g", s.TopP)
	case s.MaxTokens < 0:
		return chatRequest{}, fmt.Errorf("llm policy: sampling max_tokens must not be negative, got %d", s.MaxTokens)
	}
	r := chatRequest{temperature: p.cfg.Temperature, topP: p.cfg.TopP, topK: p.cfg.TopK, seed: s.Seed}
	if s.Temperature > 0 {
		r.temperature = s.Temperature
	}
	if s.Greedy {
		r.temperature = 0
	}
	if s.TopP > 0 {
		r.topP = s.TopP
	}
	if s.TopK != 0 {
		r.topK = s.TopK
	}
	if r.topK < 0 {
		r.topK = -1
	}
	return r, nil
}

func (p *Policy) capFor(k pb.PromptKind) int {
	switch k {
	case pb.PromptKind_PROMPT_KIND_NODE_PROMPT:
		return p.cfg.PromptMaxTokens
	case pb.PromptKind_PROMPT_KIND_REPAIR:
		return p.cfg.RepairMaxTokens
	}
	return p.cfg.ActionMaxTokens
}

// promptKind trusts the rendered kind and, for a canvas that does not set
// it, falls back on the episode state.
func promptKind(obs *pb.Observation) pb.PromptKind {
	if k := obs.GetPrompt().GetKind(); k != pb.PromptKind_PROMPT_KIND_UNSPECIFIED {
		return k
	}
	if obs.GetState() == pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT || obs.GetAwaiting() != nil {
		return pb.PromptKind_PROMPT_KIND_NODE_PROMPT
	}
	return pb.PromptKind_PROMPT_KIND_ACTION
}

func firstPositive(vs ...int) int {
	for _, v := range vs {
		if v > 0 {
			return v
		}
	}
	return 0
}

var reasoningTag = regexp.MustCompile(`(?is)<(?:reasoning|thought)>(.*?)</(?:reasoning|thought)>`)

// reasoningOf is the reflection of a reply that did not parse as an action
// (a prompt-writing reply, or one the repairs could not mend): its
// <reasoning> or <thought> tag outside any <think> block, else the
// <think> content.
func reasoningOf(reply string) string {
	think, rest := action.StripThink(reply)
	if m := reasoningTag.FindStringSubmatch(rest); m != nil {
		return strings.TrimSpace(m[1])
	}
	return think
}
