// Package llm holds the Flow-Director as a language model behind any
// OpenAI-compatible chat-completions endpoint: vLLM serving a LoRA adapter,
// Ollama, llama.cpp's server or a hosted API. It implements policy.Policy
// with a client of its own over internal/chatapi (standard library only),
// because a policy needs what the executor's backend does not ask for: the
// log-probability of every sampled token.
//
// Data path: the canvas renders each observation into a prompt (system and
// user parts, kind and reply cap; internal/canvas render.go) -> Act sends
// it as one chat request, sampling at temperature 0.6, top-p 0.95, top-k 20
// unless told otherwise (SPEC section 7) -> the raw reply goes back as the
// Decision's action text, which the canvas parses and applies -> the
// Decision's prompt_text, token ids, log-probs and mask go, with the
// episode's advantage, to a learner outside Go (this policy does not learn
// here) that updates the served weights, e.g. a LoRA adapter vLLM reloads.
//
// Log-probs are on exactly the tokens sampled under exactly the prompt
// shown (SPEC section 7): prompt_text is the message list as sent (see
// PromptFormat), never a re-rendering of the reply, and for a repaired
// action it is the repair exchange, whose reply is the one the canvas
// applies. With vLLM, Config.TokenIDs returns the sampled token ids
// themselves, so the learner need not re-tokenise text; run vLLM without a
// reasoning parser so that content holds the whole sampled reply.
//
// Repairs (SPEC section 5): an action reply in which action.Parse (not
// lenient) finds no action gets at most Config.RepairAttempts follow-ups of
// canvas.RepairPrompt, each capped at Config.RepairMaxTokens (128); the
// Decision counts them in repairs. Node-prompt replies are prompt text and
// are never repaired.
package llm
