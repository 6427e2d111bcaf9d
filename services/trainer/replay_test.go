package trainer

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/replay"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

// trainFor runs cfg into a fresh run directory and returns its store.
func trainFor(t *testing.T, cfg trainer.Config, name string) (runstore.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	ctx := context.Background()
	p, err := Prepare(ctx, cfg, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return runToEnd(t, p, dir), name
}

// runToEnd runs p's trainer, closes p and opens the run store in dir
// again (closed at the test's end), as a later reader of the run would.
func runToEnd(t *testing.T, p *Prepared, dir string) runstore.Store {
	t.Helper()
	if err := p.Trainer.Run(context.Background()); err != nil {
		p.Close()
		t.Fatal(err)
	}
	p.Close()
	st, err := runstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// replayCfg is one step with no evaluation but the one held-out task
// of the "untrained" policy.
func replayCfg(tasks, group int) trainer.Config {
	c := trainer.DefaultConfig()
	c.Name = "replay"
	c.Steps = 1
	c.BatchSize = tasks
	c.GroupSize = group
	c.Eval.Tasks = 1
	c.Eval.Baselines = nil
	c.Checkpoint.Every = 1
	return c
}

// exportAll exports every training episode of run as a bundle, through
// the JSON file format.
func exportAll(t *testing.T, st runstore.Store, run string) []*replay.Bundle {
	t.Helper()
	eps, err := st.Episodes(run, runstore.EpisodeFilter{Phase: runstore.PhaseTrain})
	if err != nil {
		t.Fatal(err)
	}
	var out []*replay.Bundle
	for _, e := range eps {
		b, err := replay.Export(st, run, e.EpisodeID, "test")
		if err != nil {
			t.Fatalf("export %s: %v", e.EpisodeID, err)
		}
		data, err := b.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := replay.ParseBundle(data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, back)
	}
	return out
}

func replayOne(t *testing.T, b *replay.Bundle) *replay.Result {
	t.Helper()
	res, err := replay.Run(context.Background(), b, ReplayCanvas)
	if err != nil {
		t.Fatalf("replay %s: %v", b.EpisodeID, err)
	}
	return res
}

func TestReplaySimEpisodesIdenticalAndChangedReplyNamed(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a run")
	}
	st, run := trainFor(t, replayCfg(4, 5), "sim-replay")
	bundles := exportAll(t, st, run)
	if len(bundles) != 20 {
		t.Fatalf("%d training episodes, want 20", len(bundles))
	}
	for _, b := range bundles {
		if len(b.Calls) == 0 || len(b.Turns) == 0 || !b.Backend.Simulated {
			t.Fatalf("episode %s: %d calls, %d turns, backend %+v", b.EpisodeID, len(b.Calls), len(b.Turns), b.Backend)
		}
		if res := replayOne(t, b); !res.Identical {
			t.Errorf("episode %s: %s", b.EpisodeID, res)
		}
	}

	// Change one recorded reply: the first call of a node whose output the
	// canvas shows. The replay must name the turn that first used it and
	// that node.
	b := bundles[0]
	target := -1
	for i, c := range b.Calls {
		if c.Error == "" && (c.Operator == "Custom" || c.Operator == "AnswerGenerate" || c.Operator == "Plan" || c.Operator == "Format") {
			target = i
			break
		}
	}
	if target < 0 {
		target = 0
	}
	c := b.Calls[target]
	wantTurn := c.Turn
	if got := firstTurnUsing(t, b, c); got != wantTurn {
		t.Errorf("without its replies the replay fails first on turn %d, but the call was recorded on turn %d", got, wantTurn)
	}
	b.Calls[target].Reply = "<answer>changed on purpose 7319</answer> <plan>changed</plan> <thought>changed</thought>"
	res := replayOne(t, b)
	if res.Identical {
		t.Fatalf("a changed reply of node %s replayed as identical", c.NodeID)
	}
	if res.Turn != wantTurn || !strings.HasPrefix(res.Node, c.NodeID+" ") {
		t.Errorf("changed call %d (node %s, first used on turn %d): replay says %s", target, c.NodeID, wantTurn, res)
	}
}

// firstTurnUsing replays b without any reply to c's request: the replay
// must fail first on the turn that made the call, naming the request.
func firstTurnUsing(t *testing.T, b *replay.Bundle, c replay.Call) int {
	t.Helper()
	clone := *b
	clone.Calls = nil
	for _, x := range b.Calls {
		if x.Digest != c.Digest {
			clone.Calls = append(clone.Calls, x)
		}
	}
	res := replayOne(t, &clone)
	if res.Identical || len(res.Missing) == 0 {
		t.Fatalf("removing the replies of %s changed nothing: %s", c.NodeID, res)
	}
	return res.Turn
}

// fakeOpenAIReplay answers chat completions on loopback with a reply that
// depends on the request, so different calls get different answers.
func fakeOpenAIReplay(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var all strings.Builder
		for _, m := range req.Messages {
			all.WriteString(m.Content)
		}
		sum := sha256.Sum256([]byte(all.String()))
		n := int(sum[0]) % 50
		text := fmt.Sprintf("Step by step the result is %d.\n<answer>%d</answer>\n<review_result>%v</review_result><feedback>checked</feedback>\n```python\ndef solve():\n    return %d\nprint(solve())\n```", n, n, sum[1]%2 == 0, n)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "x", "object": "chat.completion", "model": "fake-model",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": text}}},
			"usage":   map[string]any{"prompt_tokens": len(all.String()) / 4, "completion_tokens": len(text) / 4},
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestReplayRecordedOpenAIEpisodesIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a run")
	}
	srv := fakeOpenAIReplay(t)
	cfg := replayCfg(1, 3)
	cfg.Backend.Kind = "openai"
	cfg.Backend.BaseURL = srv.URL + "/v1"
	cfg.Backend.Model = "fake-model"
	cfg.Backend.APIKeyEnv = "FLOWSTEER_TEST_NO_KEY"
	st, run := trainFor(t, cfg, "openai-replay")
	bundles := exportAll(t, st, run)
	if len(bundles) != 3 {
		t.Fatalf("%d training episodes, want 3", len(bundles))
	}
	srv.Close() // a replay needs no server
	for _, b := range bundles {
		if b.Backend.Simulated || b.Backend.Model != "fake-model" || len(b.Calls) == 0 {
			t.Fatalf("episode %s: backend %+v, %d calls", b.EpisodeID, b.Backend, len(b.Calls))
		}
		if res := replayOne(t, b); !res.Identical {
			t.Errorf("episode %s: %s", b.EpisodeID, res)
		}
	}
}
