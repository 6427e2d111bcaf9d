package runstore

import (
	"database/sql"
	"path/filepath"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// TestBudgetReachedStatusStored: migration 2 widens the runs status CHECK,
// on a fresh store and on reopening one.
func TestBudgetReachedStatusStored(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSQLite(dir, DefaultSQLiteConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRun(Run{ID: "r1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRun("r1", StatusBudgetReached, 3, "budget executor_tokens"); err != nil {
		t.Fatalf("budget_reached refused: %v", err)
	}
	if err := s.UpdateRun("r1", "bogus", 3, ""); err == nil {
		t.Fatal("an unknown status was accepted")
	}
	s.Close()
	s, err = OpenSQLite(dir, DefaultSQLiteConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.GetRun("r1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != StatusBudgetReached || r.Error != "budget executor_tokens" {
		t.Fatalf("got %q %q", r.Status, r.Error)
	}
	if err := s.IntegrityCheck(); err != nil {
		t.Fatal(err)
	}
}

// TestMigratingAVersion1StoreKeepsItsRows: a run.db written before cost
// accounting (schema 1) opens, gains budget_reached and episode_costs,
// and loses nothing (widening the CHECK must not cascade-delete children).
func TestMigratingAVersion1StoreKeepsItsRows(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", dsn(filepath.Join(dir, FileName)))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0],
		`CREATE TABLE schema_version (version INTEGER NOT NULL) STRICT`, `INSERT INTO schema_version VALUES (1)`,
		`INSERT INTO runs (id, status, created, updated) VALUES ('old', 'succeeded', 1, 1)`,
		`INSERT INTO steps (run_id, step, metrics) VALUES ('old', 1, '{"step": "1"}')`,
		`INSERT INTO episodes (run_id, step, phase, episode_id) VALUES ('old', 1, 'train', 'e1')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, err := OpenSQLite(dir, DefaultSQLiteConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	steps, err := s.Steps("old")
	if err != nil || len(steps) != 1 {
		t.Fatalf("steps after migration: %v %v", steps, err)
	}
	eps, err := s.Episodes("old", EpisodeFilter{})
	if err != nil || len(eps) != 1 {
		t.Fatalf("episodes after migration: %v %v", eps, err)
	}
	if err := s.UpdateRun("old", StatusBudgetReached, 1, "budget"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutEpisodeCosts([]EpisodeCost{{RunID: "old", Step: 1, Phase: PhaseTrain, EpisodeID: "e1", Cost: &pb.CostSummary{Episodes: 1, ExecutorCalls: 3}}}); err != nil {
		t.Fatal(err)
	}
	cs, err := s.EpisodeCosts("old", "")
	if err != nil || len(cs) != 1 || cs[0].Cost.GetExecutorCalls() != 3 {
		t.Fatalf("episode costs %v %v", cs, err)
	}
	if err := s.Truncate("old", 0); err != nil {
		t.Fatal(err)
	}
	if cs, _ := s.EpisodeCosts("old", ""); len(cs) != 0 {
		t.Errorf("Truncate kept %d episode costs", len(cs))
	}
	if err := s.IntegrityCheck(); err != nil {
		t.Fatal(err)
	}
}
