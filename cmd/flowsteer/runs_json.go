package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	"github.com/flowsteer/flowsteer/internal/runstore"
)

// runJSONFormat is the version of `flowsteer runs show --json`'s output.
// Fields are only ever added within a version; a rename or a removal
// bumps it, so a script can check it and refuse what it does not know.
const runJSONFormat = 1

// runJSON is `flowsteer runs show RUN --json`: what scripts read about a
// run instead of querying run.db's tables (docs/llm-cpu.md lists the
// fields). Proto messages (steps, evals, rewards) are protojson with proto
// field names and unpopulated fields present; as protojson does, 64-bit
// integers in them are strings.
type runJSON struct {
	Format int         `json:"format"`
	Dir    string      `json:"dir"`
	Run    runInfoJSON `json:"run"`
	// Config is the run's stored config.yaml as a JSON object.
	Config       map[string]any     `json:"config"`
	Steps        []json.RawMessage  `json:"steps"` // StepMetrics, by step
	Evals        []json.RawMessage  `json:"evals"` // EvalReport, by step
	EvalEpisodes []evalEpisodeJSON  `json:"eval_episodes"`
	Sections     []runstore.Section `json:"sections"`
}

type runInfoJSON struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Status     string    `json:"status"` // as `runs list` shows it: a dead "running" run reads "interrupted"
	Error      string    `json:"error"`
	Backend    string    `json:"backend"`
	Policy     string    `json:"policy"`
	Model      string    `json:"model"`
	Hardware   string    `json:"hardware"`
	Simulated  bool      `json:"simulated"`
	Step       int64     `json:"step"`
	TotalSteps int64     `json:"total_steps"`
	ConfigHash string    `json:"config_hash"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
}

// evalEpisodeJSON is one evaluation episode without its turn log: the
// log's length and count of valid turns stand in for it.
type evalEpisodeJSON struct {
	Step       int64           `json:"step"`
	Phase      string          `json:"phase"`  // "eval:" + Policy
	Policy     string          `json:"policy"` // the evaluated policy's name, as in evals[].policies[].policy
	EpisodeID  string          `json:"episode_id"`
	TaskID     string          `json:"task_id"`
	Family     string          `json:"family"`
	Turns      int             `json:"turns"`
	LogTurns   int             `json:"log_turns"`   // turns in the stored turn log (0 when none was kept)
	ValidTurns int             `json:"valid_turns"` // of those, turns whose action was valid
	Invalid    int             `json:"invalid"`
	Finished   bool            `json:"finished"`
	Failed     bool            `json:"failed"`
	Error      string          `json:"error,omitempty"`
	Reward     json.RawMessage `json:"reward"` // RewardBreakdown; null for none
}

var showProtoJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

func protoJSON(m proto.Message) (json.RawMessage, error) {
	b, err := showProtoJSON.Marshal(m)
	return json.RawMessage(b), err
}

// buildRunJSON reads everything runJSON holds from the run's store.
func buildRunJSON(st runstore.Reader, dir, id string) (*runJSON, error) {
	r, err := st.GetRun(id)
	if err != nil {
		return nil, err
	}
	out := &runJSON{Format: runJSONFormat, Dir: dir, Config: map[string]any{}, Steps: []json.RawMessage{}, Evals: []json.RawMessage{},
		EvalEpisodes: []evalEpisodeJSON{}, Sections: []runstore.Section{},
		Run: runInfoJSON{ID: r.ID, Name: r.Name, Status: runstore.ShownStatus(dir, r.Status), Error: r.Error, Backend: r.Backend,
			Policy: r.Policy, Model: r.Model, Hardware: r.Hardware, Simulated: r.Simulated, Step: r.Step, TotalSteps: r.TotalSteps,
			ConfigHash: r.ConfigHash, Created: r.Created.UTC(), Updated: r.Updated.UTC()}}
	if r.ConfigYAML != "" {
		if err := yaml.Unmarshal([]byte(r.ConfigYAML), &out.Config); err != nil {
			return nil, fmt.Errorf("run %s: stored config: %w", id, err)
		}
	}
	steps, err := st.Steps(id)
	if err != nil {
		return nil, err
	}
	for _, m := range steps {
		b, err := protoJSON(m)
		if err != nil {
			return nil, err
		}
		out.Steps = append(out.Steps, b)
	}
	evals, err := st.Evals(id)
	if err != nil {
		return nil, err
	}
	for _, e := range evals {
		b, err := protoJSON(e)
		if err != nil {
			return nil, err
		}
		out.Evals = append(out.Evals, b)
		for _, p := range e.GetPolicies() {
			step := e.GetStep()
			eps, err := st.Episodes(id, runstore.EpisodeFilter{Step: &step, Phase: runstore.EvalPhase(p.GetPolicy())})
			if err != nil {
				return nil, err
			}
			for _, ep := range eps {
				j, err := evalEpisode(ep, p.GetPolicy())
				if err != nil {
					return nil, err
				}
				out.EvalEpisodes = append(out.EvalEpisodes, j)
			}
		}
	}
	secs, err := st.Sections(id)
	if err != nil {
		return nil, err
	}
	out.Sections = append(out.Sections, secs...)
	return out, nil
}

func evalEpisode(ep runstore.Episode, policy string) (evalEpisodeJSON, error) {
	j := evalEpisodeJSON{Step: ep.Step, Phase: ep.Phase, Policy: policy, EpisodeID: ep.EpisodeID, TaskID: ep.TaskID, Family: ep.Family,
		Turns: ep.Turns, Invalid: ep.Invalid, Finished: ep.Finished, Failed: ep.Failed, Error: ep.Error, Reward: json.RawMessage("null")}
	if len(ep.TurnLog) > 0 {
		// The trainer owns the turn log's format; only its "valid" flag
		// is read here, and a log that does not parse counts as none.
		var turns []struct {
			Valid bool `json:"valid"`
		}
		if json.Unmarshal(ep.TurnLog, &turns) == nil {
			j.LogTurns = len(turns)
			for _, t := range turns {
				if t.Valid {
					j.ValidTurns++
				}
			}
		}
	}
	if ep.Reward != nil {
		b, err := protoJSON(ep.Reward)
		if err != nil {
			return j, err
		}
		j.Reward = b
	}
	return j, nil
}

func writeRunJSON(w io.Writer, st runstore.Reader, dir, id string) error {
	j, err := buildRunJSON(st, dir, id)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(j)
}

// readSection reads one runstore.Section as JSON from path ("-": stdin),
// refusing unknown fields so a typo does not silently drop a table.
func readSection(path string, stdin io.Reader) (runstore.Section, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return runstore.Section{}, err
		}
		defer f.Close()
		r = f
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var sec runstore.Section
	if err := dec.Decode(&sec); err != nil {
		return runstore.Section{}, fmt.Errorf("section %s: %w", path, err)
	}
	return sec, sec.Validate()
}
