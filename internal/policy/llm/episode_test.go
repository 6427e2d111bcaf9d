package llm

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/chatapi/chatapitest"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
)

// scriptTurn is one scripted model reply and the kind of prompt it answers.
type scriptTurn struct {
	node  bool // a prompt-writing turn
	reply string
}

// A whole episode through the real canvas: every reply is what a
// well-trained Flow-Director would write, so every turn must be valid and
// the final workflow must earn the release of correctness.
var episodeScript = []scriptTurn{
	{reply: "<think>Plan first.</think><reasoning>A plan keeps the solvers on track.</reasoning>" +
		"<action>add</action><operator>Plan</operator><prompt>Outline the arithmetic needed to add the two numbers.</prompt>"},
	{reply: "<reasoning>Three independent solvers to vote over.</reasoning>" +
		"<action>add</action><structure>parallel</structure><operators>Programmer, AnswerGenerate, Custom</operators>"},
	{node: true, reply: "Write Python that computes 17 + 25 and prints only the number."},
	{node: true, reply: "<think>short</think>Add 17 and 25 step by step and give the sum."},
	{node: true, reply: "Compute the sum of 17 and 25 carefully."},
	{reply: "<reasoning>Vote over the three answers.</reasoning><action>add</action><operator>ScEnsemble</operator>" +
		"<prompt>Pick the sum most solutions agree on.</prompt>"},
	{reply: "<reasoning>Check and repair.</reasoning><action>add</action><structure>conditional</structure>" +
		"<condition>Review</condition><true>Revise</true><false>done</false>"},
	{node: true, reply: "Check that the sum of 17 and 25 is correct."},
	{node: true, reply: "Fix the sum using the review feedback."},
	{reply: "<reasoning>The scorer wants a bare number.</reasoning><action>add</action><operator>Format</operator>" +
		"<prompt>Return only the final number.</prompt>"},
	{reply: "<reasoning>All requirements are met.</reasoning><action>finish</action>"},
}

func TestEpisodeEndToEnd(t *testing.T) {
	cs := newChatServer(t, func(w http.ResponseWriter, _ *http.Request, n int, body map[string]any) {
		if n >= len(episodeScript) {
			t.Errorf("request %d past the end of the script", n)
			chatapitest.WriteStatus(w, 400, "script exhausted")
			return
		}
		turn := episodeScript[n]
		msgs := messagesOf(t, body)
		isNode := len(msgs) > 0 && strings.HasPrefix(msgs[0].Content, "You write short, specific instructions")
		if isNode != turn.node {
			t.Errorf("request %d: node prompt = %v, script expects %v; system: %.60q", n, isNode, turn.node, msgs[0].Content)
		}
		wantMax := float64(canvas.ActionMaxTokens)
		if turn.node {
			wantMax = canvas.PromptMaxTokens
		}
		if body["max_tokens"] != wantMax || body["temperature"] != 0.6 || body["top_k"] != float64(20) {
			t.Errorf("request %d: max_tokens %v, temperature %v, top_k %v", n, body["max_tokens"], body["temperature"], body["top_k"])
		}
		writeReply(w, reply{
			text:     turn.reply,
			tokens:   []string{fmt.Sprintf("token_id:%d", 1000+n), "token_id:151645"},
			logprobs: []float64{-0.5, -0.01},
		})
	})
	cfg := testConfig(cs)
	cfg.TokenIDs = true
	p := newTestPolicy(t, cfg)

	c := canvas.New()
	tk := task.Task{ID: "math-1", Family: task.Math, Source: "synthetic-math", Question: "What is 17 + 25?", Answers: []string{"42"}}
	ctx := context.Background()
	ep, obs, err := c.Create(ctx, tk, canvas.DefaultConfig(), reward.Default())
	if err != nil {
		t.Fatal(err)
	}
	var decisions []*pb.Decision
	for !obs.Done {
		if len(decisions) > len(episodeScript) {
			t.Fatalf("episode still running after %d turns", len(decisions))
		}
		d, err := p.Act(ctx, protoconv.ObservationToPB(obs), policy.Sampling{})
		if err != nil {
			t.Fatalf("turn %d: Act: %v", len(decisions)+1, err)
		}
		decisions = append(decisions, d)
		obs, err = ep.Step(ctx, canvas.Input{Text: d.GetAction().GetText()})
		if err != nil {
			t.Fatalf("turn %d: Step: %v", len(decisions), err)
		}
		if !obs.Valid {
			t.Fatalf("turn %d (%q) was refused: %s", len(decisions), d.GetAction().GetText(), obs.Feedback)
		}
	}

	final := protoconv.ObservationToPB(obs)
	if final.GetEndReason() != pb.EndReason_END_REASON_FINISHED {
		t.Fatalf("end reason = %v, want finished; feedback: %s", final.GetEndReason(), final.GetFeedback())
	}
	if len(decisions) != len(episodeScript) || cs.Count() != len(episodeScript) {
		t.Errorf("%d decisions after %d requests, want %d", len(decisions), cs.Count(), len(episodeScript))
	}
	r := final.GetReward()
	if !r.GetReleased() || r.GetStructureTotal() < 1-1e-9 {
		t.Errorf("reward = %+v, want correctness released (S(W) = 1)", r)
	}
	const wantDSL = "Plan -> [Programmer, AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : done -> Format"
	if obs.DSL != wantDSL {
		t.Errorf("DSL = %q, want %q", obs.DSL, wantDSL)
	}
	// Every decision is trainable: its prompt, its sampled ids, their
	// log-probs and a full mask.
	for i, d := range decisions {
		msgs, err := DecodePrompt(d.GetPromptText())
		if err != nil || len(msgs) != 2 {
			t.Errorf("decision %d: prompt_text %v (%v)", i, msgs, err)
		}
		if len(d.GetTokenIds()) != 2 || d.GetTokenIds()[0] != int32(1000+i) || len(d.GetLogprobs()) != 2 || len(d.GetMask()) != 2 || d.GetRepairs() != 0 {
			t.Errorf("decision %d: ids %v, logprobs %v, mask %v, repairs %d", i, d.GetTokenIds(), d.GetLogprobs(), d.GetMask(), d.GetRepairs())
		}
	}
	if got := decisions[0].GetReasoning(); got != "A plan keeps the solvers on track." {
		t.Errorf("first reasoning = %q", got)
	}
}
