package llm

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/chatapi/chatapitest"
)

// chatServer is chatapitest's loopback chat-completions server.
type chatServer = chatapitest.Server

func newChatServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int, body map[string]any)) *chatServer {
	return chatapitest.New(t, handle)
}

// scripted answers the n-th request with the n-th reply, repeating the
// last one.
func scripted(t *testing.T, replies ...reply) *chatServer {
	return newChatServer(t, func(w http.ResponseWriter, _ *http.Request, n int, _ map[string]any) {
		writeReply(w, replies[min(n, len(replies)-1)])
	})
}

// reply is one scripted answer.
type reply struct {
	text     string
	null     bool // content: null
	tokens   []string
	logprobs []float64
	model    string
}

func writeReply(w http.ResponseWriter, r reply) {
	msg := map[string]any{"role": "assistant", "content": r.text}
	if r.null {
		msg["content"] = nil
	}
	choice := map[string]any{"index": 0, "message": msg, "finish_reason": "stop"}
	if r.tokens != nil {
		var content []map[string]any
		for i, tok := range r.tokens {
			content = append(content, map[string]any{"token": tok, "logprob": r.logprobs[i], "bytes": nil, "top_logprobs": []any{}})
		}
		choice["logprobs"] = map[string]any{"content": content}
	}
	model := r.model
	if model == "" {
		model = "served-model"
	}
	out := map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "model": model,
		"choices": []any{choice},
		"usage":   map[string]any{"prompt_tokens": 100, "completion_tokens": max(len(r.tokens), 7), "total_tokens": 107},
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// testKeyEnv is set only by the tests that set it, so other tests send no
// Authorization header whatever the environment holds.
const testKeyEnv = "FLOWSTEER_LLM_POLICY_TEST_API_KEY"

func testConfig(cs *chatServer) Config {
	return Config{
		BaseURL:     cs.URL + "/v1",
		Model:       "flow-director-lora",
		APIKeyEnv:   testKeyEnv,
		BackoffBase: time.Millisecond,
		BackoffMax:  5 * time.Millisecond,
	}
}

func newTestPolicy(t *testing.T, cfg Config) *Policy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

const (
	testSystem = "You are the Flow-Director. <action> tags & rules."
	testUser   = "Problem: What is 17 + 25?\nThe workflow is empty. Choose the first action."
)

func actionObs() *pb.Observation {
	return &pb.Observation{
		EpisodeId: "ep_1",
		State:     pb.EpisodeState_EPISODE_STATE_BUILDING,
		Prompt: &pb.RenderedPrompt{
			Kind: pb.PromptKind_PROMPT_KIND_ACTION, System: testSystem, User: testUser, MaxNewTokens: 512,
		},
	}
}

func nodeObs(maxNew int32) *pb.Observation {
	return &pb.Observation{
		EpisodeId: "ep_1",
		State:     pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT,
		Awaiting:  &pb.AwaitingPrompt{NodeId: "node_1", Operator: "Programmer"},
		Prompt: &pb.RenderedPrompt{
			Kind:         pb.PromptKind_PROMPT_KIND_NODE_PROMPT,
			System:       "You write short, specific instructions for one operator of a workflow.",
			User:         "Write the instruction for node node_1 (Programmer).",
			MaxNewTokens: maxNew,
		},
	}
}

// messagesOf decodes a request body's messages.
func messagesOf(t *testing.T, body map[string]any) []Message {
	t.Helper()
	raw, _ := json.Marshal(body["messages"])
	var msgs []Message
	if err := json.Unmarshal(raw, &msgs); err != nil {
		t.Fatalf("messages: %v", err)
	}
	return msgs
}

func ones(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = 1
	}
	return out
}
