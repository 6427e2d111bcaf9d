package runstore

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

func newStore(t *testing.T) (*SQLite, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run dir?#") // URI-hostile characters on purpose
	s, err := OpenSQLite(dir, DefaultSQLiteConfig())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func mustCreate(t *testing.T, s *SQLite, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.CreateRun(Run{ID: id, Name: "run " + id}); err != nil {
			t.Fatalf("CreateRun(%q): %v", id, err)
		}
	}
}

func stepMetrics(step int64) *pb.StepMetrics {
	f := float64(step)
	return &pb.StepMetrics{
		Step:                 step,
		MeanReward:           -1 + f/100,
		StructureReleaseRate: f / 200,
		Correctness:          f / 300,
		AccuracyByFamily:     map[string]float64{"math": f / 400, "qa": f / 500, "code": f / 600},
		MeanTurns:            3 + f/10,
		InvalidActionRate:    0.5 - f/1000,
		OperatorUsage:        map[string]int32{"Programmer": int32(step), "Review": int32(2 * step), "Format": 7},
		Kl:                   f / 1e4,
		Entropy:              2 - f/1e3,
		ClipFraction:         0.1,
		Loss:                 -f,
		Episodes:             36,
		FailedEpisodes:       int32(step % 3),
		ZeroVarianceGroups:   1,
		ExecutorCalls:        1000 + step,
		CacheHitRate:         0.25,
		PhaseSeconds:         map[string]float64{"rollout": 12.5, "update": 3},
		MeanStructure:        0.4,
		FinishedRate:         0.9,
	}
}

func TestOpenSettings(t *testing.T) {
	s, dir := newStore(t)
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatalf("database file: %v", err)
	}
	// The pragmas are per connection; these queries go through the pool,
	// so they see what every connection the store opens gets.
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"busy_timeout", "5000"},
		{"foreign_keys", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.pragma, func(t *testing.T) {
			var got string
			if err := s.db.QueryRow("PRAGMA " + tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
	var v int
	if err := s.db.QueryRow("SELECT version FROM schema_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != SchemaVersion() {
		t.Errorf("schema_version = %d, want %d", v, SchemaVersion())
	}
	if err := s.IntegrityCheck(); err != nil {
		t.Error(err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Run("empty dir", func(t *testing.T) {
		if _, err := OpenSQLite("", DefaultSQLiteConfig()); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(\"\") = %v, want ErrInvalid", err)
		}
	})
	t.Run("dir is a file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenSQLite(f, DefaultSQLiteConfig()); err == nil {
			t.Error("Open on a file succeeded")
		}
	})
	t.Run("newer schema", func(t *testing.T) {
		s, dir := newStore(t)
		if _, err := s.db.Exec("UPDATE schema_version SET version = 99"); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if s2, err := OpenSQLite(dir, DefaultSQLiteConfig()); err == nil || !strings.Contains(err.Error(), "newer") {
			if s2 != nil {
				s2.Close()
			}
			t.Errorf("Open with schema 99 = %v, want a newer-schema error", err)
		}
	})
}

func TestCreateAndGetRun(t *testing.T) {
	s, _ := newStore(t)
	created := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	full := Run{
		ID: "full", Name: "full run", Status: StatusRunning, ConfigYAML: "steps: 300\n", ConfigHash: "abc",
		Error: "", Backend: "sim", Policy: "embedded", Model: "qwen3-8b", Hardware: "1x H100", Simulated: true,
		Step: 3, TotalSteps: 300, Created: created, Updated: created.Add(time.Minute),
	}
	tests := []struct {
		name    string
		run     Run
		wantErr error
		check   func(t *testing.T, got Run)
	}{
		{name: "every field", run: full, check: func(t *testing.T, got Run) {
			want := full
			if !got.Created.Equal(want.Created) || !got.Updated.Equal(want.Updated) {
				t.Errorf("times = %v, %v; want %v, %v", got.Created, got.Updated, want.Created, want.Updated)
			}
			got.Created, got.Updated, want.Created, want.Updated = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if got != want {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		}},
		{name: "defaults", run: Run{ID: "bare"}, check: func(t *testing.T, got Run) {
			if got.Status != StatusPending {
				t.Errorf("status = %q, want pending", got.Status)
			}
			if got.Created.IsZero() || !got.Updated.Equal(got.Created) {
				t.Errorf("created %v updated %v: want now, equal", got.Created, got.Updated)
			}
		}},
		{name: "duplicate", run: Run{ID: "full"}, wantErr: ErrExists},
		{name: "empty id", run: Run{}, wantErr: ErrInvalid},
		{name: "bad status", run: Run{ID: "x", Status: "done"}, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateRun(tt.run)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("CreateRun = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("CreateRun: %v", err)
			}
			got, err := s.GetRun(tt.run.ID)
			if err != nil {
				t.Fatalf("GetRun: %v", err)
			}
			tt.check(t, got)
		})
	}
	// A refused duplicate must not have changed the stored run.
	if got, _ := s.GetRun("full"); got.Name != "full run" {
		t.Errorf("duplicate CreateRun changed the run: %+v", got)
	}
}

func TestNotFound(t *testing.T) {
	s, _ := newStore(t)
	mustCreate(t, s, "present")
	const id = "ghost-run"
	tests := []struct {
		name string
		call func() error
	}{
		{"GetRun", func() error { _, err := s.GetRun(id); return err }},
		{"UpdateRun", func() error { return s.UpdateRun(id, StatusRunning, 1, "") }},
		{"PutStep", func() error { return s.PutStep(id, stepMetrics(1)) }},
		{"PutEpisodes", func() error {
			return s.PutEpisodes([]Episode{{RunID: "present", EpisodeID: "a", Phase: PhaseTrain}, {RunID: id, EpisodeID: "b", Phase: PhaseTrain}})
		}},
		{"PutCheckpoint", func() error { return s.PutCheckpoint(id, 1, "/ckpt", "", "") }},
		{"PutEval", func() error { return s.PutEval(id, &pb.EvalReport{Step: 1}) }},
		{"Truncate", func() error { return s.Truncate(id, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), id) {
				t.Errorf("error %q does not name the run", err)
			}
		})
	}
	// The failed batch above is one transaction: the valid episode for the
	// existing run must not have been stored either.
	if eps, err := s.Episodes("present", EpisodeFilter{}); err != nil || len(eps) != 0 {
		t.Errorf("partial batch stored: %v, %v", eps, err)
	}
}

func TestUpdateRun(t *testing.T) {
	s, _ := newStore(t)
	mustCreate(t, s, "r")
	before, _ := s.GetRun("r")
	tests := []struct {
		name       string
		status     string
		step       int64
		errMsg     string
		wantErr    error
		wantStatus string
	}{
		{name: "start", status: StatusRunning, step: 0, wantStatus: StatusRunning},
		{name: "progress keeps status", status: "", step: 5, wantStatus: StatusRunning},
		{name: "fail with message", status: StatusFailed, step: 6, errMsg: "executor: timeout", wantStatus: StatusFailed},
		{name: "resume clears message", status: StatusRunning, step: 6, wantStatus: StatusRunning},
		{name: "finish", status: StatusSucceeded, step: 10, wantStatus: StatusSucceeded},
		{name: "bad status", status: "paused", wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.UpdateRun("r", tt.status, tt.step, tt.errMsg)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("UpdateRun = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.GetRun("r")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.wantStatus || got.Step != tt.step || got.Error != tt.errMsg {
				t.Errorf("got status %q step %d error %q; want %q %d %q", got.Status, got.Step, got.Error, tt.wantStatus, tt.step, tt.errMsg)
			}
			if got.Updated.Before(before.Updated) || !got.Created.Equal(before.Created) {
				t.Errorf("timestamps: created %v (was %v), updated %v", got.Created, before.Created, got.Updated)
			}
		})
	}
}

func TestListRuns(t *testing.T) {
	s, _ := newStore(t)
	if runs, err := s.ListRuns(); err != nil || len(runs) != 0 {
		t.Fatalf("empty store: %v, %v", runs, err)
	}
	base := time.Now()
	for i, id := range []string{"c", "a", "b"} {
		if err := s.CreateRun(Run{ID: id, Created: base.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := s.ListRuns()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	if got := strings.Join(ids, ","); got != "c,a,b" {
		t.Errorf("ListRuns order = %s, want c,a,b (creation order)", got)
	}
}

func TestSteps(t *testing.T) {
	s, _ := newStore(t)
	mustCreate(t, s, "r", "other")
	replaced := stepMetrics(2)
	replaced.MeanReward = 0.75
	tests := []struct {
		name      string
		put       []*pb.StepMetrics
		wantErr   error
		wantSteps []*pb.StepMetrics
	}{
		{name: "out of order", put: []*pb.StepMetrics{stepMetrics(3), stepMetrics(1), stepMetrics(2)},
			wantSteps: []*pb.StepMetrics{stepMetrics(1), stepMetrics(2), stepMetrics(3)}},
		{name: "upsert replaces", put: []*pb.StepMetrics{replaced},
			wantSteps: []*pb.StepMetrics{stepMetrics(1), replaced, stepMetrics(3)}},
		{name: "zero metrics", put: []*pb.StepMetrics{{Step: 0}},
			wantSteps: []*pb.StepMetrics{{Step: 0}, stepMetrics(1), replaced, stepMetrics(3)}},
		{name: "nil", put: []*pb.StepMetrics{nil}, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, m := range tt.put {
				err := s.PutStep("r", m)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("PutStep = %v, want %v", err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.Steps("r")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.wantSteps) {
				t.Fatalf("got %d steps, want %d", len(got), len(tt.wantSteps))
			}
			for i := range got {
				if !proto.Equal(got[i], tt.wantSteps[i]) {
					t.Errorf("step %d:\n got %v\nwant %v", i, got[i], tt.wantSteps[i])
				}
			}
		})
	}
	if other, err := s.Steps("other"); err != nil || len(other) != 0 {
		t.Errorf("steps leaked into another run: %v, %v", other, err)
	}
}

func TestEvals(t *testing.T) {
	s, _ := newStore(t)
	mustCreate(t, s, "r")
	eval := func(step int64, reward float64) *pb.EvalReport {
		return &pb.EvalReport{Step: step, Simulated: true, Policies: []*pb.PolicyEval{
			{Policy: "trained", MeanReward: reward, RewardCiLow: reward - 0.1, RewardCiHigh: reward + 0.1, Episodes: 40,
				Metrics: []*pb.FamilyMetric{{Family: "math", Metric: "accuracy", Value: 0.5, CiLow: 0.4, CiHigh: 0.6, Count: 20}}},
			{Policy: "random", MeanReward: -0.7, Episodes: 40},
		}}
	}
	tests := []struct {
		name    string
		put     *pb.EvalReport
		wantErr error
		want    []*pb.EvalReport
	}{
		{name: "later step", put: eval(10, 0.2), want: []*pb.EvalReport{eval(10, 0.2)}},
		{name: "before training", put: eval(0, -0.5), want: []*pb.EvalReport{eval(0, -0.5), eval(10, 0.2)}},
		{name: "same step replaces", put: eval(10, 0.3), want: []*pb.EvalReport{eval(0, -0.5), eval(10, 0.3)}},
		{name: "nil", put: nil, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.PutEval("r", tt.put)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("PutEval = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Evals("r")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d evals, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !proto.Equal(got[i], tt.want[i]) {
					t.Errorf("eval %d:\n got %v\nwant %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func episode(run string, step int64, phase, id, dsl string, reward float64) Episode {
	return Episode{
		RunID: run, Step: step, Phase: phase, EpisodeID: id, TaskID: "task-" + id, Family: "math", GroupID: fmt.Sprintf("g%d", step),
		DSL: dsl, Turns: 4, Advantage: reward / 2, Invalid: 1, Finished: true,
		Reward:  &pb.RewardBreakdown{Kind: pb.RewardKind_REWARD_KIND_CWRPO, Reward: reward, Base: -1, Structure: 0.4, Released: reward > 0, Score: &pb.Score{Value: 1, Correct: true, Method: "numeric"}},
		TurnLog: []byte(`[{"turn":1,"reply":"<add>Programmer</add>","feedback":"ok"}]`),
	}
}

func TestPutEpisodesAndFilter(t *testing.T) {
	s, _ := newStore(t)
	mustCreate(t, s, "r", "other")
	batch := []Episode{
		episode("r", 1, PhaseTrain, "e1", "Programmer", -0.6),
		episode("r", 1, PhaseTrain, "e2", "Plan -> Programmer", -0.4),
		episode("r", 2, PhaseTrain, "e1", "Programmer", -0.2),
		episode("r", 2, EvalPhase("trained"), "e1", "Programmer -> Format", 0.5),
		episode("other", 1, PhaseTrain, "e1", "Custom", 1),
	}
	odd := Episode{RunID: "r", Step: 3, Phase: PhaseTrain, EpisodeID: "odd", Failed: true, Error: "executor down", Advantage: math.NaN()}
	batch = append(batch, odd)
	if err := s.PutEpisodes(batch); err != nil {
		t.Fatal(err)
	}
	if err := s.PutEpisodes(nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	step1, step2 := int64(1), int64(2)
	tests := []struct {
		name   string
		filter EpisodeFilter
		want   []string // step/phase/id
	}{
		{"all", EpisodeFilter{}, []string{"1/train/e1", "1/train/e2", "2/train/e1", "2/eval:trained/e1", "3/train/odd"}},
		{"step", EpisodeFilter{Step: &step1}, []string{"1/train/e1", "1/train/e2"}},
		{"phase", EpisodeFilter{Phase: EvalPhase("trained")}, []string{"2/eval:trained/e1"}},
		{"step and phase", EpisodeFilter{Step: &step2, Phase: PhaseTrain}, []string{"2/train/e1"}},
		{"limit", EpisodeFilter{Limit: 2}, []string{"1/train/e1", "1/train/e2"}},
		{"no match", EpisodeFilter{Phase: "eval:random"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Episodes("r", tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, e := range got {
				keys = append(keys, fmt.Sprintf("%d/%s/%s", e.Step, e.Phase, e.EpisodeID))
			}
			if strings.Join(keys, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %v, want %v", keys, tt.want)
			}
		})
	}

	t.Run("round trip", func(t *testing.T) {
		got, err := s.Episodes("r", EpisodeFilter{Step: &step1})
		if err != nil {
			t.Fatal(err)
		}
		want := batch[0]
		g := got[0]
		if !proto.Equal(g.Reward, want.Reward) {
			t.Errorf("reward = %v, want %v", g.Reward, want.Reward)
		}
		g.Reward, want.Reward = nil, nil
		if fmt.Sprintf("%+v", g) != fmt.Sprintf("%+v", want) {
			t.Errorf("episode\n got %+v\nwant %+v", g, want)
		}
		step3 := int64(3)
		o, err := s.Episodes("r", EpisodeFilter{Step: &step3})
		if err != nil || len(o) != 1 {
			t.Fatalf("odd episode: %v, %v", o, err)
		}
		if o[0].Reward != nil || !math.IsNaN(o[0].Advantage) || !o[0].Failed || o[0].Error != "executor down" || o[0].TurnLog != nil {
			t.Errorf("odd episode = %+v", o[0])
		}
	})

	t.Run("upsert", func(t *testing.T) {
		again := episode("r", 1, PhaseTrain, "e1", "Programmer -> Review ? Revise : done", 0.9)
		if err := s.PutEpisodes([]Episode{again}); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Episodes("r", EpisodeFilter{Step: &step1})
		if len(got) != 2 || got[0].EpisodeID != "e1" || got[0].DSL != again.DSL || got[0].Reward.GetReward() != 0.9 {
			t.Errorf("after upsert: %+v", got)
		}
	})

	t.Run("failures without an id", func(t *testing.T) {
		// Episodes that failed before they got an id are each kept, even
		// when written twice: the failure count must not shrink.
		step9 := int64(9)
		fail := Episode{RunID: "r", Step: 9, Phase: PhaseTrain, Failed: true, Error: "open episode: canvas down"}
		for range 2 {
			if err := s.PutEpisodes([]Episode{fail, fail}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Episodes("r", EpisodeFilter{Step: &step9})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 {
			t.Fatalf("%d rows, want 4", len(got))
		}
		for _, e := range got {
			if e.EpisodeID != "" || !e.Failed || e.Error != fail.Error {
				t.Errorf("row = %+v", e)
			}
		}
	})

	t.Run("validation", func(t *testing.T) {
		for _, e := range []Episode{
			{Phase: PhaseTrain, EpisodeID: "x"},
			{RunID: "r", EpisodeID: "x"},
		} {
			if err := s.PutEpisodes([]Episode{e}); !errors.Is(err, ErrInvalid) {
				t.Errorf("PutEpisodes(%+v) = %v, want ErrInvalid", e, err)
			}
		}
	})
}

func TestTopWorkflows(t *testing.T) {
	s, _ := newStore(t)
	mustCreate(t, s, "r")
	var eps []Episode
	add := func(step int64, phase, dsl string, rewards ...float64) {
		for _, r := range rewards {
			eps = append(eps, episode("r", step, phase, fmt.Sprintf("e%d", len(eps)), dsl, r))
		}
	}
	add(1, PhaseTrain, "A", -1, -1, -1)
	add(5, PhaseTrain, "A -> B", 0.5, 0.7)
	add(6, PhaseTrain, "[A, B] -> C", 1, 0)
	add(6, PhaseTrain, "", -1, -1, -1, -1) // empty graphs are not workflows
	add(7, EvalPhase("trained"), "X", 1, 1, 1, 1, 1)
	noReward := Episode{RunID: "r", Step: 8, Phase: PhaseTrain, EpisodeID: "nr", DSL: "Z"}
	eps = append(eps, noReward)
	if err := s.PutEpisodes(eps); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		phase    string
		from     int64
		n        int
		want     string
		wantMean []float64
	}{
		{name: "train from start", phase: PhaseTrain, want: "A:3 A -> B:2 [A, B] -> C:2 Z:1", wantMean: []float64{-1, 0.6, 0.5, math.NaN()}},
		{name: "top 2", phase: PhaseTrain, n: 2, want: "A:3 A -> B:2"},
		{name: "from step 5", phase: PhaseTrain, from: 5, want: "A -> B:2 [A, B] -> C:2 Z:1"},
		{name: "every phase", from: 5, n: 1, want: "X:5"},
		{name: "eval phase", phase: EvalPhase("trained"), want: "X:5", wantMean: []float64{1}},
		{name: "none", phase: PhaseTrain, from: 100, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.TopWorkflows("r", tt.phase, tt.from, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, w := range got {
				parts = append(parts, fmt.Sprintf("%s:%d", w.DSL, w.Count))
			}
			if strings.Join(parts, " ") != tt.want {
				t.Errorf("got %q, want %q", strings.Join(parts, " "), tt.want)
			}
			for i, m := range tt.wantMean {
				g := got[i].MeanReward
				if math.IsNaN(m) != math.IsNaN(g) || (!math.IsNaN(m) && math.Abs(g-m) > 1e-9) {
					t.Errorf("%s mean = %v, want %v", got[i].DSL, g, m)
				}
			}
		})
	}
}

func TestCheckpoints(t *testing.T) {
	s, _ := newStore(t)
	mustCreate(t, s, "r")
	if _, ok, err := s.LastCheckpoint("r"); ok || err != nil {
		t.Fatalf("no checkpoints: ok=%v err=%v", ok, err)
	}
	tests := []struct {
		name     string
		step     int64
		path     string
		wantErr  error
		wantStep int64
		wantPath string
	}{
		{name: "first", step: 10, path: "ckpt/10", wantStep: 10, wantPath: "ckpt/10"},
		{name: "later", step: 20, path: "ckpt/20", wantStep: 20, wantPath: "ckpt/20"},
		{name: "earlier does not win", step: 5, path: "ckpt/5", wantStep: 20, wantPath: "ckpt/20"},
		{name: "rewrite", step: 20, path: "ckpt/20b", wantStep: 20, wantPath: "ckpt/20b"},
		{name: "no path", step: 30, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.PutCheckpoint("r", tt.step, tt.path, "sha256:"+tt.path, "cfg")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("PutCheckpoint = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, ok, err := s.LastCheckpoint("r")
			if err != nil || !ok {
				t.Fatalf("LastCheckpoint: ok=%v err=%v", ok, err)
			}
			if c.RunID != "r" || c.Step != tt.wantStep || c.Path != tt.wantPath || c.Checksum != "sha256:"+tt.wantPath || c.ConfigHash != "cfg" || c.Created.IsZero() {
				t.Errorf("LastCheckpoint = %+v", c)
			}
		})
	}
	if _, ok, err := s.LastCheckpoint("ghost"); ok || err != nil {
		t.Errorf("unknown run: ok=%v err=%v", ok, err)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name      string
		after     int64
		wantSteps int
		wantEps   int
		wantEvals int
		wantCkpt  int64
		wantRun   int64
	}{
		{name: "drop in-flight step", after: 4, wantSteps: 5, wantEps: 10, wantEvals: 1, wantCkpt: 4, wantRun: 4},
		{name: "back to a checkpoint", after: 2, wantSteps: 3, wantEps: 6, wantEvals: 1, wantCkpt: 2, wantRun: 2},
		{name: "nothing after", after: 9, wantSteps: 6, wantEps: 12, wantEvals: 2, wantCkpt: 4, wantRun: 5},
		{name: "everything", after: -1, wantSteps: 0, wantEps: 0, wantEvals: 0, wantCkpt: -1, wantRun: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			mustCreate(t, s, "r", "other")
			for step := int64(0); step <= 5; step++ {
				for _, run := range []string{"r", "other"} {
					if err := s.PutStep(run, stepMetrics(step)); err != nil {
						t.Fatal(err)
					}
					if err := s.PutEpisodes([]Episode{episode(run, step, PhaseTrain, "a", "A", 0), episode(run, step, PhaseTrain, "b", "B", 0)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, step := range []int64{0, 2, 4} {
				if err := s.PutCheckpoint("r", step, fmt.Sprint("ckpt/", step), "", ""); err != nil {
					t.Fatal(err)
				}
			}
			for _, step := range []int64{0, 5} {
				if err := s.PutEval("r", &pb.EvalReport{Step: step}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.UpdateRun("r", StatusFailed, 5, "killed"); err != nil {
				t.Fatal(err)
			}
			if err := s.Truncate("r", tt.after); err != nil {
				t.Fatal(err)
			}
			steps, _ := s.Steps("r")
			eps, _ := s.Episodes("r", EpisodeFilter{})
			evals, _ := s.Evals("r")
			if len(steps) != tt.wantSteps || len(eps) != tt.wantEps || len(evals) != tt.wantEvals {
				t.Errorf("after Truncate(%d): %d steps, %d episodes, %d evals; want %d, %d, %d",
					tt.after, len(steps), len(eps), len(evals), tt.wantSteps, tt.wantEps, tt.wantEvals)
			}
			c, ok, _ := s.LastCheckpoint("r")
			if (tt.wantCkpt < 0) == ok || (ok && c.Step != tt.wantCkpt) {
				t.Errorf("last checkpoint = %+v (ok=%v), want step %d", c, ok, tt.wantCkpt)
			}
			if r, _ := s.GetRun("r"); r.Step != tt.wantRun {
				t.Errorf("run step = %d, want %d", r.Step, tt.wantRun)
			}
			if other, _ := s.Steps("other"); len(other) != 6 {
				t.Errorf("Truncate touched another run: %d steps left", len(other))
			}
		})
	}
}

func TestConcurrentWriters(t *testing.T) {
	s, _ := newStore(t)
	const writers, perWriter = 8, 20
	for w := range writers {
		mustCreate(t, s, fmt.Sprint("run", w))
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter*2+1)
	for w := range writers {
		wg.Go(func() {
			run := fmt.Sprint("run", w)
			for i := range perWriter {
				step := int64(i)
				if err := s.PutEpisodes([]Episode{episode(run, step, PhaseTrain, "a", "A", 0), episode(run, step, PhaseTrain, "b", "B", 1)}); err != nil {
					errs <- err
				}
				if err := s.PutStep(run, stepMetrics(step)); err != nil {
					errs <- err
				}
				if err := s.UpdateRun(run, StatusRunning, step, ""); err != nil {
					errs <- err
				}
			}
		})
	}
	// Readers run beside the writers: WAL must let them through.
	wg.Go(func() {
		for range perWriter {
			if _, err := s.ListRuns(); err != nil {
				errs <- err
			}
			if _, err := s.TopWorkflows("run0", PhaseTrain, 0, 3); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range writers {
		run := fmt.Sprint("run", w)
		steps, err := s.Steps(run)
		if err != nil || len(steps) != perWriter {
			t.Errorf("%s: %d steps, err %v", run, len(steps), err)
		}
		eps, err := s.Episodes(run, EpisodeFilter{})
		if err != nil || len(eps) != 2*perWriter {
			t.Errorf("%s: %d episodes, err %v", run, len(eps), err)
		}
		if r, _ := s.GetRun(run); r.Step != perWriter-1 {
			t.Errorf("%s: step %d", run, r.Step)
		}
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSQLite(dir, DefaultSQLiteConfig())
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "r")
	if err := s.PutStep("r", stepMetrics(7)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCheckpoint("r", 7, "ckpt/7", "sum", "cfg"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRun("r"); err == nil {
		t.Error("GetRun on a closed store succeeded")
	}
	if err := s.PutStep("r", stepMetrics(8)); err == nil {
		t.Error("PutStep on a closed store succeeded")
	}
	for round := range 2 { // reopening twice also re-runs the migration check on a current schema
		s2, err := OpenSQLite(dir, DefaultSQLiteConfig())
		if err != nil {
			t.Fatalf("reopen %d: %v", round, err)
		}
		steps, err := s2.Steps("r")
		if err != nil || len(steps) != 1 || !proto.Equal(steps[0], stepMetrics(7)) {
			t.Errorf("reopen %d: steps %v, err %v", round, steps, err)
		}
		if c, ok, err := s2.LastCheckpoint("r"); err != nil || !ok || c.Path != "ckpt/7" {
			t.Errorf("reopen %d: checkpoint %+v %v %v", round, c, ok, err)
		}
		if err := s2.IntegrityCheck(); err != nil {
			t.Error(err)
		}
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
