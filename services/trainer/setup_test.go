package trainer

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/policy/embedded"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

// tinyConfig is the quickstart shrunk to seconds.
func tinyConfig() trainer.Config {
	c := trainer.DefaultConfig()
	c.Name = "tiny"
	c.Steps = 2
	c.BatchSize = 2
	c.GroupSize = 4
	c.Eval.Tasks = 6
	c.Eval.Baselines = []string{"random", "cot"}
	c.Checkpoint.Every = 1
	return c
}

type ckptRow struct {
	step           int64
	path, checksum string
	hash           string
}

// checkpointRows reads every checkpoint row (the store's API only gives
// the last one).
func checkpointRows(t *testing.T, dir string) []ckptRow {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, runstore.FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT step, path, checksum, config_hash FROM checkpoints ORDER BY step`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []ckptRow
	for rows.Next() {
		var c ckptRow
		if err := rows.Scan(&c.step, &c.path, &c.checksum, &c.hash); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestShortRunEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tiny-run")
	ctx := context.Background()
	cfg := tinyConfig()
	p, err := Prepare(ctx, cfg, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Simulated || p.Start != 0 || p.Run.ID != "tiny-run" {
		t.Errorf("prepared simulated %v start %d id %q", p.Simulated, p.Start, p.Run.ID)
	}
	st := runToEnd(t, p, dir)
	run, err := st.GetRun("tiny-run")
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != runstore.StatusSucceeded || run.Step != 2 || run.TotalSteps != 2 || !run.Simulated || run.ConfigHash != cfg.Hash() {
		t.Errorf("run %+v", run)
	}
	written, err := trainer.LoadConfig(filepath.Join(dir, "config.yaml"))
	if err != nil || written.Hash() != cfg.Hash() {
		t.Errorf("config.yaml is not the run's config (%v)", err)
	}

	steps, err := st.Steps(run.ID)
	if err != nil || len(steps) != 2 {
		t.Fatalf("%d steps (%v), want 2", len(steps), err)
	}
	for i, m := range steps {
		if m.GetStep() != int64(i+1) || m.GetEpisodes()+m.GetFailedEpisodes() != 8 {
			t.Errorf("step %d: %v", i+1, m)
		}
		if m.GetFailedEpisodes() != 0 {
			t.Errorf("step %d lost %d episodes", i+1, m.GetFailedEpisodes())
		}
	}

	evals, err := st.Evals(run.ID)
	if err != nil || len(evals) != 2 || evals[0].GetStep() != 0 || evals[1].GetStep() != 2 {
		t.Fatalf("evals %v (%v), want at steps 0 and 2", evals, err)
	}
	for i, want := range [][]string{{"untrained", "random", "cot"}, {"trained", "random", "cot"}} {
		var got []string
		for _, pe := range evals[i].GetPolicies() {
			got = append(got, pe.GetPolicy())
			if pe.GetEpisodes() != 6 {
				t.Errorf("eval %d: %s played %d episodes, want 6", i, pe.GetPolicy(), pe.GetEpisodes())
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("eval %d policies %v, want %v", i, got, want)
		}
	}

	cks := checkpointRows(t, dir)
	if len(cks) != 2 || cks[0].step != 1 || cks[1].step != 2 {
		t.Fatalf("checkpoints %+v, want steps 1 and 2", cks)
	}
	for _, c := range cks {
		if got := fileSum(t, c.path); got != c.checksum {
			t.Errorf("checkpoint %d: file sha256 %s, stored %s", c.step, got, c.checksum)
		}
		if c.hash != cfg.Hash() {
			t.Errorf("checkpoint %d made under config %s, run's is %s", c.step, c.hash, cfg.Hash())
		}
		if filepath.Dir(c.path) != filepath.Join(dir, "checkpoints") {
			t.Errorf("checkpoint %s outside the run's checkpoints/", c.path)
		}
	}
	pol, err := embedded.New(embedded.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if step, err := pol.Load(cks[1].path, cks[1].checksum); err != nil || step != 2 {
		t.Errorf("the last checkpoint does not load: step %d, %v", step, err)
	}

	for _, tc := range []struct {
		phase string
		steps []int64
		n     int
	}{
		{runstore.PhaseTrain, []int64{1, 2}, 16},
		{runstore.EvalPhase("untrained"), []int64{0}, 6},
		{runstore.EvalPhase("trained"), []int64{2}, 6},
		{runstore.EvalPhase("random"), []int64{0, 2}, 12},
		{runstore.EvalPhase("cot"), []int64{0, 2}, 12},
	} {
		eps, err := st.Episodes(run.ID, runstore.EpisodeFilter{Phase: tc.phase})
		if err != nil {
			t.Fatal(err)
		}
		if len(eps) != tc.n {
			t.Errorf("%s: %d episodes, want %d", tc.phase, len(eps), tc.n)
		}
		seen := map[int64]bool{}
		for _, e := range eps {
			seen[e.Step] = true
			if e.Failed || e.EpisodeID == "" || e.TaskID == "" || e.Reward == nil {
				t.Errorf("%s episode %s of task %s: failed %v (%s), reward %v", tc.phase, e.EpisodeID, e.TaskID, e.Failed, e.Error, e.Reward)
			}
			var log []map[string]any
			if err := json.Unmarshal(e.TurnLog, &log); err != nil || len(log) == 0 || len(log) != e.Turns {
				t.Errorf("%s episode %s: turn log of %d turns for %d (%v)", tc.phase, e.EpisodeID, len(log), e.Turns, err)
				continue
			}
			if log[0]["action"] == "" || log[0]["feedback"] == "" {
				t.Errorf("%s episode %s: first turn %v", tc.phase, e.EpisodeID, log[0])
			}
		}
		for _, s := range tc.steps {
			if !seen[s] {
				t.Errorf("%s: no episode at step %d", tc.phase, s)
			}
		}
	}
	if err := st.IntegrityCheck(); err != nil {
		t.Error(err)
	}

	t.Run("a second run in the same directory is refused", func(t *testing.T) {
		_, err := Prepare(ctx, cfg, Options{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), "already holds a run") || !strings.Contains(err.Error(), "--resume") {
			t.Fatalf("Prepare over a run = %v, want an error telling to resume", err)
		}
	})

	t.Run("resuming a finished run does nothing more", func(t *testing.T) {
		p, err := Prepare(ctx, trainer.Config{}, Options{Dir: dir, Resume: true})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if p.Start != 2 {
			t.Errorf("start %d, want 2", p.Start)
		}
		if err := p.Trainer.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if evals, _ := p.Store.Evals("tiny-run"); len(evals) != 2 {
			t.Errorf("%d evals after resuming a finished run, want 2", len(evals))
		}
	})

	t.Run("resume refuses a config edited after the checkpoint", func(t *testing.T) {
		path := filepath.Join(dir, "config.yaml")
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(path, orig, 0o644)
		edited := cfg
		edited.Optimizer.LearningRate *= 2
		if err := os.WriteFile(path, []byte(edited.YAML()), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = Prepare(ctx, trainer.Config{}, Options{Dir: dir, Resume: true})
		if err == nil || !strings.Contains(err.Error(), "config") || !strings.Contains(err.Error(), cfg.Hash()) ||
			!strings.Contains(err.Error(), edited.Hash()) {
			t.Fatalf("resume with an edited config = %v, want an error naming both config hashes", err)
		}
	})
}

func TestPrepareRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  func(*trainer.Config)
		opts func(dir string) Options
		want string
	}{
		{"resume without a run", nil, func(dir string) Options { return Options{Dir: dir, Resume: true} }, "config.yaml"},
		{"no task left", func(c *trainer.Config) { c.Tasks.Families = []string{"mc"} }, nil, "no training task"},
		{"missing task file", func(c *trainer.Config) { c.Tasks.Train = "/nonexistent/train.jsonl" }, nil, "tasks.train"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := tinyConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			o := Options{Dir: dir}
			if tc.opts != nil {
				o = tc.opts(dir)
			}
			p, err := Prepare(ctx, cfg, o)
			if err == nil {
				p.Close()
				t.Fatal("Prepare succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Prepare = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestNewRunDirNeverHandsOutATakenDirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "runs")
	seen := map[string]bool{}
	for range 5 {
		dir := NewRunDir(root, "sweep")
		if seen[dir] {
			t.Fatalf("%s handed out twice", dir)
		}
		seen[dir] = true
		if filepath.Dir(dir) != root || !strings.HasPrefix(filepath.Base(dir), "sweep-") {
			t.Errorf("run dir %s", dir)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Errorf("%s was not created: %v", dir, err)
		}
	}
}
