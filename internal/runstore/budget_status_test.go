package runstore

import (
	"testing"
)

// TestBudgetReachedStatusStored: migration 2 widens the runs status CHECK,
// on a fresh store and on reopening one.
func TestBudgetReachedStatusStored(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
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
	s, err = Open(dir)
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
