package executor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestOpenAIReportsCachedPromptTokens reads usage.prompt_tokens_details.
// cached_tokens (the provider's prompt cache), bounded by prompt_tokens.
func TestOpenAIReportsCachedPromptTokens(t *testing.T) {
	for _, tc := range []struct {
		usage      string
		in, cached int64
	}{
		{`{"prompt_tokens": 120, "completion_tokens": 8, "prompt_tokens_details": {"cached_tokens": 64}}`, 120, 64},
		{`{"prompt_tokens": 120, "completion_tokens": 8}`, 120, 0},
		{`{"prompt_tokens": 10, "completion_tokens": 8, "prompt_tokens_details": {"cached_tokens": 64}}`, 10, 10},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"model": "m", "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}], "usage": ` + tc.usage + `}`))
		}))
		b, err := NewOpenAI(OpenAIConfig{Name: "o", BaseURL: srv.URL + "/v1", Model: "m", APIKeyEnv: "FLOWSTEER_TEST_NO_KEY"})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := b.Complete(context.Background(), Request{Messages: []Message{{Role: "user", Content: "hi"}}})
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.InputTokens != tc.in || resp.CachedInputTokens != tc.cached || resp.OutputTokens != 8 {
			t.Errorf("%s: in %d cached %d out %d", tc.usage, resp.InputTokens, resp.CachedInputTokens, resp.OutputTokens)
		}
	}
}
