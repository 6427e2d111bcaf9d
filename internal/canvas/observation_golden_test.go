package canvas

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/observations.golden.jsonl")

// goldenReplies exercise every part of an observation: rendered action and
// prompt-writing turns, invalid replies, deletes, modifies, a refused and
// an accepted finish, history past its limit, hints and excerpts.
var goldenReplies = []string{
	"<reasoning>plan first</reasoning><action>add</action><operator>Plan</operator>",
	"Outline the steps that solve this problem before computing.",
	"<action>add</action><operator>Nonexistent</operator>",
	"<action>add</action><structure>parallel</structure><operators>AnswerGenerate, Custom</operators>",
	"<action>add</action><operator>Format</operator>",
	"Solve it step by step and give the final answer.",
	"no",
	"Solve it another way and check each result carefully.",
	"<action>finish</action>",
	"<action>add</action><operator>ScEnsemble</operator><prompt>Pick the answer most solutions agree on.</prompt>",
	"<action>add</action><structure>conditional</structure><condition>Review</condition><true>Revise</true><false>done</false>",
	"Check the chosen solution and say whether it is right.",
	"Fix the solution using the feedback and restate the answer.",
	"<action>modify</action><target>node_2_p1</target><operator>AnswerGenerate</operator>",
	"Answer directly with a short justification please.",
	"<action>delete</action><target>node_9</target>",
	"<action>set_prompt</action><target>node_1</target><prompt>Plan the computation in two short steps.</prompt>",
	"<action>add</action><operator>Format</operator><prompt>Extract only the final answer.</prompt>",
	"<action>add</action><structure>loop</structure><operators>Verify, Revise</operators><count>2</count>",
	"<action>finish</action>",
}

// TestObservationsGolden replays fixed episodes and compares every
// observation, serialised, with the record in testdata. The record was made
// before the turn stopped rebuilding unchanged parts (caches, pooled
// buffers), so a difference is a change of behaviour, not of speed.
// Regenerate with: go test ./internal/canvas -run TestObservationsGolden -update-golden
func TestObservationsGolden(t *testing.T) {
	var got bytes.Buffer
	type variant struct {
		name string
		task task.Task
		cfg  func() Config
	}
	long := mathTask()
	long.ID, long.Context = "math-long", string(bytes.Repeat([]byte("context é "), 400))
	variants := []variant{
		{"math", mathTask(), DefaultConfig},
		{"code", codeTask(true), DefaultConfig},
		{"mc", mcTask(), DefaultConfig},
		{"long-hints", long, func() Config {
			c := DefaultConfig()
			c.Hints = true
			c.HistoryLimit = 3
			c.FeedbackLimit = 120
			return c
		}},
		{"one-step", mathTask(), oneStepCfg},
	}
	for _, v := range variants {
		x := &fakeExec{Answer: "Step 1: 6*7. Therefore the answer is 42 and that is long enough to be verbose.", Output: "out é " + string(bytes.Repeat([]byte("x"), 500)), FailOp: "Revise", FailErr: "backend timeout"}
		c := New(WithExecutor(x), WithScorer(&fakeScorer{Value: 1}))
		e, o, err := c.Create(context.Background(), v.task, v.cfg(), reward.Default())
		if err != nil {
			t.Fatal(err)
		}
		write := func(turn int, o Observation) {
			o.EpisodeID = ""
			b, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&got, "%s %d %s\n", v.name, turn, b)
		}
		write(0, o)
		for i, r := range goldenReplies {
			o, err := e.Step(context.Background(), Input{Text: r})
			if err != nil {
				break // ended
			}
			write(i+1, o)
			write(i+1, e.Observe()) // a second read must give the same
		}
	}
	path := filepath.Join("testdata", "observations.golden.jsonl")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gl, wl := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := range min(len(gl), len(wl)) {
		if !bytes.Equal(gl[i], wl[i]) {
			t.Fatalf("observation line %d differs:\n got %s\nwant %s", i+1, gl[i], wl[i])
		}
	}
	if len(gl) != len(wl) {
		t.Fatalf("%d observation lines, want %d", len(gl), len(wl))
	}
}
