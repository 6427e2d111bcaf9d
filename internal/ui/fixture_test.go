package ui

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/replay"
	"github.com/flowsteer/flowsteer/internal/runstore"
)

// hostile is text that would run script if any page failed to escape it.
const hostile = `</pre></code><script>alert("xss")</script><img src=x onerror="alert(1)"><svg onload=alert(2)>`

type fixtureOpts struct {
	steps, groups, group int // steps x groups per step x episodes per group
	question, output     string
	episodeID            func(step, g, i int) string
}

// fixture writes a run directory "run-1" under dir that looks like a
// trainer's: steps, evaluations, episodes with turn logs and replay
// records, spans, a resume.
func fixture(t testing.TB, dir string, o fixtureOpts) runstore.Store {
	t.Helper()
	st, err := runstore.Open(filepath.Join(dir, "run-1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateRun(runstore.Run{ID: "run-1", Name: "fixture", Status: runstore.StatusRunning, Backend: "sim", Policy: "embedded",
		Model: "sim (simulated executor)", Simulated: true, TotalSteps: int64(o.steps), ConfigYAML: "name: fixture\n"}); err != nil {
		t.Fatal(err)
	}
	if o.episodeID == nil {
		o.episodeID = func(step, g, i int) string { return fmt.Sprintf("ep_%d_%d_%d", step, g, i) }
	}
	task, _ := protojson.Marshal(&pb.Task{Id: "t1", Family: pb.TaskFamily_TASK_FAMILY_MATH, Question: o.question, Answers: []string{"4"}})
	outputs := []replay.NodeOutput{{NodeID: "node_1", Operator: "Plan", Status: "ok", Excerpt: o.output},
		{NodeID: "node_2_p0", Operator: "Programmer", Status: "ok", Excerpt: "4"}, {NodeID: "node_2_p1", Operator: "Custom", Status: "failed", Error: o.output},
		{NodeID: "node_3", Operator: "ScEnsemble", Status: "ok", Excerpt: "4"}, {NodeID: "node_4_cond", Operator: "Review", Status: "ok"},
		{NodeID: "node_4_true", Operator: "Revise", Status: "skipped"}, {NodeID: "node_5", Operator: "Format", Status: "ok", Excerpt: "4"}}
	dsl := "Plan -> [Programmer, Custom] -> ScEnsemble -> Review ? Revise : done -> Format"
	var turns []replay.Turn
	var logs []map[string]any
	for k := 1; k <= 12; k++ {
		act, _ := protojson.Marshal(&pb.Action{Text: fmt.Sprintf("<action>add</action><operator>Format</operator> %s", o.output)})
		turns = append(turns, replay.Turn{Turn: k, Action: act, Parsed: "add Format " + o.output, Outputs: outputs})
		logs = append(logs, map[string]any{"turn": k, "reply": "reply " + o.output, "action": "add", "valid": k%3 != 0,
			"feedback": "Added node_5 (Format). " + o.output, "dsl": dsl, "state": "EPISODE_STATE_BUILDING"})
	}
	rec := &replay.Record{Format: replay.FormatVersion, Task: task, Config: []byte("{}"), Backend: replay.BackendInfo{Name: "sim", Model: "sim", Simulated: true},
		Turns: turns, Calls: []replay.Call{{Turn: 1, NodeID: "node_1", Operator: "Plan", Digest: "d1", Reply: o.output}}}
	recBytes, err := rec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	turnLog, _ := json.Marshal(logs)
	for s := 1; s <= o.steps; s++ {
		var eps []runstore.Episode
		var spans []runstore.Span
		for g := 0; g < o.groups; g++ {
			for i := 0; i < o.group; i++ {
				id := o.episodeID(s, g, i)
				r := -1 + 0.2*float64(i%6)
				eps = append(eps, runstore.Episode{RunID: "run-1", Step: int64(s), Phase: runstore.PhaseTrain, EpisodeID: id, TaskID: "t1",
					Family: "math", GroupID: fmt.Sprintf("s%d-g%d", s, g), DSL: dsl, Turns: 12, Advantage: float64(i) - float64(o.group)/2,
					Reward:  &pb.RewardBreakdown{Reward: r, Base: -1, Checker: 0.2, Released: i%2 == 0, Score: &pb.Score{Method: "numeric", Explanation: o.output}},
					TurnLog: turnLog, Replay: recBytes, Finished: true})
				if s == 1 && g == 0 && i == 0 {
					t0 := time.Unix(1700000000, 0)
					spans = append(spans,
						runstore.Span{EpisodeID: id, TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331", Name: "episode", Start: t0, End: t0.Add(2 * time.Second), Attrs: fmt.Sprintf(`{"flowsteer.task.question":%q}`, o.output)},
						runstore.Span{EpisodeID: id, TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "c7ad6b7169203331", ParentID: "b7ad6b7169203331", Name: "turn", Start: t0.Add(time.Millisecond), End: t0.Add(time.Second)},
						runstore.Span{EpisodeID: id, TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "d7ad6b7169203331", ParentID: "c7ad6b7169203331", Name: "workflow.node", Start: t0.Add(2 * time.Millisecond), End: t0.Add(500 * time.Millisecond), Status: "error: " + o.output})
				}
			}
		}
		if err := st.PutEpisodes(eps); err != nil {
			t.Fatal(err)
		}
		if err := st.PutSpans("run-1", spans); err != nil {
			t.Fatal(err)
		}
		if err := st.PutStep("run-1", &pb.StepMetrics{Step: int64(s), MeanReward: float64(s) / float64(o.steps), Episodes: int32(o.groups * o.group),
			AccuracyByFamily: map[string]float64{"math": 0.5}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutEval("run-1", &pb.EvalReport{Step: 0, Policies: []*pb.PolicyEval{{Policy: "untrained", MeanReward: -0.3, Episodes: 5}}}); err != nil {
		t.Fatal(err)
	}
	return st
}
